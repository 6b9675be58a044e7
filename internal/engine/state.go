package engine

import (
	"context"
	"encoding/json"
	"time"

	"github.com/tickmark-dev/tickmark/internal/ledger"
	"github.com/tickmark-dev/tickmark/internal/publog"
	"github.com/tickmark-dev/tickmark/internal/store"
)

// PublishState writes l's current state (cursors, last runs; see
// ledger.State) to the store, for `tickmark ledger restore`.
func PublishState(ctx context.Context, l *ledger.Ledger, b *store.Bucket, now time.Time) error {
	s, err := l.Snapshot(now)
	if err != nil {
		return err
	}
	ledger.PublicRuns(s.Runs)
	data, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return err
	}
	data = append(data, '\n')
	return b.PutLog(ctx, l.Agent(), publog.StatePath(s.Written, s.TreeSize), data)
}
