package ledger

import (
	"context"
	"io/fs"
	"maps"
	"slices"
	"strings"

	"github.com/tickmark-dev/tickmark/internal/publog"
)

// Log serves the ledger's key history, key announcements, checkpoints and
// timestamp tokens under their published names (a publog.Reader), so that
// one checker reads the ledger, a bucket and an auditor package alike. It
// holds no tiles: the ledger's hashes are recomputed from its records.
func (l *Ledger) Log() (publog.Reader, error) {
	objs := map[string][]byte{}
	keys, err := l.Keys()
	if err != nil {
		return nil, err
	}
	for id, k := range keys {
		objs[publog.KeyPath(id)] = []byte(k)
	}
	anns, err := l.Announcements()
	if err != nil {
		return nil, err
	}
	for id, a := range anns {
		objs[publog.AnnouncementPath(id)] = a
	}
	cps, err := l.Checkpoints()
	if err != nil {
		return nil, err
	}
	for _, c := range cps {
		objs[publog.CheckpointPath(c.Size)] = c.Note
	}
	tokens, err := l.Tokens()
	for size, t := range tokens {
		objs[publog.TokenPath(size)] = t
	}
	return ledgerLog{objs, l.dir}, err
}

type ledgerLog struct {
	objs map[string][]byte
	dir  string
}

func (r ledgerLog) List(_ context.Context, dir string, fn func(string) error) error {
	for _, name := range slices.Sorted(maps.Keys(r.objs)) {
		if strings.HasPrefix(name, dir) {
			if err := fn(name); err != nil {
				return err
			}
		}
	}
	return nil
}

func (r ledgerLog) Read(_ context.Context, name string) ([]byte, error) {
	if b, ok := r.objs[name]; ok {
		return b, nil
	}
	return nil, fs.ErrNotExist
}

func (r ledgerLog) Where() string             { return "the ledger in " + r.dir }
func (r ledgerLog) Locate(name string) string { return "ledger:" + name }
