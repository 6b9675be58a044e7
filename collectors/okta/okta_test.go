package okta_test

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tickmark-dev/tickmark/collectors"
	"github.com/tickmark-dev/tickmark/collectors/collectortest"
	"github.com/tickmark-dev/tickmark/collectors/httpx"
	"github.com/tickmark-dev/tickmark/collectors/okta"
	"github.com/tickmark-dev/tickmark/collectors/okta/oktafake"
)

var testNow = time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)

// startFake starts a fake org and exports its token as OKTA_TEST_TOKEN.
func startFake(t testing.TB, o oktafake.Options) (*oktafake.Server, string) {
	t.Helper()
	f := oktafake.New(o)
	u := f.Start()
	t.Cleanup(f.Close)
	t.Setenv("OKTA_TEST_TOKEN", f.Token())
	return f, u
}

func config(orgURL string, extra ...string) string {
	return "org_url: " + orgURL + "\ntoken: env:OKTA_TEST_TOKEN\n" + strings.Join(extra, "\n") + "\n"
}

type usersBody struct {
	Page       int    `json:"page"`
	Count      int    `json:"count"`
	LastPage   bool   `json:"last_page"`
	TotalUsers *int   `json:"total_users"`
	Org        string `json:"org"`
	Users      []struct {
		ID                string `json:"id"`
		Login             string `json:"login"`
		Status            string `json:"status"`
		MFAEnrolled       *bool  `json:"mfa_enrolled"`
		PhishingResistant *bool  `json:"phishing_resistant"`
		Factors           []struct {
			Type              string `json:"factorType"`
			Provider          string `json:"provider"`
			Status            string `json:"status"`
			Category          string `json:"category"`
			PhishingResistant bool   `json:"phishing_resistant"`
			CountsAsMFA       bool   `json:"counts_as_mfa"`
		} `json:"factors"`
	} `json:"users"`
}

type deprovBody struct {
	Count int `json:"count"`
	Users []struct {
		ID        string    `json:"id"`
		Login     string    `json:"login"`
		Status    string    `json:"status"`
		EventUUID string    `json:"event_uuid"`
		At        time.Time `json:"at"`
		Actor     *struct {
			ID          string `json:"id"`
			AlternateID string `json:"alternateId"`
		} `json:"actor"`
	} `json:"users"`
}

type logBody struct {
	Request string `json:"request"`
	Count   int    `json:"count"`
	Events  []struct {
		UUID      string    `json:"uuid"`
		EventType string    `json:"eventType"`
		Published time.Time `json:"published"`
	} `json:"events"`
}

func decode[T any](t testing.TB, a collectortest.Artifact) T {
	t.Helper()
	var v T
	if err := json.Unmarshal(a.Body, &v); err != nil {
		t.Fatalf("%s artifact %q is not valid JSON: %v", a.Type, a.Subject, err)
	}
	return v
}

func ofType(as []collectortest.Artifact, typ string) []collectortest.Artifact {
	var out []collectortest.Artifact
	for _, a := range as {
		if a.Type == typ {
			out = append(out, a)
		}
	}
	return out
}

// items names the events of event-stream artifacts for the resume checks.
func items(a collectortest.Artifact) []string {
	var out []string
	switch a.Type {
	case okta.TypeSystemLog:
		var b logBody
		_ = json.Unmarshal(a.Body, &b)
		for _, e := range b.Events {
			out = append(out, "log:"+e.UUID)
		}
	case okta.TypeDeprovisioned:
		var b deprovBody
		_ = json.Unmarshal(a.Body, &b)
		for _, u := range b.Users {
			out = append(out, "deprov:"+u.ID+"@"+u.At.Format(time.RFC3339Nano))
		}
	}
	return out
}

