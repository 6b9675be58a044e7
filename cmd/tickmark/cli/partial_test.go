package cli_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/tickmark-dev/tickmark/collectors/github/ghfake"
)

// One repository GitHub refuses: the rest is collected, the run's outcome
// is partial (recorded, summarised, shown by status) and run --once exits 1.
func TestGitHubOneInaccessibleRepositoryIsAPartialRun(t *testing.T) {
	org := ghfake.Generate(ghfake.Options{Repos: 4, MergedPerRepo: 1})
	org.Repos[1].Blocked = 451 // service-002
	const token = "ghp_partialtoken_AbCdEf0123456789xyz"
	srv := ghfake.New(org, map[string]ghfake.Token{token: {Scopes: []string{"repo", "read:org", "security_events"}}})
	t.Cleanup(srv.Close)
	t.Setenv("GH_PARTIAL_TOKEN", token)
	// Beside the exec collector of the workspace (which succeeds).
	t.Setenv("N", "10")
	t.Setenv("EVERY", "5")
	_, cfg := workspace(t, fmt.Sprintf(`  - name: gh
    type: github
    schedule: "@every 1h"
    github:
      base_url: %s/api/v3/
      org: acme
      token: env:GH_PARTIAL_TOKEN
`, srv.URL))
	r := tickmark(t, "run", "--once", "--config", cfg)
	if r.code != 1 {
		t.Fatalf("exit %d, want 1 (partial)\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	if !strings.Contains(r.stdout, "gh partial (the rest is collected; recorded as findings): github: 1 not collected") || !strings.Contains(r.stdout, "service-002") {
		t.Fatalf("summary does not say partial naming the repository:\n%s", r.stdout)
	}
	var row string
	for _, l := range strings.Split(r.stdout, "\n") {
		if strings.HasPrefix(l, "gh ") {
			row = l
			break
		}
	}
	if f := strings.Fields(row); len(f) < 3 || f[2] != "partial" {
		t.Fatalf("summary row %q, want outcome partial", row)
	}
	if n := len(listRecords(t, cfg)); n == 0 {
		t.Fatalf("no evidence committed for the readable repositories")
	}
	// The periods the run fell in stay covered and say they rest on a
	// partial run.
	day := time.Now().UTC()
	cv := tickmark(t, "coverage", "--config", cfg, "--from", day.AddDate(0, 0, -1).Format(time.DateOnly), "--to", day.AddDate(0, 0, 1).Format(time.DateOnly))
	if !strings.Contains(cv.stdout, "(1 partial)") || !strings.Contains(cv.stdout, "covered (partial: 1 run): gh: github: 1 not collected") {
		t.Fatalf("coverage does not note the partial run:\n%s\n%s", cv.stdout, cv.stderr)
	}
	s := tickmark(t, "status", "--config", cfg)
	if !strings.Contains(s.stdout, "partial") {
		t.Fatalf("status does not show the partial outcome:\n%s", s.stdout)
	}
}
