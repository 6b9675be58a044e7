// Package httpx is the HTTP layer every tickmark collector shares: it
// honours rate-limit headers before the server has to refuse, waits out 429s
// and Retry-After, retries transient failures a bounded number of times, and
// never logs bodies.
//
// Rate limits are declared, not improvised: a Transport keeps one budget per
// scope (by default the request's host; vendors with per-endpoint-family
// limits, like Okta, pass a Scope function) fed by the standard headers:
//
//	X-RateLimit-Limit / X-RateLimit-Remaining / X-RateLimit-Reset   (GitHub and many others)
//	X-Rate-Limit-Limit / X-Rate-Limit-Remaining / X-Rate-Limit-Reset (Okta)
//	Retry-After (seconds or an HTTP date) on 429, 503 and GitHub's secondary-limit 403
//
// A reset value above 10^9 is read as Unix epoch seconds, smaller values as
// seconds from now.
package httpx

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/tickmark-dev/tickmark/collectors"
)

// Transport is a rate-limit-aware, retrying http.RoundTripper.
type Transport struct {
	// Base performs the requests; nil means a shared transport with
	// http.DefaultTransport's settings that keeps up to 32 idle
	// connections per host (DefaultTransport keeps 2, so a collector with
	// more requests in flight would re-dial, and re-handshake TLS, for
	// each request beyond the second).
	Base http.RoundTripper
	// Scope maps a request to its rate-limit budget; nil means the host.
	Scope func(*http.Request) string
	// MaxRetries bounds retries of one request (default 4).
	MaxRetries int
	// MaxWait is the longest single wait for a rate-limit reset or
	// Retry-After (default 5 minutes). A longer wait fails the request
	// with a retryable error instead, so a run never hangs for an hour.
	MaxWait time.Duration
	// Reserve is how many requests of a budget are left untouched: when
	// Remaining falls to Reserve, requests in that scope wait for the reset
	// (default 1, so the budget never reaches a 429).
	Reserve int
	// MinInterval spaces requests in a scope (e.g. 500ms for 2 requests/s).
	MinInterval time.Duration
	// Logger receives one line per wait or retry (no bodies, no headers).
	Logger *slog.Logger
	// Now and Sleep are the clock; tests replace them.
	Now   func() time.Time
	Sleep func(ctx context.Context, d time.Duration) error

	mu     sync.Mutex
	scopes map[string]*budget
	stats  Stats
}

// Stats counts what the transport did; read it with Transport.Stats.
type Stats struct {
	Requests     int // requests sent, retries included
	Retries      int
	Throttled    int // 429 and secondary-limit responses received
	Waits        int // waits before sending because a budget ran low
	NotModified  int // 304 responses
	WaitedMillis int64
}

type budget struct {
	mu        sync.Mutex // held while waiting, so one scope sends in order
	remaining int
	limit     int
	reset     time.Time
	known     bool
	last      time.Time
	blocked   time.Time // do not send before (from Retry-After)
	inflight  int       // requests sent whose response has not been observed
	seen      int       // the last Remaining the server reported in this window
}

// New returns a Transport over base with defaults.
func New(base http.RoundTripper, logger *slog.Logger) *Transport {
	return &Transport{Base: base, Logger: logger}
}

// Client returns an http.Client using this transport.
func (t *Transport) Client(timeout time.Duration) *http.Client {
	return &http.Client{Transport: t, Timeout: timeout}
}

// Stats returns a copy of the counters.
func (t *Transport) Stats() Stats {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.stats
}

func (t *Transport) now() time.Time {
	if t.Now != nil {
		return t.Now()
	}
	return time.Now()
}

