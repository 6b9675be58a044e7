package ghfake

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"time"
)

// Org is the fake organisation's whole state.
type Org struct {
	Login                       string
	ID                          int64
	TwoFactorRequirementEnabled bool
	DefaultRepositoryPermission string
	MembersCanCreateRepos       bool
	Members                     []*User // org members
	Outside                     []*User // outside collaborators
	Repos                       []*Repo
	Rulesets                    []*Ruleset // organization rulesets
	Invitations                 []Invitation
	// ReadOnly lists members whose permission on every repository is
	// "read" (GET /repos/{o}/{r}/collaborators/{u}/permission).
	ReadOnly map[string]bool
	// EnterpriseCloud: the organisation is on GitHub Enterprise Cloud, the
	// only plan with GET /orgs/{org}/audit-log (others answer 404).
	EnterpriseCloud bool
	// AuditLog is the organisation's audit log (see AuditEvent).
	AuditLog []*AuditEvent
}

// AuditEvent is one organisation audit log event. GitHub's audit log is
// eventually consistent: an event can become visible minutes after its
// time, and the fake hides it until the server's clock reaches VisibleAt.
type AuditEvent struct {
	DocumentID string
	At         time.Time // @timestamp and created_at (epoch ms on the wire)
	Action     string    // org.add_member, team.add_repository, git.push...
	Actor      string
	User       string // the user affected ("" when none)
	Team       string // org/team-slug
	Repo       string // org/name
	Permission string // the new permission, when the action sets one
	OldPerm    string // the previous permission
	Git        bool   // a Git event (include=git or all; kept 7 days)
	VisibleAt  time.Time
}

// AddAuditEvent appends an event to the audit log and returns its
// _document_id; visibleAt zero makes it visible at once.
func (o *Org) AddAuditEvent(e AuditEvent) string {
	if e.DocumentID == "" {
		e.DocumentID = fmt.Sprintf("doc-%s-%04d", o.Login, len(o.AuditLog)+1)
	}
	o.AuditLog = append(o.AuditLog, &e)
	return e.DocumentID
}

// User is a GitHub account.
type User struct {
	Login      string
	ID         int64
	Admin      bool // org owner
	TwoFactor  bool // 2FA enabled
	SiteAdmin  bool
	AccountTyp string // "User" or "Bot"
}

// Repo is one repository.
type Repo struct {
	Name           string
	ID             int64
	DefaultBranch  string
	Private        bool
	Archived       bool
	PushedAt       time.Time
	Protection     *Protection // nil: "Branch not protected"
	Rulesets       []*Ruleset  // repository rulesets
	Pulls          []*Pull
	Alerts         []*Alert
	AlertsDisabled int // 0 enabled; 403 or 404: the status returned
	// Commits are the commits reachable from the repository's branches.
	Commits []*Commit
	// Heads maps a branch name to its head commit.
	Heads map[string]string
	// Empty: the repository has no commits (no branch exists; the default
	// branch is named but "Branch not found"; commit lists answer 409).
	Empty bool
	// Teams and Collaborators have access to the repository (Permission:
	// pull, triage, push, maintain, admin).
	Teams         []TeamAccess
	Collaborators []Collaborator
	// CodeAlerts and SecretAlerts are code-scanning and secret-scanning
	// alerts; CodeScanningOff / SecretScanningOff make the endpoints answer
	// as GitHub does for a repository without the feature.
	CodeAlerts        []*ScanAlert
	SecretAlerts      []*ScanAlert
	CodeScanningOff   bool
	SecretScanningOff bool
	// RuleSuites are the rule evaluations of pushes to the repository.
	RuleSuites []RuleSuite
	// Blocked answers every request under /repos/{o}/{r} with this status
	// (403, 404 or 451) while the repository stays in the org's list: a
	// repository the credentials cannot read.
	Blocked int
}

// TeamAccess is a team's permission on a repository.
type TeamAccess struct {
	Slug, Name, Permission string
}

// Collaborator is a user with direct access to a repository.
type Collaborator struct {
	Login, Permission string
}

// ScanAlert is a code-scanning or secret-scanning alert. Kind-specific
// fields: Rule/Severity/Tool (code), SecretType/Secret (secret).
type ScanAlert struct {
	Number     int
	State      string // code: open, dismissed, fixed; secret: open, resolved
	Rule       string
	Severity   string
	Tool       string
	SecretType string
	Secret     string // the leaked value: GitHub returns it unless hide_secret=true
	CreatedAt  time.Time
	ClosedAt   time.Time
	ClosedBy   string
	Reason     string
}

