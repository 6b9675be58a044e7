package github

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tickmark-dev/tickmark/collectors"
	"github.com/tickmark-dev/tickmark/collectors/collectortest"
	"github.com/tickmark-dev/tickmark/collectors/github/ghfake"
)

const (
	testToken     = "ghp_testtoken_AbCdEf0123456789xyz"
	repoOnlyToken = "ghp_repoonly_0123456789abcdefXYZ"
	ownerToken    = "ghp_ownertoken_0123456789abcdefXY"
)

var now = time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)

func newFake(t testing.TB, o ghfake.Options) (*ghfake.Server, *ghfake.Org) {
	t.Helper()
	org := ghfake.Generate(o)
	srv := ghfake.New(org, map[string]ghfake.Token{
		testToken:     {Scopes: []string{"repo", "read:org", "security_events"}},
		repoOnlyToken: {Scopes: []string{"repo"}},
		ownerToken:    {Scopes: []string{"repo", "read:org", "security_events"}, Owner: true},
	})
	t.Cleanup(srv.Close)
	t.Setenv("GH_TEST_TOKEN", testToken)
	t.Setenv("GH_REPO_ONLY_TOKEN", repoOnlyToken)
	t.Setenv("GH_OWNER_TOKEN", ownerToken)
	t.Setenv("GH_BAD_TOKEN", "ghp_revoked_token_0000000000000000")
	return srv, org
}

func cfgFor(srv *ghfake.Server, extra string) string {
	return fmt.Sprintf("base_url: %s/api/v3/\norg: acme\ntoken: env:GH_TEST_TOKEN\n%s", srv.URL, extra)
}

// prItems identifies the pull requests of a github.pull_requests artifact.
func prItems(a collectortest.Artifact) []string {
	if a.Type != EvPullRequests {
		return nil
	}
	var b prBody
	if err := json.Unmarshal(a.Body, &b); err != nil {
		return []string{"unparseable:" + err.Error()}
	}
	var out []string
	for _, p := range b.PullRequests {
		out = append(out, fmt.Sprintf("%s#%d", b.Repository, p.Number))
	}
	return out
}

type prBody struct {
	Repository   string `json:"repository"`
	MergedAfter  string `json:"merged_after"`
	PullRequests []struct {
		Number              int      `json:"number"`
		Author              string   `json:"author"`
		MergedBy            string   `json:"merged_by"`
		MergedAt            string   `json:"merged_at"`
		MergeCommitSHA      string   `json:"merge_commit_sha"`
		IndependentApproval *bool    `json:"independent_approval"`
		Reasons             []string `json:"independent_approval_reasons"`
		HeadSHA             string   `json:"head_sha"`
		Committers          []string `json:"committers"`
		LandedCommits       []string `json:"landed_commits"`
		MergedByAuthor      bool     `json:"merged_by_author"`
		IssueKeys           []string `json:"issue_keys"`
		Reviews             []struct {
			Reviewer    string `json:"reviewer"`
			State       string `json:"state"`
			CommitID    string `json:"commit_id"`
			SubmittedAt string `json:"submitted_at"`
		} `json:"reviews"`
		Checks struct {
			State          string `json:"state"`
			RequiredPassed *bool  `json:"required_passed"`
		} `json:"checks_at_merge"`
	} `json:"pull_requests"`
	Commits []struct {
		SHA         string `json:"sha"`
		Branch      string `json:"branch"`
		PullRequest *int   `json:"pull_request"`
		Via         string `json:"via"`
	} `json:"commits"`
	DirectPushes []struct {
		SHA       string  `json:"sha"`
		Branch    string  `json:"branch"`
		Author    *string `json:"author"`
		RuleSuite *struct {
			Result string `json:"result"`
		} `json:"rule_suite"`
	} `json:"direct_pushes"`
	Complete  bool  `json:"complete"`
	Collected *bool `json:"collected"` // false: a finding, not a population
}

// wantIndependent is the test's own reading of the rule, from the fake's
// data: some reviewer whose latest decisive review before the merge is an
// approval of the merged head commit, who is neither the author nor a
// committer of the pull request, and who has write access.
func wantIndependent(org *ghfake.Org, p *ghfake.Pull) bool {
	committers := map[string]bool{}
	for _, c := range p.Commits {
		committers[c.Author], committers[c.Committer] = true, true
	}
	latest := map[string]ghfake.Review{}
	for _, rv := range p.Reviews {
		if rv.State == "COMMENTED" || rv.SubmittedAt.After(p.MergedAt) {
			continue
		}
		latest[rv.User] = rv
	}
	for who, rv := range latest {
		perm := org.Permission(who)
		if rv.State == "APPROVED" && who != p.Author && !committers[who] && rv.CommitID == p.HeadSHA && (perm == "write" || perm == "admin") {
			return true
		}
	}
	return false
}

