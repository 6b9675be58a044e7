package github

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"path"
	"sort"
	"strings"
	"time"

	"github.com/tickmark-dev/tickmark/collectors"
	"github.com/tickmark-dev/tickmark/collectors/httpx"
)

// ---- github.pull_requests: every change that reached a selected branch ----
//
// For each selected branch the collector reads two lists and reconciles
// them: the pull requests merged into the branch in the window, and the
// commits that landed on the branch in the window. Every commit is
// attributed to the pull request that brought it (its merge commit, squash
// commit, rebased commits or — for merge commits — the pull request's own
// commits); a commit no merged pull request brought is a direct push.

// wire shapes: only the fields the evidence uses; pointers tell a missing
// field from an empty one.
type userWire struct {
	Login string `json:"login"`
}

type pullWire struct {
	Number         int        `json:"number"`
	Title          string     `json:"title"`
	HTMLURL        string     `json:"html_url"`
	Body           *string    `json:"body"`
	User           *userWire  `json:"user"`
	Head           refWire    `json:"head"`
	Base           refWire    `json:"base"`
	CreatedAt      *time.Time `json:"created_at"`
	UpdatedAt      *time.Time `json:"updated_at"`
	MergedAt       *time.Time `json:"merged_at"`
	MergedBy       *userWire  `json:"merged_by"`
	MergeCommitSHA *string    `json:"merge_commit_sha"`
	Commits        int        `json:"commits"`
}

type refWire struct {
	Ref string `json:"ref"`
	SHA string `json:"sha"`
}

type reviewWire struct {
	User              *userWire  `json:"user"`
	State             string     `json:"state"`
	SubmittedAt       *time.Time `json:"submitted_at"`
	CommitID          string     `json:"commit_id"`
	AuthorAssociation string     `json:"author_association"`
}

type commitWire struct {
	SHA    string `json:"sha"`
	Commit struct {
		Author    personWire `json:"author"`
		Committer personWire `json:"committer"`
		Message   string     `json:"message"`
	} `json:"commit"`
	Author    *userWire `json:"author"`
	Committer *userWire `json:"committer"`
	Parents   []struct {
		SHA string `json:"sha"`
	} `json:"parents"`
}

type personWire struct {
	Name string    `json:"name"`
	Date time.Time `json:"date"`
}

type branchWire struct {
	Name   string `json:"name"`
	Commit struct {
		SHA string `json:"sha"`
	} `json:"commit"`
}

func login(u *userWire) string {
	if u == nil {
		return ""
	}
	return u.Login
}

// webFlow is the account GitHub commits as (merge, squash and rebase
// commits made on github.com); it is not a person who pushed.
const webFlow = "web-flow"

type prRecord struct {
	Number         int    `json:"number"`
	Title          string `json:"title"`
	URL            string `json:"html_url"`
	Author         string `json:"author"`
	HeadBranch     string `json:"head_branch"`
	BaseBranch     string `json:"base_branch"`
	CreatedAt      string `json:"created_at"`
	MergedAt       string `json:"merged_at"`
	MergedBy       string `json:"merged_by"`
	MergeCommitSHA string `json:"merge_commit_sha"`
	// HeadSHA is the pull request's head commit at merge: what was merged.
	HeadSHA string `json:"head_sha"`
	Commits int    `json:"commits"`
	// Committers is everyone who authored or committed one of the pull
	// request's commits (GitHub's own web-flow excluded).
	Committers         []string `json:"committers"`
	CommittersComplete bool     `json:"committers_complete"`
	// LandedCommits are the commits on the branch this pull request brought.
	LandedCommits []string    `json:"landed_commits"`
	Reviews       []reviewRec `json:"reviews"`
	ApprovedBy    []string    `json:"approved_by"`
	// IndependentApproval: true when some approval satisfies every rule,
	// false when none does, null when it depends on something the
	// credentials could not see; Reasons say why it is not true.
	IndependentApproval  *bool     `json:"independent_approval"`
	IndependentApprovers []string  `json:"independent_approvers"`
	Reasons              []string  `json:"independent_approval_reasons"`
	StaleReviewDismissal *bool     `json:"stale_review_dismissal"`
	MergedByAuthor       bool      `json:"merged_by_author"`
	Checks               checksRec `json:"checks_at_merge"`
	IssueKeys            []string  `json:"issue_keys"`
}

