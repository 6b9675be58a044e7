package jira

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// pacer applies Jira Cloud's rate-limit signals across all of a run's
// concurrent requests. It sits above the engine's transport (package
// httpx, which waits out a Retry-After before retrying and holds back
// requests of the same host meanwhile):
//
//   - while the last response said X-RateLimit-NearLimit: true (less than
//     20% of a budget left) or X-RateLimit-Remaining: 0, requests go one at
//     a time, each waiting for every request in flight to finish; so when
//     Jira answers 429, no other request is on the wire, and the retry
//     after Retry-After is the next request Jira sees;
//   - after a 429 or 503 with Retry-After that reached the collector, no
//     request starts before the Retry-After has run.
type pacer struct {
	base http.RoundTripper
	now  func() time.Time

	gate sync.RWMutex // readers: normal requests; writer: a careful one

	mu      sync.Mutex
	near    bool
	blocked time.Time
	careful int // requests sent one at a time
}

func newPacer(base http.RoundTripper) *pacer {
	if base == nil {
		base = http.DefaultTransport
	}
	return &pacer{base: base, now: time.Now}
}

func (p *pacer) RoundTrip(r *http.Request) (*http.Response, error) {
	ctx := r.Context()
	for {
		p.mu.Lock()
		near := p.near
		p.mu.Unlock()
		if near {
			p.gate.Lock()
			p.mu.Lock()
			p.careful++
			p.mu.Unlock()
			defer p.gate.Unlock()
			break
		}
		p.gate.RLock()
		p.mu.Lock()
		near = p.near
		p.mu.Unlock()
		if !near {
			defer p.gate.RUnlock()
			break
		}
		p.gate.RUnlock() // the budget ran low while waiting: go careful
	}
	if err := p.wait(ctx); err != nil {
		return nil, err
	}
	resp, err := p.base.RoundTrip(r)
	if resp != nil {
		p.observe(resp)
	}
	return resp, err
}

func (p *pacer) wait(ctx context.Context) error {
	p.mu.Lock()
	d := p.blocked.Sub(p.now())
	p.mu.Unlock()
	if d <= 0 {
		return nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

func (p *pacer) observe(resp *http.Response) {
	h := resp.Header
	p.mu.Lock()
	defer p.mu.Unlock()
	near := strings.EqualFold(h.Get("X-RateLimit-NearLimit"), "true") || h.Get("X-RateLimit-Remaining") == "0"
	if resp.StatusCode == http.StatusTooManyRequests {
		near = true
	}
	if h.Get("X-RateLimit-Remaining") != "" || h.Get("X-RateLimit-NearLimit") != "" || resp.StatusCode == http.StatusTooManyRequests {
		p.near = near
	}
	if resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode == http.StatusServiceUnavailable {
		if s, err := strconv.Atoi(strings.TrimSpace(h.Get("Retry-After"))); err == nil && s > 0 {
			if until := p.now().Add(time.Duration(s) * time.Second); until.After(p.blocked) {
				p.blocked = until
			}
		}
	}
}

// carefulRequests returns how many requests were sent one at a time.
func (p *pacer) carefulRequests() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.careful
}