func TestConformance(t *testing.T) {
	f, u := startFake(t, oktafake.Options{Users: 60, LogEvents: 300})
	t.Setenv("OKTA_BAD_TOKEN", "bad-token-4f1e2d")
	grown := testNow.Add(-30 * time.Minute)
	collectortest.Suite{
		Type:    "okta",
		Config:  config(u, "page_size: 25", "system_log_page_size: 40"),
		Secrets: []string{f.Token(), "bad-token-4f1e2d"},
		Items:   items,
		Now:     testNow,
		Grow: func() {
			f.AddEvents(5, grown)
			grown = grown.Add(time.Minute)
		},
		Failures: []collectortest.Failure{
			{
				Name:            "bad token",
				Config:          "org_url: " + u + "\ntoken: env:OKTA_BAD_TOKEN\n",
				Retryable:       false,
				MessageContains: []string{"okta", u, "GET " + u + "/api/v1/users", "401", "E0000011", "env:OKTA_BAD_TOKEN", "Read-Only Administrator"},
			},
			{
				Name:            "missing scope for the System Log",
				Setup:           func() func() { return f.Fail(oktafake.Failure{Status: 403, PathPrefix: "/api/v1/logs"}) },
				Retryable:       false,
				MessageContains: []string{u, "/api/v1/logs", "403", "E0000006", "okta.logs.read"},
			},
			{
				Name:            "HTTP 500 storm",
				Setup:           func() func() { return f.Fail(oktafake.Failure{Status: 500}) },
				Retryable:       true,
				MessageContains: []string{u, "/api/v1/users", "HTTP 500"},
			},
			{
				Name:            "malformed JSON",
				Setup:           func() func() { return f.Fail(oktafake.Failure{Malformed: true, PathPrefix: "/api/v1/users"}) },
				Retryable:       false,
				MessageContains: []string{u, "GET /api/v1/users", "malformed JSON"},
			},
		},
	}.Run(t)
}

func TestRejectsBadConfig(t *testing.T) {
	t.Setenv("OKTA_TEST_TOKEN", "x")
	for name, tc := range map[string]struct{ cfg, want string }{
		"missing org":        {"token: env:OKTA_TEST_TOKEN\n", "org_url is required"},
		"plain http":         {"org_url: http://acme.okta.com\ntoken: env:OKTA_TEST_TOKEN\n", "must use https"},
		"literal token":      {"org_url: https://acme.okta.com\ntoken: 00abcdef\n", "literal"},
		"no credentials":     {"org_url: https://acme.okta.com\n", "token is required"},
		"unknown evidence":   {"org_url: https://acme.okta.com\ntoken: env:OKTA_TEST_TOKEN\nevidence: [users, sessions]\n", `unknown evidence "sessions"`},
		"page size":          {"org_url: https://acme.okta.com\ntoken: env:OKTA_TEST_TOKEN\npage_size: 500\n", "page_size 500"},
		"token and oauth":    {"org_url: https://acme.okta.com\ntoken: env:OKTA_TEST_TOKEN\nclient_id: 0oa1\n", "not both"},
		"oauth without key":  {"org_url: https://acme.okta.com\nclient_id: 0oa1\n", "needs both client_id and private_key"},
		"dpop with a token":  {"org_url: https://acme.okta.com\ntoken: env:OKTA_TEST_TOKEN\ndpop: false\n", "dpop applies to an OAuth 2.0 service app"},
		"lag out of range":   {"org_url: https://acme.okta.com\ntoken: env:OKTA_TEST_TOKEN\nconsistency_lag: 3d\n", "consistency_lag 3d"},
		"concurrency bounds": {"org_url: https://acme.okta.com\ntoken: env:OKTA_TEST_TOKEN\nfactor_concurrency: 100\n", "factor_concurrency 100"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := collectortest.BuildErr("okta", tc.cfg)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want an error containing %q", err, tc.want)
			}
		})
	}
}