func TestConformance(t *testing.T) {
	srv, _ := newFake(t, ghfake.Options{Repos: 6, MergedPerRepo: 3})
	cfg := cfgFor(srv, "")
	collectortest.Suite{
		Type:    "github",
		Config:  cfg,
		Secrets: []string{testToken, repoOnlyToken},
		Items:   prItems,
		Now:     now,
		Grow: func() {
			srv.Update(func(o *ghfake.Org) {
				o.AddMergedPull("service-002", "dev003", "dev004", "CHG-999 hotfix", now.Add(30*time.Minute))
			})
		},
		Failures: []collectortest.Failure{
			{Name: "bad credentials", Config: strings.Replace(cfg, "GH_TEST_TOKEN", "GH_BAD_TOKEN", 1),
				MessageContains: []string{"github", "/orgs/acme", "401", "Bad credentials", "invalid, expired or revoked"}},
			{Name: "missing read:org scope", Config: strings.Replace(cfg, "GH_TEST_TOKEN", "GH_REPO_ONLY_TOKEN", 1),
				MessageContains: []string{"github", "GET /orgs/acme", "403", "read:org", "token has scopes: repo", "Members: read"}},
			{Name: "5xx storm", Retryable: true,
				Setup: func() func() {
					return srv.Inject(ghfake.Fault{Path: "/pulls", Status: 502, Body: `{"message":"Server Error"}`})
				},
				MessageContains: []string{"github", "/pulls", "502"}},
			{Name: "malformed JSON", Setup: func() func() { return srv.Inject(ghfake.Fault{Path: "/protection", Malformed: true}) },
				MessageContains: []string{"github", "/protection", "malformed JSON"}},
			{Name: "primary rate limit exhausted", Retryable: true,
				Setup: func() func() {
					srv.SetLimits(0, 0, 5)
					return func() { srv.SetLimits(0, 0, 5000) }
				}, MessageContains: []string{"rate limit"}},
		},
	}.Run(t)
}

// runAll runs the collector once and fails the test on error.
func runAll(t *testing.T, cfg, cursor string) collectortest.Result {
	t.Helper()
	res := collectortest.Run(t, collectortest.Build(t, "github", cfg), collectortest.Options{Now: now, Cursor: cursor})
	if res.Err != nil {
		t.Fatalf("run failed: %v", res.Err)
	}
	return res
}

// runPartial runs the collector and requires a partial outcome whose
// error names every one of missed.
func runPartial(t *testing.T, cfg, cursor string, missed ...string) collectortest.Result {
	t.Helper()
	res := collectortest.Run(t, collectortest.Build(t, "github", cfg), collectortest.Options{Now: now, Cursor: cursor})
	if !collectors.IsPartial(res.Err) || collectors.IsRetryable(res.Err) {
		t.Fatalf("run outcome: %v, want a partial (not retryable) error naming %v", res.Err, missed)
	}
	for _, m := range missed {
		if !strings.Contains(res.Err.Error(), m) {
			t.Errorf("partial error %q does not name %s", res.Err, m)
		}
	}
	return res
}

func byType(as []collectortest.Artifact, typ string) []collectortest.Artifact {
	var out []collectortest.Artifact
	for _, a := range as {
		if a.Type == typ {
			out = append(out, a)
		}
	}
	return out
}

