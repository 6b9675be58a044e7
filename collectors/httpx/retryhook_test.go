package httpx

import (
	"context"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

// A retried request goes out with the headers the hook sets on it: a
// single-use header (a DPoP proof) is never sent twice.
func TestRetryHookRefreshesEachResend(t *testing.T) {
	var mu sync.Mutex
	var seen []string
	base := roundTripFunc(func(r *http.Request) (*http.Response, error) {
		mu.Lock()
		seen = append(seen, r.Header.Get("X-Proof"))
		n := len(seen)
		mu.Unlock()
		status := http.StatusServiceUnavailable
		if n == 3 {
			status = http.StatusOK
		}
		return &http.Response{StatusCode: status, Header: http.Header{}, Body: io.NopCloser(strings.NewReader("{}")), Request: r}, nil
	})
	tr := &Transport{Base: base, Sleep: func(context.Context, time.Duration) error { return nil }}
	k := 0
	ctx := WithRetryHook(context.Background(), func(r *http.Request) error {
		k++
		r.Header.Set("X-Proof", "proof-"+string(rune('0'+k)))
		return nil
	})
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://127.0.0.1/x", nil)
	req.Header.Set("X-Proof", "proof-0")
	resp, err := tr.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if strings.Join(seen, ",") != "proof-0,proof-1,proof-2" {
		t.Fatalf("attempts carried %v, want a fresh proof on each", seen)
	}
	if req.Header.Get("X-Proof") != "proof-0" {
		t.Fatalf("the caller's request was modified")
	}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }
