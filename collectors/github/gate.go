package github

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"
)

// gate bounds the requests in flight and applies GitHub's documented rules
// for its secondary rate limits
// (docs.github.com/rest/using-the-rest-api/rate-limits-for-the-rest-api):
//
//   - with a Retry-After header, wait that many seconds;
//   - else, if x-ratelimit-remaining is 0, wait until x-ratelimit-reset;
//   - else wait at least one minute, longer (exponentially) each time the
//     limit is hit again;
//
// and, while waiting, send nothing at all: "continuing to make requests
// while you are rate limited may result in the banning of your
// integration". So a refusal pauses every request of the collector, not
// only the refused one, and the concurrency drops to one and grows back by
// one after every `recover` accepted requests.
//
// The shared httpx transport underneath already waits out Retry-After,
// primary exhaustion and (with httpx.WithThrottleBackoff) 429s without
// Retry-After, holding its whole host in the meantime. What only this
// collector can recognise is a 403 secondary limit that carries neither
// Retry-After nor an exhausted budget: GitHub says so in the body alone.
type gate struct {
	max     int
	recover int
	// seen reports refusals the transport underneath absorbed (httpx
	// Stats().Throttled), so the gate backs off on the first one rather
	// than after httpx gives up.
	seen  func() int
	now   func() time.Time
	sleep func(ctx context.Context, d time.Duration) error
	log   *slog.Logger

	mu          sync.Mutex
	limit       int
	inFlight    int
	okStreak    int
	throttle    int // refusals seen underneath
	strikes     int // consecutive secondary limits without Retry-After
	pausedUntil time.Time
	waiters     []chan struct{}
}

// minSecondaryWait is GitHub's "wait for at least one minute".
const minSecondaryWait = time.Minute

func newGate(max int) *gate {
	return &gate{max: max, limit: max, recover: 20, now: time.Now, sleep: sleepCtx}
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	tm := time.NewTimer(d)
	defer tm.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-tm.C:
		return nil
	}
}

func (g *gate) acquire(ctx context.Context) error {
	for {
		g.mu.Lock()
		if now := g.now(); now.Before(g.pausedUntil) {
			d := g.pausedUntil.Sub(now)
			g.mu.Unlock()
			if err := g.sleep(ctx, d); err != nil {
				return err
			}
			continue
		}
		if g.inFlight < g.limit {
			g.inFlight++
			g.mu.Unlock()
			return nil
		}
		ch := make(chan struct{})
		g.waiters = append(g.waiters, ch)
		g.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// release ends a request; wait > 0 pauses every request for that long.
func (g *gate) release(throttled bool, wait time.Duration) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.inFlight--
	if g.seen != nil {
		if n := g.seen(); n > g.throttle {
			g.throttle, throttled = n, true
		}
	}
	if wait > 0 {
		if until := g.now().Add(wait); until.After(g.pausedUntil) {
			g.pausedUntil = until
		}
	}
	if throttled {
		g.limit, g.okStreak = 1, 0
	} else if g.limit < g.max {
		g.okStreak++
		if g.okStreak >= g.recover {
			g.limit++
			g.okStreak = 0
		}
	}
	for _, ch := range g.waiters {
		close(ch)
	}
	g.waiters = nil
}

// secondaryWait classifies a response. It returns whether it is a
// secondary-rate-limit refusal the gate must wait out itself and for how
// long. Refusals the transport underneath handles (Retry-After, or an
// exhausted primary budget) are only reported as throttled.
func (g *gate) secondaryWait(resp *http.Response) (throttled bool, wait time.Duration) {
	if resp.StatusCode != http.StatusForbidden && resp.StatusCode != http.StatusTooManyRequests {
		g.mu.Lock()
		g.strikes = 0
		g.mu.Unlock()
		return false, 0
	}
	h := resp.Header
	if h.Get("Retry-After") != "" || strings.TrimSpace(h.Get("X-RateLimit-Remaining")) == "0" {
		return true, 0 // httpx waits these out (and holds the host meanwhile)
	}
	// GitHub's body is the only sign of a 403 secondary limit.
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	resp.Body = io.NopCloser(bytes.NewReader(b))
	if resp.StatusCode == http.StatusForbidden && !bytes.Contains(bytes.ToLower(b), []byte("secondary rate limit")) {
		return false, 0 // a permission refusal
	}
	g.mu.Lock()
	wait = minSecondaryWait << min(g.strikes, 6)
	g.strikes++
	g.mu.Unlock()
	return true, wait
}

type gateTransport struct {
	base http.RoundTripper
	g    *gate
}

// maxSecondaryRetries bounds the gate's own retries of one request (1, 2,
// 4 and 8 minutes); after them the run fails retryably and the next run
// resumes from its cursor.
const maxSecondaryRetries = 4

func (t *gateTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	ctx := req.Context()
	replayable := req.Body == nil || req.Body == http.NoBody || req.GetBody != nil
	for attempt := 0; ; attempt++ {
		if err := t.g.acquire(ctx); err != nil {
			return nil, err
		}
		r := req
		if attempt > 0 && req.GetBody != nil {
			body, err := req.GetBody()
			if err != nil {
				t.g.release(false, 0)
				return nil, err
			}
			r = req.Clone(ctx)
			r.Body = body
		}
		resp, err := t.base.RoundTrip(r)
		throttled, wait := false, time.Duration(0)
		if err == nil {
			throttled, wait = t.g.secondaryWait(resp)
		}
		t.g.release(throttled, wait)
		if wait == 0 || !replayable || attempt >= maxSecondaryRetries {
			return resp, err
		}
		if t.g.log != nil {
			t.g.log.Warn("GitHub secondary rate limit without Retry-After: pausing every request", "wait", wait.String(),
				"status", resp.StatusCode, "attempt", attempt+1)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
}
