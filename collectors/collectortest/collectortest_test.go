package collectortest_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tickmark-dev/tickmark/collectors"
	"github.com/tickmark-dev/tickmark/collectors/collectortest"
)

// The kit's own tests: a well-behaved collector passes every check, and each
// deliberately broken collector fails exactly the check that should catch it,
// with a message that tells its author what to fix.

// source is the fake system the kit's test collectors read: a list of events
// that Grow extends, and a switch that makes it fail.
type source struct {
	mu     sync.Mutex
	events []event
	down   bool
}

type event struct {
	ID   int       `json:"id"`
	At   time.Time `json:"at"`
	What string    `json:"what"`
}

var src = &source{}

func (s *source) reset(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.events, s.down = nil, false
	for i := 0; i < n; i++ {
		s.addLocked()
	}
}

func (s *source) addLocked() {
	id := len(s.events) + 1
	s.events = append(s.events, event{ID: id, At: time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(id) * time.Hour), What: "restore test " + strconv.Itoa(id)})
}

func (s *source) grow() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.addLocked()
	s.addLocked()
}

// after returns the events with ID > id, and whether the source is down.
func (s *source) after(id int) ([]event, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []event
	for _, e := range s.events {
		if e.ID > id {
			out = append(out, e)
		}
	}
	return out, s.down
}

type kitConfig struct {
	Token    collectors.Secret `yaml:"token"`
	PageSize int               `yaml:"page_size"`
}

func (c *kitConfig) Validate() error {
	if !c.Token.IsSet() {
		return &collectors.ConfigError{Key: "token", Msg: "is required"}
	}
	if c.PageSize == 0 {
		c.PageSize = 2
	}
	return nil
}

// flaw is what a broken collector gets wrong.
type flaw int

const (
	noFlaw          flaw = iota
	ignoresCancel        // sleeps without ctx and drops Emit's error
	reemitsOnResume      // ignores Request.Cursor
	leaksToken           // copies the token into its artifact
	concurrent           // correct, but emits pages from 4 goroutines
)

type kitCollector struct {
	cfg  *kitConfig
	flaw flaw
	typ  string
}

func (k *kitCollector) Collect(ctx context.Context, req collectors.Request, emit collectors.Emitter) error {
	last := 0
	if req.Cursor != "" && k.flaw != reemitsOnResume {
		n, err := strconv.Atoi(req.Cursor)
		if err != nil {
			return collectors.Permanent(fmt.Errorf("%s: invalid cursor %q", k.typ, req.Cursor))
		}
		last = n
	}
	events, down := src.after(last)
	if down {
		return collectors.Retryable(fmt.Errorf("%s: GET /events: HTTP 503", k.typ))
	}
	if k.flaw == concurrent {
		return k.collectConcurrently(ctx, events, emit)
	}
	size := k.cfg.PageSize
	if k.flaw == ignoresCancel {
		size = 1 // many pages, so the calls after cancellation add up
	}
	for len(events) > 0 {
		page := events[:min(size, len(events))]
		events = events[len(page):]
		body := map[string]any{"events": page}
		if k.flaw == leaksToken {
			body["request"] = map[string]string{"authorization": "Bearer " + k.cfg.Token.Value()}
		}
		b, _ := json.Marshal(body)
		err := emit.Emit(ctx, collectors.Artifact{
			Type: "kit.events", Subject: "backups", ContentType: "application/json", Body: b,
			WindowStart: page[0].At, WindowEnd: page[len(page)-1].At,
			Source: collectors.Source{System: "kit", Endpoint: "/events", Items: len(page)},
		})
		if k.flaw == ignoresCancel {
			time.Sleep(30 * time.Millisecond) // a slow page fetched without ctx,
			_ = emit.Checkpoint(ctx, strconv.Itoa(page[len(page)-1].ID))
			continue // and the emitter's errors dropped
		}
		if err != nil {
			return err
		}
		if err := emit.Checkpoint(ctx, strconv.Itoa(page[len(page)-1].ID)); err != nil {
			return err
		}
	}
	return nil
}

