package github

import (
	"context"
	"io"
	"net/http"
	"strconv"
	"sync"
	"time"
)

// gate bounds the requests in flight and backs off when GitHub's secondary
// rate limit (too many concurrent requests) refuses one: GitHub asks
// clients to wait Retry-After and then to send requests serially, so the
// limit drops to one and grows back by one after every `recover` accepted
// requests (additive increase, multiplicative decrease).
//
// The shared httpx transport underneath already waits out Retry-After and
// retries; the gate only adds what httpx cannot know: that the refusal was
// caused by this collector's own concurrency. When httpx hands back a
// secondary-limit refusal after its retries, the gate retries it a few
// more times once the concurrency has dropped.
type gate struct {
	max     int
	recover int
	// seen reports refusals the transport underneath absorbed (httpx
	// Stats().Throttled), so the gate backs off on the first one rather
	// than after httpx gives up.
	seen func() int

	mu       sync.Mutex
	limit    int
	inFlight int
	okStreak int
	throttle int // refusals seen
	waiters  []chan struct{}
}

func newGate(max int) *gate { return &gate{max: max, limit: max, recover: 20} }

func (g *gate) acquire(ctx context.Context) error {
	for {
		g.mu.Lock()
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

func (g *gate) release(throttled bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.inFlight--
	if g.seen != nil {
		if n := g.seen(); n > g.throttle {
			g.throttle, throttled = n, true
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

type gateTransport struct {
	base http.RoundTripper
	g    *gate
}

// isSecondaryLimit: 429, or 403 with Retry-After while the primary budget
// is not exhausted.
func isSecondaryLimit(resp *http.Response) bool {
	switch resp.StatusCode {
	case http.StatusTooManyRequests:
		return true
	case http.StatusForbidden:
		return resp.Header.Get("Retry-After") != "" && resp.Header.Get("X-RateLimit-Remaining") != "0"
	}
	return false
}

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
				t.g.release(false)
				return nil, err
			}
			r = req.Clone(ctx)
			r.Body = body
		}
		resp, err := t.base.RoundTrip(r)
		throttled := err == nil && isSecondaryLimit(resp)
		t.g.release(throttled)
		if !throttled || !replayable || attempt >= 3 {
			return resp, err
		}
		wait := time.Second
		if n, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil && n > 0 {
			wait = time.Duration(min(n, 60)) * time.Second
		}
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		resp.Body.Close()
		tm := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			tm.Stop()
			return nil, ctx.Err()
		case <-tm.C:
		}
	}
}
