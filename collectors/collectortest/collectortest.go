// Package collectortest is the conformance kit for tickmark collectors.
//
// Every built-in collector runs Suite against its fake source, and a custom
// collector should too:
//
//	func TestConformance(t *testing.T) {
//		srv := newFakeServer(t)
//		collectortest.Suite{
//			Type:    "backupdb",
//			Config:  "url: " + srv.URL + "\ntoken: env:BACKUPDB_TOKEN\n",
//			Secrets: []string{"test-token-123"},
//		}.Run(t)
//	}
//
// The suite checks that the collector rejects unknown configuration keys,
// gives the same output for the same source state, resumes from a cursor
// with no gap and no duplicate, stops promptly when cancelled, never puts a
// configured secret into an artifact or a log line, and classifies the
// errors of the failure cases it is given as retryable or permanent. Each
// failure message says what the collector did and what to change.
//
// Run and Build are for table tests: Run runs a collector once with an
// emitter that behaves like the engine's (artifacts after the last
// checkpoint of a failed run are not committed) and returns what was
// committed, the cursor, the error and the log lines. Suite.Checks gives the
// individual checks to a harness of your own.
package collectortest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/tickmark-dev/tickmark/collectors"
	"github.com/tickmark-dev/tickmark/collectors/httpx"
)

// Artifact is an emitted artifact with its body read into memory.
type Artifact struct {
	collectors.Artifact
	Body   []byte
	SHA256 string
}

// Result is what one run produced, as the engine would commit it.
type Result struct {
	// Committed are the artifacts covered by a checkpoint (or by the
	// successful end of the run).
	Committed []Artifact
	// Emitted are all artifacts, committed or not.
	Emitted []Artifact
	// Cursor is the last checkpointed cursor ("" if none; the request's
	// cursor if the run checkpointed nothing).
	Cursor string
	// Checkpoints counts Checkpoint calls.
	Checkpoints int
	// Err is what Collect returned.
	Err error
	// Logs holds every log line the collector wrote (JSON handler output).
	Logs string
	// EmitsAfterCancel counts Emit and Checkpoint calls made after the
	// run's context was cancelled (each returned the context's error).
	EmitsAfterCancel int
}

// Options tune one run.
type Options struct {
	Cursor string
	Since  time.Time
	Now    time.Time
	// CancelAfterCheckpoints cancels the run's context right after the
	// n-th successful checkpoint (0: never).
	CancelAfterCheckpoints int
	// CancelAfterEmits cancels the context right after the n-th emit (0: never).
	CancelAfterEmits int
	// HTTPClient overrides the default rate-limit-aware client.
	HTTPClient *http.Client
	// Timeout bounds the run (default 2 minutes).
	Timeout time.Duration
}

// Build decodes a type-specific YAML section and builds the collector.
func Build(tb testing.TB, typ, cfgYAML string) collectors.Collector {
	tb.Helper()
	c, err := BuildErr(typ, cfgYAML)
	if err != nil {
		tb.Fatalf("building %s collector: %v", typ, err)
	}
	return c
}

// BuildErr is Build returning the error.
func BuildErr(typ, cfgYAML string) (collectors.Collector, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal([]byte(cfgYAML), &doc); err != nil {
		return nil, err
	}
	var n *yaml.Node
	if len(doc.Content) > 0 {
		n = doc.Content[0]
	}
	return collectors.Build(typ, n, "collectors[0]")
}

// Run runs c once with an emitter that behaves like the engine's.
func Run(tb testing.TB, c collectors.Collector, o Options) Result {
	tb.Helper()
	if o.Now.IsZero() {
		o.Now = time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	}
	if o.Since.IsZero() {
		o.Since = o.Now.Add(-90 * 24 * time.Hour)
	}
	if o.Timeout == 0 {
		o.Timeout = 2 * time.Minute
	}
	var logs syncBuffer
	logger := slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	client := o.HTTPClient
	if client == nil {
		tr := httpx.New(nil, logger)
		client = tr.Client(time.Minute)
	}
	ctx, cancel := context.WithTimeout(context.Background(), o.Timeout)
	defer cancel()
	em := &recorder{tb: tb, cancel: cancel, opts: o, cursor: o.Cursor}
	err := c.Collect(ctx, collectors.Request{
		Instance: "test", RunID: "run-test", Cursor: o.Cursor, Since: o.Since, Now: o.Now,
		Logger: logger, HTTPClient: client,
	}, em)
	res := Result{Err: err, Emitted: em.all, Cursor: em.cursor, Checkpoints: em.checkpoints, Logs: logs.String(), EmitsAfterCancel: em.late}
	res.Committed = em.committed
	if err == nil || collectors.IsPartial(err) { // a partial run commits like a success
		res.Committed = append(res.Committed, em.pending...)
	}
	return res
}

