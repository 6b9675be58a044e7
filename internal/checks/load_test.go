package checks_test

import (
	"os"
	"strings"
	"testing"

	_ "github.com/tickmark-dev/tickmark/collectors/all"
	"github.com/tickmark-dev/tickmark/config"
	"github.com/tickmark-dev/tickmark/internal/checks"
)

func TestDefaultsCompile(t *testing.T) {
	set, err := checks.Load(config.Checks, "checks.yaml", checks.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(set.Checks) < 20 {
		t.Fatalf("%d default checks, want at least 20", len(set.Checks))
	}
}

func TestLoadErrorsNameTheLine(t *testing.T) {
	head := "version: 1\nchecks:\n"
	check := func(extra string) string {
		return head + "  - id: my.check\n    title: T\n    controls: [CM-01]\n    input: github.pull_requests\n" + extra
	}
	for _, tc := range []struct {
		name, yaml, want string
	}{
		{"syntax", check("    rule: item.number >\n"), "checks.yaml:7: rule: ERROR"},
		{"unknown field", check("    where: has(item.merged_at)\n    rule: item.aproved_by.size() > 0\n"), `checks.yaml:8: rule: item has no field "aproved_by"`},
		{"unknown param", check("    rule: item.number > params.min\n"), `checks.yaml:7: rule: no parameter "min"`},
		{"unknown ref", check("    rule: item.title in refs.tickets\n"), `checks.yaml:7: rule: no ref "tickets"`},
		{"not bool", check("    rule: size(item.title)\n"), "checks.yaml:7: rule: gives int, want bool"},
		{"ref field", check("    rule: item.title in refs.t\n    refs:\n      t:\n        type: jira.change_tickets\n        key: item.kee\n"), `checks.yaml:11: refs.t.key: item has no field "kee"`},
		{"unknown key", check("    rule: true\n    severity: high\n"), "line 8: field severity not found"},
		{"duplicate", check("    rule: true\n") + "  - id: my.check\n    title: T\n    controls: [CM-01]\n    input: github.pull_requests\n    rule: true\n",
			`checks.yaml:8: check "my.check" is defined twice (first at line 3)`},
		{"bad id", head + "  - id: My-Check\n    title: T\n    controls: [CM-01]\n    input: x.y\n    rule: 'true'\n", `checks.yaml:3: check id "My-Check"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := checks.Load([]byte(tc.yaml), "checks.yaml", checks.Options{})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want it to contain %q", err, tc.want)
			}
		})
	}
	// Parameters overridden from the configuration must exist.
	_, err := checks.Load(config.Checks, "checks.yaml", checks.Options{Params: map[string]map[string]any{"okta.active_users_mfa": {"phishing": true}}})
	if err == nil || !strings.Contains(err.Error(), `check okta.active_users_mfa has no parameter "phishing"`) {
		t.Fatalf("unknown parameter override: %v", err)
	}
}

// Phishing-resistant MFA is a parameter: push no longer counts.
func TestParamsOverride(t *testing.T) {
	set := defaults(t, checks.Options{Params: map[string]map[string]any{"okta.active_users_mfa": {"phishing_resistant": true}}})
	r := evalOne(t, set, "okta.active_users_mfa", oktaUsers(oktaUser("00u1", "ann@example.com", "ACTIVE", "push"), oktaUser("00u2", "bob@example.com", "ACTIVE", "webauthn")))
	if r.Status != checks.StatusFail || strings.Join(exceptionKeys(r), ",") != "00u1" || r.Exceptions[0].Message != "ann@example.com has no phishing-resistant factor" {
		t.Fatalf("%s %+v", r.Status, r.Exceptions)
	}
}

// The worked examples of docs/checks.md compile.
func TestDocExamplesCompile(t *testing.T) {
	b, err := os.ReadFile("../../docs/checks.md")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, block := range strings.Split(string(b), "```yaml\n")[1:] {
		block, _, _ = strings.Cut(block, "```")
		if !strings.HasPrefix(block, "  - id:") {
			continue
		}
		n++
		if _, err := checks.Load([]byte("version: 1\nchecks:\n"+block), "docs/checks.md", checks.Options{}); err != nil {
			t.Errorf("example %d: %v", n, err)
		}
	}
	if n != 3 {
		t.Fatalf("%d worked examples, want 3", n)
	}
}
