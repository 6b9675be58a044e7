package cli_test

import (
	"archive/zip"
	"bytes"
	"encoding/base64"
	"io"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// A collector script that prints its credential to stderr — as is, base64
// and URL-escaped — and fails. The agent keeps the failure, but no byte it
// writes anywhere (its output and log, ledger.db, the spool, the store, an
// export) holds the secret in any of those forms.
func TestSecretPrintedToStderrPersistsNowhere(t *testing.T) {
	const secret = "tm-SeCrEt+/value=42&q"
	dir, cfg := scriptWorkspace(t, "leaky", `#!/bin/sh
echo '{"type":"test.item","subject":"item-1","body":{"ok":true}}'
echo '{"cursor":"1"}'
echo "debug: calling the API with token $API_TOKEN" >&2
printf 'Authorization: Basic %s\n' "$(printf 'svc:%s' "$API_TOKEN" | base64 -w0)" >&2
printf 'token64=%s\n' "$(printf '%s' "$API_TOKEN" | base64 -w0)" >&2
printf 'GET /v1/items?token=%s\n' "$(printf '%s' "$API_TOKEN" | sed 's/+/%2B/g; s#/#%2F#g; s/=/%3D/g; s/&/%26/g')" >&2
echo "error: 401 for $API_TOKEN" >&2
exit 3
`, "API_TOKEN")
	script := filepath.Join(dir, "leaky.sh")
	t.Setenv("API_TOKEN", secret)

	var written [][]byte // everything the agent printed
	r := tickmark(t, "run", "--once", "--config", cfg)
	written = append(written, []byte(r.stdout), []byte(r.stderr))
	if r.code != 1 || !strings.Contains(r.stdout, "leaky failed") || !strings.Contains(r.stdout, "[REDACTED]") {
		t.Fatalf("run --once exit %d; want the failure reported with its stderr scrubbed:\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	for _, args := range [][]string{{"status"}, {"coverage"}, {"evidence", "list", "--json"}} {
		r := tickmark(t, append(args, "--config", cfg)...)
		written = append(written, []byte(r.stdout), []byte(r.stderr))
	}
	today := time.Now().UTC().Format(time.DateOnly)
	pkg := filepath.Join(dir, "export.zip")
	if r := tickmark(t, "export", "--config", cfg, "--from", today, "--to", today, "--out", pkg); r.code != 0 {
		t.Fatalf("export: %d %s", r.code, r.stderr)
	} else {
		written = append(written, []byte(r.stdout), []byte(r.stderr))
	}
	zr, err := zip.OpenReader(pkg)
	if err != nil {
		t.Fatal(err)
	}
	defer zr.Close()
	for _, f := range zr.File { // the entries are deflated: read them
		rc, err := f.Open()
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(rc)
		rc.Close()
		written = append(written, b)
	}
	sawRun := false
	err = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || p == script || p == cfg {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		if strings.HasSuffix(p, "ledger.db") && bytes.Contains(b, []byte("[REDACTED]")) {
			sawRun = true // the run and its scrubbed error are in the ledger
		}
		written = append(written, b)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if !sawRun {
		t.Errorf("ledger.db does not hold the failed run's scrubbed error")
	}
	b64 := base64.StdEncoding.EncodeToString([]byte(secret))
	forms := map[string]string{
		"plain":                secret,
		"base64":               b64,
		"base64 without '='":   strings.TrimRight(b64, "="),
		"inside Basic svc:":    base64.StdEncoding.EncodeToString([]byte("svc:" + secret))[8:28],
		"URL-escaped":          url.QueryEscape(secret),
		"URL-escaped (prefix)": url.QueryEscape(secret)[:12],
	}
	for i, b := range written {
		for name, f := range forms {
			if bytes.Contains(b, []byte(f)) {
				t.Errorf("written item %d holds the secret (%s): %.300q", i, name, b)
			}
		}
	}
}