// Invitation is a pending organisation invitation.
type Invitation struct {
	ID        int64
	Login     string // "" when invited by e-mail
	Email     string
	Role      string
	Inviter   string
	CreatedAt time.Time
}

// RuleSuite is GitHub's evaluation of the rulesets for one push.
type RuleSuite struct {
	ID               int64
	Actor            string
	BeforeSHA        string
	AfterSHA         string
	Ref              string
	PushedAt         time.Time
	Result           string // pass, fail, bypass
	EvaluationResult string
}

// Commit is a commit reachable from one or more branches.
type Commit struct {
	SHA       string
	Author    string // login; "" when the e-mail is not linked to an account
	Committer string // login; "web-flow" for commits GitHub made
	Message   string
	Date      time.Time // committer date
	Parents   []string
	Branches  []string // branches it is reachable from
	PR        int      // the pull request that brought it (0: a direct push)
}

// Protection is classic branch protection.
type Protection struct {
	RequiredReviews         int // 0 with ReviewsRequired false: no PR reviews rule
	ReviewsRequired         bool
	DismissStale            bool
	CodeOwners              bool
	RequireLastPushApproval bool
	StatusChecks            []string
	Strict                  bool
	EnforceAdmins           bool
	AllowForcePushes        bool
	AllowDeletions          bool
	LinearHistory           bool
	ConversationResolution  bool
	RequiredSignatures      bool
}

// Ruleset is a repository or organization ruleset.
type Ruleset struct {
	ID           int64
	Name         string
	SourceType   string // "Repository" or "Organization"
	Source       string // repo full name or org login
	Enforcement  string // active, evaluate, disabled
	BypassActors []BypassActor
	Rules        []Rule
	UpdatedAt    time.Time
}

// BypassActor may bypass a ruleset.
type BypassActor struct {
	ActorID    int64
	ActorType  string // OrganizationAdmin, Team, Integration, RepositoryRole, User
	BypassMode string // always, pull_request
}

// Rule is one rule of a ruleset; Params is its "parameters" object.
type Rule struct {
	Type   string
	Params map[string]any
}

// Pull is a pull request.
type Pull struct {
	Number    int
	Title     string
	Body      string
	Author    string
	HeadRef   string
	BaseRef   string
	HeadSHA   string
	MergeSHA  string
	State     string // open, closed
	CreatedAt time.Time
	UpdatedAt time.Time
	ClosedAt  time.Time
	MergedAt  time.Time // zero: not merged
	MergedBy  string
	// MergeMethod is merge, squash or rebase.
	MergeMethod string
	// Commits are the pull request's own commits (GET pulls/{n}/commits).
	Commits    []*Commit
	Reviews    []Review
	CheckRuns  []CheckRun
	Statuses   []Status
	reviewBase int64
}

// Review is a pull request review.
type Review struct {
	ID          int64
	User        string
	State       string // APPROVED, CHANGES_REQUESTED, COMMENTED, DISMISSED
	SubmittedAt time.Time
	CommitID    string
	Association string // author_association (default MEMBER)
}

// CheckRun is one check run on a commit.
type CheckRun struct {
	ID          int64
	Name        string
	Status      string // completed
	Conclusion  string // success, failure, neutral, skipped...
	CompletedAt time.Time
	AppSlug     string
}

// Status is a commit status.
type Status struct {
	ID        int64
	Context   string
	State     string // success, failure, pending, error
	UpdatedAt time.Time
}

// Alert is a Dependabot alert.
type Alert struct {
	Number          int
	State           string // open, fixed, dismissed, auto_dismissed
	Severity        string
	Package         string
	Ecosystem       string
	Manifest        string
	GHSA            string
	CVE             string
	Summary         string
	CreatedAt       time.Time
	UpdatedAt       time.Time
	FixedAt         time.Time
	DismissedAt     time.Time
	DismissedBy     string
	DismissedReason string
}

