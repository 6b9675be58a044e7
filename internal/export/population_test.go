package export_test

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/tickmark-dev/tickmark/collectors"
	"github.com/tickmark-dev/tickmark/internal/controls/controlstest"
	"github.com/tickmark-dev/tickmark/internal/evidence"
	"github.com/tickmark-dev/tickmark/internal/export"
	"github.com/tickmark-dev/tickmark/internal/readmodel"
)

// Jira pages where a ticket reappears when it is updated, a credential
// report CSV with its JSON summary, and a custom non-list body.
func popSource(t *testing.T) *readmodel.Ledger {
	t.Helper()
	ticket := func(n int, status string) string {
		return fmt.Sprintf(`{"key":"CHG-%d","summary":"change %d","type":"Change","status":%q,"created":"2026-03-0%dT10:00:00Z","raw":{"issue":{"fields":{"big":[1,2,3]}}}}`, n, n, status, n)
	}
	p := controlstest.Plan{Dir: t.TempDir(), Agent: "prod-1", From: date("2026-03-01"), To: date("2026-03-04"), Push: true,
		Collectors: []controlstest.Collector{
			{Name: "jira", Type: "jira", Hour: 5, Controls: map[string][]string{"test.change_tickets": {"CC8.1"}},
				Emit: func(day time.Time) []collectors.Artifact {
					d := day.Day() // day 1: CHG-1 open; day 2: CHG-1 done, CHG-2 open; day 3: CHG-3 (page 1), CHG-2 done (page 2)
					var pages []string
					switch d {
					case 1:
						pages = []string{ticket(1, "Open")}
					case 2:
						pages = []string{ticket(1, "Done") + "," + ticket(2, "Open")}
					case 3:
						pages = []string{ticket(3, "Open"), ticket(2, "Done")}
					}
					var out []collectors.Artifact
					for i, tk := range pages {
						out = append(out, collectors.Artifact{Type: "test.change_tickets", Subject: "CHG", ContentType: "application/json",
							Body: []byte(fmt.Sprintf(`{"collector":"jira","query":{"name":"changes"},"page":%d,"tickets":[%s]}`, i+1, tk))})
					}
					return out
				}},
			{Name: "aws", Type: "aws", Hour: 6, Controls: map[string][]string{"aws.iam.credential_report": {"CC6.1"}},
				Emit: func(day time.Time) []collectors.Artifact {
					return []collectors.Artifact{
						{Type: "aws.iam.credential_report", Subject: "123/credential-report.csv", ContentType: "text/csv",
							Body: []byte("user,arn,password_enabled,mfa_active\n<root_account>,arn:aws:iam::123:root,not_supported,true\nalice,arn:aws:iam::123:user/alice,true,true\n")},
						{Type: "aws.iam.credential_report", Subject: "123/credential-report-summary", ContentType: "application/json", Body: []byte(`{"users":2}`)},
					}
				}},
			{Name: "github", Type: "github", Hour: 6, Controls: map[string][]string{"github.branch_protection": {"CC8.1"}},
				Emit: func(day time.Time) []collectors.Artifact {
					var out []collectors.Artifact
					for _, repo := range []string{"acme/api", "acme/web"} {
						out = append(out, collectors.Artifact{Type: "github.branch_protection", Subject: repo + "@main", ContentType: "application/json",
							Body: []byte(fmt.Sprintf(`{"repository":%q,"branch":"main","classic_protection_status":"protected","rulesets":[{"id":1}],"effective":{"pull_request_required":true,"required_approvals":%d,"force_push_blocked":true}}`, repo, day.Day()))})
					}
					return out
				}},
			{Name: "backups", Type: "exec", Hour: 7, Controls: map[string][]string{"custom.backup_restore_test": {"A1.3"}},
				Emit: func(day time.Time) []collectors.Artifact {
					return []collectors.Artifact{{Type: "custom.backup_restore_test", Subject: "orders-db", ContentType: "application/json",
						Body: []byte(fmt.Sprintf(`{"database":"orders-db","restored":true,"test":%d}`, day.Day()))}}
				}},
		}}
	b, err := controlstest.Build(context.Background(), p)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Close)
	return &readmodel.Ledger{L: b.Ledger, Bucket: b.Bucket}
}

