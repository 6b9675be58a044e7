package github

import (
	"encoding/json"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/tickmark-dev/tickmark/collectors/collectortest"
	"github.com/tickmark-dev/tickmark/collectors/github/ghfake"
)

func prBodies(t *testing.T, as []collectortest.Artifact) []prBody {
	t.Helper()
	var out []prBody
	for _, a := range byType(as, EvPullRequests) {
		var b prBody
		if err := json.Unmarshal(a.Body, &b); err != nil {
			t.Fatalf("%s: %v", a.Subject, err)
		}
		out = append(out, b)
	}
	return out
}

// closedOrder is the fake's order of a repository's closed pull requests
// into branch under sort=updated&direction=desc.
func closedOrder(rp *ghfake.Repo, branch string) []*ghfake.Pull {
	var ps []*ghfake.Pull
	for _, p := range rp.Pulls {
		if p.State == "closed" && p.BaseRef == branch {
			ps = append(ps, p)
		}
	}
	sort.SliceStable(ps, func(i, j int) bool {
		if ps[i].UpdatedAt.Equal(ps[j].UpdatedAt) {
			return ps[i].Number > ps[j].Number
		}
		return ps[i].UpdatedAt.After(ps[j].UpdatedAt)
	})
	return ps
}

// Pull requests updated while the list is being paged move to page one:
// one not yet read jumps over the pages still to come, and everything in
// front of it shifts down a place, so a page boundary repeats an item.
// None may be lost and none collected twice.
func TestPullsMovingBetweenPagesMidScan(t *testing.T) {
	srv, org := newFake(t, ghfake.Options{Repos: 1, MergedPerRepo: 260, UnprotectedEvery: -1, AlertsDisabledEvery: -1})
	srv.SetLimits(0, 0, 100_000)
	moved := map[int]bool{}
	srv.OnRequest = func(o *ghfake.Org, r *http.Request) {
		if !strings.HasSuffix(r.URL.Path, "/pulls") || r.URL.Query().Get("page") != "2" || len(moved) > 0 {
			return
		}
		ps := closedOrder(o.Repos[0], "main")
		for i, at := range []int{230, 150, 5} { // page 3, page 2 (being read), page 1 (read)
			for at < len(ps) && (ps[at].MergedAt.IsZero() || moved[ps[at].Number]) {
				at++ // (no t.Fatal here: the handler holds the fake's lock)
			}
			p := ps[at]
			p.UpdatedAt = now.Add(time.Duration(i+1) * time.Minute) // a comment after the merge
			moved[p.Number] = true
		}
	}
	res := runAll(t, cfgFor(srv, "evidence: [pull_requests]\n"), "")
	if len(moved) != 3 {
		t.Fatalf("the scan never reached page 2")
	}
	seen := map[int]int{}
	for _, b := range prBodies(t, res.Committed) {
		for _, p := range b.PullRequests {
			seen[p.Number]++
		}
	}
	want := org.MergedInWindow(now.Add(-90*24*time.Hour), now)
	if len(seen) != want {
		t.Errorf("%d distinct pull requests collected, want %d", len(seen), want)
	}
	for n := range moved {
		if seen[n] != 1 {
			t.Errorf("moved pull request #%d collected %d times", n, seen[n])
		}
	}
	for n, c := range seen {
		if c != 1 {
			t.Errorf("#%d collected %d times", n, c)
		}
	}
}

// Each window re-reads an overlap: a change GitHub shows only after the
// previous run (merged or pushed before that run's end) is collected by
// the next one, and what the previous run already collected is not
// repeated.
func TestOverlapCollectsLateChangesOnce(t *testing.T) {
	srv, org := newFake(t, ghfake.Options{Repos: 3, MergedPerRepo: 2})
	cfg := cfgFor(srv, "evidence: [pull_requests]\n")
	var early int
	srv.Update(func(o *ghfake.Org) {
		early = o.AddMergedPull("service-001", "dev003", "dev004", "CHG-7 merged just before the run", now.Add(-20*time.Minute))
	})
	first := runAll(t, cfg, "")
	var late int
	var lateSHA string
	srv.Update(func(o *ghfake.Org) {
		// visible only now, though merged and pushed before the first run ended
		late = o.AddMergedPull("service-001", "dev005", "dev006", "CHG-8 indexed late", now.Add(-10*time.Minute))
		lateSHA = o.AddDirectPush("service-002", "dev001", "late hotfix", now.Add(-5*time.Minute))
	})
	second := collectortest.Run(t, collectortest.Build(t, "github", cfg), collectortest.Options{Now: now.Add(6 * time.Hour), Cursor: first.Cursor})
	if second.Err != nil {
		t.Fatal(second.Err)
	}
	count := map[string]int{}
	for _, res := range []collectortest.Result{first, second} {
		for _, b := range prBodies(t, res.Committed) {
			for _, p := range b.PullRequests {
				count[fmt.Sprintf("%s#%d", b.Repository, p.Number)]++
			}
			for _, d := range b.DirectPushes {
				count[d.SHA]++
			}
		}
	}
	for _, k := range []string{fmt.Sprintf("acme/service-001#%d", early), fmt.Sprintf("acme/service-001#%d", late), lateSHA} {
		if count[k] != 1 {
			t.Errorf("%s collected %d times, want once", k, count[k])
		}
	}
	if want := org.MergedInWindow(now.Add(-90*24*time.Hour), now.Add(6*time.Hour)); len(count)-1 != want {
		t.Errorf("%d pull requests over both runs, want %d", len(count)-1, want)
	}
	for _, b := range prBodies(t, second.Committed) {
		if b.MergedAfter != ts(now.Add(-time.Hour)) {
			t.Errorf("second window starts at %s, want the overlap %s", b.MergedAfter, ts(now.Add(-time.Hour)))
		}
	}
}