// Options shape a generated organisation.
type Options struct {
	Org string
	// Repos is the number of repositories (default 5).
	Repos int
	// MergedPerRepo is the number of pull requests merged into the
	// default branch inside the window, per repository (default 4).
	MergedPerRepo int
	// Now is the end of the window (default 2026-11-30T12:00:00Z).
	Now time.Time
	// Window is how far back merged pull requests go (default 80 days, so
	// they sit inside a 90-day backfill).
	Window time.Duration
	// UnprotectedEvery leaves every n-th repository's default branch
	// unprotected (default 10; negative: none).
	UnprotectedEvery int
	// AlertsEvery gives every n-th repository Dependabot alerts (default 3).
	AlertsEvery int
	// AlertsDisabledEvery disables Dependabot alerts on every n-th
	// repository (default 10; the first is repository 5; negative: none).
	AlertsDisabledEvery int
	// DirectPushes is the number of commits pushed straight to default
	// branches inside the window, spread over the repositories.
	DirectPushes int
	// Seed makes the data deterministic (default 1).
	Seed uint64
	// AuditEvents puts the organisation on GitHub Enterprise Cloud with
	// this many audit log events inside the window (membership and
	// permission changes, and other events), plus one before the window.
	AuditEvents int
}

func (o *Options) defaults() {
	if o.Org == "" {
		o.Org = "acme"
	}
	if o.Repos == 0 {
		o.Repos = 5
	}
	if o.MergedPerRepo == 0 {
		o.MergedPerRepo = 4
	}
	if o.Now.IsZero() {
		o.Now = time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	}
	if o.Window == 0 {
		o.Window = 80 * 24 * time.Hour
	}
	if o.UnprotectedEvery == 0 {
		o.UnprotectedEvery = 10
	}
	if o.AlertsEvery == 0 {
		o.AlertsEvery = 3
	}
	if o.AlertsDisabledEvery == 0 {
		o.AlertsDisabledEvery = 10
	}
	if o.Seed == 0 {
		o.Seed = 1
	}
}

func sha(r *rand.Rand) string {
	return fmt.Sprintf("%016x%016x%08x", r.Uint64(), r.Uint64(), r.Uint32())
}

