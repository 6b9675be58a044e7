package github

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tickmark-dev/tickmark/collectors/collectortest"
	"github.com/tickmark-dev/tickmark/collectors/github/ghfake"
)

// auditToken is an organisation owner's classic token with read:audit_log.
const auditToken = "ghp_audittoken_0123456789abcdefXYZ"

func newAuditFake(t testing.TB, o ghfake.Options) (*ghfake.Server, *ghfake.Org) {
	t.Helper()
	srv, org := newFake(t, o)
	srv.AddToken(auditToken, ghfake.Token{Scopes: []string{"repo", "read:org", "read:audit_log", "security_events"}, Owner: true})
	t.Setenv("GH_AUDIT_TOKEN", auditToken)
	clock := now
	srv.Now = func() time.Time { return clock }
	return srv, org
}

func auditCfg(srv *ghfake.Server, extra string) string {
	return fmt.Sprintf("base_url: %s/api/v3/\norg: acme\ntoken: env:GH_AUDIT_TOKEN\nevidence: [org_members, audit_log]\n%s", srv.URL, extra)
}

type auditBody struct {
	Visible     bool    `json:"audit_log_visible"`
	Reason      string  `json:"not_visible_reason"`
	WindowStart string  `json:"window_start"`
	WindowEnd   string  `json:"window_end"`
	RereadFrom  string  `json:"reread_from"`
	Count       *int    `json:"count"`
	AlreadySeen int     `json:"already_collected_in_overlap"`
	Late        int     `json:"late"`
	Complete    bool    `json:"complete"`
	LastEventAt *string `json:"last_event_at"`
	Events      []struct {
		ID        string          `json:"_document_id"`
		CreatedAt string          `json:"created_at"`
		Action    string          `json:"action"`
		Actor     *string         `json:"actor"`
		User      *string         `json:"user"`
		Repo      *string         `json:"repo"`
		Late      bool            `json:"late"`
		Details   json.RawMessage `json:"details"`
	} `json:"events"`
}

func auditArtifacts(t testing.TB, res collectortest.Result) ([]collectortest.Artifact, []auditBody) {
	t.Helper()
	arts := byType(res.Committed, EvAuditLog)
	var bodies []auditBody
	for _, a := range arts {
		var b auditBody
		if err := json.Unmarshal(a.Body, &b); err != nil {
			t.Fatalf("audit_log body: %v", err)
		}
		bodies = append(bodies, b)
	}
	return arts, bodies
}

// auditItems identifies the events of github.audit_log artifacts.
func auditItems(a collectortest.Artifact) []string {
	if a.Type != EvAuditLog {
		return nil
	}
	var b auditBody
	if err := json.Unmarshal(a.Body, &b); err != nil {
		return []string{"unparseable:" + err.Error()}
	}
	var out []string
	for _, e := range b.Events {
		out = append(out, "audit:"+e.ID)
	}
	return out
}

// wantAudit is the test's own reading of the fake's log: the membership
// and permission events created in [from, to].
func wantAudit(org *ghfake.Org, from, to time.Time) map[string]bool {
	out := map[string]bool{}
	for _, e := range org.AuditLog {
		if slices.Contains(DefaultAuditLogActions, e.Action) && !e.At.Before(from) && !e.At.After(to) {
			out[e.DocumentID] = true
		}
	}
	return out
}