func TestTenThousandUsersCollectedOnce(t *testing.T) {
	const n = 10000
	f, u := startFake(t, oktafake.Options{Users: n, LogEvents: 500})
	res := collectortest.Run(t, collectortest.Build(t, "okta", config(u, "evidence: [users]", "factor_concurrency: 8")), collectortest.Options{Now: testNow})
	if res.Err != nil {
		t.Fatal(res.Err)
	}
	pages := ofType(res.Committed, okta.TypeUsers)
	if len(pages) != n/200 {
		t.Fatalf("got %d okta.users artifacts, want %d pages of 200", len(pages), n/200)
	}
	seen := map[string]int{}
	deprovisioned, noMFA := 0, 0
	for k, a := range pages {
		b := decode[usersBody](t, a)
		if b.Page != k+1 || b.Count != len(b.Users) || b.Org != u {
			t.Fatalf("page %d: body says page %d, count %d for %d users, org %q", k+1, b.Page, b.Count, len(b.Users), b.Org)
		}
		if a.Source.Items != b.Count || a.Source.Account != u || a.Source.Endpoint != "GET /api/v1/users" || !strings.Contains(a.Source.Query, "DEPROVISIONED") {
			t.Fatalf("page %d: source does not describe the query: %+v", k+1, a.Source)
		}
		if last := k == len(pages)-1; b.LastPage != last || a.Source.Complete != last {
			t.Fatalf("page %d: last_page=%v complete=%v", k+1, b.LastPage, a.Source.Complete)
		}
		for _, usr := range b.Users {
			seen[usr.ID]++
			if usr.Status == "DEPROVISIONED" {
				deprovisioned++
			}
			if usr.Status != "DEPROVISIONED" && !*usr.MFAEnrolled {
				noMFA++
			}
		}
	}
	if b := decode[usersBody](t, pages[len(pages)-1]); b.TotalUsers == nil || *b.TotalUsers != n {
		t.Fatalf("last page total_users = %v, want %d", b.TotalUsers, n)
	}
	for i := 0; i < n; i++ {
		if c := seen[oktafake.UserID(i)]; c != 1 {
			t.Fatalf("user %d collected %d times", i, c)
		}
	}
	if deprovisioned != n/50 {
		t.Errorf("got %d DEPROVISIONED users, want %d (listUsers omits them unless filtered)", deprovisioned, n/50)
	}
	want := 0
	for i := 0; i < n; i++ {
		if f.User(i).Status != "DEPROVISIONED" && !hasStrongFactor(f.Factors(i)) {
			want++
		}
	}
	if noMFA != want || want < n/10 {
		t.Errorf("got %d users without active MFA, want %d", noMFA, want)
	}
	if st := f.Stats(); st.FactorCalls != n-n/50 || st.MaxInFlight > 8+1 {
		t.Errorf("factor calls %d (want %d, none for deprovisioned users), max in flight %d (limit 8 + the list)", st.FactorCalls, n-n/50, st.MaxInFlight)
	}
	// user 3 has no factor; user 15 has push, TOTP and WebAuthn
	b := decode[usersBody](t, pages[0])
	if *b.Users[3].MFAEnrolled || len(b.Users[3].Factors) != 0 {
		t.Errorf("user 3 should have no factors: %+v", b.Users[3])
	}
	if got := b.Users[15].Factors; len(got) != 3 || got[1].Provider != "GOOGLE" || got[2].Type != "webauthn" {
		t.Errorf("user 15 factors: %+v", got)
	}
}

// hasStrongFactor: an active factor that is possession (not SMS, voice or
// email) or inherence, by Okta's factor types.
func hasStrongFactor(fs []oktafake.Factor) bool {
	for _, f := range fs {
		switch f.FactorType {
		case "push", "token:software:totp", "webauthn", "signed_nonce", "u2f", "token:hardware":
			if f.Status == "ACTIVE" {
				return true
			}
		}
	}
	return false
}

func TestDeprovisionedUsersCarryTheActor(t *testing.T) {
	f, u := startFake(t, oktafake.Options{Users: 500, LogEvents: 2000})
	// a user reactivated after a deprovisioning would not be DEPROVISIONED now;
	// one deprovisioned explicitly by user 1, an hour before the run
	f.Deprovision(100, "DEPROVISIONED", testNow.Add(-time.Hour), 1)
	since := testNow.Add(-30 * 24 * time.Hour)
	res := collectortest.Run(t, collectortest.Build(t, "okta", config(u, "evidence: [deprovisioned_users]")), collectortest.Options{Now: testNow, Since: since})
	if res.Err != nil {
		t.Fatal(res.Err)
	}
	arts := ofType(res.Committed, okta.TypeDeprovisioned)
	if len(arts) != 1 {
		t.Fatalf("got %d deprovisioned artifacts, want 1", len(arts))
	}
	a := arts[0]
	if end := testNow.Add(-okta.DefaultConsistencyLag); !a.WindowStart.Equal(since) || !a.WindowEnd.Equal(end) {
		t.Fatalf("window %s..%s, want %s..%s", a.WindowStart, a.WindowEnd, since, end)
	}
	b := decode[deprovBody](t, a)
	want := map[string]oktafake.Lifecycle{}
	for i := 0; i < f.Users(); i++ {
		if l, ok := f.Lifecycle(i); ok && !l.At.Before(since) && l.At.Before(testNow) {
			want[oktafake.UserID(i)] = l
		}
	}
	if len(want) < 5 || b.Count != len(want) || len(b.Users) != len(want) {
		t.Fatalf("got %d departures (count %d), want %d", len(b.Users), b.Count, len(want))
	}
	for _, d := range b.Users {
		l, ok := want[d.ID]
		if !ok {
			t.Fatalf("unexpected departure %s", d.ID)
		}
		if d.Status != l.Status || !d.At.Equal(l.At) || d.EventUUID == "" {
			t.Errorf("%s: got status %s at %s (event %q), want %s at %s", d.ID, d.Status, d.At, d.EventUUID, l.Status, l.At)
		}
		ai, _ := userIndex(l.ActorID)
		if d.Actor == nil || d.Actor.ID != l.ActorID || d.Actor.AlternateID != f.User(ai).Login {
			t.Errorf("%s: actor %+v, want %s (%s)", d.ID, d.Actor, l.ActorID, f.User(ai).Login)
		}
	}
	if d := b.Users[len(b.Users)-1]; d.ID != oktafake.UserID(100) || d.Actor.AlternateID != f.User(1).Login {
		t.Errorf("the latest departure should be user 100 by user 1, got %+v", d)
	}
}