// Generate builds a deterministic organisation. Repository i (from 1) is
// unprotected when i%UnprotectedEvery == 0, has Dependabot alerts when
// i%AlertsEvery == 0 and has alerts disabled when
// i%AlertsDisabledEvery == 5%AlertsDisabledEvery. Every fifth merged pull request has no
// review, every fifth (offset 1) only a comment: those lack an independent
// approval.
func Generate(o Options) *Org {
	o.defaults()
	r := rand.New(rand.NewPCG(o.Seed, 42))
	org := &Org{Login: o.Org, ID: 1000, DefaultRepositoryPermission: "read", MembersCanCreateRepos: false}
	nMembers := 12 + o.Repos/4
	for i := 1; i <= nMembers; i++ {
		org.Members = append(org.Members, &User{
			Login: fmt.Sprintf("dev%03d", i), ID: int64(5000 + i), Admin: i <= 2,
			TwoFactor: i%7 != 0, AccountTyp: "User",
		})
	}
	for i := 1; i <= 3; i++ {
		org.Outside = append(org.Outside, &User{Login: fmt.Sprintf("contractor%d", i), ID: int64(9000 + i), TwoFactor: i != 2, AccountTyp: "User"})
	}
	org.Rulesets = []*Ruleset{{
		ID: 1, Name: "org-baseline", SourceType: "Organization", Source: o.Org, Enforcement: "active",
		BypassActors: []BypassActor{{ActorID: 1, ActorType: "OrganizationAdmin", BypassMode: "always"}},
		Rules: []Rule{
			{Type: "deletion"}, {Type: "non_fast_forward"},
			{Type: "pull_request", Params: map[string]any{"required_approving_review_count": 1, "dismiss_stale_reviews_on_push": true,
				"require_code_owner_review": false, "require_last_push_approval": false, "required_review_thread_resolution": false}},
		},
		UpdatedAt: o.Now.Add(-200 * 24 * time.Hour),
	}}
	if o.AuditEvents > 0 {
		org.EnterpriseCloud = true
		kinds := []struct{ action, perm, old string }{
			{"org.add_member", "", ""}, {"repo.add_member", "write", ""}, {"team.add_member", "", ""},
			{"org.update_member", "admin", "read"}, {"repo.create", "", ""}, {"team.add_repository", "push", ""},
			{"org.remove_member", "", ""}, {"repo.update_member", "admin", "write"}, {"workflows.completed_workflow_run", "", ""},
		}
		org.AddAuditEvent(AuditEvent{At: o.Now.Add(-o.Window - 30*24*time.Hour), Action: "org.add_member", Actor: "dev001", User: "dev002"})
		for k := 0; k < o.AuditEvents; k++ {
			kd := kinds[k%len(kinds)]
			at := o.Now.Add(-time.Hour - time.Duration(r.Int64N(int64(o.Window-2*time.Hour)))).Truncate(time.Millisecond)
			e := AuditEvent{At: at, Action: kd.action, Actor: "dev001", User: fmt.Sprintf("dev%03d", 3+k%9), Permission: kd.perm, OldPerm: kd.old}
			switch {
			case strings.HasPrefix(kd.action, "team."):
				e.Team = o.Org + "/platform"
				if kd.action == "team.add_repository" {
					e.User, e.Repo = "", fmt.Sprintf("%s/service-%03d", o.Org, 1+k%o.Repos)
				}
			case strings.HasPrefix(kd.action, "repo."):
				e.Repo = fmt.Sprintf("%s/service-%03d", o.Org, 1+k%o.Repos)
			case strings.HasPrefix(kd.action, "workflows."):
				e.User = ""
			}
			org.AddAuditEvent(e)
		}
	}
	var prID int64 = 100000
	var checkID int64 = 700000
	for i := 1; i <= o.Repos; i++ {
		repo := &Repo{Heads: map[string]string{}, Name: fmt.Sprintf("service-%03d", i), ID: int64(200000 + i), DefaultBranch: "main", Private: i%4 != 0,
			PushedAt: o.Now.Add(-time.Duration(i) * time.Hour)}
		if i%9 == 0 {
			repo.DefaultBranch = "master"
		}
		if o.UnprotectedEvery > 0 && i%o.UnprotectedEvery == 0 {
			repo.Protection = nil
		} else {
			repo.Protection = &Protection{ReviewsRequired: i%6 != 1, RequiredReviews: 1 + i%2, DismissStale: i%2 == 0,
				CodeOwners: i%3 == 0, StatusChecks: []string{"ci/build", "ci/test"}, Strict: true, EnforceAdmins: i%4 != 0,
				AllowForcePushes: i%11 == 0, AllowDeletions: false, ConversationResolution: i%2 == 1}
		}
		if i%5 == 0 {
			repo.Rulesets = append(repo.Rulesets, &Ruleset{ID: int64(100 + i), Name: "release-gate", SourceType: "Repository",
				Source: o.Org + "/" + repo.Name, Enforcement: "active",
				BypassActors: []BypassActor{{ActorID: 42, ActorType: "Team", BypassMode: "pull_request"}, {ActorID: 7, ActorType: "Integration", BypassMode: "always"}},
				Rules: []Rule{{Type: "required_status_checks", Params: map[string]any{"strict_required_status_checks_policy": true,
					"required_status_checks": []map[string]any{{"context": "security/scan"}}}}},
				UpdatedAt: o.Now.Add(-100 * 24 * time.Hour)})
		}
		if o.AlertsDisabledEvery > 0 && i%o.AlertsDisabledEvery == 5%o.AlertsDisabledEvery {
			repo.AlertsDisabled = 403
			if (i/o.AlertsDisabledEvery)%2 == 1 {
				repo.AlertsDisabled = 404
			}
		} else if o.AlertsEvery > 0 && i%o.AlertsEvery == 0 {
			n := 1 + r.IntN(5)
			for a := 1; a <= n; a++ {
				created := o.Now.Add(-time.Duration(24*(10+r.IntN(300))) * time.Hour)
				al := &Alert{Number: a, Severity: []string{"low", "medium", "high", "critical"}[r.IntN(4)],
					Package:   []string{"lodash", "golang.org/x/net", "requests", "log4j-core"}[a%4],
					Ecosystem: []string{"npm", "go", "pip", "maven"}[a%4], Manifest: []string{"package-lock.json", "go.mod", "requirements.txt", "pom.xml"}[a%4],
					GHSA: fmt.Sprintf("GHSA-%04x-%04x-%04x", r.IntN(65536), r.IntN(65536), r.IntN(65536)), CVE: fmt.Sprintf("CVE-2026-%05d", r.IntN(99999)),
					Summary: "Vulnerable dependency", CreatedAt: created, UpdatedAt: created}
				switch a % 3 {
				case 0:
					al.State = "open"
				case 1:
					al.State, al.FixedAt = "fixed", created.Add(72*time.Hour)
					al.UpdatedAt = al.FixedAt
				case 2:
					al.State, al.DismissedAt, al.DismissedBy, al.DismissedReason = "dismissed", created.Add(24*time.Hour), "dev001", "tolerable_risk"
					al.UpdatedAt = al.DismissedAt
				}
				repo.Alerts = append(repo.Alerts, al)
			}
		}
		// Pull requests: merged inside the window, merged before it, closed
		// unmerged, merged into another branch, and open.
		num := 0
		add := func(p *Pull) {
			num++
			p.Number = num
			p.HeadSHA, p.reviewBase = sha(r), prID*10
			prID++
			repo.Pulls = append(repo.Pulls, p)
		}
		member := func(k int) string { return org.Members[k%len(org.Members)].Login }
		for k := 0; k < o.MergedPerRepo+3; k++ {
			author := member(i + k)
			var merged time.Time
			if k < o.MergedPerRepo {
				merged = o.Now.Add(-time.Duration(r.Int64N(int64(o.Window-time.Hour))) - time.Hour)
			} else {
				merged = o.Now.Add(-o.Window - time.Duration(24*(10+k))*time.Hour) // before the window
			}
			merged = merged.Truncate(time.Second)
			p := &Pull{Author: author, BaseRef: repo.DefaultBranch, State: "closed",
				CreatedAt: merged.Add(-time.Duration(2+r.IntN(72)) * time.Hour), MergedAt: merged, ClosedAt: merged,
				UpdatedAt: merged.Add(time.Duration(r.IntN(120)) * time.Minute), MergedBy: member(i + k + 1)}
			p.Title = fmt.Sprintf("Change %d to %s", k, repo.Name)
			p.HeadRef = fmt.Sprintf("feature/work-%d", k)
			switch k % 4 {
			case 0:
				p.Title = fmt.Sprintf("CHG-%d: %s", 100+i*10+k, p.Title)
			case 1:
				p.HeadRef = fmt.Sprintf("feature/chg-%d-update", 100+i*10+k)
			case 2:
				p.Body = fmt.Sprintf("Implements OPS-%d.\n\nSee runbook.", 10+k)
			}
			add(p)
			p.MergeMethod = []string{"merge", "squash", "rebase"}[(i+k)%3]
			// the pull request's own commits, by the author
			nc := 1 + (i+k)%3
			variant := (i + k) % 9
			if variant == 5 || variant == 7 {
				nc = max(nc, 2)
			}
			for c := 0; c < nc; c++ {
				who := author
				if variant == 7 && c == nc-1 {
					who = member(i + k + 2) // the approver pushed the last commit
				}
				pc := &Commit{SHA: sha(r), Author: who, Committer: who, Message: fmt.Sprintf("work %d on %s", c, p.Title),
					Date: p.CreatedAt.Add(time.Duration(c+1) * time.Minute)}
				if c > 0 {
					pc.Parents = []string{p.Commits[c-1].SHA}
				}
				p.Commits = append(p.Commits, pc)
			}
			p.HeadSHA = p.Commits[nc-1].SHA
			t := p.CreatedAt.Add(time.Hour)
			rid := p.reviewBase
			review := func(user, state string) {
				rid++
				t = t.Add(30 * time.Minute)
				p.Reviews = append(p.Reviews, Review{ID: rid, User: user, State: state, SubmittedAt: t, CommitID: p.HeadSHA})
			}
			switch variant {
			case 0: // merged without any review
				p.MergedBy = author
			case 1: // only a comment from someone else, and the author's own comment
				review(member(i+k+2), "COMMENTED")
				review(author, "COMMENTED")
			case 2: // changes requested, then approved
				review(member(i+k+3), "CHANGES_REQUESTED")
				review(member(i+k+3), "APPROVED")
			case 3: // approval dismissed, then approved by another reviewer
				review(member(i+k+4), "DISMISSED")
				review(member(i+k+5), "APPROVED")
			case 5: // approved an earlier commit only: stale
				review(member(i+k+2), "APPROVED")
				p.Reviews[len(p.Reviews)-1].CommitID = p.Commits[0].SHA
			case 6: // approved after the merge
				review(member(i+k+2), "APPROVED")
				p.Reviews[len(p.Reviews)-1].SubmittedAt = merged.Add(2 * time.Hour)
			case 7: // approved by someone who also pushed a commit
				review(member(i+k+2), "APPROVED")
			case 8: // approved by the author, and by a reader without write access
				review(author, "APPROVED")
				review(org.Members[len(org.Members)-1].Login, "APPROVED")
			default:
				review(member(i+k+2), "APPROVED")
				review(member(i+k+3), "APPROVED")
			}
			for rv := range p.Reviews {
				if p.Reviews[rv].SubmittedAt.After(merged) && variant != 6 {
					p.Reviews[rv].SubmittedAt = merged.Add(-time.Minute)
				}
			}
			p.MergeSHA = land(repo, p, r)
			for _, name := range []string{"ci/build", "ci/test"} {
				checkID++
				c := CheckRun{ID: checkID, Name: name, Status: "completed", Conclusion: "success", CompletedAt: merged.Add(-10 * time.Minute), AppSlug: "github-actions"}
				if name == "ci/test" && k%7 == 6 {
					c.Conclusion = "failure"
				}
				p.CheckRuns = append(p.CheckRuns, c)
			}
			if k%2 == 0 {
				checkID++
				p.Statuses = append(p.Statuses, Status{ID: checkID, Context: "security/scan", State: "success", UpdatedAt: merged.Add(-20 * time.Minute)})
			}
		}
		// closed without merging
		c := o.Now.Add(-48 * time.Hour)
		add(&Pull{Author: member(i), Title: "Abandoned experiment", HeadRef: "spike", BaseRef: repo.DefaultBranch, State: "closed",
			CreatedAt: c.Add(-24 * time.Hour), UpdatedAt: c, ClosedAt: c})
		// merged into a release branch, not the default branch
		m := o.Now.Add(-72 * time.Hour)
		bp := &Pull{Author: member(i + 1), Title: "Backport CHG-1", HeadRef: "backport", BaseRef: "release-1.x", State: "closed",
			CreatedAt: m.Add(-time.Hour), UpdatedAt: m, ClosedAt: m, MergedAt: m, MergedBy: member(i + 2), MergeMethod: "squash"}
		add(bp)
		bp.Commits = []*Commit{{SHA: bp.HeadSHA, Author: bp.Author, Committer: bp.Author, Message: "backport", Date: m.Add(-30 * time.Minute)}}
		bp.MergeSHA = land(repo, bp, r)
		// still open
		add(&Pull{Author: member(i + 2), Title: "WIP", HeadRef: "wip", BaseRef: repo.DefaultBranch, State: "open",
			CreatedAt: o.Now.Add(-5 * time.Hour), UpdatedAt: o.Now.Add(-4 * time.Hour)})
		org.Repos = append(org.Repos, repo)
	}
	for j := 0; j < o.DirectPushes; j++ {
		repo := org.Repos[j%len(org.Repos)]
		at := o.Now.Add(-time.Duration(r.Int64N(int64(o.Window-time.Hour))) - time.Hour).Truncate(time.Second)
		who := org.Members[j%2].Login // the owners
		before := repo.Heads[repo.DefaultBranch]
		c := &Commit{SHA: sha(r), Author: who, Committer: who, Message: fmt.Sprintf("hotfix %d pushed straight to %s", j, repo.DefaultBranch), Date: at}
		repo.push(c, repo.DefaultBranch)
		result := "pass"
		if repo.Protection != nil || len(org.Rulesets) > 0 {
			result = "bypass"
		}
		repo.RuleSuites = append(repo.RuleSuites, RuleSuite{ID: int64(900000 + j), Actor: who, BeforeSHA: before, AfterSHA: c.SHA,
			Ref: "refs/heads/" + repo.DefaultBranch, PushedAt: at, Result: result, EvaluationResult: result})
	}
	org.ReadOnly = map[string]bool{org.Members[len(org.Members)-1].Login: true}
	org.Invitations = []Invitation{
		{ID: 1, Login: "newhire1", Role: "direct_member", Inviter: org.Members[0].Login, CreatedAt: o.Now.Add(-3 * 24 * time.Hour)},
		{ID: 2, Email: "auditor@example.com", Role: "direct_member", Inviter: org.Members[1].Login, CreatedAt: o.Now.Add(-40 * 24 * time.Hour)},
		{ID: 3, Login: "newadmin", Role: "admin", Inviter: org.Members[0].Login, CreatedAt: o.Now.Add(-9 * 24 * time.Hour)},
	}
	for i, repo := range org.Repos {
		repo.Teams = []TeamAccess{{"developers", "Developers", "push"}}
		if i%3 == 0 {
			repo.Teams = append(repo.Teams, TeamAccess{"sre", "SRE", "admin"})
		}
		if i%5 == 0 {
			repo.Collaborators = append(repo.Collaborators, Collaborator{org.Outside[i%len(org.Outside)].Login, "pull"})
		}
		if i%8 == 0 {
			repo.Collaborators = append(repo.Collaborators, Collaborator{org.Members[2+i%5].Login, "admin"})
		}
		if i%6 == 5 {
			repo.CodeScanningOff = true
		} else if i%4 == 0 {
			for a := 1; a <= 1+i%3; a++ {
				created := o.Now.Add(-time.Duration(24*(5+r.IntN(200))) * time.Hour).Truncate(time.Second)
				al := &ScanAlert{Number: a, State: "open", Rule: []string{"go/sql-injection", "js/xss", "py/path-injection"}[a%3],
					Severity: []string{"error", "warning", "note"}[a%3], Tool: "CodeQL", CreatedAt: created}
				if a == 2 {
					al.State, al.ClosedAt, al.ClosedBy, al.Reason = "dismissed", created.Add(48*time.Hour), org.Members[0].Login, "false positive"
				}
				repo.CodeAlerts = append(repo.CodeAlerts, al)
			}
		}
		if i%7 == 6 {
			repo.SecretScanningOff = true
		} else if i%7 == 0 {
			created := o.Now.Add(-time.Duration(24*(1+r.IntN(60))) * time.Hour).Truncate(time.Second)
			repo.SecretAlerts = append(repo.SecretAlerts,
				&ScanAlert{Number: 1, State: "open", SecretType: "github_personal_access_token", Secret: fmt.Sprintf("ghp_LEAKED%030d", i), CreatedAt: created},
				&ScanAlert{Number: 2, State: "resolved", SecretType: "aws_access_key_id", Secret: fmt.Sprintf("AKIALEAKED%010d", i), CreatedAt: created,
					ClosedAt: created.Add(6 * time.Hour), ClosedBy: org.Members[1].Login, Reason: "revoked"})
		}
	}
	if o.Repos >= 50 {
		org.Repos[49].Archived = true
	}
	return org
}