type reviewRec struct {
	Reviewer          string `json:"reviewer"`
	State             string `json:"state"`
	SubmittedAt       string `json:"submitted_at"`
	CommitID          string `json:"commit_id"`
	AuthorAssociation string `json:"author_association"`
	// ReviewerPermission is the reviewer's repository permission (admin,
	// write, read, none) for approvals; null when it could not be read.
	ReviewerPermission *string `json:"reviewer_permission,omitempty"`
	submitted          time.Time
}

type commitRec struct {
	SHA         string `json:"sha"`
	Branch      string `json:"branch"`
	CommittedAt string `json:"committed_at"`
	// PullRequest is the merged pull request that brought the commit; null
	// for a direct push.
	PullRequest *int   `json:"pull_request"`
	Via         string `json:"via"` // merge_commit, pull_request_commit, associated_pull_request, direct_push
}

type directPush struct {
	SHA         string  `json:"sha"`
	Branch      string  `json:"branch"`
	Author      *string `json:"author"` // login; null when the e-mail is not linked to an account
	AuthorName  string  `json:"author_name"`
	Committer   *string `json:"committer"`
	CommittedAt string  `json:"committed_at"`
	Message     string  `json:"message"`
	Parents     int     `json:"parents"`
	// RuleSuite is GitHub's rule evaluation of the push that put this
	// commit at the head of the branch (rule-suites; admins only): null
	// when none was visible.
	RuleSuite *ruleSuiteRec `json:"rule_suite"`
}

type ruleSuiteRec struct {
	ID               int64  `json:"id"`
	Actor            string `json:"actor_name"`
	PushedAt         string `json:"pushed_at"`
	Result           string `json:"result"`
	EvaluationResult string `json:"evaluation_result"`
}

type ruleSuiteWire struct {
	ID               int64      `json:"id"`
	ActorName        string     `json:"actor_name"`
	AfterSHA         string     `json:"after_sha"`
	Ref              string     `json:"ref"`
	PushedAt         *time.Time `json:"pushed_at"`
	Result           string     `json:"result"`
	EvaluationResult string     `json:"evaluation_result"`
}

// branchPopulation says how one branch's changes were read.
type branchPopulation struct {
	Branch string `json:"branch"`
	Head   string `json:"head"`
	// Method is how the landed commits were listed: "compare" (every
	// commit between the previous run's head and this one) or "since"
	// (first run: committer date after the window start).
	Method     string `json:"commits_method,omitempty"`
	PullPasses int    `json:"pull_request_list_passes"`
	Commits    int    `json:"commits"`
	// HistoryRewritten counts commits of the previous head no longer on
	// the branch (a force push); null when history only grew.
	HistoryRewritten *int   `json:"history_rewritten"`
	Complete         bool   `json:"complete"`
	Note             string `json:"note,omitempty"`
}

type compareWire struct {
	Status   string       `json:"status"`
	AheadBy  int          `json:"ahead_by"`
	BehindBy int          `json:"behind_by"`
	Commits  []commitWire `json:"commits"`
}

// compare lists every commit reachable from head and not from prev,
// paging GET compare/{prev}...{head}.
func (r *run) compare(ctx context.Context, base, prev, head string) (compareWire, int, error) {
	var out compareWire
	first := true
	pages, err := eachPage(ctx, r, base+"/compare/"+pathEsc(prev)+"..."+pathEsc(head)+"?per_page=100", false,
		func(g compareWire) compareWire { return g }, func(c compareWire) error {
			if first {
				out.Status, out.AheadBy, out.BehindBy, first = c.Status, c.AheadBy, c.BehindBy, false
			}
			out.Commits = append(out.Commits, c.Commits...)
			return nil
		})
	return out, pages, err
}

