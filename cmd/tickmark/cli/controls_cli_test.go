package cli

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tickmark-dev/tickmark/collectors"
	"github.com/tickmark-dev/tickmark/internal/controls/controlstest"
)

func day(s string) time.Time {
	t, err := time.Parse(time.DateOnly, s)
	if err != nil {
		panic(err)
	}
	return t
}

// history: June to August 2026. okta-prod stops for two weeks (6-19 July)
// and fails with an expired token for three days (10-12 August);
// github-org never misses.
func history(t *testing.T) (cfgPath string) {
	t.Helper()
	dir := t.TempDir()
	in := func(d time.Time, from, to string) bool { return !d.Before(day(from)) && d.Before(day(to)) }
	p := controlstest.Plan{
		Dir: filepath.Join(dir, "data"), Agent: "prod-1", From: day("2026-06-01"), To: day("2026-09-08"), Push: true,
		Collectors: []controlstest.Collector{
			{Name: "okta-prod", Type: "okta", Hour: 6, Controls: map[string][]string{"okta.users": {"CC6.1", "CC6.2"}},
				Emit: func(d time.Time) []collectors.Artifact {
					return []collectors.Artifact{{Type: "okta.users", Subject: "example.okta.com", ContentType: "application/json",
						Body: controlstest.JSON(`[{"id":"00u1","profile":{"login":"alice@example.com"},"status":"ACTIVE"},{"id":"00u%d","profile":{"login":"new%d@example.com"},"status":"ACTIVE"}]`, d.YearDay(), d.YearDay())}}
				},
				Skip: func(d time.Time) bool { return in(d, "2026-07-06", "2026-07-20") },
				Fail: func(d time.Time) error {
					if in(d, "2026-08-10", "2026-08-13") {
						return collectors.Permanent(errors.New("okta: GET /api/v1/users: 401: Invalid token provided (the API token expired; it needs okta.users.read)"))
					}
					return nil
				}},
			{Name: "github-org", Type: "github", Hour: 7, Controls: map[string][]string{"github.pull_requests": {"CC8.1"}},
				Emit: func(d time.Time) []collectors.Artifact {
					return []collectors.Artifact{{Type: "github.pull_requests", Subject: "example/api", ContentType: "application/json",
						Body: controlstest.JSON(`{"pull_requests":[{"number":%d,"title":"change %d","author":"dev"},{"number":%d,"title":"change %d","author":"dev"}]}`, d.YearDay(), d.YearDay(), d.YearDay()+1, d.YearDay()+1)}}
				}},
		},
	}
	b, err := controlstest.Build(context.Background(), p)
	if err != nil {
		t.Fatal(err)
	}
	b.Close()
	set := filepath.Join(dir, "controls.yaml")
	os.WriteFile(set, []byte(`version: 1
controls:
  - {id: AC-04, title: user inventory, owner: IT, criteria: [CC6.1, CC6.2], frequency: daily, evidence: [okta.users]}
  - {id: AC-X, title: users weekly, owner: IT, criteria: [CC6.2], frequency: weekly, evidence: [okta.users]}
  - {id: CM-01, title: reviewed changes, owner: Eng, criteria: [CC8.1], frequency: continuous, evidence: [github.pull_requests]}
`), 0o600)
	cfgPath = filepath.Join(dir, "tickmark.yaml")
	os.WriteFile(cfgPath, []byte(fmt.Sprintf("agent:\n  id: prod-1\n  data_dir: %s\nstore:\n  type: filesystem\n  path: %s\ncontrols:\n  file: controls.yaml\n",
		p.Dir, filepath.Join(p.Dir, "store"))), 0o600)
	return cfgPath
}

func run(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := MainContext(context.Background(), args, &out, &errb)
	return code, out.String(), errb.String()
}

// One history serves every command (the commands only read it).
func TestControlsCommands(t *testing.T) {
	cfg := history(t)
	t.Run("coverage", func(t *testing.T) { testCoverageCommand(t, cfg) })
	t.Run("export+verify-package", func(t *testing.T) { testExportVerifyPackage(t, cfg) })
	t.Run("controls+population+sample", func(t *testing.T) { testControlsPopulationSample(t, cfg) })
	t.Run("from-store", func(t *testing.T) { testFromStore(t, cfg) })
}