func TestTwoHundredRepos(t *testing.T) {
	srv, org := newFake(t, ghfake.Options{Repos: 200, MergedPerRepo: 5})
	srv.SetLimits(0, 0, 100_000)
	since := now.Add(-90 * 24 * time.Hour)
	key := t.TempDir()
	appCfg := writeApp(t, srv, key)
	for _, tc := range []struct {
		name string
		cfg  string
	}{
		{"token, enterprise base URL", cfgFor(srv, "")},
		{"github app", appCfg},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv.ResetStats()
			first := runAll(t, tc.cfg, "")
			st := srv.Stats()
			if st.Secondary != 0 {
				t.Errorf("%d secondary-rate-limit refusals under the fake's concurrency limit (max in flight %d)", st.Secondary, st.MaxInFlight)
			}
			// Every merged PR in the window appears exactly once, with its reviews.
			want := map[string]*ghfake.Pull{}
			for _, rp := range org.Repos {
				for _, p := range rp.Pulls {
					if !rp.Archived && !p.MergedAt.IsZero() && p.BaseRef == rp.DefaultBranch && p.MergedAt.After(since) && !p.MergedAt.After(now) {
						want[fmt.Sprintf("acme/%s#%d", rp.Name, p.Number)] = p
					}
				}
			}
			if len(want) < 900 {
				t.Fatalf("fake has only %d merged pull requests", len(want))
			}
			seen := map[string]int{}
			noApproval, selfMerged := 0, 0
			for _, a := range byType(first.Committed, EvPullRequests) {
				var b prBody
				if err := json.Unmarshal(a.Body, &b); err != nil {
					t.Fatalf("pull_requests body: %v", err)
				}
				for _, p := range b.PullRequests {
					k := fmt.Sprintf("%s#%d", b.Repository, p.Number)
					seen[k]++
					fp, ok := want[k]
					if !ok {
						t.Errorf("%s is not a pull request merged into the default branch in the window", k)
						continue
					}
					if len(p.Reviews) != len(fp.Reviews) {
						t.Errorf("%s: %d reviews, want %d", k, len(p.Reviews), len(fp.Reviews))
					}
					independent := wantIndependent(org, fp)
					if p.IndependentApproval == nil || *p.IndependentApproval != independent {
						t.Errorf("%s: independent_approval=%v, want %v", k, p.IndependentApproval, independent)
					}
					if !independent {
						noApproval++
					}
					if p.MergedByAuthor {
						selfMerged++
					}
					if p.MergedBy != fp.MergedBy || p.MergeCommitSHA != fp.MergeSHA || p.Author != fp.Author {
						t.Errorf("%s: merged_by/merge commit/author = %s/%s/%s, want %s/%s/%s", k, p.MergedBy, p.MergeCommitSHA, p.Author, fp.MergedBy, fp.MergeSHA, fp.Author)
					}
					for _, key := range []string{"CHG-", "OPS-"} {
						text := fp.Title + " " + strings.ToUpper(fp.HeadRef) + " " + fp.Body
						if i := strings.Index(text, key); i >= 0 && len(p.IssueKeys) == 0 {
							t.Errorf("%s: no issue key found in %q", k, text)
						}
					}
				}
			}
			for k := range want {
				if seen[k] != 1 {
					t.Errorf("%s appears %d times, want exactly once", k, seen[k])
				}
			}
			if noApproval == 0 || selfMerged == 0 {
				t.Errorf("merges without independent approval (%d) and self-merges (%d) must be visible", noApproval, selfMerged)
			}
			// Unprotected branches are evidence, not errors.
			bp := byType(first.Committed, EvBranchProtection)
			if len(bp) != 199 {
				t.Errorf("%d branch_protection artifacts, want 199 (200 repositories, one archived)", len(bp))
			}
			unprotected := 0
			for _, a := range bp {
				if strings.Contains(string(a.Body), `"classic_protection_status":"not protected"`) {
					unprotected++
				}
			}
			wantUnprotected := 0
			for _, rp := range org.Repos {
				if !rp.Archived && rp.Protection == nil {
					wantUnprotected++
				}
			}
			if unprotected != wantUnprotected || unprotected == 0 {
				t.Errorf("%d unprotected branches recorded, want %d", unprotected, wantUnprotected)
			}
			// Dependabot: alerts on some repositories, disabled on others.
			disabled, withAlerts := 0, 0
			for _, a := range byType(first.Committed, EvDependabotAlerts) {
				switch {
				case strings.Contains(string(a.Body), `"alerts_enabled":false`):
					disabled++
				case strings.Contains(string(a.Body), `"state":"open"`) || strings.Contains(string(a.Body), `"state":"fixed"`):
					withAlerts++
				}
			}
			if disabled != 20 || withAlerts < 40 {
				t.Errorf("dependabot: %d disabled (want 20), %d with alerts (want >= 40)", disabled, withAlerts)
			}
			if n := strings.Count(first.Logs, "Dependabot alerts are disabled"); n != 20 {
				t.Errorf("%d warnings for disabled Dependabot alerts, want 20", n)
			}
			if len(byType(first.Committed, EvOrgMembers)) != 1 {
				t.Errorf("want one org_members artifact")
			}

			// Second run over unchanged data: conditional requests.
			srv.ResetStats()
			second := runAll(t, tc.cfg, first.Cursor)
			st = srv.Stats()
			ratio := float64(st.NotModified) / float64(st.Requests)
			t.Logf("first run: %d committed artifacts; second run: %d requests, %d not modified (%.1f%%)", len(first.Committed), st.Requests, st.NotModified, 100*ratio)
			if ratio < 0.9 {
				t.Errorf("second run: %d of %d requests were 304 (%.1f%%), want >= 90%%; by status %v", st.NotModified, st.Requests, 100*ratio, st.ByStatus)
			}
			if n := len(byType(second.Committed, EvPullRequests)); n != 0 {
				t.Errorf("second run re-emitted %d pull_requests artifacts", n)
			}
			// The snapshots are emitted again, identical, from the cursor's cache.
			sums := map[string]string{}
			for _, a := range first.Committed {
				if a.WindowEnd.IsZero() {
					sums[a.Type+"|"+a.Subject] = a.SHA256
				}
			}
			got := 0
			for _, a := range second.Committed {
				if a.WindowEnd.IsZero() {
					got++
					if sums[a.Type+"|"+a.Subject] != a.SHA256 {
						t.Errorf("%s %s differs on the unchanged second run", a.Type, a.Subject)
					}
				}
			}
			if got != len(sums) {
				t.Errorf("second run emitted %d snapshot artifacts, want %d", got, len(sums))
			}
		})
	}
}

