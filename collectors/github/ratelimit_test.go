package github

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tickmark-dev/tickmark/collectors"
	"github.com/tickmark-dev/tickmark/collectors/collectortest"
	"github.com/tickmark-dev/tickmark/collectors/github/ghfake"
	"github.com/tickmark-dev/tickmark/collectors/httpx"
)

// fakeClock is shared by the fake GitHub, the httpx transport and the
// collector's gate: sleeping advances it, so waits of minutes take no time
// and every request the fake receives is stamped with the time the client
// believes it is.
type fakeClock struct {
	mu    sync.Mutex
	t     time.Time
	slept []time.Duration
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Sleep(ctx context.Context, d time.Duration) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if d > 0 {
		c.t = c.t.Add(d)
		c.slept = append(c.slept, d)
	}
	return ctx.Err()
}

// clockedRun runs the collector with every clock replaced by clk.
func clockedRun(t *testing.T, srv *ghfake.Server, clk *fakeClock, cfg string) collectortest.Result {
	t.Helper()
	srv.Now = clk.Now
	c := collectortest.Build(t, "github", cfg).(*collector)
	c.now, c.sleep = clk.Now, clk.Sleep
	tr := &httpx.Transport{Now: clk.Now, Sleep: clk.Sleep}
	return collectortest.Run(t, c, collectortest.Options{Now: now, HTTPClient: tr.Client(time.Minute)})
}

const secondaryBody = `{"message":"You have exceeded a secondary rate limit. Please wait a few minutes before you try again. If you reach out to GitHub Support for help, please include the request ID.","documentation_url":"https://docs.github.com/rest/overview/rate-limits-for-the-rest-api#about-secondary-rate-limits","status":"%d"}`

// GitHub's rules for secondary limits, with and without Retry-After: wait
// Retry-After; else until x-ratelimit-reset when remaining is 0; else at
// least a minute, doubling each time. No request at all may reach GitHub
// before the wait is over, and a limit that persists is retryable, never
// permanent.
func TestSecondaryLimitWaitsAsGitHubDocuments(t *testing.T) {
	for _, tc := range []struct {
		name   string
		status int
		header func(clk *fakeClock) map[string]string
		times  int
		waits  []time.Duration // required wait after the 1st, 2nd… refusal
	}{
		{"403 with Retry-After", 403, func(*fakeClock) map[string]string { return map[string]string{"Retry-After": "30"} }, 2, []time.Duration{30 * time.Second, 30 * time.Second}},
		{"429 with Retry-After", 429, func(*fakeClock) map[string]string { return map[string]string{"Retry-After": "45"} }, 1, []time.Duration{45 * time.Second}},
		{"403 without Retry-After", 403, func(*fakeClock) map[string]string { return nil }, 3, []time.Duration{time.Minute, 2 * time.Minute, 4 * time.Minute}},
		{"429 without Retry-After", 429, func(*fakeClock) map[string]string { return nil }, 2, []time.Duration{time.Minute, 2 * time.Minute}},
		{"403 with remaining 0", 403, func(clk *fakeClock) map[string]string {
			return map[string]string{"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": strconv.FormatInt(clk.Now().Add(90*time.Second).Unix(), 10)}
		}, 1, []time.Duration{90 * time.Second}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv, org := newFake(t, ghfake.Options{Repos: 3, MergedPerRepo: 2})
			clk := &fakeClock{t: time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)}
			srv.Inject(ghfake.Fault{Path: "/pulls/", Status: tc.status, Body: fmt.Sprintf(secondaryBody, tc.status), Header: tc.header(clk), Times: tc.times})
			res := clockedRun(t, srv, clk, cfgFor(srv, "concurrency: 1\n"))
			if res.Err != nil {
				t.Fatalf("run failed: %v", res.Err)
			}
			n := 0
			for _, a := range byType(res.Committed, EvPullRequests) {
				n += len(prItems(a))
			}
			if want := org.MergedInWindow(now.Add(-90*24*time.Hour), now); n != want {
				t.Fatalf("%d merged pull requests collected after the limit, want %d", n, want)
			}
			hits := srv.Hits()
			refusals := 0
			for i, h := range hits {
				if h.Status != tc.status || !strings.Contains(h.Path, "/pulls/") {
					continue
				}
				if refusals >= len(tc.waits) {
					t.Fatalf("more refusals than injected")
				}
				need := tc.waits[refusals]
				refusals++
				if i+1 >= len(hits) {
					t.Fatalf("no request after the refusal")
				}
				if next := hits[i+1]; next.At.Before(h.At.Add(need)) {
					t.Errorf("refusal %d at %s: next request %s %s after %s, GitHub requires %s", refusals, h.At.Format(time.TimeOnly),
						next.Path, next.At.Format(time.TimeOnly), next.At.Sub(h.At), need)
				}
			}
			if refusals != len(tc.waits) {
				t.Fatalf("%d refusals served, want %d", refusals, len(tc.waits))
			}
		})
	}
}

func TestPersistentSecondaryLimitIsRetryable(t *testing.T) {
	for _, status := range []int{http.StatusForbidden, http.StatusTooManyRequests} {
		t.Run(strconv.Itoa(status), func(t *testing.T) {
			srv, _ := newFake(t, ghfake.Options{Repos: 2, MergedPerRepo: 1})
			clk := &fakeClock{t: time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)}
			srv.Inject(ghfake.Fault{Path: "/dependabot/", Status: status, Body: fmt.Sprintf(secondaryBody, status)})
			res := clockedRun(t, srv, clk, cfgFor(srv, "concurrency: 2\n"))
			if res.Err == nil || !collectors.IsRetryable(res.Err) {
				t.Fatalf("want a retryable error, got %v", res.Err)
			}
			if strings.Contains(res.Err.Error(), "needs ") {
				t.Errorf("a rate limit reported as a missing permission: %v", res.Err)
			}
			// It kept waiting (1, 2, 4… minutes) before giving up.
			var total time.Duration
			for _, d := range clk.slept {
				total += d
			}
			if total < 7*time.Minute {
				t.Errorf("waited %s in all before giving up, want the exponential minutes GitHub asks for", total)
			}
		})
	}
}