// collectConcurrently emits one artifact per event from 4 workers, and
// checkpoints once at the end: each worker stops at the first error.
func (k *kitCollector) collectConcurrently(ctx context.Context, events []event, emit collectors.Emitter) error {
	work := make(chan event)
	errs := make(chan error, 4)
	var wg sync.WaitGroup
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for e := range work {
				b, _ := json.Marshal(e)
				if err := emit.Emit(ctx, collectors.Artifact{Type: "kit.events", Subject: "backups", Body: b, WindowStart: e.At, WindowEnd: e.At}); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
feed:
	for _, e := range events {
		select {
		case work <- e:
		case <-ctx.Done():
			break feed
		}
	}
	close(work)
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if len(events) == 0 {
		return nil
	}
	return emit.Checkpoint(ctx, strconv.Itoa(events[len(events)-1].ID))
}

func init() {
	// A type without a configuration struct: any section is accepted.
	collectors.Register(collectors.Definition{
		Type: "kit_lenient",
		New: func(any) (collectors.Collector, error) {
			return collectors.CollectorFunc(func(context.Context, collectors.Request, collectors.Emitter) error {
				return errors.New("unused")
			}), nil
		},
	})
	for typ, f := range map[string]flaw{"kit_concurrent": concurrent, "kit_good": noFlaw, "kit_ignores_cancel": ignoresCancel, "kit_reemits": reemitsOnResume, "kit_leaks": leaksToken} {
		collectors.Register(collectors.Definition{
			Type:          typ,
			Summary:       "conformance kit self-test collector",
			EvidenceTypes: []collectors.EvidenceType{{Name: "kit.events", Controls: []string{"A1.2"}}},
			NewConfig:     func() any { return &kitConfig{} },
			New: func(cfg any) (collectors.Collector, error) {
				return &kitCollector{cfg: cfg.(*kitConfig), flaw: f, typ: typ}, nil
			},
		})
	}
}

const kitToken = "kit-secret-token-4f1c9a"

func suite(t *testing.T, typ string) collectortest.Suite {
	t.Setenv("KIT_TOKEN", kitToken)
	src.reset(12)
	return collectortest.Suite{
		Type:         typ,
		Config:       "token: env:KIT_TOKEN\npage_size: 3\n",
		Secrets:      []string{kitToken},
		Grow:         src.grow,
		CancelWithin: 250 * time.Millisecond,
		Failures: []collectortest.Failure{{
			Name: "source down",
			Setup: func() func() {
				src.mu.Lock()
				src.down = true
				src.mu.Unlock()
				return func() { src.mu.Lock(); src.down = false; src.mu.Unlock() }
			},
			Retryable:       true,
			MessageContains: []string{typ, "/events", "503"},
		}},
	}
}

// fakeTB records what a check reports instead of failing the real test.
// Fatal* and FailNow end the check's goroutine, as they do in package testing.
type fakeTB struct {
	testing.TB
	mu     sync.Mutex
	failed bool
	msgs   []string
}

func (f *fakeTB) Helper() {}
func (f *fakeTB) record(fail bool, s string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.failed = f.failed || fail
	f.msgs = append(f.msgs, s)
}
func (f *fakeTB) Errorf(format string, args ...any) { f.record(true, fmt.Sprintf(format, args...)) }
func (f *fakeTB) Error(args ...any)                 { f.record(true, fmt.Sprint(args...)) }
func (f *fakeTB) Fatalf(format string, args ...any) {
	f.record(true, fmt.Sprintf(format, args...))
	runtime.Goexit()
}
func (f *fakeTB) Fatal(args ...any) { f.record(true, fmt.Sprint(args...)); runtime.Goexit() }
func (f *fakeTB) Fail()             { f.record(true, "Fail called") }
func (f *fakeTB) FailNow()          { f.record(true, "FailNow called"); runtime.Goexit() }
func (f *fakeTB) Failed() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.failed
}
func (f *fakeTB) Logf(format string, args ...any) { f.record(false, fmt.Sprintf(format, args...)) }
func (f *fakeTB) Log(args ...any)                 { f.record(false, fmt.Sprint(args...)) }
func (f *fakeTB) Skipf(format string, args ...any) {
	f.record(true, "skipped: "+fmt.Sprintf(format, args...)) // a conformance check must not skip
	runtime.Goexit()
}

// outcome is what one check reported.
type outcome struct {
	failed bool
	msgs   string
}

// runChecks runs every check of s against a fakeTB and returns each outcome by name.
func runChecks(t *testing.T, s collectortest.Suite) map[string]outcome {
	t.Helper()
	out := map[string]outcome{}
	for _, c := range s.Checks() {
		ft := &fakeTB{TB: t}
		done := make(chan struct{})
		go func() {
			defer close(done)
			c.Func(ft)
		}()
		<-done
		out[c.Name] = outcome{ft.failed, strings.Join(ft.msgs, "\n")}
	}
	return out
}