// ForcePush rewrites branch to a new commit by who whose parent is the
// commit `back` first-parent steps below the current head: the commits in
// between are no longer on the branch. It returns the new head.
func (o *Org) ForcePush(repo, branch, who string, back int, at time.Time) string {
	for _, rp := range o.Repos {
		if rp.Name != repo {
			continue
		}
		byID := map[string]*Commit{}
		for _, c := range rp.Commits {
			byID[c.SHA] = c
		}
		base := rp.Heads[branch]
		for i := 0; i < back && len(byID[base].Parents) > 0; i++ {
			base = byID[base].Parents[0]
		}
		c := &Commit{SHA: fmt.Sprintf("%040x", at.UnixNano()^rp.ID^0x5f), Author: who, Committer: who, Message: "rewritten history", Date: at, Parents: []string{base}}
		rp.Commits = append(rp.Commits, c)
		c.Branches = []string{branch}
		rp.Heads[branch] = c.SHA
		return c.SHA
	}
	panic("ghfake: no repository " + repo)
}

// push adds c on top of branch (its parent is the current head).
func (rp *Repo) push(c *Commit, branch string) {
	if h := rp.Heads[branch]; h != "" && len(c.Parents) == 0 {
		c.Parents = []string{h}
	}
	c.Branches = append(c.Branches, branch)
	rp.Commits = append(rp.Commits, c)
	rp.Heads[branch] = c.SHA
}

