// Package backupdb is the worked example of docs/writing-a-collector.md: a
// custom tickmark collector for Acme's backup system, which appends one JSON
// line per restore test to a log file:
//
//	{"id":1041,"database":"orders-db","started_at":"2026-11-29T03:00:00Z","finished_at":"2026-11-29T03:12:40Z","result":"passed","rows_verified":120394,"operator":"backup-operator@example.com"}
//
// It emits the tests since the last run (a first run takes the whole log),
// up to batch_size per artifact, as the raw log lines (source-verifiable:
// byte for byte what the backup system wrote), and checkpoints the last
// test ID after each artifact.
package backupdb

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strconv"
	"time"

	"github.com/tickmark-dev/tickmark/collectors"
)

// EvidenceType is the one type this collector emits.
const EvidenceType = "backupdb.restore_tests"

func init() {
	collectors.Register(collectors.Definition{
		Type:    "backupdb",
		Summary: "restore tests from the backup system's restore-test log",
		EvidenceTypes: []collectors.EvidenceType{{
			Name:        EvidenceType,
			Controls:    []string{"A1.2", "A1.3", "CC7.5"},
			Description: "each restore test: database, start and end, result, rows verified, operator",
		}},
		SampleConfig: `- name: restore-tests
  type: backupdb
  schedule: "@every 6h"
  backupdb:
    path: /var/log/backup/restore-tests.jsonl
    batch_size: 100
`,
		NewConfig: func() any { return &Config{} },
		New: func(cfg any) (collectors.Collector, error) {
			return &collector{cfg: cfg.(*Config)}, nil
		},
	})
}

// Config is the `backupdb:` section of a collectors[] entry. The engine
// decodes it strictly: an unknown key is an error naming its line.
type Config struct {
	// Path is the restore-test log (one JSON object per line).
	Path string `yaml:"path"`
	// BatchSize is how many tests go in one artifact (default 100).
	BatchSize int `yaml:"batch_size"`
}

// Validate is called by the engine after decoding.
func (c *Config) Validate() error {
	if c.Path == "" {
		return &collectors.ConfigError{Key: "path", Msg: "is required", Hint: "the restore-test log, e.g. /var/log/backup/restore-tests.jsonl"}
	}
	if c.BatchSize < 0 {
		return &collectors.ConfigError{Key: "batch_size", Msg: "must be positive"}
	}
	if c.BatchSize == 0 {
		c.BatchSize = 100
	}
	return nil
}

type collector struct {
	cfg *Config
}

// test is the part of a log line the collector reads; the artifact keeps
// the whole line.
type test struct {
	ID         int64     `json:"id"`
	FinishedAt time.Time `json:"finished_at"`
}

// batch is the tests of one artifact.
type batch struct {
	lines       [][]byte
	first, last test
}

func (c *collector) Collect(ctx context.Context, req collectors.Request, emit collectors.Emitter) error {
	var after int64 // the last test ID already collected
	if req.Cursor != "" {
		n, err := strconv.ParseInt(req.Cursor, 10, 64)
		if err != nil {
			return collectors.Permanent(fmt.Errorf("backupdb: invalid cursor %q", req.Cursor))
		}
		after = n
	}
	f, err := os.Open(c.cfg.Path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return collectors.Permanent(fmt.Errorf("backupdb: restore-test log %s does not exist (check backupdb.path)", c.cfg.Path))
		}
		return collectors.Permanent(fmt.Errorf("backupdb: %w (the agent needs read access to the log)", err))
	}
	defer f.Close()

	flush := func(b *batch) error {
		if len(b.lines) == 0 {
			return nil
		}
		body := append(bytes.Join(b.lines, []byte("\n")), '\n')
		err := emit.Emit(ctx, collectors.Artifact{
			Type:        EvidenceType,
			Subject:     "restore tests",
			ContentType: "application/x-ndjson",
			Body:        body,
			WindowStart: b.first.FinishedAt,
			WindowEnd:   b.last.FinishedAt,
			Source: collectors.Source{
				System:   "backupdb",
				Endpoint: c.cfg.Path,
				Query:    fmt.Sprintf("tests %d to %d (after %d)", b.first.ID, b.last.ID, after),
				Items:    len(b.lines),
			},
		})
		if err != nil {
			return err
		}
		// Commit the batch with the cursor the next run resumes from.
		if err := emit.Checkpoint(ctx, strconv.FormatInt(b.last.ID, 10)); err != nil {
			return err
		}
		*b = batch{}
		return nil
	}

	var cur batch
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for lineNo := 1; sc.Scan(); lineNo++ {
		if err := ctx.Err(); err != nil {
			return err
		}
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 {
			continue
		}
		var t test
		if err := json.Unmarshal(line, &t); err != nil || t.ID == 0 || t.FinishedAt.IsZero() {
			return collectors.Permanent(fmt.Errorf("backupdb: %s line %d is not a restore test (want a JSON object with id and finished_at)", c.cfg.Path, lineNo))
		}
		if t.ID <= after {
			continue // collected by an earlier run
		}
		if t.FinishedAt.After(req.Now) {
			break // after this run's clock: the next run takes it
		}
		if len(cur.lines) == 0 {
			cur.first = t
		}
		cur.last = t
		cur.lines = append(cur.lines, bytes.Clone(line))
		if len(cur.lines) == c.cfg.BatchSize {
			if err := flush(&cur); err != nil {
				return err
			}
		}
	}
	if err := sc.Err(); err != nil {
		return collectors.Permanent(fmt.Errorf("backupdb: reading %s: %w", c.cfg.Path, err))
	}
	return flush(&cur)
}