func TestPopulation(t *testing.T) {
	src := popSource(t)
	ctx := context.Background()
	pop, err := export.BuildPopulation(ctx, src, "test.change_tickets", date("2026-03-01"), date("2026-03-04"))
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := pop.WriteCSV(&buf); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 4 || lines[0] != "key,kind,summary,type,status,created,resolved,first_collected,last_collected,artifacts,latest_seq,latest_sha256,subject" {
		t.Fatalf("population CSV:\n%s", buf.String())
	}
	// One row per ticket, its latest state, first and last seen.
	for i, want := range []string{"CHG-1,item,change 1,Change,Done,2026-03-01T10:00:00Z,,2026-03-01T05:00:00Z,2026-03-02T05:00:00Z,2,",
		"CHG-2,item,change 2,Change,Done,2026-03-02T10:00:00Z,,2026-03-02T05:00:00Z,2026-03-03T05:00:00Z,2,",
		"CHG-3,item,change 3,Change,Open,2026-03-03T10:00:00Z,,2026-03-03T05:00:00Z,2026-03-03T05:00:00Z,1,"} {
		if !strings.HasPrefix(lines[i+1], want) {
			t.Errorf("row %d = %s\nwant prefix %s", i+1, lines[i+1], want)
		}
	}
	// CSV bodies: one row per user; the JSON summaries are skipped.
	pop, err = export.BuildPopulation(ctx, src, "aws.iam.credential_report", time.Time{}, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	if len(pop.Rows) != 2 || pop.Rows[1].Key != "arn:aws:iam::123:user/alice" || pop.Rows[1].Fields[0] != "alice" || pop.Rows[1].Artifacts != 3 || pop.Skipped != 3 {
		t.Errorf("credential report population = %+v (skipped %d)", pop.Rows, pop.Skipped)
	}
	// One item per artifact, keyed from the body: a repository's branch
	// across three days is one row, in its latest state.
	pop, err = export.BuildPopulation(ctx, src, "github.branch_protection", time.Time{}, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	if len(pop.Rows) != 2 || pop.Rows[0].Key != "acme/api@main" || pop.Rows[0].Artifacts != 3 || strings.Join(pop.Rows[0].Fields, ",") != "protected,true,3,true" {
		t.Errorf("branch protection population = %+v", pop.Rows)
	}
	// Not a list: one row per artifact.
	pop, err = export.BuildPopulation(ctx, src, "custom.backup_restore_test", time.Time{}, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	if len(pop.Rows) != 3 || pop.Rows[0].Kind != "artifact" || pop.Rows[0].Key != "prod-1-000000000005" {
		t.Errorf("custom population = %+v", pop.Rows)
	}
}

func TestSampleIsReproducible(t *testing.T) {
	pop := &export.Population{Type: "x"}
	for i := range 500 {
		pop.Rows = append(pop.Rows, export.Row{Key: fmt.Sprintf("K-%03d", i)})
	}
	keys := func(rs []export.Row) string {
		var s []string
		for _, r := range rs {
			s = append(s, r.Key)
		}
		return strings.Join(s, ",")
	}
	a, err := pop.Sample(25, "auditor-seed-2026")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := pop.Sample(25, "auditor-seed-2026")
	c, _ := pop.Sample(25, "another-seed")
	if len(a) != 25 || keys(a) != keys(b) {
		t.Errorf("same seed, different samples:\n%s\n%s", keys(a), keys(b))
	}
	if keys(a) == keys(c) {
		t.Errorf("different seeds gave the same sample")
	}
	seen := map[string]bool{}
	for _, r := range a {
		if seen[r.Key] {
			t.Errorf("%s drawn twice", r.Key)
		}
		seen[r.Key] = true
	}
	all, _ := pop.Sample(1000, "s")
	if len(all) != 500 {
		t.Errorf("a sample larger than the population has %d rows, want 500", len(all))
	}
	if _, err := pop.Sample(5, ""); err == nil {
		t.Errorf("no seed: want an error")
	}
}

// TestPopulationByObservedTime: a backfill collected on 3 March holds pull
// requests merged on 1 and 3 March; a population of 2–4 March by collection
// time has both, by observation time only the one merged in the window.
// Records are selected the same way: an event stream whose window is
// 28 February–1 March observed nothing in the window though collected in it.
func TestPopulationByObservedTime(t *testing.T) {
	p := controlstest.Plan{Dir: t.TempDir(), Agent: "prod-1", From: date("2026-03-03"), To: date("2026-03-04"), Push: true,
		Collectors: []controlstest.Collector{
			{Name: "github", Type: "github", Hour: 6, Controls: map[string][]string{"github.pull_requests": {"CC8.1"}},
				Emit: func(day time.Time) []collectors.Artifact {
					return []collectors.Artifact{{Type: "github.pull_requests", Subject: "acme/api", ContentType: "application/json",
						WindowStart: date("2026-02-28"), WindowEnd: day,
						Body: []byte(`{"pull_requests":[{"number":1,"title":"old","merged_at":"2026-03-01T09:00:00Z"},{"number":2,"title":"new","merged_at":"2026-03-03T01:00:00Z"}]}`)}}
				}},
			{Name: "okta", Type: "okta", Hour: 7, Controls: map[string][]string{"okta.system_log": {"CC7.2"}},
				Emit: func(day time.Time) []collectors.Artifact {
					return []collectors.Artifact{{Type: "okta.system_log", Subject: "late page", ContentType: "application/json",
						WindowStart: date("2026-02-28"), WindowEnd: date("2026-03-01"), Body: []byte(`[]`)}}
				}},
		}}
	b, err := controlstest.Build(context.Background(), p)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Close)
	src := &readmodel.Ledger{L: b.Ledger, Bucket: b.Bucket}
	ctx := context.Background()
	from, to := date("2026-03-02"), date("2026-03-05")
	keys := func(by readmodel.By) string {
		pop, err := export.BuildPopulationBy(ctx, src, "github.pull_requests", from, to, by)
		if err != nil {
			t.Fatal(err)
		}
		var ks []string
		for _, r := range pop.Rows {
			ks = append(ks, r.Key)
		}
		return strings.Join(ks, ",")
	}
	if got := keys(readmodel.ByCollected); got != "acme/api#1,acme/api#2" {
		t.Errorf("by collected: %s", got)
	}
	if got := keys(readmodel.ByObserved); got != "acme/api#2" {
		t.Errorf("by observed: %s, want only the pull request merged in the window", got)
	}
	count := func(by readmodel.By) int {
		n := 0
		if err := readmodel.FindBy(src, readmodel.Query{Type: "okta.system_log", From: from, To: to}, by, func(*evidence.Record, []byte) error { n++; return nil }); err != nil {
			t.Fatal(err)
		}
		return n
	}
	if c, o := count(readmodel.ByCollected), count(readmodel.ByObserved); c != 1 || o != 0 {
		t.Errorf("system log records in the window: %d by collection, %d by observation; want 1 and 0", c, o)
	}
	if _, err := readmodel.ParseBy("event"); err == nil {
		t.Error(`ParseBy("event") accepted`)
	}

	// An auditor package by observation time holds the records that
	// observed something in its window, states it, and verifies; the same
	// package claiming a window by collection time does not.
	records := func(by readmodel.By) (*export.Manifest, []byte) {
		var buf bytes.Buffer
		res, err := export.Write(ctx, &buf, src, export.Options{From: from, To: to, By: by, Controls: []export.Selection{{ID: "CC7.2"}, {ID: "CC8.1"}}})
		if err != nil {
			t.Fatal(err)
		}
		return &res.Manifest, buf.Bytes()
	}
	mc, _ := records(readmodel.ByCollected)
	mo, pkg := records(readmodel.ByObserved)
	if mc.Records != 2 || mo.Records != 1 || mo.By != readmodel.ByObserved || mc.By != "" {
		t.Errorf("package by collection: %d records (by %q); by observation: %d records (by %q); want 2 and 1, by observed stated", mc.Records, mc.By, mo.Records, mo.By)
	}
	if rep, err := export.VerifyPackage(bytes.NewReader(pkg), int64(len(pkg))); err != nil || !rep.OK {
		t.Fatalf("package by observation time does not verify: %v %+v", err, rep)
	}
	f := open(t, pkg)
	m := *mo
	m.By = ""
	f.setManifest(m)
	forged := f.zip()
	if rep, err := export.VerifyPackage(bytes.NewReader(forged), int64(len(forged))); err != nil || rep.OK {
		t.Errorf("a package by observation time whose manifest claims collection time verifies: %v", err)
	}
}