// Pagination by the Link header's after cursors: 400 events over several
// pages of 100, every membership or permission change in the window
// exactly once, other actions and events before the window left out.
func TestAuditLogPaginationByLinkCursors(t *testing.T) {
	srv, org := newAuditFake(t, ghfake.Options{Repos: 3, MergedPerRepo: 1, AuditEvents: 400})
	res := runAll(t, auditCfg(srv, ""), "")
	arts, bodies := auditArtifacts(t, res)
	if len(arts) != 1 {
		t.Fatalf("%d audit_log artifacts, want 1", len(arts))
	}
	a, b := arts[0], bodies[0]
	end := now.Add(-5 * time.Minute)
	want := wantAudit(org, now.Add(-90*24*time.Hour), end)
	if len(want) < 150 {
		t.Fatalf("fake holds only %d membership events", len(want))
	}
	seen := map[string]int{}
	for _, e := range b.Events {
		seen[e.ID]++
		if !want[e.ID] {
			t.Errorf("event %s (%s at %s) is not a membership or permission change in the window", e.ID, e.Action, e.CreatedAt)
		}
	}
	for id := range want {
		if seen[id] != 1 {
			t.Errorf("event %s appears %d times, want once", id, seen[id])
		}
	}
	if !b.Visible || !b.Complete || b.Count == nil || *b.Count != len(want) || a.Source.Items != len(want) {
		t.Errorf("visible=%v complete=%v count=%v items=%d, want true true %d", b.Visible, b.Complete, b.Count, a.Source.Items, len(want))
	}
	if !a.WindowStart.Equal(now.Add(-90*24*time.Hour)) || !a.WindowEnd.Equal(end) || b.WindowEnd != ts(end) {
		t.Errorf("window %s..%s (body end %s), want the backfill start to now-5m", a.WindowStart, a.WindowEnd, b.WindowEnd)
	}
	// The pages were followed through the Link header's cursors.
	cursorPages := 0
	for _, h := range srv.Hits() {
		if strings.HasSuffix(h.Path, "/audit-log") && strings.Contains(h.Query, "after=") && strings.HasPrefix(h.Path, "/organizations/") {
			cursorPages++
		}
	}
	if a.Source.Pages < 3 || cursorPages != a.Source.Pages-1 {
		t.Errorf("%d pages, %d of them by after cursor, want >= 3 pages all but the first by cursor", a.Source.Pages, cursorPages)
	}
	// A repository permission change keeps what GitHub said about it.
	for _, e := range b.Events {
		if e.Action == "repo.update_member" && !strings.Contains(string(e.Details), `"permission":"admin"`) {
			t.Errorf("repo.update_member details %s lack the new permission", e.Details)
		}
		if strings.Contains(string(e.Details), "actor_location") {
			t.Errorf("details keep the actor's location: %s", e.Details)
		}
	}
}

// GitHub shows an event late (eventually consistent): the run that covered
// its time did not see it; a later run re-reads the overlap and emits it
// exactly once, marked late. Events already emitted in the overlap are
// not repeated.
func TestAuditLogLateEventAppearsOnce(t *testing.T) {
	srv, _ := newAuditFake(t, ghfake.Options{Repos: 2, MergedPerRepo: 1})
	var clock time.Time
	srv.Now = func() time.Time { return clock }
	srv.Update(func(o *ghfake.Org) {
		o.EnterpriseCloud = true
		o.AddAuditEvent(ghfake.AuditEvent{DocumentID: "early", At: now.Add(-40 * time.Minute), Action: "org.add_member", Actor: "dev001", User: "dev005"})
		o.AddAuditEvent(ghfake.AuditEvent{DocumentID: "late", At: now.Add(-20 * time.Minute), Action: "repo.update_member", Actor: "dev001", User: "dev006",
			Repo: "acme/service-001", Permission: "admin", OldPerm: "write", VisibleAt: now.Add(10 * time.Minute)})
	})
	cfg := auditCfg(srv, "")
	clock = now
	first := runAll(t, cfg, "")
	_, b1 := auditArtifacts(t, first)
	ids := func(b auditBody) []string {
		var out []string
		for _, e := range b.Events {
			out = append(out, e.ID)
		}
		return out
	}
	if len(b1) != 1 || strings.Join(ids(b1[0]), ",") != "early" {
		t.Fatalf("first run: %v, want only the visible event", b1)
	}
	clock = now.Add(30 * time.Minute) // GitHub now shows the late event
	second := collectortest.Run(t, collectortest.Build(t, "github", cfg), collectortest.Options{Now: now.Add(30 * time.Minute), Cursor: first.Cursor})
	if second.Err != nil {
		t.Fatal(second.Err)
	}
	a2, b2 := auditArtifacts(t, second)
	if len(b2) != 1 || strings.Join(ids(b2[0]), ",") != "late" || !b2[0].Events[0].Late || b2[0].Late != 1 {
		t.Fatalf("second run: %+v, want only the late event, marked late", b2)
	}
	if b2[0].AlreadySeen != 1 {
		t.Errorf("already_collected_in_overlap = %d, want 1 (the early event re-read in the overlap)", b2[0].AlreadySeen)
	}
	if !a2[0].WindowStart.Equal(now.Add(-5*time.Minute)) || b2[0].RereadFrom != ts(now.Add(-65*time.Minute)) {
		t.Errorf("second window starts %s, re-read from %s; want the first window's end and one hour before it", a2[0].WindowStart, b2[0].RereadFrom)
	}
	clock = now.Add(3 * time.Hour)
	third := collectortest.Run(t, collectortest.Build(t, "github", cfg), collectortest.Options{Now: now.Add(3 * time.Hour), Cursor: second.Cursor})
	if third.Err != nil {
		t.Fatal(third.Err)
	}
	_, b3 := auditArtifacts(t, third)
	if len(b3) != 1 || len(b3[0].Events) != 0 || b3[0].AlreadySeen != 1 {
		t.Fatalf("third run: %+v, want an empty window with the late event recognised as already collected", b3)
	}
	// A late event beyond lag + overlap is missed: the artifact says so.
	if !strings.Contains(string(byType(third.Committed, EvAuditLog)[0].Body), "up to 1h5m0s after its time") {
		t.Errorf("completeness does not state how late an event may become visible")
	}
}

