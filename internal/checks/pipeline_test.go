package checks_test

import (
	"archive/zip"
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/tickmark-dev/tickmark/collectors"
	"github.com/tickmark-dev/tickmark/internal/checks"
	"github.com/tickmark-dev/tickmark/internal/config"
	"github.com/tickmark-dev/tickmark/internal/controls"
	"github.com/tickmark-dev/tickmark/internal/controls/controlstest"
	"github.com/tickmark-dev/tickmark/internal/engine"
	"github.com/tickmark-dev/tickmark/internal/evidence"
	"github.com/tickmark-dev/tickmark/internal/export"
	"github.com/tickmark-dev/tickmark/internal/ledger"
	"github.com/tickmark-dev/tickmark/internal/oscal/oscaltest"
	"github.com/tickmark-dev/tickmark/internal/readmodel"
	"github.com/tickmark-dev/tickmark/internal/runner"
)

func day(s string) time.Time {
	t, err := time.Parse(time.DateOnly, s)
	if err != nil {
		panic(err)
	}
	return t
}

// evidenceLedger commits three days of GitHub and Okta evidence through
// the runner, as the collectors would.
func evidenceLedger(t *testing.T) *controlstest.Built {
	t.Helper()
	p := controlstest.Plan{Dir: t.TempDir(), Agent: "prod-1", From: day("2026-11-01"), To: day("2026-11-04"), Push: true,
		Collectors: []controlstest.Collector{
			{Name: "github", Type: "github", Hour: 5, Controls: map[string][]string{"github.pull_requests": {"CC8.1"}, "github.org_members": {"CC6.1"}},
				Emit: func(d time.Time) []collectors.Artifact {
					n := d.Day()
					at := d.Add(3 * time.Hour).Format(time.RFC3339)
					prs := []obj{pr("acme/api", 10*n, "dev1", "dev1", at, []string{"dev2"}, "CHG-1"), pr("acme/api", 10*n+1, "dev3", "dev3", at, nil)}
					return []collectors.Artifact{
						{Type: "github.pull_requests", Subject: "acme/api", ContentType: "application/json", Body: ghPRs("acme/api", prs...).body},
						{Type: "github.org_members", Subject: "acme", ContentType: "application/json", Body: ghMembers(ghMember("ann", 1, false), ghMember("bo", 2, false)).body},
					}
				}},
			{Name: "okta", Type: "okta", Hour: 6, Controls: map[string][]string{"okta.deprovisioned_users": {"CC6.2"}},
				Emit: func(d time.Time) []collectors.Artifact {
					return []collectors.Artifact{{Type: "okta.deprovisioned_users", Subject: "acme deprovisioned", ContentType: "application/json",
						Body: oktaDepartures(departure("00u1", "ann@example.com", "2026-10-20T10:00:00Z")).body}}
				}},
		}}
	b, err := controlstest.Build(context.Background(), p)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Close)
	return b
}

// recordChecks evaluates the checks at `at` and commits their results
// through the runner (as `run --once` does), then signs and pushes.
// forge, if set, changes each result before it is recorded.
func recordChecks(t *testing.T, b *controlstest.Built, set *checks.Set, at time.Time, forge func(*checks.Result)) []*checks.Result {
	t.Helper()
	ctx := context.Background()
	src := &readmodel.Ledger{L: b.Ledger, Bucket: b.Bucket}
	criteria := func(id string) []string {
		return map[string][]string{"CM-01": {"CC8.1"}, "AC-02": {"CC6.2", "CC6.3"}}[id]
	}
	var results []*checks.Result
	cc := &config.CollectorConfig{Name: config.ChecksInstance, Type: "checks", Timeout: collectors.Duration(time.Minute),
		Collector: collectors.CollectorFunc(func(ctx context.Context, req collectors.Request, emit collectors.Emitter) error {
			res, err := checks.Run(ctx, set, set.Checks, src, req.Now, checks.RunOptions{Window: 30 * 24 * time.Hour})
			if err != nil {
				return err
			}
			for i, r := range res {
				if forge != nil {
					forge(r)
				}
				results = append(results, r)
				if err := emit.Emit(ctx, checks.Artifact(set.Checks[i], r, criteria)); err != nil {
					return err
				}
			}
			return nil
		})}
	r := &runner.Runner{Ledger: b.Ledger, Agent: "prod-1", Now: func() time.Time { return at }}
	if res := r.RunOne(ctx, cc); res.Err != nil {
		t.Fatal(res.Err)
	}
	if _, err := b.Ledger.Sign(b.Key); err != nil {
		t.Fatal(err)
	}
	if _, err := engine.Push(ctx, b.Ledger, b.Bucket, engine.PushOptions{}); err != nil {
		t.Fatal(err)
	}
	return results
}

