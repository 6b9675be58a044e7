package github

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tickmark-dev/tickmark/collectors"
	"github.com/tickmark-dev/tickmark/collectors/github/ghfake"
)

// The acceptance: a 300-repository organisation with 3,000 pull
// requests merged in the window (merge, squash and rebase merges; stale,
// post-merge, self and co-committer approvals; a reader's approval) and 200
// direct pushes; one repository empty and one the credentials cannot read;
// GitHub's secondary limit hit with and without Retry-After. Every change
// appears exactly once, as a pull request or as a direct push; every
// commit is attributed as the fake knows it was; independent_approval
// matches the test's own reading of the rule; the other 298 repositories
// are collected; and no request reaches GitHub before a wait it asked for
// is over.
func TestAcceptance300Repos(t *testing.T) {
	if testing.Short() {
		t.Skip("acceptance run of 300 repositories (about 20,000 requests)")
	}
	srv, org := newFake(t, ghfake.Options{Repos: 300, MergedPerRepo: 10, DirectPushes: 200})
	srv.SetLimits(0, 0, 1_000_000)
	srv.Update(func(o *ghfake.Org) {
		o.Repos[49].Archived = false // 300 live repositories
		o.MakeEmpty("service-250")
		o.Repos[259].Blocked = 403 // service-260: "Resource not accessible by integration"
	})
	clk := &fakeClock{t: now}
	// Secondary limits in the middle of the run: with Retry-After, and
	// without (the minute-and-doubling rule).
	srv.Inject(ghfake.Fault{Path: "/repos/acme/service-100/pulls/", Status: 403, Times: 2, Body: fmt.Sprintf(secondaryBody, 403)})
	srv.Inject(ghfake.Fault{Path: "/repos/acme/service-200/commits", Status: 429, Times: 1, Body: fmt.Sprintf(secondaryBody, 429),
		Header: map[string]string{"Retry-After": "20"}})
	since := now.Add(-90 * 24 * time.Hour)
	// concurrency 1: with requests in flight, "after the refusal" would be
	// ambiguous; the gate pauses every request either way.
	res := clockedRun(t, srv, clk, strings.Replace(cfgFor(srv, "concurrency: 1\n"), "GH_TEST_TOKEN", "GH_OWNER_TOKEN", 1))
	// One repository is not collected (a finding); the run is partial.
	if !collectors.IsPartial(res.Err) || !strings.Contains(res.Err.Error(), "service-260") {
		t.Fatalf("run outcome: %v, want partial naming service-260", res.Err)
	}

	// What the fake holds, read independently of the collector.
	type change struct {
		repo string
		pull *ghfake.Pull
	}
	wantPRs := map[string]change{}
	wantPush := map[string]bool{}
	wantCommit := map[string]int{} // sha -> pull request (0: direct push)
	for _, rp := range org.Repos {
		if rp.Blocked != 0 {
			continue
		}
		for _, p := range rp.Pulls {
			if !p.MergedAt.IsZero() && p.BaseRef == rp.DefaultBranch && p.MergedAt.After(since) && !p.MergedAt.After(now) {
				wantPRs[fmt.Sprintf("acme/%s#%d", rp.Name, p.Number)] = change{rp.Name, p}
			}
		}
		for _, c := range rp.Commits {
			if slices.Contains(c.Branches, rp.DefaultBranch) && c.Date.After(since) && !c.Date.After(now) {
				wantCommit["acme/"+rp.Name+"@"+c.SHA] = c.PR
				if c.PR == 0 {
					wantPush["acme/"+rp.Name+"@"+c.SHA] = true
				}
			}
		}
	}
	if len(wantPRs) < 2_980 || len(wantPush) != 200 {
		t.Fatalf("fake: %d pull requests and %d direct pushes in the window", len(wantPRs), len(wantPush))
	}
	methods := map[string]int{}
	for _, c := range wantPRs {
		methods[c.pull.MergeMethod]++
	}

	seenPR, seenPush, seenCommit := map[string]int{}, map[string]int{}, map[string]int{}
	notIndependent, withSuite := 0, 0
	for _, b := range prBodies(t, res.Committed) {
		if b.Collected != nil {
			if b.Repository != "acme/service-260" {
				t.Errorf("%s: pull requests not collected", b.Repository)
			}
			continue
		}
		if !b.Complete {
			t.Errorf("%s: population not complete", b.Repository)
		}
		for _, p := range b.PullRequests {
			k := fmt.Sprintf("%s#%d", b.Repository, p.Number)
			seenPR[k]++
			w, ok := wantPRs[k]
			if !ok {
				t.Errorf("%s is not a pull request merged into the default branch in the window", k)
				continue
			}
			want := wantIndependent(org, w.pull)
			if p.IndependentApproval == nil || *p.IndependentApproval != want {
				t.Errorf("%s: independent_approval=%v, want %v (reasons %v)", k, p.IndependentApproval, want, p.Reasons)
			}
			if !want {
				notIndependent++
				if len(p.Reasons) == 0 {
					t.Errorf("%s: not independently approved, with no reason given", k)
				}
			}
			if p.HeadSHA != w.pull.HeadSHA || p.MergeCommitSHA != w.pull.MergeSHA {
				t.Errorf("%s: head %s merge %s, want %s %s", k, p.HeadSHA, p.MergeCommitSHA, w.pull.HeadSHA, w.pull.MergeSHA)
			}
		}
		for _, d := range b.DirectPushes {
			k := b.Repository + "@" + d.SHA
			seenPush[k]++
			if !wantPush[k] {
				t.Errorf("%s recorded as a direct push", k)
			}
			if d.Author == nil || *d.Author == "" {
				t.Errorf("%s: direct push without its author", k)
			}
			if d.RuleSuite != nil {
				withSuite++
				if d.RuleSuite.Result != "bypass" {
					t.Errorf("%s: rule suite %q, want bypass", k, d.RuleSuite.Result)
				}
			}
		}
		for _, c := range b.Commits {
			k := b.Repository + "@" + c.SHA
			seenCommit[k]++
			want, ok := wantCommit[k]
			got := 0
			if c.PullRequest != nil {
				got = *c.PullRequest
			}
			if !ok || got != want {
				t.Errorf("%s attributed to pull request %d (via %s), want %d", k, got, c.Via, want)
			}
		}
	}
	for k := range wantPRs {
		if seenPR[k] != 1 {
			t.Errorf("pull request %s appears %d times, want once", k, seenPR[k])
		}
	}
	for k := range wantPush {
		if seenPush[k] != 1 {
			t.Errorf("direct push %s appears %d times, want once", k, seenPush[k])
		}
	}
	for k := range wantCommit {
		if seenCommit[k] != 1 {
			t.Errorf("commit %s appears %d times, want once", k, seenCommit[k])
		}
	}
	if notIndependent == 0 || withSuite == 0 || methods["rebase"] == 0 || methods["squash"] == 0 || methods["merge"] == 0 {
		t.Errorf("sample lacks variety: %d not independent, %d pushes with rule suites, methods %v", notIndependent, withSuite, methods)
	}

	// 298 collected, the empty one empty, the unreadable one a finding.
	pop := population(t, res)
	counts := map[string]int{}
	for _, r := range pop.Repositories {
		counts[r.Status]++
		if r.Name == "service-260" && (r.Status != "failed" || len(r.Findings) == 0 || r.Findings[0].Status != 403) {
			t.Errorf("service-260: %+v", r)
		}
		if r.Name == "service-250" && r.Status != "empty" {
			t.Errorf("service-250: %+v", r)
		}
	}
	if counts["collected"] != 298 || counts["empty"] != 1 || counts["failed"] != 1 || pop.Outcome != "partial" {
		t.Errorf("repository outcomes %v, outcome %q; want 298 collected, 1 empty, 1 failed, partial", counts, pop.Outcome)
	}

	// No request before the wait GitHub asked for.
	hits := srv.Hits()
	refusals, strikes := 0, 0
	for i, h := range hits {
		var need time.Duration
		switch {
		case h.Status == 403 && strings.Contains(h.Path, "/service-100/pulls/"):
			need = time.Minute << strikes
			strikes++
		case h.Status == 429:
			need = 20 * time.Second
		default:
			continue
		}
		refusals++
		if i+1 < len(hits) && hits[i+1].At.Before(h.At.Add(need)) {
			t.Errorf("a request %s after a secondary-limit refusal; GitHub requires %s", hits[i+1].At.Sub(h.At), need)
		}
	}
	if refusals != 3 {
		t.Errorf("%d secondary-limit refusals served, want 3", refusals)
	}
	t.Logf("%d repositories, %d pull requests (%v), %d direct pushes (%d with a visible rule suite), %d commits; %d requests",
		len(pop.Repositories), len(seenPR), methods, len(seenPush), withSuite, len(seenCommit), len(hits))
}
