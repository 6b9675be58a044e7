package okta_test

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/tickmark-dev/tickmark/collectors"
	"github.com/tickmark-dev/tickmark/collectors/collectortest"
	"github.com/tickmark-dev/tickmark/collectors/httpx"
	"github.com/tickmark-dev/tickmark/collectors/okta"
	"github.com/tickmark-dev/tickmark/collectors/okta/oktafake"
)

type appBody struct {
	App struct {
		ID     string `json:"id"`
		Status string `json:"status"`
	} `json:"app"`
	Assignments []struct {
		UserID   string  `json:"user_id"`
		UserName string  `json:"user_name"`
		Source   string  `json:"source"`
		GroupID  *string `json:"group_id"`
	} `json:"assignments"`
	AssignmentCount int  `json:"assignment_count"`
	Complete        bool `json:"complete"`
}

// okta.app_assignments: one artifact per active app with every assigned
// user (across pages) and the source of the assignment; inactive apps are
// not part of the population. The fake's per-endpoint-family limits are
// tight and never answered with a 429.
func TestAppAssignments(t *testing.T) {
	const users, apps = 1200, 6
	f, u := startFake(t, oktafake.Options{Users: users, Apps: apps, RateLimits: map[string]oktafake.Limit{
		"apps": {Limit: 3, Window: time.Second}, "apps/{id}": {Limit: 10, Window: time.Second}}})
	tr := httpx.New(nil, nil)
	res := collectortest.Run(t, collectortest.Build(t, "okta", config(u, "evidence: [app_assignments]")), collectortest.Options{Now: testNow, HTTPClient: tr.Client(time.Minute)})
	if res.Err != nil {
		t.Fatal(res.Err)
	}
	if st := f.Stats(); st.Throttled != 0 || tr.Stats().Waits == 0 {
		t.Fatalf("%d 429s (want none); %d waits (the limits must bind)", st.Throttled, tr.Stats().Waits)
	}
	arts := ofType(res.Committed, okta.TypeAppAssignments)
	// Slack, GitHub, AWS, three service apps and the synthetic ones
	if len(arts) != 6+apps {
		t.Fatalf("got %d app artifacts, want %d active apps", len(arts), 6+apps)
	}
	got := map[string]appBody{}
	for _, a := range arts {
		b := decode[appBody](t, a)
		if b.App.Status != "ACTIVE" || !b.Complete || b.AssignmentCount != len(b.Assignments) {
			t.Fatalf("app %s: status %s complete %v count %d of %d", b.App.ID, b.App.Status, b.Complete, b.AssignmentCount, len(b.Assignments))
		}
		got[b.App.ID] = b
	}
	// GitHub: granted to the Engineering group (every 3rd user), none direct
	gh := got["0oa0000000000github"]
	if len(gh.Assignments) != users/3 {
		t.Errorf("GitHub has %d assignments, want %d", len(gh.Assignments), users/3)
	}
	for _, as := range gh.Assignments {
		if as.Source != "group" || as.GroupID == nil || *as.GroupID != "00g00000engineering" || !strings.HasSuffix(as.UserName, "@example.com") {
			t.Fatalf("GitHub assignment %+v: want source group 00g00000engineering", as)
		}
	}
	// synthetic app k: user i directly when (i+k) % 30 == 0, across pages of 500
	for k := 0; k < apps; k++ {
		b := got[fmt.Sprintf("0oasyn%014d", k)]
		want := 0
		for i := 0; i < users; i++ {
			if (i+k)%30 == 0 {
				want++
			}
		}
		if len(b.Assignments) != want {
			t.Errorf("app %d: %d assignments, want %d", k, len(b.Assignments), want)
		}
		for _, as := range b.Assignments {
			if as.Source != "direct" || as.GroupID != nil {
				t.Fatalf("app %d assignment %+v: want direct", k, as)
			}
		}
	}
	// Slack: everyone, direct where assigned directly
	sl := got["0oa00000000000slack"]
	direct := 0
	for _, as := range sl.Assignments {
		if as.Source == "direct" {
			direct++
		}
	}
	if len(sl.Assignments) != users || direct != users/25 {
		t.Errorf("Slack: %d assignments (%d direct), want %d (%d direct)", len(sl.Assignments), direct, users, users/25)
	}
	if _, ok := got["0oa00000000legacyapp"]; ok {
		t.Errorf("the inactive app is listed")
	}
	// the population readers (tickmark population, checks) find every assignment
	l, ok := collectors.Items(okta.TypeAppAssignments)
	if !ok {
		t.Fatalf("no item layout for %s", okta.TypeAppAssignments)
	}
	for _, a := range arts[:2] {
		keys := map[string]bool{}
		n, err := collectors.ReadItems(bytes.NewReader(a.Body), a.ContentType, a.Subject, l, func(it collectors.Item) error {
			keys[it.Key] = true
			return nil
		})
		if b := decode[appBody](t, a); err != nil || n != b.AssignmentCount || len(keys) != n {
			t.Fatalf("%s: read %d items (%d keys), want %d: %v", a.Subject, n, len(keys), b.AssignmentCount, err)
		}
	}
}