// land puts a merged pull request's commits on its base branch the way its
// merge method does and returns merge_commit_sha: a merge commit (whose
// second parent brings the pull request's commits), one squashed commit, or
// the pull request's commits rebased (new SHAs; the last is
// merge_commit_sha). Commits GitHub makes are committed by web-flow.
func land(rp *Repo, p *Pull, r *rand.Rand) string {
	if rp.Heads == nil {
		rp.Heads = map[string]string{}
	}
	b := p.BaseRef
	switch p.MergeMethod {
	case "squash":
		rp.push(&Commit{SHA: sha(r), Author: p.Author, Committer: "web-flow", Message: p.Title + fmt.Sprintf(" (#%d)", p.Number), Date: p.MergedAt, PR: p.Number}, b)
	case "rebase":
		for _, c := range p.Commits {
			rp.push(&Commit{SHA: sha(r), Author: c.Author, Committer: "web-flow", Message: c.Message, Date: p.MergedAt, PR: p.Number}, b)
		}
	default:
		for _, c := range p.Commits {
			c.PR = p.Number
			c.Branches = append(c.Branches, b)
			rp.Commits = append(rp.Commits, c)
		}
		rp.push(&Commit{SHA: sha(r), Author: p.MergedBy, Committer: "web-flow", Message: fmt.Sprintf("Merge pull request #%d from acme/%s", p.Number, p.HeadRef),
			Date: p.MergedAt, PR: p.Number, Parents: []string{rp.Heads[b], p.HeadSHA}}, b)
	}
	return rp.Heads[b]
}

