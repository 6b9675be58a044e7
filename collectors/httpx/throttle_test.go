package httpx

import (
	"context"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// throttler answers 429 without Retry-After (budget not exhausted) to the
// first n requests, then 200, recording when each request was sent.
type throttler struct {
	mu    sync.Mutex
	n     int
	now   func() time.Time
	reset int64
	sent  []time.Time
}

func (s *throttler) RoundTrip(r *http.Request) (*http.Response, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sent = append(s.sent, s.now())
	h := http.Header{}
	h.Set("X-RateLimit-Limit", "5000")
	h.Set("X-RateLimit-Remaining", "4000")
	h.Set("X-RateLimit-Reset", strconv.FormatInt(s.reset, 10))
	status := 200
	if s.n > 0 {
		s.n--
		status = http.StatusTooManyRequests
	}
	return &http.Response{StatusCode: status, Header: h, Body: io.NopCloser(strings.NewReader("{}")), Request: r}, nil
}

// With WithThrottleBackoff, a 429 without Retry-After while the budget is
// not exhausted waits min, 2·min… (GitHub's secondary-limit rule), not
// until X-RateLimit-Reset; without it the old behaviour stands.
func TestWithThrottleBackoff(t *testing.T) {
	var mu sync.Mutex
	clock := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	now := func() time.Time { mu.Lock(); defer mu.Unlock(); return clock }
	sleep := func(ctx context.Context, d time.Duration) error {
		mu.Lock()
		clock = clock.Add(d)
		mu.Unlock()
		return ctx.Err()
	}
	st := &throttler{n: 2, now: now, reset: clock.Add(50 * time.Minute).Unix()}
	tr := &Transport{Base: st, Now: now, Sleep: sleep}
	c := tr.Client(time.Minute)
	ctx := WithThrottleBackoff(context.Background(), time.Minute)
	if err := get(t, c, ctx, "http://api.test/a"); err != nil {
		t.Fatal(err)
	}
	if len(st.sent) != 3 {
		t.Fatalf("%d requests sent, want 3", len(st.sent))
	}
	if d := st.sent[1].Sub(st.sent[0]); d < time.Minute || d > 2*time.Minute {
		t.Errorf("first retry after %s, want one minute", d)
	}
	if d := st.sent[2].Sub(st.sent[1]); d < 2*time.Minute || d > 3*time.Minute {
		t.Errorf("second retry after %s, want two minutes", d)
	}
	// Another request of the scope is held while a throttle wait runs.
	st.n = 1
	start := now()
	if err := get(t, c, ctx, "http://api.test/b"); err != nil {
		t.Fatal(err)
	}
	if d := now().Sub(start); d < time.Minute {
		t.Errorf("waited %s after a throttle, want a minute", d)
	}
	// Without the option, the wait is until X-RateLimit-Reset (here beyond MaxWait: an error).
	st.n = 1
	if err := get(t, c, context.Background(), "http://api.test/c"); err == nil {
		t.Errorf("without WithThrottleBackoff the reset-based wait (50 minutes) should exceed MaxWait")
	}
}