// Unknown is a value: an organisation not on GitHub Enterprise Cloud (404)
// and credentials without the permission (403) give audit_log_visible
// false with the reason, never an empty list; the rest is collected and
// the window is read once the log is visible.
func TestAuditLogNotVisible(t *testing.T) {
	for _, tc := range []struct {
		name, token string
		ghec        bool
		status      int
		reason      string
	}{
		{"not enterprise cloud", "GH_AUDIT_TOKEN", false, http.StatusNotFound, "Enterprise Cloud only"},
		{"not an owner", "GH_TEST_TOKEN", true, http.StatusForbidden, "organisation owners only"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv, org := newAuditFake(t, ghfake.Options{Repos: 2, MergedPerRepo: 1, AuditEvents: 20})
			srv.Update(func(o *ghfake.Org) { o.EnterpriseCloud = tc.ghec })
			cfg := strings.Replace(auditCfg(srv, ""), "GH_AUDIT_TOKEN", tc.token, 1)
			res := runAll(t, cfg, "")
			arts := byType(res.Committed, EvAuditLog)
			if len(arts) != 1 {
				t.Fatalf("%d audit_log artifacts, want 1", len(arts))
			}
			var raw map[string]json.RawMessage
			if err := json.Unmarshal(arts[0].Body, &raw); err != nil {
				t.Fatal(err)
			}
			if string(raw["audit_log_visible"]) != "false" || string(raw["events"]) != "null" || string(raw["count"]) != "null" ||
				string(raw["http_status"]) != fmt.Sprint(tc.status) || !strings.Contains(string(raw["not_visible_reason"]), tc.reason) {
				t.Errorf("body %s: want audit_log_visible false, events and count null, status %d and a reason naming %q", arts[0].Body, tc.status, tc.reason)
			}
			if arts[0].Source.Complete {
				t.Errorf("an invisible audit log is marked complete")
			}
			if len(byType(res.Committed, EvOrgMembers)) != 1 || len(byType(res.Committed, EvRepositories)) != 1 {
				t.Errorf("the rest of the collection did not proceed")
			}
			if !strings.Contains(res.Logs, "withheld the organisation audit log") {
				t.Errorf("no warning logged")
			}
			// Once GitHub shows the log, the next run reads from the backfill start.
			srv.Update(func(o *ghfake.Org) { o.EnterpriseCloud = true })
			later := runAll(t, auditCfg(srv, ""), res.Cursor)
			_, bs := auditArtifacts(t, later)
			if len(bs) != 1 || !bs[0].Visible || len(bs[0].Events) != len(wantAudit(org, now.Add(-90*24*time.Hour), now.Add(-5*time.Minute))) {
				t.Errorf("after the log became visible: %+v", bs)
			}
		})
	}
}

// An interrupted run and a resume from its cursor, and a run after new
// events, collect every event once (the conformance suite, with the audit
// log enabled).
func TestConformanceWithAuditLog(t *testing.T) {
	srv, _ := newAuditFake(t, ghfake.Options{Repos: 6, MergedPerRepo: 3, AuditEvents: 120})
	collectortest.Suite{
		Type:    "github",
		Config:  auditCfg(srv, "audit_log_overlap: 7d\n"),
		Secrets: []string{auditToken},
		Items:   func(a collectortest.Artifact) []string { return append(prItems(a), auditItems(a)...) },
		Now:     now,
		Grow: func() {
			srv.Update(func(o *ghfake.Org) {
				o.AddAuditEvent(ghfake.AuditEvent{DocumentID: "grown", At: now.Add(20 * time.Minute), Action: "team.add_member", Actor: "dev001", User: "dev009", Team: "acme/platform"})
			})
		},
	}.Run(t)
}