func (t *Transport) sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t.mu.Lock()
	t.stats.WaitedMillis += d.Milliseconds()
	t.mu.Unlock()
	if t.Sleep != nil {
		return t.Sleep(ctx, d)
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

func (t *Transport) maxWait() time.Duration {
	if t.MaxWait > 0 {
		return t.MaxWait
	}
	return 5 * time.Minute
}

func (t *Transport) maxRetries() int {
	if t.MaxRetries > 0 {
		return t.MaxRetries
	}
	return 4
}

type scopeKey struct{}

// WithScope returns a context that puts the requests made with it into the
// named rate-limit budget (per host), overriding Transport.Scope. Collectors
// of vendors with per-endpoint-family limits (Okta) use it when they wrap the
// transport they were given instead of configuring it.
func WithScope(ctx context.Context, scope string) context.Context {
	return context.WithValue(ctx, scopeKey{}, scope)
}

type retryHookKey struct{}

// WithRetryHook returns a context whose requests, when this transport
// retries them, are cloned and passed to hook before each resend. Requests
// that must differ per attempt use it: an OAuth 2.0 DPoP proof (RFC 9449)
// is single-use, so a retry must carry a fresh one. The first attempt is
// sent as the caller built it; transports without the hook send retries
// unchanged.
func WithRetryHook(ctx context.Context, hook func(*http.Request) error) context.Context {
	return context.WithValue(ctx, retryHookKey{}, hook)
}

func (t *Transport) scope(r *http.Request) *budget {
	key := r.URL.Host
	if s, ok := r.Context().Value(scopeKey{}).(string); ok && s != "" {
		key = r.URL.Host + " " + s
	} else if t.Scope != nil {
		key = t.Scope(r)
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.scopes == nil {
		t.scopes = map[string]*budget{}
	}
	b, ok := t.scopes[key]
	if !ok {
		b = &budget{}
		t.scopes[key] = b
	}
	return b
}

// pooled is the Base of Transports without one.
var pooled = sync.OnceValue(func() http.RoundTripper {
	tr, ok := http.DefaultTransport.(*http.Transport)
	if !ok {
		return http.DefaultTransport
	}
	tr = tr.Clone()
	tr.MaxIdleConnsPerHost = 32
	return tr
})

// ErrRateLimited is wrapped by errors returned when a wait would exceed MaxWait.
var ErrRateLimited = errors.New("rate limited")

// RoundTrip sends the request, waiting and retrying as the headers say.
func (t *Transport) RoundTrip(req *http.Request) (*http.Response, error) {
	base := t.Base
	if base == nil {
		base = pooled()
	}
	ctx := req.Context()
	b := t.scope(req)
	reserve := t.Reserve
	if reserve <= 0 {
		reserve = 1
	}
	replayable := req.Body == nil || req.Body == http.NoBody || req.GetBody != nil
	var lastErr error
	for attempt := 0; ; attempt++ {
		// Wait for the budget before sending.
		if err := t.waitBudget(ctx, b, reserve, req); err != nil {
			return nil, err
		}
		r := req
		if attempt > 0 && req.GetBody != nil {
			body, err := req.GetBody()
			if err != nil {
				return nil, err
			}
			r = req.Clone(ctx)
			r.Body = body
		}
		if hook, ok := ctx.Value(retryHookKey{}).(func(*http.Request) error); ok && attempt > 0 {
			if r == req {
				r = req.Clone(ctx)
			}
			if err := hook(r); err != nil {
				t.done(b)
				return nil, err
			}
		}
		t.mu.Lock()
		t.stats.Requests++
		if attempt > 0 {
			t.stats.Retries++
		}
		t.mu.Unlock()
		resp, err := base.RoundTrip(r)
		if err != nil {
			t.done(b)
			lastErr = err
			if ctx.Err() != nil || !replayable || attempt >= t.maxRetries() {
				return nil, err
			}
			if err := t.sleep(ctx, backoff(attempt)); err != nil {
				return nil, err
			}
			continue
		}
		t.observe(b, resp)
		if resp.StatusCode == http.StatusNotModified {
			t.mu.Lock()
			t.stats.NotModified++
			t.mu.Unlock()
		}
		wait, retry := t.retryDecision(ctx, resp, attempt)
		if retry && isThrottle(resp) && throttleBackoff(ctx) > 0 {
			// hold every request of the scope, not only this one
			b.mu.Lock()
			if until := t.now().Add(wait); until.After(b.blocked) {
				b.blocked = until
			}
			b.mu.Unlock()
		}
		if !retry || !replayable || attempt >= t.maxRetries() {
			if retry && attempt >= t.maxRetries() {
				t.log("giving up after retries", req, "status", resp.StatusCode, "attempts", attempt+1)
			}
			return resp, nil
		}
		if wait > t.maxWait() {
			drain(resp)
			return nil, collectors.Retryable(fmt.Errorf("%w: %s %s asks to wait %s, more than the %s limit", ErrRateLimited, req.Method, redactURL(req), wait.Round(time.Second), t.maxWait()))
		}
		drain(resp)
		t.log("retrying", req, "status", resp.StatusCode, "wait", wait.String(), "attempt", attempt+1)
		if err := t.sleep(ctx, wait); err != nil {
			return nil, err
		}
		_ = lastErr
	}
}

func (t *Transport) waitBudget(ctx context.Context, b *budget, reserve int, req *http.Request) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	now := t.now()
	var until time.Time
	if !b.blocked.IsZero() && now.Before(b.blocked) {
		until = b.blocked
	}
	if b.known && b.remaining <= reserve && now.Before(b.reset) && b.reset.After(until) {
		until = b.reset
	}
	if t.MinInterval > 0 && !b.last.IsZero() {
		if next := b.last.Add(t.MinInterval); next.After(now) && next.After(until) {
			until = next
		}
	}
	if !until.IsZero() {
		d := until.Sub(now)
		if d > t.maxWait() {
			return collectors.Retryable(fmt.Errorf("%w: budget for %s exhausted until %s, more than the %s wait limit", ErrRateLimited, req.URL.Host, until.UTC().Format(time.RFC3339), t.maxWait()))
		}
		if d > t.MinInterval {
			t.mu.Lock()
			t.stats.Waits++
			t.mu.Unlock()
			t.log("waiting for rate-limit budget", req, "wait", d.Round(time.Millisecond).String())
		}
		// a little extra after a reset: server clocks differ
		if b.known && until.Equal(b.reset) {
			d += 250 * time.Millisecond
		}
		if err := t.sleep(ctx, d); err != nil {
			return err
		}
		if b.known && !t.now().Before(b.reset) {
			b.known = false // budget refilled; the next response tells the new one
		}
	}
	b.last = t.now()
	if b.known && b.remaining > 0 {
		b.remaining-- // account for this request before its response arrives
	}
	b.inflight++
	return nil
}

// done records that a request of b ended without a response to observe.
func (t *Transport) done(b *budget) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.inflight > 0 {
		b.inflight--
	}
}

