package jira_test

import (
	"testing"
	"time"

	"github.com/tickmark-dev/tickmark/collectors/collectortest"
	"github.com/tickmark-dev/tickmark/collectors/jira/jirafake"
)

// Against Jira Cloud's burst limit (10 requests/s, burst 20) with four
// requests in flight, the collector must never send a request while a
// Retry-After runs, and must still collect everything.
func TestBurstLimitNoRequestDuringRetryAfter(t *testing.T) {
	t.Setenv("JIRA_TEST_TOKEN", testToken)
	f := newFake(t, jirafake.Options{RateLimit: &jirafake.RateLimit{PerSecond: 10, Burst: 20, RetryAfter: time.Second}})
	keys := sampleData(f, 20)
	res := collectortest.Run(t, collectortest.Build(t, "jira", config(f.URL, "cloud", "concurrency: 4\n"+allQueries)), collectortest.Options{Now: now})
	if res.Err != nil {
		t.Fatal(res.Err)
	}
	if n := len(tickets(t, res.Committed)); n != len(keys) {
		t.Fatalf("collected %d tickets, want %d", n, len(keys))
	}
	if f.Count("throttled") == 0 {
		t.Fatalf("the fake never throttled: the test did not exercise Retry-After (%d requests)", f.Count("authenticated"))
	}
	if n := f.Count("during_retry_after"); n != 0 {
		t.Fatalf("%d requests sent while a Retry-After ran (%d throttled, %d served)", n, f.Count("throttled"), f.Count("authenticated"))
	}
}