func writeApp(t *testing.T, srv *ghfake.Server, dir string) string {
	t.Helper()
	key, p := appKey(t, dir)
	srv.SetApp(ghfake.App{ID: 4242, InstallationID: 777, PublicKey: &key.PublicKey})
	return fmt.Sprintf("base_url: %s/\norg: acme\napp_id: 4242\ninstallation_id: 777\nprivate_key: file:%s\n", srv.URL, p)
}

// appKey writes a new GitHub App private key to dir and returns it and its path.
func appKey(t *testing.T, dir string) (*rsa.PrivateKey, string) {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, "app.pem")
	pemBytes := pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)})
	if err := os.WriteFile(p, pemBytes, 0o600); err != nil {
		t.Fatal(err)
	}
	return key, p
}

func TestAppTokenRefreshedBeforeExpiry(t *testing.T) {
	srv, _ := newFake(t, ghfake.Options{Repos: 2, MergedPerRepo: 1})
	cfg := writeApp(t, srv, t.TempDir())
	c := collectortest.Build(t, "github", cfg+"evidence: [branch_protection]\n").(*collector)
	clock := time.Now()
	c.tokens.now = func() time.Time { return clock }
	srv.Now = func() time.Time { return clock }
	run := func() {
		t.Helper()
		if res := collectortest.Run(t, c, collectortest.Options{Now: now}); res.Err != nil {
			t.Fatalf("run: %v", res.Err)
		}
	}
	run()
	run()
	if n := srv.Stats().AppTokens; n != 1 {
		t.Fatalf("%d installation tokens minted for two runs within the token's life, want 1", n)
	}
	clock = clock.Add(56 * time.Minute) // 4 minutes before the hour-long token expires
	run()
	if n := srv.Stats().AppTokens; n != 2 {
		t.Fatalf("token not refreshed 4 minutes before expiry: %d minted, want 2", n)
	}
	clock = clock.Add(61 * time.Minute) // the first token has expired: the fake would answer 401
	run()
	if n := srv.Stats().AppTokens; n != 3 {
		t.Fatalf("%d tokens minted, want 3", n)
	}
}

func TestAppBadKey(t *testing.T) {
	srv, _ := newFake(t, ghfake.Options{Repos: 2, MergedPerRepo: 1})
	cfg := writeApp(t, srv, t.TempDir())
	other, _ := rsa.GenerateKey(rand.Reader, 2048)
	srv.SetApp(ghfake.App{ID: 4242, InstallationID: 777, PublicKey: &other.PublicKey}) // the key no longer matches
	res := collectortest.Run(t, collectortest.Build(t, "github", cfg), collectortest.Options{Now: now})
	if res.Err == nil || collectors.IsRetryable(res.Err) {
		t.Fatalf("want a permanent error, got %v", res.Err)
	}
	for _, s := range []string{"github", "/app/installations/777/access_tokens", "401", "private_key"} {
		if !strings.Contains(res.Err.Error(), s) {
			t.Errorf("error %q does not mention %q", res.Err, s)
		}
	}
}

// Too many concurrent requests: the fake refuses with the secondary rate
// limit and Retry-After; the run waits and still completes.
func TestSecondaryRateLimitIsWaitedOut(t *testing.T) {
	for _, status := range []int{http.StatusForbidden, http.StatusTooManyRequests} {
		t.Run(http.StatusText(status), func(t *testing.T) {
			srv, org := newFake(t, ghfake.Options{Repos: 4, MergedPerRepo: 1})
			srv.SetLimits(2, status, 0)
			srv.SetLatency(20 * time.Millisecond)
			res := runAll(t, cfgFor(srv, "concurrency: 8\n"), "")
			if srv.Stats().Secondary == 0 {
				t.Fatalf("the fake never refused: the test does not exercise the secondary limit")
			}
			n := 0
			for _, a := range byType(res.Committed, EvPullRequests) {
				n += len(prItems(a))
			}
			if want := org.MergedInWindow(now.Add(-90*24*time.Hour), now); n != want {
				t.Fatalf("%d merged pull requests collected, want %d", n, want)
			}
		})
	}
}