func (t *Transport) observe(b *budget, resp *http.Response) {
	h := resp.Header
	rem, okR := headerInt(h, "X-RateLimit-Remaining", "X-Rate-Limit-Remaining", "RateLimit-Remaining")
	reset, okS := headerInt(h, "X-RateLimit-Reset", "X-Rate-Limit-Reset", "RateLimit-Reset")
	limit, _ := headerInt(h, "X-RateLimit-Limit", "X-Rate-Limit-Limit", "RateLimit-Limit")
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.inflight > 0 {
		b.inflight--
	}
	if okR && okS {
		rs := resetTime(t.now(), int64(reset))
		// With concurrent callers a response can arrive after one the
		// server answered later: within a window the server's Remaining
		// never grows (free requests, like GitHub's 304s, leave it as it
		// is), so a larger value, or an older window, is stale news.
		stale := b.known && (rs.Before(b.reset) || (rs.Equal(b.reset) && rem > b.seen))
		if !stale {
			b.known = true
			b.seen = rem
			// requests still in flight will each spend one more
			b.remaining = max(rem-b.inflight, 0)
			b.limit = limit
			b.reset = rs
		}
	}
	if ra := retryAfter(t.now(), h.Get("Retry-After")); ra > 0 && isThrottle(resp) {
		b.blocked = t.now().Add(ra)
	}
	if isThrottle(resp) {
		t.mu.Lock()
		t.stats.Throttled++
		t.mu.Unlock()
	}
}

func isThrottle(resp *http.Response) bool {
	switch resp.StatusCode {
	case http.StatusTooManyRequests:
		return true
	case http.StatusForbidden:
		// GitHub's secondary rate limit and exhausted primary limit are 403s
		// with Retry-After or X-RateLimit-Remaining: 0.
		return resp.Header.Get("Retry-After") != "" || resp.Header.Get("X-RateLimit-Remaining") == "0"
	case http.StatusServiceUnavailable:
		return resp.Header.Get("Retry-After") != ""
	}
	return false
}

type throttleKey struct{}

// WithThrottleBackoff returns a context whose requests, when throttled
// (429, or 403 with Retry-After) without a Retry-After value while the
// budget is not exhausted (X-RateLimit-Remaining present and not 0), wait
// min, then 2·min, 4·min… before they are retried, and hold every other
// request of their scope as long. That is GitHub's documented rule for
// secondary rate limits ("wait at least one minute … increasing
// exponentially"). Without it such responses are retried as before: at
// X-RateLimit-Reset, or after a short backoff.
func WithThrottleBackoff(ctx context.Context, min time.Duration) context.Context {
	return context.WithValue(ctx, throttleKey{}, min)
}