// Release branches selected by pattern are in the population too, and a
// change merged into an unselected branch is not.
func TestBranchPatterns(t *testing.T) {
	srv, org := newFake(t, ghfake.Options{Repos: 2, MergedPerRepo: 2})
	res := runAll(t, cfgFor(srv, "evidence: [pull_requests]\nbranches: [~DEFAULT_BRANCH, \"release-*\"]\n"), "")
	got := map[string]bool{}
	for _, b := range prBodies(t, res.Committed) {
		for _, p := range b.PullRequests {
			got[fmt.Sprintf("%s#%d", b.Repository, p.Number)] = true
		}
	}
	for _, rp := range org.Repos {
		for _, p := range rp.Pulls {
			if p.BaseRef == "release-1.x" && !got[fmt.Sprintf("acme/%s#%d", rp.Name, p.Number)] {
				t.Errorf("release-1.x pull request acme/%s#%d missing", rp.Name, p.Number)
			}
		}
	}
	if _, err := collectortest.BuildErr("github", cfgFor(srv, "branches: [\"release-[\"]\n")); err == nil || !strings.Contains(err.Error(), "branches") {
		t.Errorf("bad pattern accepted: %v", err)
	}
}

// After the first run the landed commits are exactly those between the
// previous head and the new one, whatever their dates: a direct push with
// a backdated committer date is still caught, and a force push that drops
// commits is reported as rewritten history.
func TestBackdatedAndForcePushes(t *testing.T) {
	srv, _ := newFake(t, ghfake.Options{Repos: 2, MergedPerRepo: 2})
	cfg := cfgFor(srv, "evidence: [pull_requests]\n")
	first := runAll(t, cfg, "")
	var backdated, forced string
	srv.Update(func(o *ghfake.Org) {
		backdated = o.AddDirectPush("service-001", "dev001", "pushed today, dated last year", now.Add(-400*24*time.Hour))
		forced = o.ForcePush("service-002", "main", "dev002", 2, now.Add(time.Hour))
	})
	second := collectortest.Run(t, collectortest.Build(t, "github", cfg), collectortest.Options{Now: now.Add(2 * time.Hour), Cursor: first.Cursor})
	if second.Err != nil {
		t.Fatal(second.Err)
	}
	pushes := map[string]bool{}
	rewritten := map[string]int{}
	for _, a := range byType(second.Committed, EvPullRequests) {
		var b struct {
			Repository   string `json:"repository"`
			DirectPushes []struct {
				SHA string `json:"sha"`
			} `json:"direct_pushes"`
			Population []struct {
				Method           string `json:"commits_method"`
				HistoryRewritten *int   `json:"history_rewritten"`
			} `json:"population"`
		}
		if err := json.Unmarshal(a.Body, &b); err != nil {
			t.Fatal(err)
		}
		for _, d := range b.DirectPushes {
			pushes[d.SHA] = true
		}
		for _, p := range b.Population {
			if p.Method != "compare" {
				t.Errorf("%s: commits listed by %q on a second run, want compare", b.Repository, p.Method)
			}
			if p.HistoryRewritten != nil {
				rewritten[b.Repository] = *p.HistoryRewritten
			}
		}
	}
	if !pushes[backdated] || !pushes[forced] {
		t.Errorf("direct pushes %v: want the backdated %s and the force-pushed %s", pushes, backdated, forced)
	}
	// two first-parent steps back: at least those two commits (and what a
	// dropped merge commit brought) are gone
	if rewritten["acme/service-002"] < 2 || len(rewritten) != 1 || !strings.Contains(second.Logs, "branch history rewritten") {
		t.Errorf("history_rewritten %v, want >= 2 commits removed from acme/service-002 only, and a warning", rewritten)
	}
}
