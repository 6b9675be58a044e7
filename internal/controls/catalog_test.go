package controls_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tickmark-dev/tickmark/internal/config"
	"github.com/tickmark-dev/tickmark/internal/controls"
)

func TestShippedCatalog(t *testing.T) {
	set, err := controls.Load("")
	if err != nil {
		t.Fatal(err)
	}
	cat := set.Catalog
	var want []string
	add := func(prefix string, n int) {
		for i := 1; i <= n; i++ {
			want = append(want, fmt.Sprintf("%s%d", prefix, i))
		}
	}
	for cc, n := range []int{5, 3, 4, 2, 3, 8, 5, 1, 2} {
		add(fmt.Sprintf("CC%d.", cc+1), n)
	}
	add("A1.", 3)
	add("C1.", 2)
	add("PI1.", 5)
	for p, n := range []int{1, 1, 2, 3, 2, 7, 1, 1} {
		add(fmt.Sprintf("P%d.", p+1), n)
	}
	if len(cat.Criteria) != len(want) {
		t.Errorf("catalog has %d criteria, want %d", len(cat.Criteria), len(want))
	}
	for _, id := range want {
		if c, ok := cat.Criterion(id); !ok || c.Title == "" {
			t.Errorf("criterion %s missing or untitled", id)
		}
	}
	if n := len(set.Controls); n < 20 || n > 30 {
		t.Errorf("default set has %d controls, want about 25", n)
	}
	// Every built-in collector evidence type satisfies some control.
	for _, typ := range []string{"okta.users", "okta.deprovisioned_users", "okta.groups", "okta.admins", "okta.policies", "okta.system_log",
		"github.org_members", "github.branch_protection", "github.pull_requests", "github.dependabot_alerts",
		"jira.change_tickets", "jira.incidents", "jira.access_requests", "jira.offboarding", "jira.vulnerabilities",
		"aws.cloudtrail.trails", "aws.cloudtrail.events", "aws.iam.credential_report", "aws.cloudtrail.digests"} {
		if len(set.ForType(typ)) == 0 {
			t.Errorf("no default control is satisfied by %s", typ)
		}
	}
	// Crosswalks cover the criteria the default controls of collectors use, with sources.
	for _, id := range []string{"CC6.1", "CC6.2", "CC6.3", "CC7.1", "CC7.2", "CC7.3", "CC8.1", "A1.2"} {
		m, ok := set.Crosswalk.For(id)
		if !ok || len(m.ISO27001) == 0 || len(m.CSF) == 0 || m.Source["iso27001-2022"] == "" || m.Source["nist-csf-2.0"] == "" {
			t.Errorf("crosswalk for %s = %+v", id, m)
		}
	}
}

func TestControlSetErrorsNameTheLine(t *testing.T) {
	cat, _ := controls.DefaultCatalog()
	_, err := controls.ParseSet([]byte(`version: 1
controls:
  - id: X-1
    title: t
    owner: o
    criteria: [CC6.1, CC99.1]
    frequency: hourly
    evidence: [okta.users]
    color: red
`), "mine.yaml", cat)
	if err == nil || !strings.Contains(err.Error(), "line 9") || !strings.Contains(err.Error(), "color") {
		t.Fatalf("unknown key: err = %v", err)
	}
	_, err = controls.ParseSet([]byte(`version: 1
controls:
  - id: X-1
    title: t
    owner: o
    criteria: [CC6.1, CC99.1]
    frequency: hourly
    evidence: [Okta Users]
`), "mine.yaml", cat)
	for _, want := range []string{`line 6: mine.yaml: controls[0].criteria: unknown criterion "CC99.1"`, `line 7: mine.yaml: controls[0].frequency: invalid frequency "hourly"`, `line 8: mine.yaml: controls[0].evidence: invalid evidence type "Okta Users"`} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v\nlacks %q", err, want)
		}
	}
}

func TestConfigControlsFile(t *testing.T) {
	dir := t.TempDir()
	write := func(name, s string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	write("controls.yaml", "version: 1\ncontrols:\n  - {id: X-1, title: t, owner: o, criteria: [CC6.1], frequency: weekly, evidence: [okta.users]}\n")
	cfg, err := config.Load(write("ok.yaml", "agent: {id: a1, data_dir: "+dir+"}\ncontrols:\n  file: controls.yaml\n"))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Controls.File != filepath.Join(dir, "controls.yaml") {
		t.Errorf("controls.file = %q, want it resolved next to the configuration", cfg.Controls.File)
	}
	write("bad.yaml", "version: 1\ncontrols:\n  - {id: X-1, title: t, owner: o, criteria: [CC6.1], frequency: sometimes, evidence: [okta.users]}\n")
	_, err = config.Load(write("c2.yaml", "agent: {id: a1, data_dir: "+dir+"}\ncontrols:\n  file: bad.yaml\n"))
	if err == nil || !strings.Contains(err.Error(), "line 3: controls.file: invalid control set") || !strings.Contains(err.Error(), `invalid frequency "sometimes"`) {
		t.Errorf("bad control set: err = %v", err)
	}
	_, err = config.Load(write("c3.yaml", "agent: {id: a1, data_dir: "+dir+"}\ncontrols:\n  flie: x.yaml\n"))
	if err == nil || !strings.Contains(err.Error(), "flie") {
		t.Errorf("unknown key under controls: err = %v", err)
	}
}