type recorder struct {
	tb          testing.TB
	cancel      context.CancelFunc
	opts        Options
	mu          sync.Mutex
	all         []Artifact
	pending     []Artifact
	committed   []Artifact
	cursor      string
	checkpoints int
	emits       int
	late        int // calls after cancellation
}

func (r *recorder) lateCall(ctx context.Context) error {
	err := ctx.Err()
	if err != nil {
		r.mu.Lock()
		r.late++
		r.mu.Unlock()
	}
	return err
}

func (r *recorder) Emit(ctx context.Context, a collectors.Artifact) error {
	if err := r.lateCall(ctx); err != nil {
		if c, ok := a.BodyReader.(io.Closer); ok {
			c.Close()
		}
		return err
	}
	if a.Type == "" {
		return errors.New("collectortest: artifact without an evidence type")
	}
	// The engine's emit contract, so a collector learns of a bad name here
	// (the kit has no instance configuration: the artifact's own controls).
	if err := collectors.CheckArtifact(a, nil); err != nil {
		return err
	}
	body := a.Body
	if body == nil && a.BodyReader != nil {
		b, err := io.ReadAll(a.BodyReader)
		if c, ok := a.BodyReader.(io.Closer); ok {
			c.Close()
		}
		if err != nil {
			return err
		}
		body = b
	}
	sum := sha256.Sum256(body)
	art := Artifact{Artifact: a, Body: body, SHA256: hex.EncodeToString(sum[:])}
	art.Artifact.Body, art.Artifact.BodyReader = nil, nil
	r.mu.Lock()
	r.all = append(r.all, art)
	r.pending = append(r.pending, art)
	r.emits++
	n := r.emits
	r.mu.Unlock()
	if r.opts.CancelAfterEmits > 0 && n == r.opts.CancelAfterEmits {
		r.cancel()
	}
	return nil
}