func throttleBackoff(ctx context.Context) time.Duration {
	d, _ := ctx.Value(throttleKey{}).(time.Duration)
	return d
}

// retryDecision says whether and how long to wait before retrying.
func (t *Transport) retryDecision(ctx context.Context, resp *http.Response, attempt int) (time.Duration, bool) {
	now := t.now()
	if isThrottle(resp) {
		if ra := retryAfter(now, resp.Header.Get("Retry-After")); ra > 0 {
			return ra, true
		}
		if base := throttleBackoff(ctx); base > 0 {
			if rem := resp.Header.Get("X-RateLimit-Remaining"); rem != "" && strings.TrimSpace(rem) != "0" {
				return base << min(attempt, 10), true
			}
		}
		if reset, ok := headerInt(resp.Header, "X-RateLimit-Reset", "X-Rate-Limit-Reset", "RateLimit-Reset"); ok {
			if d := resetTime(now, int64(reset)).Sub(now) + time.Second; d > 0 {
				return d, true
			}
		}
		return backoff(attempt) + time.Second, true
	}
	switch resp.StatusCode {
	case http.StatusInternalServerError, http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		if ra := retryAfter(now, resp.Header.Get("Retry-After")); ra > 0 {
			return ra, true
		}
		return backoff(attempt), true
	}
	return 0, false
}

func backoff(attempt int) time.Duration {
	d := 200 * time.Millisecond << attempt
	if d > 10*time.Second {
		d = 10 * time.Second
	}
	return d/2 + rand.N(d/2+1)
}

func resetTime(now time.Time, v int64) time.Time {
	if v > 1_000_000_000 {
		return time.Unix(v, 0)
	}
	return now.Add(time.Duration(v) * time.Second)
}

func retryAfter(now time.Time, v string) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if n, err := strconv.Atoi(v); err == nil {
		if n < 0 {
			return 0
		}
		return time.Duration(n) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		if d := t.Sub(now); d > 0 {
			return d
		}
	}
	return 0
}

func headerInt(h http.Header, names ...string) (int, bool) {
	for _, n := range names {
		if v := h.Get(n); v != "" {
			if i, err := strconv.Atoi(strings.TrimSpace(v)); err == nil {
				return i, true
			}
		}
	}
	return 0, false
}

func drain(resp *http.Response) {
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
}

func (t *Transport) log(msg string, req *http.Request, args ...any) {
	if t.Logger == nil {
		return
	}
	t.Logger.Info(msg, append([]any{"method", req.Method, "url", redactURL(req)}, args...)...)
}

// redactURL returns the URL without its query string (queries can carry
// tokens or personal data) and without user info.
func redactURL(req *http.Request) string {
	u := *req.URL
	u.User = nil
	u.RawQuery = ""
	u.Fragment = ""
	return u.String()
}

// StatusError describes a non-success HTTP response without its body's
// personal data: the vendor's own error code and summary are kept.
type StatusError struct {
	Method  string
	URL     string // without query
	Status  int
	Code    string // vendor error code, e.g. E0000011
	Message string // vendor error summary
	Hint    string
}

func (e *StatusError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s: HTTP %d", e.Method, e.URL, e.Status)
	if e.Code != "" {
		b.WriteString(" " + e.Code)
	}
	if e.Message != "" {
		b.WriteString(": " + e.Message)
	}
	if e.Hint != "" {
		b.WriteString(" (hint: " + e.Hint + ")")
	}
	return b.String()
}

// Classify wraps a StatusError as retryable (429, 5xx) or permanent.
func Classify(e *StatusError) error {
	if e.Status == http.StatusTooManyRequests || e.Status >= 500 {
		return collectors.Retryable(e)
	}
	return collectors.Permanent(e)
}

// NewStatusError builds a StatusError for resp (it does not read the body).
func NewStatusError(resp *http.Response) *StatusError {
	e := &StatusError{Status: resp.StatusCode}
	if resp.Request != nil {
		e.Method = resp.Request.Method
		e.URL = redactURL(resp.Request)
	}
	return e
}