func TestConfigValidation(t *testing.T) {
	t.Setenv("GH_TEST_TOKEN", testToken)
	for _, tc := range []struct{ cfg, want string }{
		{"org: acme\n", "no credentials"},
		{"token: env:GH_TEST_TOKEN\n", "missing organisation"},
		{"org: acme\ntoken: env:GH_TEST_TOKEN\napp_id: 1\n", "both a token and GitHub App"},
		{"org: acme\napp_id: 1\ninstallation_id: 2\n", "missing GitHub App private key"},
		{"org: acme\ntoken: env:GH_TEST_TOKEN\nevidence: [commits]\n", `unknown evidence type "commits"`},
		{"org: acme\ntoken: env:GH_TEST_TOKEN\nconcurrency: 100\n", "out of range"},
		{"org: acme\ntoken: " + testToken + "\n", "literal"},
		{"org: acme\ntoken: env:GH_TEST_TOKEN\nissue_key_pattern: '['\n", "invalid regular expression"},
	} {
		_, err := collectortest.BuildErr("github", tc.cfg)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("config %q: error %v, want it to contain %q", tc.cfg, err, tc.want)
		}
		if err != nil && strings.Contains(err.Error(), testToken) {
			t.Errorf("config error reveals the token")
		}
	}
}

func TestIssueKeys(t *testing.T) {
	t.Setenv("GH_TEST_TOKEN", testToken)
	c := collectortest.Build(t, "github", "org: acme\ntoken: env:GH_TEST_TOKEN\n").(*collector)
	r := &run{keyRE: c.keyRE}
	got := r.issueKeys("CHG-12: fix login", "feature/ops-7-retry", "Also closes SEC-3 and CHG-12.")
	if strings.Join(got, ",") != "CHG-12,OPS-7,SEC-3" {
		t.Fatalf("issue keys %v", got)
	}
}

func TestCancelledRunReturnsQuickly(t *testing.T) {
	srv, _ := newFake(t, ghfake.Options{Repos: 30, MergedPerRepo: 3})
	srv.SetLatency(5 * time.Millisecond)
	c := collectortest.Build(t, "github", cfgFor(srv, ""))
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	err := c.Collect(ctx, collectors.Request{Now: now, Since: now.Add(-90 * 24 * time.Hour), Logger: discardLogger(), HTTPClient: http.DefaultClient}, nopEmitter{})
	if err == nil {
		t.Fatalf("cancelled run returned nil")
	}
	if el := time.Since(start); el > 3*time.Second {
		t.Fatalf("took %s after cancellation", el)
	}
}

// A failure in the middle of the pull-request pass commits whole
// repositories only; a rerun from the committed cursor completes the
// population with no gap and no duplicate.
func TestFailureMidRunCommitsNothingHalf(t *testing.T) {
	srv, org := newFake(t, ghfake.Options{Repos: 40, MergedPerRepo: 3})
	cfg := cfgFor(srv, "concurrency: 4\n")
	remove := srv.Inject(ghfake.Fault{Path: "/repos/acme/service-031/pulls/", Status: 500, Body: `{"message":"Server Error"}`})
	part := collectortest.Run(t, collectortest.Build(t, "github", cfg), collectortest.Options{Now: now})
	remove()
	if part.Err == nil || !collectors.IsRetryable(part.Err) || !strings.Contains(part.Err.Error(), "service-031") {
		t.Fatalf("want a retryable error naming the failing endpoint, got %v", part.Err)
	}
	if part.Checkpoints == 0 {
		t.Fatalf("no checkpoint before the failure: the test does not exercise a partial commit")
	}
	rest := runAll(t, cfg, part.Cursor)
	var got []string
	for _, a := range append(part.Committed, rest.Committed...) {
		got = append(got, prItems(a)...)
	}
	seen := map[string]int{}
	for _, k := range got {
		seen[k]++
		if seen[k] == 2 {
			t.Errorf("%s collected twice", k)
		}
	}
	if want := org.MergedInWindow(now.Add(-90*24*time.Hour), now); len(seen) != want {
		t.Fatalf("%d distinct merged pull requests after failure and resume, want %d", len(seen), want)
	}
}
