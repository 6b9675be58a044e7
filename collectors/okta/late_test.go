package okta_test

import (
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/tickmark-dev/tickmark/collectors/collectortest"
	"github.com/tickmark-dev/tickmark/collectors/okta"
	"github.com/tickmark-dev/tickmark/collectors/okta/oktafake"
)

// Two deactivations Okta makes visible late: one 30 minutes after it
// happened, one just after the run that covered its time. Across a series
// of runs, each appears exactly once in okta.deprovisioned_users (with
// its actor) and exactly once in the System Log evidence.
func TestLateDeactivationsAppearExactlyOnce(t *testing.T) {
	f, u := startFake(t, oktafake.Options{Users: 200, LogEvents: 400})
	n1 := testNow
	const late30, lateBoundary = 101, 102
	f.DeprovisionLate(late30, "DEPROVISIONED", n1.Add(-10*time.Minute), 1, n1.Add(20*time.Minute))
	f.DeprovisionLate(lateBoundary, "DEPROVISIONED", n1.Add(-20*time.Minute), 0, n1.Add(time.Minute))
	c := collectortest.Build(t, "okta", config(u, "evidence: [deprovisioned_users, system_log]"))
	deprov := map[string]int{}
	logged := map[string]int{}
	late := map[string]bool{}
	cur := ""
	for _, now := range []time.Time{n1, n1.Add(15 * time.Minute), n1.Add(45 * time.Minute), n1.Add(3 * time.Hour), n1.Add(6 * time.Hour)} {
		f.SetNow(now)
		res := collectortest.Run(t, c, collectortest.Options{Now: now, Cursor: cur, Since: n1.Add(-30 * 24 * time.Hour)})
		if res.Err != nil {
			t.Fatalf("run at %s: %v", now, res.Err)
		}
		cur = res.Cursor
		for _, a := range ofType(res.Committed, okta.TypeDeprovisioned) {
			if a.WindowEnd.After(now.Add(-okta.DefaultConsistencyLag)) {
				t.Fatalf("run at %s: departures window ends %s, past now - lag", now, a.WindowEnd)
			}
			b := decode[deprovBody](t, a)
			for _, d := range b.Users {
				deprov[d.ID]++
				if d.Actor == nil {
					t.Errorf("run at %s: departure of %s without its actor", now, d.ID)
				}
				late[d.ID] = strings.Contains(string(a.Body), `"late": true`)
			}
		}
		for _, a := range ofType(res.Committed, okta.TypeSystemLog) {
			for _, e := range decode[logBody](t, a).Events {
				logged[e.UUID]++
			}
		}
	}
	for _, i := range []int{late30, lateBoundary} {
		id := oktafake.UserID(i)
		if deprov[id] != 1 {
			t.Errorf("user %d appears %d times in okta.deprovisioned_users, want exactly once", i, deprov[id])
		}
		if !late[id] {
			t.Errorf("user %d is not marked late", i)
		}
		n := 0
		for _, e := range f.Events() {
			if e.Target == id && e.EventType == "user.lifecycle.deactivate" {
				n++
				if logged[e.UUID] != 1 {
					t.Errorf("the deactivation of user %d (event %s) appears %d times in the System Log evidence, want once", i, e.UUID, logged[e.UUID])
				}
			}
		}
		if n != 1 {
			t.Fatalf("the fake holds %d deactivation events for user %d", n, i)
		}
	}
	for id, k := range deprov {
		if k != 1 {
			t.Errorf("departure of %s reported %d times", id, k)
		}
	}
	for id, k := range logged {
		if k != 1 {
			t.Errorf("event %s in the System Log evidence %d times", id, k)
		}
	}
}

