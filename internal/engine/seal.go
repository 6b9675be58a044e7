package engine

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/tickmark-dev/tickmark/internal/ledger"
	"github.com/tickmark-dev/tickmark/internal/tsa"
)

// Seal signs a checkpoint over everything l has committed with key,
// records when (now), and, with a timestamp authority configured, gets an
// RFC 3161 token for every checkpoint that has none (the latest, and any
// an earlier outage left unstamped). A TSA outage never fails Seal: the
// checkpoint is stamped on a later run.
func Seal(ctx context.Context, l *ledger.Ledger, key *ledger.Key, t *tsa.Config, now time.Time, logger *slog.Logger) (*ledger.Checkpoint, error) {
	cp, err := l.Sign(key)
	if err != nil {
		return nil, fmt.Errorf("signing checkpoint: %w", err)
	}
	if err := l.NoteCheckpointTime(cp.Size, now); err != nil {
		return nil, fmt.Errorf("recording the checkpoint time: %w", err)
	}
	logger.Info("signed checkpoint", "tree_size", cp.Size, "key_id", key.ID)
	if t != nil {
		stamp(ctx, l, &tsa.Client{URL: t.URL, HTTP: &http.Client{Timeout: 30 * time.Second}}, logger)
	}
	return cp, nil
}

func stamp(ctx context.Context, l *ledger.Ledger, client *tsa.Client, logger *slog.Logger) {
	cps, err := l.Checkpoints()
	if err != nil {
		logger.Warn("listing checkpoints to stamp", "err", err)
		return
	}
	tokens, err := l.Tokens()
	if err != nil {
		logger.Warn("listing timestamp tokens", "err", err)
		return
	}
	for i := len(cps) - 1; i >= 0; i-- {
		cp := cps[i]
		if _, ok := tokens[cp.Size]; ok {
			continue
		}
		tok, err := client.Stamp(ctx, cp.Note)
		if err != nil {
			logger.Warn("checkpoint not timestamped; it will be stamped on a later run", "tree_size", cp.Size, "err", err)
			return
		}
		if err := l.PutToken(cp.Size, tok); err != nil {
			logger.Warn("storing timestamp token", "tree_size", cp.Size, "err", err)
			return
		}
		logger.Info("checkpoint timestamped", "tree_size", cp.Size)
	}
}