// maxPasses bounds the re-reads of the pull-request list (see scanPulls).
const maxPasses = 6

// scanPulls lists the closed pull requests into branch updated after from,
// newest update first, and calls fn once per pull request. Page numbers
// shift when a pull request is updated during the scan (it jumps to page
// one and one not yet read can be pushed past a page boundary, or one
// already read pulled in front of it); so after a full pass the head of the
// list is read again down to the newest update the previous pass saw, until
// a pass finds nothing newer. Every pull request updated during a pass is
// newer than everything that pass saw first, so none is skipped;
// duplicates are dropped by number.
func (r *run) scanPulls(ctx context.Context, base, branch string, from time.Time, fn func(pullWire) error) (passes int, complete bool, err error) {
	q := url.Values{"state": {"closed"}, "base": {branch}, "sort": {"updated"}, "direction": {"desc"}, "per_page": {"100"}}
	first := base + "/pulls?" + q.Encode()
	seen := map[int]bool{}
	stop := from
	for passes < maxPasses {
		passes++
		newest, fresh := stop, 0
		_, err := eachPage(ctx, r, first, false, func(g []pullWire) []pullWire { return g }, func(list []pullWire) error {
			for _, pr := range list {
				if pr.UpdatedAt != nil && !pr.UpdatedAt.After(stop) {
					return errStopPaging
				}
				if pr.UpdatedAt != nil && pr.UpdatedAt.After(newest) {
					newest = *pr.UpdatedAt
				}
				if seen[pr.Number] {
					continue
				}
				seen[pr.Number] = true
				fresh++
				if err := fn(pr); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil && !errors.Is(err, errStopPaging) {
			return passes, false, err
		}
		if passes > 1 && fresh == 0 {
			return passes, true, nil
		}
		stop = newest
	}
	return passes, false, nil
}

var errStopPaging = errors.New("stop paging")

// changes collects the change population of one repository.
func (r *run) changes(ctx context.Context, repo repoInfo, eff *effectiveProtection) (*collectors.Artifact, pullState, bool, error) {
	r.mu.Lock()
	prev := r.state.Pulls[r.pullKey(repo)]
	r.mu.Unlock()
	from := r.req.Since
	readFrom := from
	if !prev.Until.IsZero() {
		from = prev.Until
		readFrom = from.Add(-r.cfg.Overlap.D())
	}
	to := r.req.Now
	if !from.Before(to) {
		return nil, prev, false, nil
	}
	base := fmt.Sprintf("repos/%s/%s", pathEsc(r.org), pathEsc(repo.Name))
	var branches []branchWire
	bpages, err := eachPage(ctx, r, base+"/branches?per_page=100", true, func(g []branchWire) []branchWire { return g },
		func(bs []branchWire) error { branches = append(branches, bs...); return nil })
	if err != nil {
		return nil, prev, false, err
	}
	if len(branches) == 0 {
		// An empty repository has no branch at all: nothing can have landed.
		return nil, pullState{Until: to}, true, nil
	}
	var selected []branchWire
	for _, b := range branches {
		if r.cfg.selectsBranch(b.Name, repo.DefaultBranch) {
			selected = append(selected, b)
		}
	}
	next := pullState{Until: to, Heads: map[string]string{}, Rescan: map[string]bool{}, Seen: map[string]time.Time{}}
	for k, t := range prev.Seen {
		if t.After(to.Add(-r.cfg.Overlap.D())) {
			next.Seen[k] = t
		}
	}
	already := func(key string) bool { _, ok := prev.Seen[key]; return ok }
	remember := func(key string, t time.Time) {
		if t.After(to.Add(-r.cfg.Overlap.D())) {
			next.Seen[key] = t
		}
	}
	var sp spool
	fail := func(err error) (*collectors.Artifact, pullState, bool, error) {
		sp.discard()
		return nil, prev, false, err
	}
	var commits []commitRec
	var pushes []directPush
	var pops []branchPopulation
	dups, pages := 0, bpages
	complete := true
	for _, b := range selected {
		pop := branchPopulation{Branch: b.Name, Head: b.Commit.SHA, Complete: true}
		prevHead := prev.Heads[b.Name]
		if prevHead != "" && prevHead == b.Commit.SHA && !prev.Rescan[b.Name] {
			// Nothing landed: merging or pushing moves the head.
			next.Heads[b.Name] = prevHead
			pop.Note = "head unchanged since the previous run: nothing landed"
			pops = append(pops, pop)
			continue
		}
		beyond := false
		bySHA := map[string]int{}     // commit -> pull request that brought it
		mergedAny := map[string]int{} // merge commits of every merged PR listed
		var inWindow []pullWire
		passes, ok, err := r.scanPulls(ctx, base, b.Name, readFrom, func(pr pullWire) error {
			if pr.MergedAt == nil {
				return nil
			}
			if pr.MergeCommitSHA != nil {
				mergedAny[*pr.MergeCommitSHA] = pr.Number
			}
			switch m := *pr.MergedAt; {
			case m.After(to):
				beyond = true
			case m.After(readFrom):
				inWindow = append(inWindow, pr)
			}
			return nil
		})
		if err != nil {
			return fail(err)
		}
		pop.PullPasses, pages = passes, pages+passes
		if !ok {
			pop.Complete, complete = false, false
			pop.Note = fmt.Sprintf("pull requests kept moving between pages for %d passes", passes)
		}
		sort.Slice(inWindow, func(i, j int) bool { return inWindow[i].MergedAt.Before(*inWindow[j].MergedAt) })
		recs := map[int]*prRecord{}
		var order []int
		for _, pr := range inWindow {
			key := fmt.Sprintf("pr:%d", pr.Number)
			if already(key) {
				dups++
				continue
			}
			rec, prCommits, err := r.pullRecord(ctx, repo, base, pr.Number, eff)
			if err != nil {
				return fail(err)
			}
			if rec.MergeCommitSHA != "" {
				bySHA[rec.MergeCommitSHA] = pr.Number
			}
			for _, c := range prCommits {
				if _, taken := bySHA[c]; !taken {
					bySHA[c] = -pr.Number // a pull request's own commit (reaches the branch through a merge commit)
				}
			}
			recs[pr.Number] = &rec
			order = append(order, pr.Number)
			remember(key, *pr.MergedAt)
		}
		// The commits that landed on the branch: exactly those between the
		// head the previous run saw and this head (git log PREV..HEAD), or
		// on a first run those with a committer date in the window.
		var landed []commitWire
		switch {
		case prevHead == b.Commit.SHA:
			pop.Note = "head unchanged; pull requests merged beyond the previous window re-read"
		case prevHead != "":
			cmp, p, err := r.compare(ctx, base, prevHead, b.Commit.SHA)
			pages += p
			if err != nil {
				if _, gone := hidden(err); !gone {
					return fail(err)
				}
				// the previous head no longer exists (garbage-collected after a
				// force push): fall back to committer dates
				pop.Note = "previous head " + prevHead + " no longer exists: commits listed by committer date"
				break
			}
			landed, pop.Method = cmp.Commits, "compare"
			if cmp.BehindBy > 0 {
				pop.HistoryRewritten = intp(cmp.BehindBy)
				pop.Note = fmt.Sprintf("history rewritten: %d commits of the previous head %s are no longer on the branch (a force push)", cmp.BehindBy, prevHead)
				r.log.Warn("branch history rewritten since the previous run", "repository", r.org+"/"+repo.Name, "branch", b.Name, "commits_removed", cmp.BehindBy)
			}
		}
		if pop.Method == "" && prevHead != b.Commit.SHA {
			pop.Method = "since"
			q := url.Values{"sha": {b.Name}, "since": {readFrom.UTC().Format(time.RFC3339)}, "per_page": {"100"}}
			p, err := eachPage(ctx, r, base+"/commits?"+q.Encode(), false, func(g []commitWire) []commitWire { return g },
				func(cs []commitWire) error { landed = append(landed, cs...); return nil })
			if err != nil {
				return fail(err)
			}
			pages += p
		}
		var branchPushes []directPush
		for _, c := range landed {
			at := c.Commit.Committer.Date
			if pop.Method == "since" && !at.After(readFrom) {
				continue
			}
			key := "sha:" + c.SHA
			if already(key) {
				dups++
				continue
			}
			remember(key, at)
			pop.Commits++
			cr := commitRec{SHA: c.SHA, Branch: b.Name, CommittedAt: ts(at)}
			n, found := bySHA[c.SHA]
			switch {
			case found && n > 0:
				cr.Via = "merge_commit"
			case found:
				n, cr.Via = -n, "pull_request_commit"
			default:
				if n2, ok := mergedAny[c.SHA]; ok {
					n, found, cr.Via = n2, true, "merge_commit"
				} else {
					n, found, err = r.associatedPull(ctx, base, c.SHA, b.Name)
					if err != nil {
						return fail(err)
					}
					pages++
					cr.Via = "associated_pull_request"
				}
			}
			if found {
				cr.PullRequest = intp(n)
				if rec := recs[n]; rec != nil {
					rec.LandedCommits = append(rec.LandedCommits, c.SHA)
				}
			} else {
				cr.Via = "direct_push"
				dp := directPush{SHA: c.SHA, Branch: b.Name, AuthorName: c.Commit.Author.Name, CommittedAt: ts(at),
					Message: firstLine(c.Commit.Message), Parents: len(c.Parents)}
				if l := login(c.Author); l != "" {
					dp.Author = &l
				}
				if l := login(c.Committer); l != "" {
					dp.Committer = &l
				}
				branchPushes = append(branchPushes, dp)
			}
			commits = append(commits, cr)
		}
		if len(branchPushes) > 0 {
			n, err := r.attachRuleSuites(ctx, base, b.Name, branchPushes)
			if err != nil {
				return fail(err)
			}
			pages += n
		}
		pushes = append(pushes, branchPushes...)
		for _, n := range order {
			rec := recs[n]
			if rec.LandedCommits == nil {
				rec.LandedCommits = []string{}
			}
			if err := sp.add(rec); err != nil {
				return fail(err)
			}
		}
		// Everything up to this head is collected; a pull request merged
		// after the window end has its record in a later run, so the next run
		// reads the pull requests again even if the head has not moved.
		next.Heads[b.Name] = b.Commit.SHA
		if beyond {
			next.Rescan[b.Name] = true
		}
		pops = append(pops, pop)
	}
	if sp.n == 0 && len(commits) == 0 {
		sp.discard()
		return nil, next, false, nil
	}
	names := make([]string, 0, len(selected))
	for _, b := range selected {
		names = append(names, b.Name)
	}
	head := struct {
		Repository  string   `json:"repository"`
		Branches    []string `json:"branches"`
		WindowStart string   `json:"merged_after"`
		WindowEnd   string   `json:"merged_at_or_before"`
		Overlap     string   `json:"overlap"`
		Method      string   `json:"population_method"`
	}{r.org + "/" + repo.Name, names, ts(readFrom), ts(to), r.cfg.Overlap.D().String(), populationMethod}
	tail := struct {
		Count          int                `json:"count"`
		Commits        []commitRec        `json:"commits"`
		DirectPushes   []directPush       `json:"direct_pushes"`
		AlreadyEmitted int                `json:"already_collected_in_overlap"`
		Population     []branchPopulation `json:"population"`
		Complete       bool               `json:"complete"`
	}{sp.n, orEmptySlice(commits), orEmptySlice(pushes), dups, pops, complete}
	body, err := sp.body(jsonHead(head, "pull_requests"), jsonTail(tail))
	if err != nil {
		return nil, prev, false, err
	}
	src := r.source("GET /"+base+"/pulls", "state=closed&base={branch}&sort=updated&direction=desc, re-read until stable; GET /"+base+
		"/commits?sha={branch}&since="+ts(readFrom)+"; per merged pull request: pulls/{n}, pulls/{n}/reviews, pulls/{n}/commits, commits/{head}/check-runs, commits/{head}/status", pages, sp.n+len(pushes))
	src.Complete = complete
	a := &collectors.Artifact{Type: EvPullRequests, Subject: r.org + "/" + repo.Name, ContentType: "application/json",
		BodyReader: body, WindowStart: readFrom, WindowEnd: to, Source: src}
	return a, next, false, nil
}

const populationMethod = "every commit that landed on each selected branch: those between the head the previous run saw and this run's head " +
	"(GET compare/{previous}...{head}: git log PREV..HEAD, whatever their dates; a force push is reported as history_rewritten), " +
	"or on a first run those with a committer date after the window start (GET commits?sha=branch&since=); " +
	"each attributed to the merged pull request that brought it (merge, squash or rebase; else GET commits/{sha}/pulls); the rest are direct_pushes; " +
	"pull requests merged into the branch in the window from the closed list sorted by update, re-read until no pull request moved; " +
	"items already collected in the overlap with the previous window are not repeated"

func orEmptySlice[T any](xs []T) []T {
	if xs == nil {
		return []T{}
	}
	return xs
}

func firstLine(s string) string {
	l, _, _ := strings.Cut(s, "\n")
	return l
}

// associatedPull asks GitHub which merged pull request into branch brought
// sha (rebased commits other than the last have new SHAs known only there).
func (r *run) associatedPull(ctx context.Context, base, sha, branch string) (int, bool, error) {
	prs, _, err := getPage(ctx, r, base+"/commits/"+pathEsc(sha)+"/pulls?per_page=100", false, func(g []pullWire) []pullWire { return g })
	if err != nil {
		return 0, false, err
	}
	for _, pr := range prs {
		if pr.MergedAt != nil && pr.Base.Ref == branch {
			return pr.Number, true, nil
		}
	}
	return 0, false, nil
}

// attachRuleSuites adds GitHub's rule evaluations (the last month is all
// GitHub keeps) to direct pushes. Rule suites are readable by repository
// administrators only; without them every rule_suite stays null.
func (r *run) attachRuleSuites(ctx context.Context, base, branch string, pushes []directPush) (int, error) {
	q := url.Values{"ref": {"refs/heads/" + branch}, "time_period": {"month"}, "per_page": {"100"}}
	bySHA := map[string]ruleSuiteWire{}
	pages, err := eachPage(ctx, r, base+"/rulesets/rule-suites?"+q.Encode(), false, func(g []ruleSuiteWire) []ruleSuiteWire { return g },
		func(rs []ruleSuiteWire) error {
			for _, s := range rs {
				bySHA[s.AfterSHA] = s
			}
			return nil
		})
	var se *httpx.StatusError
	if err != nil && errors.As(err, &se) && (se.Status == http.StatusForbidden || se.Status == http.StatusNotFound) && !collectors.IsRetryable(err) {
		return pages, nil
	}
	if err != nil {
		return pages, err
	}
	for i := range pushes {
		if s, ok := bySHA[pushes[i].SHA]; ok {
			rs := &ruleSuiteRec{ID: s.ID, Actor: s.ActorName, Result: s.Result, EvaluationResult: s.EvaluationResult}
			if s.PushedAt != nil {
				rs.PushedAt = ts(*s.PushedAt)
			}
			pushes[i].RuleSuite = rs
		}
	}
	return pages, nil
}

// ---- one merged pull request ----

func (r *run) pullRecord(ctx context.Context, repo repoInfo, base string, n int, eff *effectiveProtection) (prRecord, []string, error) {
	pr, _, err := getPage(ctx, r, fmt.Sprintf("%s/pulls/%d", base, n), false, func(g pullWire) pullWire { return g })
	if err != nil {
		return prRecord{}, nil, err
	}
	rec := prRecord{Number: n, Title: pr.Title, URL: pr.HTMLURL, Author: login(pr.User), HeadBranch: pr.Head.Ref, BaseBranch: pr.Base.Ref,
		MergedBy: login(pr.MergedBy), HeadSHA: pr.Head.SHA, Commits: pr.Commits, Reviews: []reviewRec{}, ApprovedBy: []string{},
		IndependentApprovers: []string{}, Reasons: []string{}}
	if pr.CreatedAt != nil {
		rec.CreatedAt = ts(*pr.CreatedAt)
	}
	var mergedAt time.Time
	if pr.MergedAt != nil {
		mergedAt = *pr.MergedAt
		rec.MergedAt = ts(mergedAt)
	}
	if pr.MergeCommitSHA != nil {
		rec.MergeCommitSHA = *pr.MergeCommitSHA
	}
	rec.MergedByAuthor = rec.MergedBy != "" && rec.MergedBy == rec.Author
	if eff != nil && pr.Base.Ref == repo.DefaultBranch {
		rec.StaleReviewDismissal = boolp(eff.DismissStaleReviews)
	}
	_, err = eachPage(ctx, r, fmt.Sprintf("%s/pulls/%d/reviews?per_page=100", base, n), false,
		func(g []reviewWire) []reviewRec {
			out := make([]reviewRec, 0, len(g))
			for _, rv := range g {
				x := reviewRec{Reviewer: login(rv.User), State: rv.State, CommitID: rv.CommitID, AuthorAssociation: rv.AuthorAssociation}
				if rv.SubmittedAt != nil {
					x.submitted, x.SubmittedAt = *rv.SubmittedAt, ts(*rv.SubmittedAt)
				}
				out = append(out, x)
			}
			return out
		}, func(rs []reviewRec) error { rec.Reviews = append(rec.Reviews, rs...); return nil })
	if err != nil {
		return prRecord{}, nil, err
	}
	// Everyone who pushed to the pull request: its commits' authors and
	// committers. GitHub lists at most 250 commits of a pull request.
	committers := map[string]bool{}
	var shas []string
	rec.CommittersComplete = pr.Commits <= 250
	_, err = eachPage(ctx, r, fmt.Sprintf("%s/pulls/%d/commits?per_page=100", base, n), false, func(g []commitWire) []commitWire { return g },
		func(cs []commitWire) error {
			for _, c := range cs {
				shas = append(shas, c.SHA)
				for _, u := range []*userWire{c.Author, c.Committer} {
					switch l := login(u); {
					case l == webFlow:
					case l == "":
						if u == c.Author || c.Commit.Committer.Name != "GitHub" {
							rec.CommittersComplete = false
						}
					default:
						committers[l] = true
					}
				}
			}
			return nil
		})
	if err != nil {
		return prRecord{}, nil, err
	}
	rec.Committers = sortedKeys(committers)
	if err := r.decideApproval(ctx, base, &rec, mergedAt, committers); err != nil {
		return prRecord{}, nil, err
	}
	var required []string
	requiredKnown := eff != nil && pr.Base.Ref == repo.DefaultBranch
	if requiredKnown {
		required = eff.RequiredStatusChecks
	}
	rec.Checks, err = r.checksAt(ctx, base, rec.HeadSHA, required, requiredKnown)
	if err != nil {
		return prRecord{}, nil, err
	}
	body := ""
	if pr.Body != nil {
		body = *pr.Body
	}
	rec.IssueKeys = r.issueKeys(rec.Title, rec.HeadBranch, body)
	return rec, shas, nil
}

// decideApproval derives independent_approval. An approval counts when it
// is the reviewer's latest decisive review before the merge (not
// superseded by CHANGES_REQUESTED, not dismissed — GitHub turns a dismissed
// review's state into DISMISSED), was submitted before the merge, was
// given on the head commit that was merged, and comes from someone who is
// neither the author nor a committer of the pull request and has write
// access to the repository.
func (r *run) decideApproval(ctx context.Context, base string, rec *prRecord, mergedAt time.Time, committers map[string]bool) error {
	latest := map[string]int{} // reviewer -> index of their latest decisive review before the merge
	var reviewers []string
	late := map[string]bool{}
	for i, rv := range rec.Reviews {
		if rv.State == "COMMENTED" || rv.State == "PENDING" || rv.Reviewer == "" {
			continue
		}
		if !mergedAt.IsZero() && rv.submitted.After(mergedAt) {
			if rv.State == "APPROVED" {
				late[rv.Reviewer] = true
			}
			continue
		}
		if _, ok := latest[rv.Reviewer]; !ok {
			reviewers = append(reviewers, rv.Reviewer)
		}
		latest[rv.Reviewer] = i
	}
	unknown := false
	short := func(s string) string { return s[:min(len(s), 7)] }
	for _, who := range reviewers {
		i := latest[who]
		rv := &rec.Reviews[i]
		if rv.State != "APPROVED" {
			if rv.State == "DISMISSED" {
				rec.Reasons = append(rec.Reasons, who+": approval dismissed")
			}
			continue
		}
		rec.ApprovedBy = append(rec.ApprovedBy, who)
		var why []string
		if who == rec.Author {
			why = append(why, "is the author")
		}
		if committers[who] {
			why = append(why, "pushed commits to the pull request")
		}
		if rv.CommitID != rec.HeadSHA {
			why = append(why, fmt.Sprintf("approved commit %s, not the merged head %s", short(rv.CommitID), short(rec.HeadSHA)))
		}
		perm, err := r.permission(ctx, base, who)
		if err != nil {
			return err
		}
		rv.ReviewerPermission = perm
		switch {
		case perm == nil:
			if len(why) == 0 {
				unknown = true
				rec.Reasons = append(rec.Reasons, who+": write access could not be read (needs Metadata: read and the collaborator permission endpoint)")
			}
			continue
		case *perm != "admin" && *perm != "write" && *perm != "maintain":
			why = append(why, "has "+*perm+" access, not write")
		}
		if len(why) == 0 && !rec.CommittersComplete {
			unknown = true
			rec.Reasons = append(rec.Reasons, who+": some commits have an author or committer not linked to a GitHub account (or more than 250 commits), so the approver may have committed")
			continue
		}
		if len(why) == 0 {
			rec.IndependentApprovers = append(rec.IndependentApprovers, who)
			continue
		}
		rec.Reasons = append(rec.Reasons, who+": "+strings.Join(why, "; "))
	}
	for who := range late {
		if _, ok := latest[who]; !ok || rec.Reviews[latest[who]].State != "APPROVED" {
			rec.Reasons = append(rec.Reasons, who+": approved after the merge")
		}
	}
	sort.Strings(rec.ApprovedBy)
	sort.Strings(rec.Reasons)
	switch {
	case len(rec.IndependentApprovers) > 0:
		rec.IndependentApproval, rec.Reasons = boolp(true), []string{}
	case unknown:
		rec.IndependentApproval = nil
	default:
		rec.IndependentApproval = boolp(false)
		if len(rec.ApprovedBy) == 0 && len(late) == 0 {
			rec.Reasons = append(rec.Reasons, "no approving review before the merge")
		}
	}
	return nil
}

// permission returns a user's permission on the repository (cached per
// run), or nil when the credentials cannot read it.
func (r *run) permission(ctx context.Context, base, user string) (*string, error) {
	return r.perms.get(base+"|"+user, func() (*string, error) {
		type permWire struct {
			Permission string `json:"permission"`
		}
		p, _, err := getPage(ctx, r, base+"/collaborators/"+pathEsc(user)+"/permission", false, func(g permWire) string { return g.Permission })
		var se *httpx.StatusError
		switch {
		case err == nil:
			return &p, nil
		case errors.As(err, &se) && (se.Status == http.StatusForbidden || se.Status == http.StatusNotFound) && !collectors.IsRetryable(err):
			return nil, nil
		}
		return nil, err
	})
}

// selectsBranch reports whether a branch is in the change population.
func (c *Config) selectsBranch(name, defaultBranch string) bool {
	for _, p := range c.Branches {
		if p == defaultBranchToken {
			if name == defaultBranch {
				return true
			}
			continue
		}
		if ok, _ := path.Match(p, name); ok {
			return true
		}
	}
	return false
}

// defaultBranchToken names the repository's default branch in `branches:`
// (GitHub's rulesets use the same token).
const defaultBranchToken = "~DEFAULT_BRANCH"

var _ = json.Marshal