// AddDirectPush pushes a commit by who straight to repo's default branch
// at `at` and returns its SHA.
func (o *Org) AddDirectPush(repo, who, message string, at time.Time) string {
	for _, rp := range o.Repos {
		if rp.Name == repo {
			c := &Commit{SHA: fmt.Sprintf("%040x", at.UnixNano()^rp.ID), Author: who, Committer: who, Message: message, Date: at}
			rp.push(c, rp.DefaultBranch)
			return c.SHA
		}
	}
	panic("ghfake: no repository " + repo)
}

// MakeEmpty turns repo into an empty repository: no commits, no branches,
// no pull requests, no alerts.
func (o *Org) MakeEmpty(repo string) {
	for _, rp := range o.Repos {
		if rp.Name == repo {
			rp.Empty, rp.Commits, rp.Heads, rp.Pulls, rp.Alerts, rp.Protection, rp.Rulesets = true, nil, map[string]string{}, nil, nil, nil, nil
			return
		}
	}
	panic("ghfake: no repository " + repo)
}

// Permission is a user's permission on the organisation's repositories.
func (o *Org) Permission(login string) string {
	for _, u := range o.Members {
		if u.Login == login {
			switch {
			case u.Admin:
				return "admin"
			case o.ReadOnly[login]:
				return "read"
			}
			return "write"
		}
	}
	for _, u := range o.Outside {
		if u.Login == login {
			return "read"
		}
	}
	return "none"
}