// A changed system_log_filter starts a new stream from the backfill point,
// recorded as such; every artifact states the filter its request used.
func TestChangedSystemLogFilterStartsANewStream(t *testing.T) {
	_, u := startFake(t, oktafake.Options{Users: 60, LogEvents: 300})
	first := collectortest.Run(t, collectortest.Build(t, "okta", config(u, "evidence: [system_log]")), collectortest.Options{Now: testNow})
	if first.Err != nil {
		t.Fatal(first.Err)
	}
	const narrow = `eventType eq "user.account.lock"`
	second := collectortest.Run(t, collectortest.Build(t, "okta", config(u, "evidence: [system_log]", "system_log_filter: '"+narrow+"'")),
		collectortest.Options{Now: testNow.Add(time.Hour), Cursor: first.Cursor})
	if second.Err != nil {
		t.Fatal(second.Err)
	}
	arts := ofType(second.Committed, okta.TypeSystemLog)
	if len(arts) == 0 {
		t.Fatalf("no System Log evidence after the filter changed")
	}
	type streamBody struct {
		Filter  string `json:"filter"`
		Request string `json:"request"`
		Stream  struct {
			NewStream bool   `json:"new_stream"`
			Reason    string `json:"reason"`
			Started   string `json:"started"`
		} `json:"stream"`
		Events []struct {
			EventType string `json:"eventType"`
		} `json:"events"`
	}
	locks := 0
	for k, a := range arts {
		b := decode[streamBody](t, a)
		if b.Filter != narrow || !strings.Contains(a.Source.Query, "user.account.lock") || strings.Contains(a.Source.Query, "user.lifecycle") {
			t.Fatalf("artifact %d states filter %q and query %q, want the new filter", k, b.Filter, a.Source.Query)
		}
		if k == 0 && (!b.Stream.NewStream || !strings.Contains(b.Stream.Reason, "system_log_filter changed")) {
			t.Fatalf("the first artifact does not record the new stream: %+v", b.Stream)
		}
		for _, e := range b.Events {
			if e.EventType != "user.account.lock" {
				t.Fatalf("event of type %s under filter %s", e.EventType, narrow)
			}
			locks++
		}
	}
	if locks == 0 {
		t.Fatalf("the new stream did not start from the backfill point: no user.account.lock events")
	}
}

// The page that catches up is complete up to now - lag, and says so; a
// run with nothing new still states the stream's completeness.
func TestSystemLogCompleteUpToWindowEnd(t *testing.T) {
	_, u := startFake(t, oktafake.Options{Users: 60, LogEvents: 300})
	c := collectortest.Build(t, "okta", config(u, "evidence: [system_log]", "system_log_page_size: 40"))
	res := collectortest.Run(t, c, collectortest.Options{Now: testNow})
	if res.Err != nil {
		t.Fatal(res.Err)
	}
	arts := ofType(res.Committed, okta.TypeSystemLog)
	last := arts[len(arts)-1]
	end := testNow.Add(-okta.DefaultConsistencyLag)
	if !last.Source.Complete || !last.WindowEnd.Equal(end) || !strings.Contains(string(last.Body), `"complete_up_to": "`+end.Format(time.RFC3339)) {
		t.Fatalf("the caught-up artifact: complete=%v window end %s, want complete up to %s", last.Source.Complete, last.WindowEnd, end)
	}
	for _, a := range arts[:len(arts)-1] {
		if a.Source.Complete {
			t.Fatalf("artifact %q claims completeness before the stream caught up", a.Subject)
		}
	}
	later := testNow.Add(time.Hour)
	again := collectortest.Run(t, c, collectortest.Options{Now: later, Cursor: res.Cursor})
	if again.Err != nil {
		t.Fatal(again.Err)
	}
	arts = ofType(again.Committed, okta.TypeSystemLog)
	if len(arts) != 1 || !arts[0].Source.Complete || arts[0].Source.Items != 0 || !arts[0].WindowStart.Equal(end) || !arts[0].WindowEnd.Equal(later.Add(-okta.DefaultConsistencyLag)) {
		t.Fatalf("a run with no new events should state completeness from %s to %s, got %d artifacts %+v", end, later.Add(-okta.DefaultConsistencyLag), len(arts), arts)
	}
}

// An okta/1 cursor is carried over: the departures window continues where
// it ended, and the System Log next link, whose filter is not the current
// one, starts a new stream recorded as such.
func TestCursorFromOkta1(t *testing.T) {
	_, u := startFake(t, oktafake.Options{Users: 60, LogEvents: 300})
	until := testNow.Add(-time.Hour)
	oldFilter := `eventType sw "user.lifecycle."`
	old := fmt.Sprintf(`{"v":1,"org":%q,"log_next":"/api/v1/logs?after=1_0&filter=%s&limit=1000&sortOrder=ASCENDING","deprov_until":%q}`,
		u, url.QueryEscape(oldFilter), until.Format(time.RFC3339Nano))
	res := collectortest.Run(t, collectortest.Build(t, "okta", config(u, "evidence: [deprovisioned_users, system_log]")), collectortest.Options{Now: testNow, Cursor: old})
	if res.Err != nil {
		t.Fatal(res.Err)
	}
	if d := ofType(res.Committed, okta.TypeDeprovisioned); len(d) != 1 || !d[0].WindowStart.Equal(until) {
		t.Fatalf("the departures window should continue from %s: %+v", until, d)
	}
	logs := ofType(res.Committed, okta.TypeSystemLog)
	if len(logs) == 0 || !strings.Contains(string(logs[0].Body), `"new_stream": true`) || !strings.Contains(string(logs[0].Body), "system_log_filter changed") {
		t.Fatalf("the okta/1 stream with another filter should give way to a new stream")
	}
}