func (r *recorder) Checkpoint(ctx context.Context, cursor string) error {
	if err := r.lateCall(ctx); err != nil {
		return err
	}
	r.mu.Lock()
	r.committed = append(r.committed, r.pending...)
	r.pending = nil
	r.cursor = cursor
	r.checkpoints++
	n := r.checkpoints
	r.mu.Unlock()
	if r.opts.CancelAfterCheckpoints > 0 && n == r.opts.CancelAfterCheckpoints {
		r.cancel()
	}
	return nil
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// Failure is a source state under which the collector must fail with a
// classified error.
type Failure struct {
	Name string
	// Setup puts the fake source into the failing state and returns a
	// function that restores it.
	Setup func() (restore func())
	// Config replaces Suite.Config for this case when non-empty (a bad token, say).
	Config string
	// Retryable is the expected classification.
	Retryable bool
	// MessageContains lists strings the error message must contain (the
	// collector, the endpoint, the permission...).
	MessageContains []string
}

// Suite is the conformance suite for one collector type.
type Suite struct {
	// Type is the registered collector type.
	Type string
	// Config is a valid type-specific configuration section (YAML) that
	// points at the fake source.
	Config string
	// Secrets are secret values the configuration resolves to; none may
	// appear in an artifact, a log line or an error message.
	Secrets []string
	// Items extracts stable item IDs from an event-stream artifact (one
	// with a window), used to prove resume has no gap and no duplicate.
	// Nil compares whole artifacts by body hash.
	Items func(a Artifact) []string
	// Grow adds new events to the fake source (optional); the suite then
	// checks that a run from the previous cursor collects exactly them.
	Grow func()
	// Failures are failing source states to check error classification.
	Failures []Failure
	// Now is the clock for every run (default 2026-11-30T12:00:00Z).
	Now time.Time
	// CancelWithin is how quickly a cancelled run must return (default 5s).
	CancelWithin time.Duration
}

// Run runs every check as a subtest.
func (s Suite) Run(t *testing.T) {
	t.Helper()
	for _, c := range s.Checks() {
		t.Run(c.Name, func(t *testing.T) { c.Func(t) })
	}
}

// Check is one conformance check. Suite.Run runs each as a subtest; Checks
// exposes them so a harness can run them with its own testing.TB (the kit's
// own tests do, to prove each check fails on a broken collector).
type Check struct {
	Name string
	Func func(t testing.TB)
}

// Checks returns the suite's checks in the order Run runs them.
func (s Suite) Checks() []Check {
	if s.Now.IsZero() {
		s.Now = time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	}
	cs := []Check{
		{"RejectsUnknownKeys", s.testUnknownKeys},
		{"Deterministic", s.testDeterministic},
		{"NoSecretLeak", s.testSecrets},
		{"Cancellation", s.testCancel},
		{"ResumeNoGapNoDuplicate", s.testResume},
	}
	for _, f := range s.Failures {
		cs = append(cs, Check{"Failure/" + f.Name, func(t testing.TB) { s.testFailure(t, f) }})
	}
	return cs
}

func (s Suite) testUnknownKeys(t testing.TB) {
	cfg := strings.TrimRight(s.Config, "\n") + "\nno_such_key_for_conformance: 1\n"
	_, err := BuildErr(s.Type, cfg)
	if err == nil {
		t.Fatalf("config with an unknown key was accepted; decode the section with collectors.DecodeStrict (NewConfig) instead of a lenient decoder")
	}
	if !strings.Contains(err.Error(), "no_such_key_for_conformance") || !strings.Contains(err.Error(), "line ") {
		t.Fatalf("error for an unknown key must name the key and its line, got: %v", err)
	}
}

func (s Suite) testDeterministic(t testing.TB) {
	a := Run(t, Build(t, s.Type, s.Config), Options{Now: s.Now})
	if a.Err != nil {
		t.Fatalf("first run failed: %v", a.Err)
	}
	if len(a.Committed) == 0 {
		t.Fatalf("run emitted no artifacts: the conformance fake must hold some data")
	}
	b := Run(t, Build(t, s.Type, s.Config), Options{Now: s.Now})
	if b.Err != nil {
		t.Fatalf("second run failed: %v", b.Err)
	}
	da, db := digest(a.Committed), digest(b.Committed)
	if strings.Join(da, "\n") != strings.Join(db, "\n") {
		t.Fatalf("two runs over the same source state differ:\nfirst:  %v\nsecond: %v\n(output must not depend on map order, goroutine timing or the wall clock; use Request.Now)", firstDiff(da, db), firstDiff(db, da))
	}
	if a.Cursor != b.Cursor {
		t.Fatalf("cursors differ for the same source state: %q vs %q", a.Cursor, b.Cursor)
	}
}

func digest(as []Artifact) []string {
	out := make([]string, len(as))
	for i, a := range as {
		out[i] = fmt.Sprintf("%s|%s|%s|%s|%s", a.Type, a.Subject, a.SHA256, a.WindowStart.Format(time.RFC3339Nano), a.WindowEnd.Format(time.RFC3339Nano))
	}
	sort.Strings(out)
	return out
}

func firstDiff(a, b []string) string {
	set := map[string]bool{}
	for _, x := range b {
		set[x] = true
	}
	for _, x := range a {
		if !set[x] {
			return x
		}
	}
	return fmt.Sprintf("(%d artifacts)", len(a))
}

func (s Suite) testSecrets(t testing.TB) {
	res := Run(t, Build(t, s.Type, s.Config), Options{Now: s.Now})
	if res.Err != nil {
		t.Fatalf("run failed: %v", res.Err)
	}
	for i, sec := range s.Secrets {
		if sec == "" {
			continue
		}
		if strings.Contains(res.Logs, sec) {
			t.Errorf("configured secret #%d appears in the collector's logs (log never tokens, headers or request URLs with credentials)", i+1)
		}
		for _, a := range res.Emitted {
			if bytes.Contains(a.Body, []byte(sec)) {
				t.Errorf("configured secret #%d appears in the body of artifact %s (subject %q); strip credentials from what you store", i+1, a.Type, a.Subject)
			} else if strings.Contains(fmt.Sprintf("%+v", a.Artifact), sec) {
				t.Errorf("configured secret #%d appears in the metadata of artifact %s (subject %q, source %+v); strip credentials from URLs and queries", i+1, a.Type, a.Subject, redactAll(a.Source, s.Secrets))
			}
		}
	}
	for _, f := range s.Failures {
		restore := func() {}
		if f.Setup != nil {
			restore = f.Setup()
		}
		cfg := s.Config
		if f.Config != "" {
			cfg = f.Config
		}
		c, err := BuildErr(s.Type, cfg)
		if err == nil {
			r := Run(t, c, Options{Now: s.Now, Timeout: 2 * time.Minute})
			err = r.Err
			for _, sec := range s.Secrets {
				if sec != "" && strings.Contains(r.Logs, sec) {
					t.Errorf("failure %s: a configured secret appears in the logs", f.Name)
				}
			}
		}
		restore()
		for _, sec := range s.Secrets {
			if err != nil && sec != "" && strings.Contains(err.Error(), sec) {
				t.Errorf("failure %s: a configured secret appears in the error message", f.Name)
			}
		}
	}
}

// redactAll formats v with every secret replaced, for failure messages.
func redactAll(v any, secrets []string) string {
	out := fmt.Sprintf("%+v", v)
	for _, sec := range secrets {
		if sec != "" {
			out = strings.ReplaceAll(out, sec, "[SECRET]")
		}
	}
	return out
}

// lateCallsAllowed is how many Emit and Checkpoint calls may follow a
// cancellation: a collector that fetches concurrently has some in flight.
// More means it ignores the error they return.
const lateCallsAllowed = 16

func (s Suite) testCancel(t testing.TB) {
	within := s.CancelWithin
	if within == 0 {
		within = 5 * time.Second
	}
	start := time.Now()
	res := Run(t, Build(t, s.Type, s.Config), Options{Now: s.Now, CancelAfterEmits: 1})
	el := time.Since(start)
	if el > within {
		t.Errorf("collector took %s to return after its context was cancelled (at its first artifact); it must honour ctx within %s: pass ctx to every request and check ctx.Err() between pages", el.Round(time.Millisecond), within)
	}
	if res.EmitsAfterCancel > lateCallsAllowed {
		t.Errorf("collector kept going after its context was cancelled: %d more Emit/Checkpoint calls, each of which returned %v; return the error Emit returns", res.EmitsAfterCancel, context.Canceled)
	}
	if res.Err == nil && (res.EmitsAfterCancel > 0 || len(res.Emitted) > 1) {
		t.Errorf("collector returned nil after its context was cancelled and Emit failed; it must return the error (ctx.Err())")
	}
}

func (s Suite) items(as []Artifact) []string {
	var out []string
	for _, a := range as {
		if a.WindowStart.IsZero() && a.WindowEnd.IsZero() {
			continue // snapshots are taken again on every run by design
		}
		if s.Items != nil {
			out = append(out, s.Items(a)...)
		} else {
			out = append(out, a.Type+"|"+a.SHA256)
		}
	}
	return out
}

func (s Suite) testResume(t testing.TB) {
	full := Run(t, Build(t, s.Type, s.Config), Options{Now: s.Now})
	if full.Err != nil {
		t.Fatalf("full run failed: %v", full.Err)
	}
	want := s.items(full.Committed)
	if dups := duplicates(want); len(dups) > 0 {
		t.Fatalf("one run emitted the same item twice: %v", dups[:min(5, len(dups))])
	}
	// A run with no new source data after the full run adds nothing new.
	again := Run(t, Build(t, s.Type, s.Config), Options{Now: s.Now, Cursor: full.Cursor})
	if again.Err != nil {
		t.Fatalf("run from the final cursor failed: %v", again.Err)
	}
	if got := s.items(again.Committed); len(intersect(got, want)) > 0 {
		t.Fatalf("run from the final cursor re-emitted %d items already collected, e.g. %v; start from Request.Cursor (the last checkpointed cursor) and only fall back to Request.Since when it is empty", len(intersect(got, want)), intersect(got, want)[0])
	}
	// Interrupt after the first checkpoint, then resume from its cursor.
	if full.Checkpoints >= 2 {
		part := Run(t, Build(t, s.Type, s.Config), Options{Now: s.Now, CancelAfterCheckpoints: 1})
		rest := Run(t, Build(t, s.Type, s.Config), Options{Now: s.Now, Cursor: part.Cursor})
		if rest.Err != nil {
			t.Fatalf("resumed run failed: %v", rest.Err)
		}
		got := append(s.items(part.Committed), s.items(rest.Committed)...)
		if dups := duplicates(got); len(dups) > 0 {
			t.Fatalf("interrupted run + resume collected %d items twice, e.g. %v", len(dups), dups[0])
		}
		if missing := minus(want, got); len(missing) > 0 {
			t.Fatalf("interrupted run + resume missed %d items, e.g. %v", len(missing), missing[0])
		}
	}
	if s.Grow != nil {
		s.Grow()
		next := Run(t, Build(t, s.Type, s.Config), Options{Now: s.Now.Add(time.Hour), Cursor: full.Cursor})
		if next.Err != nil {
			t.Fatalf("run after new source data failed: %v", next.Err)
		}
		got := s.items(next.Committed)
		if len(got) == 0 {
			t.Fatalf("run after new source data collected nothing new")
		}
		if dup := intersect(got, want); len(dup) > 0 {
			t.Fatalf("run after new source data re-emitted %d old items, e.g. %v", len(dup), dup[0])
		}
	}
}

func (s Suite) testFailure(t testing.TB, f Failure) {
	restore := func() {}
	if f.Setup != nil {
		restore = f.Setup()
	}
	defer restore()
	cfg := s.Config
	if f.Config != "" {
		cfg = f.Config
	}
	c := Build(t, s.Type, cfg)
	res := Run(t, c, Options{Now: s.Now})
	if res.Err == nil {
		t.Fatalf("collector succeeded against a failing source (%s)", f.Name)
	}
	if !collectors.IsClassified(res.Err) && collectors.IsRetryable(res.Err) != f.Retryable {
		t.Fatalf("error is not classified (use collectors.Permanent or collectors.Retryable): %v", res.Err)
	}
	if got := collectors.IsRetryable(res.Err); got != f.Retryable {
		t.Fatalf("error classified retryable=%v, want %v: %v", got, f.Retryable, res.Err)
	}
	for _, sub := range f.MessageContains {
		if !strings.Contains(res.Err.Error(), sub) {
			t.Errorf("error message %q does not mention %q", res.Err, sub)
		}
	}
}

func duplicates(xs []string) []string {
	seen := map[string]int{}
	var out []string
	for _, x := range xs {
		seen[x]++
		if seen[x] == 2 {
			out = append(out, x)
		}
	}
	return out
}

func intersect(a, b []string) []string {
	set := map[string]bool{}
	for _, x := range b {
		set[x] = true
	}
	var out []string
	for _, x := range a {
		if set[x] {
			out = append(out, x)
		}
	}
	return out
}

func minus(a, b []string) []string {
	set := map[string]bool{}
	for _, x := range b {
		set[x] = true
	}
	var out []string
	for _, x := range a {
		if !set[x] {
			out = append(out, x)
		}
	}
	return out
}

// OfType returns the artifacts of one evidence type, in order.
func OfType(as []Artifact, typ string) []Artifact {
	var out []Artifact
	for _, a := range as {
		if a.Type == typ {
			out = append(out, a)
		}
	}
	return out
}

// SampleSection returns the type-specific section (the `<type>:` mapping
// of its first collectors[] entry) of a registered type's SampleConfig, as
// YAML for Build. Set the environment variables its secrets reference
// first: BuildErr(typ, SampleSection(typ)) proves the sample is valid.
func SampleSection(typ string) (string, error) {
	d, ok := collectors.Lookup(typ)
	if !ok {
		return "", fmt.Errorf("collector type %q is not registered", typ)
	}
	var entries []map[string]yaml.Node
	if err := yaml.Unmarshal([]byte(d.SampleConfig), &entries); err != nil {
		return "", fmt.Errorf("%s sample configuration: %w", typ, err)
	}
	for _, e := range entries {
		n, ok := e[typ]
		if !ok {
			continue
		}
		b, err := yaml.Marshal(&n)
		if err != nil {
			return "", err
		}
		return string(b), nil
	}
	return "", fmt.Errorf("%s sample configuration has no %s: section", typ, typ)
}