func userIndex(id string) (int, error) {
	var i int
	_, err := fmt.Sscanf(strings.TrimPrefix(id, "00u"), "%d", &i)
	return i, err
}

// relevant reports whether the default System Log filter selects an event type.
func relevant(typ string) bool {
	for _, p := range []string{"user.lifecycle.", "user.account.", "user.mfa.", "user.session.", "user.authentication.", "group.user_membership.", "application.user_membership.",
		"group.lifecycle.", "application.lifecycle.", "app.oauth2.", "system.api_token.", "policy.", "group.privilege.", "iam.", "security."} {
		if strings.HasPrefix(typ, p) {
			return true
		}
	}
	return false
}

func TestSecondRunFetchesOnlyNewEvents(t *testing.T) {
	f, u := startFake(t, oktafake.Options{Users: 1000, LogEvents: 50000})
	c := collectortest.Build(t, "okta", config(u, "evidence: [system_log]"))
	first := collectortest.Run(t, c, collectortest.Options{Now: testNow})
	if first.Err != nil {
		t.Fatal(first.Err)
	}
	want := map[string]bool{}
	for _, e := range f.Events() {
		if relevant(e.EventType) && !e.Published.Before(testNow.Add(-90*24*time.Hour)) {
			want[e.UUID] = true
		}
	}
	got := map[string]int{}
	for _, a := range ofType(first.Committed, okta.TypeSystemLog) {
		b := decode[logBody](t, a)
		wantEnd := b.Events[len(b.Events)-1].Published
		if a.Source.Complete {
			// the page that caught up is complete up to now - lag
			wantEnd = testNow.Add(-okta.DefaultConsistencyLag)
		}
		if b.Count != len(b.Events) || !a.WindowStart.Equal(b.Events[0].Published) || !a.WindowEnd.Equal(wantEnd) {
			t.Fatalf("artifact %q does not describe its page: count %d of %d, window %s..%s", a.Subject, b.Count, len(b.Events), a.WindowStart, a.WindowEnd)
		}
		for _, e := range b.Events {
			if !relevant(e.EventType) {
				t.Fatalf("event %s of type %s is not security-relevant", e.UUID, e.EventType)
			}
			got[e.UUID]++
		}
	}
	if len(want) < 25000 || len(got) != len(want) {
		t.Fatalf("first run collected %d distinct events, want %d", len(got), len(want))
	}
	for id, n := range got {
		if n != 1 || !want[id] {
			t.Fatalf("event %s collected %d times (expected: %v)", id, n, want[id])
		}
	}
	f.ResetStats()
	added := f.AddEvents(7, testNow.Add(10*time.Minute))
	second := collectortest.Run(t, c, collectortest.Options{Now: testNow.Add(time.Hour), Cursor: first.Cursor})
	if second.Err != nil {
		t.Fatal(second.Err)
	}
	var got2 []string
	for _, a := range ofType(second.Committed, okta.TypeSystemLog) {
		for _, e := range decode[logBody](t, a).Events {
			got2 = append(got2, e.UUID)
		}
	}
	if !slices.Equal(got2, added) {
		t.Fatalf("second run collected %v, want exactly the new events %v", got2, added)
	}
	if st := f.Stats(); st.EventsServed != len(added) || st.LogRequests > 3 {
		t.Fatalf("second run made %d System Log requests serving %d events; it must start from the cursor", st.LogRequests, st.EventsServed)
	}
}

func TestHeadersPreventThrottling(t *testing.T) {
	f, u := startFake(t, oktafake.Options{Users: 60, LogEvents: 100, RateLimits: map[string]oktafake.Limit{
		"users/{id}": {Limit: 20, Window: time.Second},
		"users":      {Limit: 3, Window: time.Second},
	}})
	tr := httpx.New(nil, nil)
	res := collectortest.Run(t, collectortest.Build(t, "okta", config(u, "evidence: [users]", "page_size: 20", "factor_concurrency: 8")),
		collectortest.Options{Now: testNow, HTTPClient: tr.Client(time.Minute)})
	if res.Err != nil {
		t.Fatal(res.Err)
	}
	st := f.Stats()
	if st.Throttled != 0 {
		t.Fatalf("the fake answered %d requests with 429 although its headers warned (%+v)", st.Throttled, st)
	}
	want := 0
	for i := 0; i < f.Users(); i++ {
		if f.User(i).Status != "DEPROVISIONED" {
			want++
		}
	}
	if st.FactorCalls != want {
		t.Fatalf("factor calls %d, want %d", st.FactorCalls, want)
	}
	if tr.Stats().Waits == 0 {
		t.Fatalf("the transport never waited for a budget reset: the limit was not tight enough to test anything")
	}
}

