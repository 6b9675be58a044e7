package github

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/tickmark-dev/tickmark/collectors/github/ghfake"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/golden")

// TestGolden pins the whole output for a small fake organisation: one file
// per artifact (indented JSON body) plus an index of types, subjects,
// windows and sources. Regenerate with: go test ./collectors/github/ -run Golden -update
func TestGolden(t *testing.T) {
	srv, _ := newFake(t, ghfake.Options{Repos: 5, MergedPerRepo: 2, UnprotectedEvery: 5, AlertsEvery: 3, AlertsDisabledEvery: 4})
	res := runAll(t, cfgFor(srv, ""), "")
	dir := filepath.Join("testdata", "golden")
	files := map[string][]byte{}
	var index []string
	for _, a := range res.Committed {
		name := strings.NewReplacer("/", "_", "@", "_").Replace(a.Type + "__" + a.Subject + ".json")
		var buf bytes.Buffer
		if err := json.Indent(&buf, a.Body, "", "  "); err != nil {
			t.Fatalf("%s: body is not JSON: %v", name, err)
		}
		buf.WriteByte('\n')
		files[name] = buf.Bytes()
		src, _ := json.Marshal(a.Source)
		line := a.Type + " " + a.Subject + " " + name
		if !a.WindowEnd.IsZero() {
			line += " window=" + ts(a.WindowStart) + ".." + ts(a.WindowEnd)
		}
		index = append(index, line+" source="+string(src))
	}
	sort.Strings(index)
	files["index.txt"] = []byte(strings.Join(index, "\n") + "\n")
	// Test-run URLs differ per run: the fake's address is replaced.
	for k, v := range files {
		files[k] = bytes.ReplaceAll(v, []byte(srv.URL), []byte("http://FAKE"))
	}
	if *update {
		os.RemoveAll(dir)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		for k, v := range files {
			if err := os.WriteFile(filepath.Join(dir, k), v, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		return
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatalf("%v (run with -update to create the golden files)", err)
	}
	if len(ents) != len(files) {
		t.Errorf("%d golden files, %d produced", len(ents), len(files))
	}
	for k, v := range files {
		want, err := os.ReadFile(filepath.Join(dir, k))
		if err != nil {
			t.Errorf("unexpected artifact %s", k)
			continue
		}
		if !bytes.Equal(want, v) {
			t.Errorf("%s differs from the golden file (run with -update if the change is intended):\n%s", k, firstLineDiff(want, v))
		}
	}
}

func firstLineDiff(a, b []byte) string {
	al, bl := strings.Split(string(a), "\n"), strings.Split(string(b), "\n")
	for i := 0; i < max(len(al), len(bl)); i++ {
		var x, y string
		if i < len(al) {
			x = al[i]
		}
		if i < len(bl) {
			y = bl[i]
		}
		if x != y {
			return "line " + strconv.Itoa(i+1) + ":\n- " + x + "\n+ " + y
		}
	}
	return ""
}