func pkg(t *testing.T, b *controlstest.Built, o export.Options) []byte {
	t.Helper()
	var buf bytes.Buffer
	src := &readmodel.Ledger{L: b.Ledger, Bucket: b.Bucket}
	if _, err := export.Write(context.Background(), &buf, src, o); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func verifyPkg(t *testing.T, b []byte) *export.Report {
	t.Helper()
	rep, err := export.VerifyPackage(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

// rewrite copies a zip, changing files, and fixes SHA256SUMS so that only
// the deeper checks can tell.
func rewrite(t *testing.T, b []byte, edit func(name string, data []byte) []byte) []byte {
	t.Helper()
	zr, err := zip.NewReader(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		t.Fatal(err)
	}
	files := map[string][]byte{}
	var order []string
	for _, f := range zr.File {
		rc, _ := f.Open()
		data, _ := io.ReadAll(rc)
		rc.Close()
		files[f.Name] = edit(f.Name, data)
		order = append(order, f.Name)
	}
	for name, data := range files {
		if strings.HasSuffix(name, "/SHA256SUMS") {
			var lines []string
			for _, l := range strings.Split(strings.TrimSuffix(string(data), "\n"), "\n") {
				_, f, _ := strings.Cut(l, "  ")
				root, _, _ := strings.Cut(name, "/")
				lines = append(lines, fmt.Sprintf("%x  %s", sha256.Sum256(files[root+"/"+f]), f))
			}
			files[name] = []byte(strings.Join(lines, "\n") + "\n")
		}
	}
	var out bytes.Buffer
	zw := zip.NewWriter(&out)
	for _, n := range order {
		w, _ := zw.Create(n)
		w.Write(files[n])
	}
	zw.Close()
	return out.Bytes()
}

func problems(rep *export.Report) string {
	var s []string
	for _, p := range rep.Problems {
		s = append(s, p.String())
	}
	return strings.Join(s, "\n")
}

func identities(t testing.TB) *checks.Identities {
	ids, err := checks.NewIdentities([]checks.Identity{{Email: "ann@example.com", GitHub: []string{"ann"}}})
	if err != nil {
		t.Fatal(err)
	}
	return ids
}

// Results are evidence: ledgered, filed under the check's controls and
// their criteria, exported with their inputs and re-evaluated offline by
// verify-package.
func TestResultsAreEvidenceAndReproduce(t *testing.T) {
	b := evidenceLedger(t)
	set := defaults(t, checks.Options{Identities: identities(t)})
	at := day("2026-11-04").Add(time.Hour)
	results := recordChecks(t, b, set, at, nil)
	byID := map[string]*checks.Result{}
	for _, r := range results {
		byID[r.Check.ID] = r
	}
	if r := byID["github.prs_independently_approved"]; r.Status != checks.StatusFail || r.Population != 6 ||
		strings.Join(exceptionKeys(r), ",") != "acme/api#11,acme/api#21,acme/api#31" {
		t.Fatalf("prs_independently_approved: %s, population %d, exceptions %v", r.Status, r.Population, exceptionKeys(r))
	}
	if r := byID["cross.leavers_github"]; r.Status != checks.StatusFail || strings.Join(exceptionKeys(r), ",") != "00u1" {
		t.Fatalf("cross.leavers_github: %s %v", r.Status, exceptionKeys(r))
	}
	if r := byID["okta.active_users_mfa"]; r.Status != checks.StatusNoData {
		t.Fatalf("okta.active_users_mfa with no okta.users evidence: %s, want no_data", r.Status)
	}
	// The results are records filed under the check's controls.
	var recs []*evidence.Record
	err := b.Ledger.Find(ledger.Query{Type: "check.github.prs_independently_approved"}, func(r *evidence.Record, _ []byte) error {
		recs = append(recs, r)
		return nil
	})
	if err != nil || len(recs) != 1 {
		t.Fatalf("check records: %d, %v", len(recs), err)
	}
	if r := recs[0]; strings.Join(r.Controls, ",") != "CM-01,CC8.1" || r.Collector != config.ChecksInstance ||
		r.Subject != "github.prs_independently_approved: fail, 3 exceptions in 6 items" {
		t.Fatalf("record: controls %v collector %s subject %q", r.Controls, r.Collector, r.Subject)
	}

	// An auditor package of criterion CC8.1 only: the results filed there
	// bring their inputs, and verify-package re-runs them.
	p := pkg(t, b, export.Options{From: day("2026-11-04"), To: day("2026-11-05"), Controls: []export.Selection{{ID: "CM-01"}}})
	rep := verifyPkg(t, p)
	if !rep.OK || rep.Checks != 4 || rep.ChecksReproduced != 4 {
		t.Fatalf("verify-package: ok %v, %d checks, %d reproduced:\n%s", rep.OK, rep.Checks, rep.ChecksReproduced, problems(rep))
	}
	full := pkg(t, b, export.Options{From: day("2026-11-01"), To: day("2026-11-05")})
	if rep := verifyPkg(t, full); !rep.OK || rep.Checks != len(set.Checks) || rep.ChecksReproduced != len(set.Checks) {
		t.Fatalf("verify-package: ok %v, %d checks, %d reproduced:\n%s", rep.OK, rep.Checks, rep.ChecksReproduced, problems(rep))
	}

	// An altered input (its record and SHA256SUMS left consistent) fails
	// the package, naming the checks that read it.
	altered := rewrite(t, p, func(name string, data []byte) []byte {
		if strings.Contains(name, "/github.pull_requests/") && strings.Contains(string(data), `"number":31`) {
			return bytes.Replace(data, []byte(`"independent_approval":false`), []byte(`"independent_approval":true `), 1)
		}
		return data
	})
	rep = verifyPkg(t, altered)
	if rep.OK || !strings.Contains(problems(rep), "check github.prs_independently_approved: input record") {
		t.Fatalf("altered input not named by the check:\n%s", problems(rep))
	}
}

// A result that does not follow from its inputs — recorded by a tampered
// agent, before any signature — fails verify-package, naming the check.
func TestForgedResultFailsVerifyPackage(t *testing.T) {
	b := evidenceLedger(t)
	set := defaults(t, checks.Options{Identities: identities(t)})
	recordChecks(t, b, set, day("2026-11-04").Add(time.Hour), func(r *checks.Result) {
		if r.Check.ID == "github.prs_independently_approved" {
			r.Status, r.Exceptions, r.ExceptionCount = checks.StatusPass, []checks.Exception{}, 0
		}
	})
	rep := verifyPkg(t, pkg(t, b, export.Options{From: day("2026-11-04"), To: day("2026-11-05"), Controls: []export.Selection{{ID: "CM-01"}}}))
	want := "check github.prs_independently_approved: re-evaluated from the package: fail, 3 exceptions in 6 items; recorded: pass, 0 exceptions in 6 items"
	if rep.OK || !strings.Contains(problems(rep), want) || rep.ChecksReproduced != rep.Checks-1 {
		t.Fatalf("forged result: ok %v, %d/%d reproduced, problems:\n%s", rep.OK, rep.ChecksReproduced, rep.Checks, problems(rep))
	}
}

// A day with pull requests but a failing approval check is
// covered_with_exceptions — in the JSON, apart from gaps, and in the HTML
// calendar — with its exception count and a link to the result.
func TestCoverageCoveredWithExceptions(t *testing.T) {
	b := evidenceLedger(t)
	set := defaults(t, checks.Options{Identities: identities(t)})
	recordChecks(t, b, set, day("2026-11-03").Add(20*time.Hour), nil)
	cset, err := controls.Load("")
	if err != nil {
		t.Fatal(err)
	}
	byControl := map[string][]string{}
	for _, c := range set.Checks {
		for _, id := range c.Controls {
			byControl[id] = append(byControl[id], c.Type())
		}
	}
	src := &readmodel.Ledger{L: b.Ledger, Bucket: b.Bucket}
	rep, err := controls.Coverage(src, cset, controls.Options{From: day("2026-11-01"), To: day("2026-11-04"), Now: day("2026-11-10"), Controls: []string{"CM-01"},
		Checks: byControl, Link: func(r *evidence.Record) string { return fmt.Sprintf("file:///store/%d", r.Seq) },
		CheckOutcome: func(r *evidence.Record) (string, string, int, bool) { return checks.ParseSubject(r.Subject) }})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, p := range rep.Controls[0].Periods {
		got = append(got, fmt.Sprintf("%s %s %d", p.Label, p.Status, p.Exceptions))
	}
	want := "2026-11-01 covered 0|2026-11-02 covered 0|2026-11-03 covered_with_exceptions 6"
	if strings.Join(got, "|") != want || !rep.OK || rep.Gaps != 0 {
		t.Fatalf("periods %q (ok %v, gaps %d), want %q", strings.Join(got, "|"), rep.OK, rep.Gaps, want)
	}
	p := rep.Controls[0].Periods[2]
	var names []string
	for _, c := range p.Checks {
		names = append(names, fmt.Sprintf("%s:%d:%s", c.Check, c.Exceptions, c.Link))
	}
	if !strings.Contains(strings.Join(names, " "), "github.prs_independently_approved:3:file:///store/") || !strings.Contains(strings.Join(names, " "), "github.prs_linked_to_ticket:3:") || !strings.Contains(p.Detail, "tickmark checks show") {
		t.Fatalf("failing checks %v, detail %q", names, p.Detail)
	}
	var html bytes.Buffer
	if err := rep.WriteHTML(&html); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`<td class="warn">covered, with exceptions</td><td>6</td>`, `<span class="x" title="2026-11-03:`, `>github.prs_independently_approved</a> (3)`} {
		if !strings.Contains(html.String(), want) {
			t.Errorf("HTML lacks %s", want)
		}
	}
}

// export --oscal: the package holds OSCAL 1.1.3 assessment results, valid
// against NIST's schema, with an observation per record and findings for
// the check results; the package still verifies.
func TestExportOSCAL(t *testing.T) {
	b := evidenceLedger(t)
	set := defaults(t, checks.Options{Identities: identities(t)})
	recordChecks(t, b, set, day("2026-11-04").Add(time.Hour), nil)
	var buf bytes.Buffer
	src := &readmodel.Ledger{L: b.Ledger, Bucket: b.Bucket}
	res, err := export.Write(context.Background(), &buf, src, export.Options{From: day("2026-11-01"), To: day("2026-11-05"), OSCAL: true, Tool: "tickmark test", Now: day("2026-11-05")})
	if err != nil {
		t.Fatal(err)
	}
	oscaltest.Validate(t, res.OSCAL)
	var inPkg []byte
	zr, _ := zip.NewReader(bytes.NewReader(buf.Bytes()), int64(buf.Len()))
	for _, f := range zr.File {
		if strings.HasSuffix(f.Name, "/"+export.OSCALFile) {
			rc, _ := f.Open()
			inPkg, _ = io.ReadAll(rc)
			rc.Close()
		}
	}
	if !bytes.Equal(bytes.TrimSpace(inPkg), res.OSCAL) {
		t.Fatal("the package's oscal/assessment-results.json differs from the document returned")
	}
	doc := string(res.OSCAL)
	for _, want := range []string{`"target-id": "CC8.1"`, `"state": "not-satisfied"`, `"value": "github.prs_independently_approved"`, `"methods": [`, `"TEST"`} {
		if !strings.Contains(doc, want) {
			t.Errorf("OSCAL lacks %s", want)
		}
	}
	if n := strings.Count(doc, `"collected": `); n != res.Manifest.Records {
		t.Errorf("%d observations for %d records", n, res.Manifest.Records)
	}
	if rep := verifyPkg(t, buf.Bytes()); !rep.OK {
		t.Fatalf("package with OSCAL does not verify:\n%s", problems(rep))
	}
}