func TestSuitePassesAWellBehavedCollector(t *testing.T) {
	res := runChecks(t, suite(t, "kit_good"))
	want := []string{"RejectsUnknownKeys", "Deterministic", "NoSecretLeak", "Cancellation", "ResumeNoGapNoDuplicate", "Failure/source down"}
	if len(res) != len(want) {
		t.Fatalf("got %d checks, want %d: %v", len(res), len(want), res)
	}
	for _, name := range want {
		o, ok := res[name]
		if !ok {
			t.Errorf("check %s did not run", name)
		} else if o.failed {
			t.Errorf("check %s failed on the well-behaved collector:\n%s", name, o.msgs)
		}
	}
}

func TestSuitePassesAConcurrentCollector(t *testing.T) {
	for name, o := range runChecks(t, suite(t, "kit_concurrent")) {
		if o.failed {
			t.Errorf("check %s failed on a collector whose workers stop at the first error:\n%s", name, o.msgs)
		}
	}
}

func TestSuiteRunsChecksAsSubtests(t *testing.T) {
	// The same checks through the public entry point every collector uses.
	suite(t, "kit_good").Run(t)
}

// assertOnlyFails checks that exactly the named check failed, with every
// fragment in its message.
func assertOnlyFails(t *testing.T, res map[string]outcome, check string, fragments ...string) {
	t.Helper()
	o, ok := res[check]
	if !ok {
		t.Fatalf("check %s did not run", check)
	}
	if !o.failed {
		t.Fatalf("check %s passed a collector it must fail", check)
	}
	for _, f := range fragments {
		if !strings.Contains(o.msgs, f) {
			t.Errorf("check %s failure message does not mention %q:\n%s", check, f, o.msgs)
		}
	}
	for name, other := range res {
		if name != check && other.failed {
			t.Errorf("check %s also failed (only %s should):\n%s", name, check, other.msgs)
		}
	}
}

func TestSuiteFailsACollectorThatIgnoresCancellation(t *testing.T) {
	res := runChecks(t, suite(t, "kit_ignores_cancel"))
	assertOnlyFails(t, res, "Cancellation",
		"to return after its context was cancelled", "must honour ctx within 250ms",
		"kept going after its context was cancelled", "return the error Emit returns",
		"returned nil after its context was cancelled")
}

func TestSuiteFailsACollectorThatReemitsAfterResume(t *testing.T) {
	res := runChecks(t, suite(t, "kit_reemits"))
	// The deterministic, cancellation and secret checks hold; resume does not.
	assertOnlyFails(t, res, "ResumeNoGapNoDuplicate",
		"run from the final cursor re-emitted 4 items already collected", "kit.events|", "start from Request.Cursor")
}

func TestSuiteFailsACollectorThatLeaksItsToken(t *testing.T) {
	res := runChecks(t, suite(t, "kit_leaks"))
	assertOnlyFails(t, res, "NoSecretLeak", "configured secret #1 appears in the body of artifact kit.events", `subject "backups"`)
	if strings.Contains(res["NoSecretLeak"].msgs, kitToken) {
		t.Errorf("the failure message itself repeats the secret:\n%s", res["NoSecretLeak"].msgs)
	}
}

func TestSuiteFailsAnUnclassifiedOrMisclassifiedError(t *testing.T) {
	s := suite(t, "kit_good")
	s.Failures[0].Retryable = false // the collector says retryable; claim it should be permanent
	s.Failures[0].MessageContains = []string{"permission okta.users.read"}
	res := runChecks(t, s)
	assertOnlyFails(t, res, "Failure/source down", "classified retryable=true, want false")

	// An error that names neither endpoint nor cause fails the message check.
	s = suite(t, "kit_good")
	s.Failures[0].MessageContains = []string{"okta.users.read"}
	res = runChecks(t, s)
	assertOnlyFails(t, res, "Failure/source down", `does not mention "okta.users.read"`)
}

func TestSuiteFailsALenientConfigDecoder(t *testing.T) {
	res := runChecks(t, collectortest.Suite{Type: "kit_lenient", Config: "token: x\n"})
	if o := res["RejectsUnknownKeys"]; !o.failed || !strings.Contains(o.msgs, "config with an unknown key was accepted") {
		t.Fatalf("RejectsUnknownKeys on a collector without a config struct: failed=%v %s", o.failed, o.msgs)
	}
}
