package github

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/tickmark-dev/tickmark/collectors"
	"github.com/tickmark-dev/tickmark/collectors/collectortest"
	"github.com/tickmark-dev/tickmark/collectors/github/ghfake"
)

// One collector, several organisations: each is collected with its own
// population and change windows in one cursor; one the credentials cannot
// read is a finding, the others are collected.
func TestSeveralOrganisations(t *testing.T) {
	srv, acme := newFake(t, ghfake.Options{Repos: 4, MergedPerRepo: 2})
	beta := ghfake.Generate(ghfake.Options{Org: "beta", Repos: 3, MergedPerRepo: 3, Seed: 7})
	srv.AddOrg(beta)
	cfg := fmt.Sprintf("base_url: %s/api/v3/\norgs: [acme, beta, ghost]\ntoken: env:GH_TEST_TOKEN\n", srv.URL)
	first := runPartial(t, cfg, "", "organisation ghost")
	pops := map[string]string{}
	for _, a := range byType(first.Committed, EvRepositories) {
		var b struct {
			Outcome string `json:"outcome"`
		}
		if err := json.Unmarshal(a.Body, &b); err != nil {
			t.Fatal(err)
		}
		pops[a.Subject] = b.Outcome
		if a.Source.Account != a.Subject {
			t.Errorf("github.repositories of %s has account %q", a.Subject, a.Source.Account)
		}
	}
	if pops["acme"] != "complete" || pops["beta"] != "complete" || pops["ghost"] != "failed" {
		t.Errorf("outcomes %v, want acme and beta complete, ghost failed", pops)
	}
	since := now.Add(-90 * 24 * time.Hour)
	count := func(res collectortest.Result) map[string]int {
		n := map[string]int{}
		for _, a := range byType(res.Committed, EvPullRequests) {
			org, _, _ := strings.Cut(a.Subject, "/")
			n[org] += len(prItems(a))
		}
		return n
	}
	got := count(first)
	if got["acme"] != acme.MergedInWindow(since, now) || got["beta"] != beta.MergedInWindow(since, now) {
		t.Errorf("merged pull requests per org %v, want acme %d beta %d", got, acme.MergedInWindow(since, now), beta.MergedInWindow(since, now))
	}
	// The second run continues both organisations' windows from the one cursor.
	srv.Update(func(o *ghfake.Org) {
		o.AddMergedPull("service-001", "dev003", "dev004", "CHG-5 later", now.Add(2*time.Hour))
	})
	second := collectortest.Run(t, collectortest.Build(t, "github", cfg), collectortest.Options{Now: now.Add(3 * time.Hour), Cursor: first.Cursor})
	if !collectors.IsPartial(second.Err) {
		t.Fatalf("second run: %v, want partial (ghost is still unreadable)", second.Err)
	}
	if got := count(second); got["acme"] != 1 || got["beta"] != 0 {
		t.Errorf("second run collected %v, want only the new acme pull request", got)
	}
	// One organisation that does not exist fails the collector.
	bad := collectortest.Run(t, collectortest.Build(t, "github", strings.Replace(cfgFor(srv, ""), "org: acme", "org: ghost", 1)), collectortest.Options{Now: now})
	if bad.Err == nil || !strings.Contains(bad.Err.Error(), "/orgs/ghost") {
		t.Errorf("unknown single organisation: %v", bad.Err)
	}
	// Configuration: org/name repositories with orgs:, Apps stay one per organisation.
	for _, tc := range []struct{ cfg, want string }{
		{"orgs: [acme, beta]\ntoken: env:GH_TEST_TOKEN\nrepos: [api]\n", "org/name"},
		{"org: acme\norgs: [beta]\ntoken: env:GH_TEST_TOKEN\n", "both org and orgs"},
		{"orgs: [acme, acme]\ntoken: env:GH_TEST_TOKEN\n", "repeated"},
	} {
		if _, err := collectortest.BuildErr("github", tc.cfg); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: %v, want %q", tc.cfg, err, tc.want)
		}
	}
	res := runAll(t, fmt.Sprintf("base_url: %s/api/v3/\norgs: [acme, beta]\ntoken: env:GH_TEST_TOKEN\nrepos: [beta/service-002]\nevidence: [branch_protection]\n", srv.URL), "")
	var subjects []string
	for _, a := range byType(res.Committed, EvBranchProtection) {
		subjects = append(subjects, a.Subject)
	}
	if strings.Join(subjects, ",") != "beta/service-002@main" {
		t.Errorf("repos filter across organisations collected %v", subjects)
	}
}

// A GitHub App is installed once per organisation: with several
// organisations each gets its own installation's token, which sees that
// organisation only.
func TestSeveralOrganisationsWithAnApp(t *testing.T) {
	srv, _ := newFake(t, ghfake.Options{Repos: 3, MergedPerRepo: 1})
	srv.AddOrg(ghfake.Generate(ghfake.Options{Org: "beta", Repos: 2, MergedPerRepo: 1, Seed: 9}))
	key, pemPath := appKey(t, t.TempDir())
	srv.SetApp(ghfake.App{ID: 4242, InstallationID: 1, PublicKey: &key.PublicKey, Installations: map[int64]string{778: "beta", 779: "acme"}})
	cfg := func(ids string) string {
		return fmt.Sprintf("base_url: %s/\norgs: [acme, beta]\napp_id: 4242\ninstallation_ids: %s\nprivate_key: file:%s\nevidence: [branch_protection]\n", srv.URL, ids, pemPath)
	}
	res := runAll(t, cfg("{acme: 779, beta: 778}"), "")
	orgs := map[string]int{}
	for _, a := range byType(res.Committed, EvBranchProtection) {
		org, _, _ := strings.Cut(a.Subject, "/")
		orgs[org]++
	}
	if orgs["acme"] != 3 || orgs["beta"] != 2 || srv.Stats().AppTokens != 2 {
		t.Errorf("collected %v with %d installation tokens, want acme 3, beta 2 with 2 tokens", orgs, srv.Stats().AppTokens)
	}
	// Installations swapped: neither token sees its organisation, and a run
	// in which every organisation failed fails.
	bad := collectortest.Run(t, collectortest.Build(t, "github", cfg("{acme: 778, beta: 779}")), collectortest.Options{Now: now})
	if bad.Err == nil || !strings.Contains(bad.Err.Error(), "404") {
		t.Errorf("swapped installations: %v", bad.Err)
	}
	if _, err := collectortest.BuildErr("github", fmt.Sprintf("orgs: [acme, beta]\napp_id: 1\ninstallation_ids: {acme: 5}\nprivate_key: file:%s\n", pemPath)); err == nil || !strings.Contains(err.Error(), `no installation ID for organisation "beta"`) {
		t.Errorf("missing installation: %v", err)
	}
}