// MergedInWindow counts pull requests merged into default branches of
// non-archived repositories with merged_at in (from, to].
func (o *Org) MergedInWindow(from, to time.Time) int {
	n := 0
	for _, r := range o.Repos {
		if r.Archived {
			continue
		}
		for _, p := range r.Pulls {
			if !p.MergedAt.IsZero() && p.BaseRef == r.DefaultBranch && p.MergedAt.After(from) && !p.MergedAt.After(to) {
				n++
			}
		}
	}
	return n
}

// AddMergedPull adds a pull request into repo's default branch, merged at
// `at` by reviewer after reviewer's approval, and returns its number.
func (o *Org) AddMergedPull(repo, author, reviewer, title string, at time.Time) int {
	for _, rp := range o.Repos {
		if rp.Name != repo {
			continue
		}
		n := len(rp.Pulls) + 1
		p := &Pull{Number: n, Title: title, Author: author, HeadRef: fmt.Sprintf("feature/added-%d", n), BaseRef: rp.DefaultBranch,
			HeadSHA: fmt.Sprintf("%040x", int64(rp.ID)*1000+int64(n)), MergeSHA: fmt.Sprintf("%040x", int64(rp.ID)*2000+int64(n)),
			State: "closed", CreatedAt: at.Add(-time.Hour), UpdatedAt: at, ClosedAt: at, MergedAt: at, MergedBy: reviewer,
			Reviews:   []Review{{ID: int64(rp.ID)*100000 + int64(n), User: reviewer, State: "APPROVED", SubmittedAt: at.Add(-30 * time.Minute)}},
			CheckRuns: []CheckRun{{ID: int64(rp.ID)*100000 + int64(n), Name: "ci/build", Status: "completed", Conclusion: "success", CompletedAt: at.Add(-time.Minute), AppSlug: "github-actions"}}}
		p.Reviews[0].CommitID = p.HeadSHA
		p.MergeMethod = "squash"
		p.Commits = []*Commit{{SHA: p.HeadSHA, Author: author, Committer: author, Message: title, Date: at.Add(-time.Hour)}}
		rp.Pulls = append(rp.Pulls, p)
		p.MergeSHA = land(rp, p, rand.New(rand.NewPCG(uint64(rp.ID), uint64(n))))
		return n
	}
	panic("ghfake: no repository " + repo)
}
