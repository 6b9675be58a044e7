package cli_test

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tickmark-dev/tickmark/collectors/http/httpfake"
)

// dryWorkspace writes a config with an http collector against the fake
// backup API and two exec collectors; the data dir does not exist.
func dryWorkspace(t *testing.T) (cfg, dataDir string, srv *httpfake.Server) {
	t.Helper()
	srv = httpfake.New(httpfake.Credentials{Token: "tok-dry-run-51c0"}, 7)
	t.Cleanup(srv.Close)
	t.Setenv("DRY_TOKEN", "tok-dry-run-51c0")
	t.Setenv("DRY_LEAKED", "leaked-secret-9d2e77")
	dir := t.TempDir()
	dataDir = filepath.Join(dir, "data")
	cfg = filepath.Join(dir, "tickmark.yaml")
	text := fmt.Sprintf(`agent:
  id: dry
  data_dir: %[1]s
collectors:
  - name: backups-api
    type: http
    controls: {custom.backup_jobs: [A1.2, CC7.5]}
    http:
      requests:
        - evidence_type: custom.backup_jobs
          url: %[2]s/api/v1/jobs?per_page=3
          auth: {bearer: env:DRY_TOKEN}
          pagination: {style: link}
          select: data
  - name: leaky
    type: exec
    controls: {custom.leak: [CC6.1]}
    exec:
      command: ["/bin/sh", "-c", "printf '{\"type\":\"custom.leak\",\"subject\":\"s\",\"body\":{\"token\":\"%%s\"}}\\n' \"$DRY_LEAKED\"; echo '{\"cursor\":\"c1\"}'"]
      env: [DRY_LEAKED]
  - name: unmapped
    type: exec
    exec:
      command: ["/bin/sh", "-c", "echo '{\"type\":\"custom.unmapped\",\"body\":1}'"]
`, dataDir, srv.URL)
	if err := os.WriteFile(cfg, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return cfg, dataDir, srv
}

func TestCollectorsTestPrintsArtifactsAndCommitsNothing(t *testing.T) {
	cfg, dataDir, srv := dryWorkspace(t)
	r := tickmark(t, "collectors", "test", "backups-api", "--config", cfg, "--preview", "60")
	if r.code != 0 {
		t.Fatalf("exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	for _, want := range []string{
		"collector backups-api (type http): dry run from a first run (no cursor); nothing is committed",
		"#1 custom.backup_jobs\n   subject:  " + strings.TrimPrefix(srv.URL, "http://") + "/api/v1/jobs\n   controls: A1.2, CC7.5\n",
		"source:   system http; endpoint GET " + srv.URL + "/api/v1/jobs?page=3&per_page=3; query page 3; items at data; account",
		"items 1; complete",
		`preview:  {"data":[{"id":"job-0001","database":"billing-db","schedule" …`,
		"3 artifacts, ", "1 checkpoint in ", "; nothing was committed",
	} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("output lacks %q:\n%s", want, r.stdout)
		}
	}
	if strings.Contains(r.stdout+r.stderr, "tok-dry-run-51c0") {
		t.Error("the token appears in the output")
	}
	if _, err := os.Stat(dataDir); !os.IsNotExist(err) {
		t.Errorf("the dry run created or touched the data dir: %v", err)
	}
}

func TestCollectorsTestMasksAndReportsSecretsInBodies(t *testing.T) {
	cfg, dataDir, _ := dryWorkspace(t)
	r := tickmark(t, "collectors", "test", "leaky", "--config", cfg)
	if r.code != 0 {
		t.Fatalf("exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	for _, want := range []string{
		`preview:  {"token":"[SECRET env:DRY_LEAKED]"}`,
		"WARNING:  the body contains the value of env:DRY_LEAKED; the engine would store it",
		`checkpoint: cursor "c1" (not saved)`,
	} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("output lacks %q:\n%s", want, r.stdout)
		}
	}
	if strings.Contains(r.stdout+r.stderr, "leaked-secret-9d2e77") {
		t.Error("the secret appears in the output")
	}
	if _, err := os.Stat(dataDir); !os.IsNotExist(err) {
		t.Errorf("the dry run created the data dir")
	}
}

func TestCollectorsTestFailures(t *testing.T) {
	cfg, _, _ := dryWorkspace(t)
	t.Setenv("DRY_TOKEN", "tok-wrong-0000")
	r := tickmark(t, "collectors", "test", "backups-api", "--config", cfg)
	if r.code != 1 {
		t.Fatalf("exit %d on a 401, want 1\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	if !strings.Contains(r.stderr, "tickmark: error: collector backups-api failed (permanent: fix the cause before the next run): http: requests[0] (custom.backup_jobs): GET ") ||
		!strings.Contains(r.stderr, "HTTP 401 unauthorized: invalid or missing credentials (hint: the server refused the bearer token from env:DRY_TOKEN") {
		t.Errorf("stderr:\n%s", r.stderr)
	}
	if !strings.Contains(r.stdout, "0 artifacts") {
		t.Errorf("stdout:\n%s", r.stdout)
	}

	// An evidence type without controls is refused as the engine would.
	r = tickmark(t, "collectors", "test", "unmapped", "--config", cfg)
	if r.code != 1 || !strings.Contains(r.stdout, "REFUSED:  evidence type custom.unmapped has no controls: map it in collectors[].controls") {
		t.Errorf("exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}

	r = tickmark(t, "collectors", "test", "nope", "--config", cfg)
	if r.code != 2 || !strings.Contains(r.stderr, `no collector named "nope"`) || !strings.Contains(r.stderr, "hint: configured collectors: backups-api, leaky, unmapped") {
		t.Errorf("exit %d\n%s", r.code, r.stderr)
	}
	if r := tickmark(t, "collectors", "test", "--config", cfg); r.code != 2 {
		t.Errorf("no NAME: exit %d, want 2", r.code)
	}
}

func TestCollectorsTestJSONAndLimit(t *testing.T) {
	cfg, _, _ := dryWorkspace(t)
	r := tickmark(t, "collectors", "test", "backups-api", "--config", cfg, "--json", "--limit", "2", "--preview", "0")
	if r.code != 0 {
		t.Fatalf("exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	var rep struct {
		Collector string `json:"collector"`
		Artifacts []struct {
			N        int      `json:"n"`
			Type     string   `json:"type"`
			Controls []string `json:"controls"`
			Size     int64    `json:"size"`
			SHA256   string   `json:"sha256"`
			Preview  string   `json:"preview"`
			Source   struct {
				Items    int  `json:"items"`
				Complete bool `json:"complete"`
			} `json:"source"`
		} `json:"artifacts"`
		Stopped   bool `json:"stopped_at_limit"`
		Committed bool `json:"committed"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil {
		t.Fatalf("%v\n%s", err, r.stdout)
	}
	if rep.Collector != "backups-api" || len(rep.Artifacts) != 2 || !rep.Stopped || rep.Committed {
		t.Fatalf("report %+v", rep)
	}
	a := rep.Artifacts[1]
	if a.N != 2 || a.Type != "custom.backup_jobs" || strings.Join(a.Controls, ",") != "A1.2,CC7.5" || a.Size == 0 || len(a.SHA256) != 64 || a.Preview != "" || a.Source.Items != 3 || a.Source.Complete {
		t.Errorf("artifact %+v", a)
	}
}
