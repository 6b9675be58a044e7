package httpx

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// stub answers with the rate-limit headers a test chooses per path.
type stub func(r *http.Request) (remaining int, reset int64)

func (s stub) RoundTrip(r *http.Request) (*http.Response, error) {
	rem, reset := s(r)
	h := http.Header{}
	h.Set("X-Rate-Limit-Limit", "10")
	h.Set("X-Rate-Limit-Remaining", strconv.Itoa(rem))
	h.Set("X-Rate-Limit-Reset", strconv.FormatInt(reset, 10))
	return &http.Response{StatusCode: 200, Header: h, Body: io.NopCloser(strings.NewReader("[]")), Request: r}, nil
}

func get(t *testing.T, c *http.Client, ctx context.Context, url string) error {
	t.Helper()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	resp, err := c.Do(req)
	if err == nil {
		resp.Body.Close()
	}
	return err
}

func TestWithScopeKeepsSeparateBudgets(t *testing.T) {
	later := time.Now().Add(time.Hour).Unix()
	tr := &Transport{MaxWait: time.Second, Base: stub(func(r *http.Request) (int, int64) {
		if strings.HasPrefix(r.URL.Path, "/spent") {
			return 0, later
		}
		return 9, later
	})}
	c := tr.Client(time.Minute)
	bg := context.Background()
	if err := get(t, c, WithScope(bg, "spent"), "http://org.test/spent"); err != nil {
		t.Fatal(err)
	}
	// another family on the same host is not held back by the spent one
	if err := get(t, c, WithScope(bg, "other"), "http://org.test/other"); err != nil {
		t.Fatalf("a request in another scope was held back: %v", err)
	}
	// the spent family waits for its reset (an hour: more than MaxWait)
	if err := get(t, c, WithScope(bg, "spent"), "http://org.test/spent"); !errors.Is(err, ErrRateLimited) {
		t.Fatalf("want ErrRateLimited for the spent scope, got %v", err)
	}
	// without scopes, requests to one host share one budget
	if err := get(t, c, bg, "http://org.test/spent"); err != nil {
		t.Fatal(err)
	}
	if err := get(t, c, bg, "http://org.test/other"); !errors.Is(err, ErrRateLimited) {
		t.Fatalf("want the host budget to hold back the request, got %v", err)
	}
}

func TestLateResponseDoesNotRefillBudget(t *testing.T) {
	reset := time.Now().Add(time.Hour).Unix()
	releaseSlow := make(chan struct{})
	tr := &Transport{Base: stub(func(r *http.Request) (int, int64) {
		if r.URL.Path == "/slow" {
			<-releaseSlow // processed first by the server (remaining 5), answered last
			return 5, reset
		}
		return 4, reset
	})}
	c := tr.Client(time.Minute)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		_ = get(t, c, context.Background(), "http://org.test/slow")
	}()
	for tr.budgetInflight("org.test") == 0 {
		time.Sleep(time.Millisecond)
	}
	if err := get(t, c, context.Background(), "http://org.test/fast"); err != nil {
		t.Fatal(err)
	}
	if got := tr.budgetRemaining("org.test"); got != 3 {
		t.Fatalf("after the fast response with one request in flight, remaining = %d, want 4-1 = 3", got)
	}
	close(releaseSlow)
	wg.Wait()
	if got := tr.budgetRemaining("org.test"); got != 3 {
		t.Fatalf("a late response refilled the budget to %d, want 3", got)
	}
}

func (t *Transport) budgetRemaining(key string) int {
	t.mu.Lock()
	b := t.scopes[key]
	t.mu.Unlock()
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.remaining
}

func (t *Transport) budgetInflight(key string) int {
	t.mu.Lock()
	b := t.scopes[key]
	t.mu.Unlock()
	if b == nil {
		return 0
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.inflight
}

// Requests the server does not count (GitHub's conditional 304s) leave
// Remaining as it is; they must not drain the local budget.
func TestUncountedRequestsDoNotDrainBudget(t *testing.T) {
	reset := time.Now().Add(time.Hour).Unix()
	tr := &Transport{MaxWait: time.Second, Base: stub(func(*http.Request) (int, int64) { return 5, reset })}
	c := tr.Client(time.Minute)
	for i := 0; i < 20; i++ {
		if err := get(t, c, context.Background(), "http://org.test/etag"); err != nil {
			t.Fatalf("request %d: %v", i+1, err)
		}
	}
}