func TestAuditLogConfig(t *testing.T) {
	t.Setenv("GH_TEST_TOKEN", testToken)
	for _, tc := range []struct{ cfg, want string }{
		{"audit_log_actions: [Org.Add]\n", `invalid audit log action "Org.Add"`},
		{"audit_log_overlap: 8d\n", "audit_log_overlap"},
		{"audit_log_lag: -1m\n", "audit_log_lag"},
	} {
		_, err := collectortest.BuildErr("github", "org: acme\ntoken: env:GH_TEST_TOKEN\n"+tc.cfg)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: %v, want %q", tc.cfg, err, tc.want)
		}
	}
}

// A configured category selects its actions, and the phrase sent to GitHub
// carries it; actions outside it are left out.
func TestAuditLogActionsFilter(t *testing.T) {
	srv, org := newAuditFake(t, ghfake.Options{Repos: 3, MergedPerRepo: 1, AuditEvents: 60})
	res := runAll(t, auditCfg(srv, "audit_log_actions: [team]\n"), "")
	_, bs := auditArtifacts(t, res)
	want := 0
	for _, e := range org.AuditLog {
		if strings.HasPrefix(e.Action, "team.") && e.At.After(now.Add(-90*24*time.Hour)) {
			want++
		}
	}
	if len(bs) != 1 || len(bs[0].Events) != want || want == 0 {
		t.Fatalf("got %d events, want the %d team events", len(bs[0].Events), want)
	}
	for _, e := range bs[0].Events {
		if !strings.HasPrefix(e.Action, "team.") {
			t.Errorf("event %s has action %s", e.ID, e.Action)
		}
	}
	for _, h := range srv.Hits() {
		if strings.HasSuffix(h.Path, "/orgs/acme/audit-log") && !strings.Contains(h.Query, "action%3Ateam+") {
			t.Errorf("phrase without the action qualifier: %s", h.Query)
		}
	}
}

// Several organisations: each has its own audit log window in the one
// cursor; one not on Enterprise Cloud is unknown while the other is read.
func TestAuditLogSeveralOrganisations(t *testing.T) {
	srv, acme := newAuditFake(t, ghfake.Options{Repos: 2, MergedPerRepo: 1, AuditEvents: 30})
	srv.AddOrg(ghfake.Generate(ghfake.Options{Org: "beta", Repos: 2, MergedPerRepo: 1, Seed: 5}))
	cfg := fmt.Sprintf("base_url: %s/api/v3/\norgs: [acme, beta]\ntoken: env:GH_AUDIT_TOKEN\nevidence: [audit_log]\n", srv.URL)
	first := runAll(t, cfg, "")
	got := map[string]string{}
	for _, a := range byType(first.Committed, EvAuditLog) {
		var b auditBody
		if err := json.Unmarshal(a.Body, &b); err != nil {
			t.Fatal(err)
		}
		got[a.Subject] = fmt.Sprintf("visible=%v events=%d", b.Visible, len(b.Events))
	}
	want := map[string]string{"acme": fmt.Sprintf("visible=true events=%d", len(wantAudit(acme, now.Add(-90*24*time.Hour), now.Add(-5*time.Minute)))),
		"beta": "visible=false events=0"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("audit logs %v, want %v", got, want)
	}
	srv.Update(func(o *ghfake.Org) {
		o.AddAuditEvent(ghfake.AuditEvent{DocumentID: "new", At: now.Add(30 * time.Minute), Action: "org.remove_member", Actor: "dev001", User: "dev004"})
	})
	srv.Now = func() time.Time { return now.Add(time.Hour) }
	second := collectortest.Run(t, collectortest.Build(t, "github", cfg), collectortest.Options{Now: now.Add(time.Hour), Cursor: first.Cursor})
	if second.Err != nil {
		t.Fatal(second.Err)
	}
	var ids []string
	for _, a := range byType(second.Committed, EvAuditLog) {
		ids = append(ids, auditItems(a)...)
	}
	if strings.Join(ids, ",") != "audit:new" {
		t.Errorf("second run collected %v, want only the new acme event", ids)
	}
}
