package console

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/tickmark-dev/tickmark/collectors"
	"github.com/tickmark-dev/tickmark/internal/app"
	"github.com/tickmark-dev/tickmark/internal/config"
)

// AccessEvidenceType is the evidence type of the console's access log.
const AccessEvidenceType = "console.access_log"

// AccessControls are the criteria access records support: confidential
// information is protected (C1.1) and access to it is restricted and
// recorded (CC6.1).
var AccessControls = []string{"C1.1", "CC6.1"}

// accessSpool is the console's write-ahead file of accesses in its data dir.
const accessSpool = "console-access.jsonl"

// AccessLedger records every access as evidence in the console's own
// ledger (its own agent ID, data dir and log in the bucket): an access is
// appended and synced to a spool file in the data dir when it happens, and
// each Flush runs the engine with one collector that emits the accesses
// written since its cursor as one console.access_log artifact — committed
// with the cursor, signed in a checkpoint and pushed like any agent's
// evidence. A crash between two flushes loses nothing: the next flush
// emits what the spool holds past the committed cursor.
type AccessLedger struct {
	cfg  *config.Config
	log  *slog.Logger
	path string

	mu sync.Mutex
	f  *os.File
}

// NewAccessLedger opens the spool in cfg's data dir.
func NewAccessLedger(cfg *config.Config, log *slog.Logger) (*AccessLedger, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if err := os.MkdirAll(cfg.Agent.DataDir, 0o700); err != nil {
		return nil, err
	}
	p := filepath.Join(cfg.Agent.DataDir, accessSpool)
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("access spool: %w", err)
	}
	return &AccessLedger{cfg: cfg, log: log, path: p, f: f}, nil
}

// RecordAccess appends one access to the spool and syncs it.
func (a *AccessLedger) RecordAccess(_ context.Context, e AccessEvent) error {
	b, err := json.Marshal(e)
	if err != nil {
		return err
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.f == nil {
		return errors.New("access ledger closed")
	}
	if _, err := a.f.Write(append(b, '\n')); err != nil {
		return err
	}
	return a.f.Sync()
}

// Flush commits the spooled accesses to the console's ledger, signs a
// checkpoint and pushes to the store.
func (a *AccessLedger) Flush(ctx context.Context) (*app.Summary, error) {
	ap, err := app.Open(ctx, a.cfg, app.Options{Logger: a.log, DeferStoreError: true})
	if err != nil {
		return nil, err
	}
	defer ap.Close()
	cc := &config.CollectorConfig{
		Name: "console-access", Type: "console_access", Timeout: collectors.Duration(10 * time.Minute),
		Definition: collectors.Definition{Type: "console_access", Summary: "the console's access log",
			EvidenceTypes: []collectors.EvidenceType{{Name: AccessEvidenceType, Controls: AccessControls}}},
		Collector: collectors.CollectorFunc(a.collect),
	}
	sum, err := ap.RunOnce(ctx, []*config.CollectorConfig{cc}, nil)
	if err == nil && len(sum.Failed()) > 0 {
		err = fmt.Errorf("recording accesses: %s", sum.Collectors[0].Error)
	}
	return sum, err
}

// collect emits the accesses past the cursor (a byte offset in the spool)
// as one artifact, and moves the cursor past them.
func (a *AccessLedger) collect(ctx context.Context, req collectors.Request, emit collectors.Emitter) error {
	off := int64(0)
	if req.Cursor != "" {
		var err error
		if off, err = strconv.ParseInt(req.Cursor, 10, 64); err != nil || off < 0 {
			return fmt.Errorf("bad access cursor %q", req.Cursor)
		}
	}
	f, err := os.Open(a.path)
	if err != nil {
		return err
	}
	defer f.Close()
	if _, err := f.Seek(off, io.SeekStart); err != nil {
		return err
	}
	var events []json.RawMessage
	var first, last AccessEvent
	end := off
	r := bufio.NewReader(f)
	for {
		line, err := r.ReadBytes('\n')
		if err == io.EOF {
			break // an incomplete last line waits for the next flush
		}
		if err != nil {
			return err
		}
		end += int64(len(line))
		line = bytes.TrimSpace(line)
		var e AccessEvent
		if err := json.Unmarshal(line, &e); err != nil {
			return fmt.Errorf("access spool %s at byte %d: %w", a.path, end-int64(len(line)), err)
		}
		if len(events) == 0 {
			first = e
		}
		last = e
		events = append(events, json.RawMessage(line))
	}
	if len(events) == 0 {
		return nil
	}
	body, err := json.Marshal(struct {
		Console string            `json:"console"`
		From    time.Time         `json:"from"`
		To      time.Time         `json:"to"`
		Events  []json.RawMessage `json:"events"`
	}{a.cfg.Agent.ID, first.Time, last.Time, events})
	if err != nil {
		return err
	}
	if err := emit.Emit(ctx, collectors.Artifact{Type: AccessEvidenceType, Subject: "console " + a.cfg.Agent.ID, ContentType: "application/json", Body: body,
		WindowStart: first.Time, WindowEnd: last.Time.Add(time.Nanosecond),
		Source: collectors.Source{System: "tickmark console", Endpoint: "access log " + a.path, Items: len(events), Complete: true}}); err != nil {
		return err
	}
	return emit.Checkpoint(ctx, strconv.FormatInt(end, 10))
}

// Run flushes every interval until ctx ends, then once more.
func (a *AccessLedger) Run(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Minute)
			defer cancel()
			if _, err := a.Flush(fctx); err != nil {
				a.log.Error("console: recording the last accesses as evidence failed; they stay in the spool for the next start", "err", err)
			}
			return
		case <-t.C:
			if _, err := a.Flush(ctx); err != nil && ctx.Err() == nil {
				a.log.Error("console: recording accesses as evidence failed; they stay in the spool for the next flush", "err", err)
			}
		}
	}
}

// Close closes the spool.
func (a *AccessLedger) Close() error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.f == nil {
		return nil
	}
	err := a.f.Close()
	a.f = nil
	return err
}
