package cli_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// demoWorkspace runs the demo once and returns its configuration.
func demoWorkspace(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	if r := tickmark(t, "demo", "--dir", dir, "--log-level", "error", "--no-history"); r.code != 0 {
		t.Fatalf("demo exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	return filepath.Join(dir, "tickmark.yaml")
}

// TestOneVocabularyAndErrorsNotEmpties: every --control takes organisation
// controls and criteria alike; IDs nothing knows exit 2 with the nearest
// known ones, never an empty answer with exit 0.
func TestOneVocabularyAndErrorsNotEmpties(t *testing.T) {
	cfg := demoWorkspace(t)

	// An organisation control lists the records of its evidence types.
	byControl := listRecords(t, cfg, "--control", "AC-02")
	if len(byControl) == 0 {
		t.Fatal("evidence list --control AC-02 (an organisation control) is empty")
	}
	for _, r := range byControl {
		if r.Type != "okta.deprovisioned_users" && r.Type != "jira.offboarding" {
			t.Errorf("AC-02 listed a %s record; its evidence types are okta.deprovisioned_users and jira.offboarding", r.Type)
		}
	}
	// A criterion lists the records filed under it.
	byCriterion := listRecords(t, cfg, "--control", "CC6.2")
	if len(byCriterion) < len(byControl) {
		t.Errorf("CC6.2 lists %d records, fewer than AC-02 (%d) which maps to it", len(byCriterion), len(byControl))
	}
	// coverage, which reports per organisation control, takes a criterion:
	// it expands to the controls mapped to it.
	r := tickmark(t, "coverage", "--config", cfg, "--control", "CC6.2", "--from", "2026-12-01", "--to", "2026-12-06", "--json")
	if r.code == 2 || !strings.Contains(r.stdout, `"AC-02"`) {
		t.Errorf("coverage --control CC6.2: exit %d, want a report including AC-02\n%s%s", r.code, r.stdout, r.stderr)
	}

	out := filepath.Join(t.TempDir(), "nope.zip")
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"evidence", "list", "--control", "CC6.l"}, `unknown control or criterion "CC6.l"; did you mean CC6.1`},
		{[]string{"evidence", "list", "--control", "NOPE"}, `unknown control or criterion "NOPE"`},
		{[]string{"evidence", "list", "--type", "okta.user"}, `did you mean okta.users?`},
		{[]string{"evidence", "list", "--collector", "sample-oktaa"}, `unknown collector "sample-oktaa"; did you mean sample-okta?`},
		{[]string{"evidence", "list", "--from", "2026-12-06", "--to", "2026-12-01"}, `is not before --to`},
		{[]string{"coverage", "--control", "AC-99", "--from", "2026-12-01", "--to", "2026-12-06"}, `unknown control or criterion "AC-99"`},
		{[]string{"export", "--control", "NOPE", "--from", "2026-12-01", "--to", "2026-12-06", "--out", out}, `unknown control or criterion "NOPE"`},
		{[]string{"population", "--type", "github.pull_request", "--from", "2026-12-01", "--to", "2026-12-06"}, `did you mean github.pull_requests?`},
		{[]string{"sample", "--type", "nope.nope", "--seed", "s"}, `unknown evidence type "nope.nope"`},
		{[]string{"population", "--type", "okta.users", "--from", "2026-12-06", "--to", "2026-12-01"}, `is not before --to`},
	} {
		r := tickmark(t, append(tc.args, "--config", cfg)...)
		if r.code != 2 || !strings.Contains(r.stderr, tc.want) {
			t.Errorf("tickmark %s: exit %d, want 2 with %q\nstdout: %s\nstderr: %s", strings.Join(tc.args, " "), r.code, tc.want, r.stdout, r.stderr)
		}
	}
	if _, err := os.Stat(out); !os.IsNotExist(err) {
		t.Errorf("export --control NOPE left a file at %s (err %v)", out, err)
	}

	// A sample larger than its population says so.
	r = tickmark(t, "sample", "--config", cfg, "--type", "okta.users", "--n", "100000", "--seed", "auditor")
	if r.code != 0 || !strings.Contains(r.stderr, "is larger than the population") {
		t.Errorf("sample --n 100000: exit %d, want 0 with a warning that the sample is the whole population\n%s", r.code, r.stderr)
	}
}