// The bucket alone gives the same evidence: the same package, byte for
// byte, and the same coverage except that failures cannot be told from
// missing runs (the bucket has no run history).
func testFromStore(t *testing.T, cfg string) {
	dir := t.TempDir()
	local, remote := filepath.Join(dir, "local.zip"), filepath.Join(dir, "bucket.zip")
	args := []string{"export", "--config", cfg, "--from", "2026-07-01", "--to", "2026-08-31", "--out"}
	if code, out, stderr := run(t, append(args, local)...); code != ExitOK {
		t.Fatalf("export: %d %s %s", code, out, stderr)
	}
	if code, out, stderr := run(t, append(args, remote, "--from-store")...); code != ExitOK {
		t.Fatalf("export --from-store: %d %s %s", code, out, stderr)
	}
	a, _ := os.ReadFile(local)
	b, _ := os.ReadFile(remote)
	if len(a) == 0 || !bytes.Equal(a, b) {
		t.Errorf("export from the bucket differs from the local export (%d and %d bytes)", len(a), len(b))
	}
	code, out, _ := run(t, "coverage", "--config", cfg, "--from-store", "--from", "2026-06-01", "--to", "2026-08-31", "--now", "2026-09-08", "--control", "AC-04")
	if code != ExitFailure || !strings.Contains(out, "AC-04    daily      75/92    0           17          0") ||
		!strings.Contains(out, "2026-08-10..2026-08-12 (3)     gap_no_run   no okta.users (read from the bucket, which holds no run history") {
		t.Errorf("coverage --from-store: exit %d\n%s", code, out)
	}
	_, p1, _ := run(t, "population", "--config", cfg, "--type", "github.pull_requests", "--from", "2026-06-01", "--to", "2026-06-30", "--csv")
	_, p2, _ := run(t, "population", "--config", cfg, "--type", "github.pull_requests", "--from", "2026-06-01", "--to", "2026-06-30", "--csv", "--from-store", "--agent", "prod-1")
	if p1 == "" || p1 != p2 {
		t.Errorf("population from the bucket differs:\n%s\n%s", p1, p2)
	}
	if code, _, stderr := run(t, "coverage", "--config", cfg, "--from-store", "--agent", "nobody", "--from", "2026-06-01", "--to", "2026-06-02"); code != ExitFailure || !strings.Contains(stderr, "nobody") {
		t.Errorf("unknown agent: exit %d %s", code, stderr)
	}
}

func testCoverageCommand(t *testing.T, cfg string) {
	code, out, stderr := run(t, "coverage", "--config", cfg, "--from", "2026-06-01", "--to", "2026-08-31", "--now", "2026-09-08")
	if code != ExitFailure {
		t.Fatalf("exit %d, want 1 (gaps)\n%s\n%s", code, out, stderr)
	}
	for _, want := range []string{
		"AC-04    daily       75/92    3           14          0",
		"AC-X     weekly      12/14    0           2           0",
		"CM-01    continuous  92/92    0           0           0",
		"AC-04    2026-07-06..2026-07-19 (14)    gap_no_run   no run of okta-prod in the period",
		"AC-04    2026-08-10                     gap_failure  no okta.users: okta-prod failed 1 time; last error (2026-08-10T06:00:00Z): okta: GET /api/v1/users: 401: Invalid token provided",
		"AC-04    2026-08-12                     gap_failure",
		"AC-X     2026-W28..2026-W29 (2)         gap_no_run   no run of okta-prod in the period",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("coverage output lacks %q:\n%s", want, out)
		}
	}
	if !strings.Contains(stderr, "tickmark: error: 19 gap periods in 2026-06-01 to 2026-08-31") {
		t.Errorf("stderr: %s", stderr)
	}
	// The HTML report of the window: inclusive dates, month and weekday
	// labels, plain statuses, a run of identical gaps on one row, print CSS.
	full := filepath.Join(t.TempDir(), "full.html")
	if code, _, stderr := run(t, "coverage", "--config", cfg, "--from", "2026-06-01", "--to", "2026-08-31", "--now", "2026-09-08", "--html", full); code != ExitFailure {
		t.Fatalf("coverage --html: exit %d\n%s", code, stderr)
	}
	fullPage, err := os.ReadFile(full)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"<h1>Evidence coverage, 2026-06-01 to 2026-08-31 (inclusive)</h1>",
		">Jun 2026</span>", ">Jul</span>", ">Aug</span>", "<span>Mon</span>", "<span>Sun</span>",
		"<tr><td>2026-07-06..2026-07-19 (14)</td><td class=\"bad\">gap: no evidence collected</td>",
		"<td class=\"bad\">gap: the collector failed</td>",
		"@media print",
	} {
		if !bytes.Contains(fullPage, []byte(want)) {
			t.Errorf("HTML report lacks %q", want)
		}
	}
	if bytes.Contains(fullPage, []byte("<tr><td>2026-07-07</td><td class=\"bad\">")) {
		t.Errorf("the 14-day gap of AC-04 is not collapsed: 2026-07-07 has a gap row of its own")
	}
	// One control without gaps: exit 0. JSON and HTML outputs.
	html := filepath.Join(t.TempDir(), "coverage.html")
	code, out, stderr = run(t, "coverage", "--config", cfg, "--from", "2026-06-01", "--to", "2026-08-31", "--now", "2026-09-08", "--control", "CM-01", "--json", "--html", html)
	if code != ExitOK || !strings.Contains(out, `"ok": true`) {
		t.Fatalf("CM-01: exit %d\n%s\n%s", code, out, stderr)
	}
	page, err := os.ReadFile(html)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"<h2>CM-01: reviewed changes</h2>", `class="c" title="2026-06-01: 1 record(s) — covered"`, "file://"} {
		if !bytes.Contains(page, []byte(want)) {
			t.Errorf("HTML report lacks %q", want)
		}
	}
	for _, bad := range []string{"<script", "http://", "https://", "<link"} {
		if bytes.Contains(page, []byte(bad)) {
			t.Errorf("HTML report is not self-contained: has %q", bad)
		}
	}
	code, _, stderr = run(t, "coverage", "--config", cfg, "--from", "2026-06-01", "--to", "2026-08-31", "--control", "NOPE")
	if code != ExitUsage || !strings.Contains(stderr, `unknown control or criterion "NOPE"`) {
		t.Errorf("unknown control: exit %d %s", code, stderr)
	}
}

