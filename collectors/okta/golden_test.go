package okta_test

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tickmark-dev/tickmark/collectors/collectortest"
	"github.com/tickmark-dev/tickmark/collectors/okta/oktafake"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/golden")

// TestGolden pins every artifact of a run against a small fake org: bodies,
// subjects, windows and sources. Regenerate with `go test -run TestGolden -update`.
func TestGolden(t *testing.T) {
	_, u := startFake(t, oktafake.Options{Users: 12, LogEvents: 40})
	res := collectortest.Run(t, collectortest.Build(t, "okta", config(u, "page_size: 5", "system_log_page_size: 10")), collectortest.Options{Now: testNow})
	if res.Err != nil {
		t.Fatal(res.Err)
	}
	host := strings.TrimPrefix(u, "http://")
	dir := filepath.Join("testdata", "golden")
	if *update {
		_ = os.RemoveAll(dir)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	var names []string
	for i, a := range res.Committed {
		name := fmt.Sprintf("%02d-%s.golden", i+1, a.Type)
		names = append(names, name)
		head := fmt.Sprintf("// type: %s\n// subject: %s\n// window: %s .. %s\n// source: %+v\n", a.Type, a.Subject,
			a.WindowStart.Format("2006-01-02T15:04:05Z"), a.WindowEnd.Format("2006-01-02T15:04:05Z"), a.Source)
		got := []byte(strings.ReplaceAll(head+string(a.Body), host, "fake.okta.test"))
		path := filepath.Join(dir, name)
		if *update {
			if err := os.WriteFile(path, got, 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		want, err := os.ReadFile(path)
		if err != nil {
			t.Fatalf("%v (run with -update to create the golden files)", err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s differs from the golden file; inspect with -update and git diff", name)
		}
	}
	if ents, _ := os.ReadDir(dir); len(ents) != len(names) {
		t.Errorf("the run produced %d artifacts, the golden folder holds %d files", len(names), len(ents))
	}
}