// A failure anywhere in the snapshots commits nothing; the next run, with
// the source healthy again, collects everything.
// When another integration has spent the budget, the one 429 (E0000047)
// is waited out until X-Rate-Limit-Reset, not hammered.
func TestWaitsOutA429(t *testing.T) {
	f, u := startFake(t, oktafake.Options{Users: 30, RateLimits: map[string]oktafake.Limit{"users": {Limit: 50, Window: time.Second}}})
	f.Exhaust("users")
	start := time.Now()
	res := collectortest.Run(t, collectortest.Build(t, "okta", config(u, "evidence: [users]")), collectortest.Options{Now: testNow})
	if res.Err != nil {
		t.Fatal(res.Err)
	}
	if st := f.Stats(); st.Throttled != 1 || st.ByFamily["users"] != 2 {
		t.Fatalf("want exactly one 429 and one retry after the reset, got %d 429s in %d list requests", st.Throttled, st.ByFamily["users"])
	}
	if el := time.Since(start); el < 500*time.Millisecond {
		t.Fatalf("the retry came after %s, before the budget's reset", el)
	}
	if n := len(ofType(res.Committed, okta.TypeUsers)); n != 1 {
		t.Fatalf("got %d users artifacts, want 1", n)
	}
}

func TestFailureCommitsNothingAndNextRunSucceeds(t *testing.T) {
	f, u := startFake(t, oktafake.Options{Users: 60, LogEvents: 300})
	c := collectortest.Build(t, "okta", config(u, "system_log_page_size: 40"))
	for _, tc := range []struct {
		name      string
		fail      oktafake.Failure
		retryable bool
		want      string
	}{
		{"token revoked mid-run", oktafake.Failure{Status: 401, PathPrefix: "/api/v1/groups"}, false, "E0000011"},
		{"no permission for policies", oktafake.Failure{Status: 403, PathPrefix: "/api/v1/policies"}, false, "okta.policies.read"},
		{"500 storm on roles", oktafake.Failure{Status: 500, PathPrefix: "/api/v1/iam"}, true, "HTTP 500"},
		{"malformed group members", oktafake.Failure{Malformed: true, PathPrefix: "/api/v1/groups/00g00000engineering/users"}, false, "malformed JSON"},
		{"malformed factors", oktafake.Failure{Malformed: true, PathPrefix: "/api/v1/users/00u00000000000000011/factors"}, false, "malformed JSON"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			restore := f.Fail(tc.fail)
			res := collectortest.Run(t, c, collectortest.Options{Now: testNow})
			restore()
			if res.Err == nil || collectors.IsRetryable(res.Err) != tc.retryable || !strings.Contains(res.Err.Error(), tc.want) {
				t.Fatalf("got error %v, want retryable=%v mentioning %q", res.Err, tc.retryable, tc.want)
			}
			if len(res.Committed) != 0 || res.Checkpoints != 0 {
				t.Fatalf("a failed run committed %d artifacts in %d checkpoints; snapshots must not be half-committed", len(res.Committed), res.Checkpoints)
			}
			ok := collectortest.Run(t, c, collectortest.Options{Now: testNow})
			if ok.Err != nil {
				t.Fatalf("next run: %v", ok.Err)
			}
			types := map[string]int{}
			for _, a := range ok.Committed {
				types[a.Type]++
			}
			for _, typ := range []string{okta.TypeUsers, okta.TypeGroups, okta.TypeAdmins, okta.TypePolicies, okta.TypeDeprovisioned, okta.TypeSystemLog} {
				if types[typ] == 0 {
					t.Errorf("no %s artifact", typ)
				}
			}
			if types[okta.TypePolicies] != len(okta.PolicyTypes) || types[okta.TypeGroups] != 5 {
				t.Errorf("got %d policy artifacts and %d group artifacts, want %d and 5", types[okta.TypePolicies], types[okta.TypeGroups], len(okta.PolicyTypes))
			}
		})
	}
}