func testExportVerifyPackage(t *testing.T, cfg string) {
	dir := t.TempDir()
	zip := filepath.Join(dir, "q3.zip")
	code, out, stderr := run(t, "export", "--config", cfg, "--from", "2026-07-01", "--to", "2026-08-31", "--control", "AC-04", "--control", "CC8.1", "--out", zip)
	if code != ExitOK {
		t.Fatalf("export: exit %d\n%s\n%s", code, out, stderr)
	}
	// July + August: 62 days of github, 62-14-3 of okta.
	if !strings.Contains(out, "wrote "+zip+": 107 records, 107 evidence files, 2 controls") {
		t.Errorf("export output: %s", out)
	}
	code, out, _ = run(t, "verify-package", zip)
	if code != ExitOK || !strings.Contains(out, "OK: every file hash") {
		t.Fatalf("verify-package: exit %d\n%s", code, out)
	}
	again := filepath.Join(dir, "again.zip")
	run(t, "export", "--config", cfg, "--from", "2026-07-01", "--to", "2026-08-31", "--control", "AC-04", "--control", "CC8.1", "--out", again)
	a, _ := os.ReadFile(zip)
	b, _ := os.ReadFile(again)
	if !bytes.Equal(a, b) {
		t.Errorf("the same export twice gave different files")
	}
	// Truncated package.
	os.WriteFile(again, a[:len(a)/2], 0o600)
	if code, _, stderr := run(t, "verify-package", again); code != ExitFailure || !strings.Contains(stderr, "not a readable zip") {
		t.Errorf("truncated: exit %d %s", code, stderr)
	}
	if code, _, _ := run(t, "verify-package", filepath.Join(dir, "missing.zip")); code != ExitUsage {
		t.Errorf("missing file: exit %d, want 2", code)
	}
}

func testControlsPopulationSample(t *testing.T, cfg string) {
	code, out, _ := run(t, "controls", "list", "--config", cfg)
	if code != ExitOK || !strings.Contains(out, "AC-04") || strings.Contains(out, "PL-01") {
		t.Errorf("controls list (from controls.file): exit %d\n%s", code, out)
	}
	code, out, _ = run(t, "controls", "show", "AC-04", "--config", cfg)
	if code != ExitOK || !strings.Contains(out, "okta.users                   collectors: okta-prod; latest 2026-09-07T06:00:00Z by okta-prod") ||
		!strings.Contains(out, "ISO/IEC 27001:2022 Annex A 5.15, 5.17, 8.2, 8.5") {
		t.Errorf("controls show: exit %d\n%s", code, out)
	}
	code, out, _ = run(t, "controls", "list", "--criteria", "--config", cfg)
	if code != ExitOK || !strings.Contains(out, "PI1.5") || !strings.Contains(out, "P8.1") {
		t.Errorf("controls list --criteria: exit %d", code)
	}
	code, out, stderr := run(t, "population", "--config", cfg, "--type", "github.pull_requests", "--from", "2026-06-01", "--to", "2026-06-30", "--csv")
	// 30 days, two PRs a day, each PR number appearing on two consecutive days: 31 distinct.
	if code != ExitOK || strings.Count(out, "\n") != 32 || !strings.Contains(out, "example/api#153,item,change 153,dev,") {
		t.Errorf("population: exit %d\n%s\n%s", code, out, stderr)
	}
	if !strings.Contains(stderr, "31 github.pull_requests items from 30 artifacts") {
		t.Errorf("population summary: %s", stderr)
	}
	_, s1, _ := run(t, "sample", "--config", cfg, "--type", "github.pull_requests", "--from", "2026-06-01", "--to", "2026-06-30", "--n", "5", "--seed", "auditor-1")
	_, s2, _ := run(t, "sample", "--config", cfg, "--type", "github.pull_requests", "--from", "2026-06-01", "--to", "2026-06-30", "--n", "5", "--seed", "auditor-1")
	_, s3, _ := run(t, "sample", "--config", cfg, "--type", "github.pull_requests", "--from", "2026-06-01", "--to", "2026-06-30", "--n", "5", "--seed", "auditor-2")
	if s1 != s2 || s1 == s3 || strings.Count(s1, "\n") != 6 {
		t.Errorf("samples: same seed equal=%v, other seed differs=%v\n%s", s1 == s2, s1 != s3, s1)
	}
	if code, _, _ := run(t, "sample", "--config", cfg, "--type", "github.pull_requests", "--n", "5"); code != ExitUsage {
		t.Errorf("sample without a seed: exit %d, want 2", code)
	}
}
