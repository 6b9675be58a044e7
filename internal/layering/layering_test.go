package layering_test

import (
	"bytes"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/tickmark-dev/tickmark/internal/layering"
)

func goList(t *testing.T, args ...string) []layering.Package {
	t.Helper()
	_, file, _, _ := runtime.Caller(0)
	root := filepath.Join(filepath.Dir(file), "..", "..")
	cmd := exec.Command("go", append([]string{"list", "-json=ImportPath,Name,Imports,Deps"}, args...)...)
	cmd.Dir = root
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list %v: %v\n%s", args, err, stderr.String())
	}
	pkgs, err := layering.Load(bytes.NewReader(out))
	if err != nil {
		t.Fatal(err)
	}
	return pkgs
}

// pending are arrows the layering forbids that the code still has, each
// with the step of issue 14 that removes it. The test fails when one
// disappears, so that it is struck from this list.
var pending = map[string]string{}

// TestLayering fails on every forbidden import among the module's packages
// (their non-test dependencies).
func TestLayering(t *testing.T) {
	pkgs := goList(t, "./...")
	if len(pkgs) < 20 {
		t.Fatalf("go list found %d packages", len(pkgs))
	}
	seen := map[string]bool{}
	for _, v := range layering.Check(pkgs, layering.Rules) {
		seen[v.String()] = true
		if _, ok := pending[v.String()]; !ok {
			t.Errorf("forbidden: %s", v)
		}
	}
	for v, step := range pending {
		if !seen[v] {
			t.Errorf("%s is fixed (%s): strike it from pending", v, step)
		}
	}
}

// TestLayeringCatchesAForbiddenImport runs the check on a real package
// that imports the ledger, placed (by its path) among the collectors.
func TestLayeringCatchesAForbiddenImport(t *testing.T) {
	pkgs := goList(t, "./internal/layering/testdata/badcollector")
	if len(pkgs) != 1 {
		t.Fatalf("fixture: %d packages", len(pkgs))
	}
	if v := layering.Check(pkgs, layering.Rules); len(v) != 0 {
		t.Fatalf("under testdata the fixture is no collector, yet: %v", v)
	}
	pkgs[0].ImportPath = layering.Module + "/collectors/badcollector"
	var got []string
	for _, v := range layering.Check(pkgs, layering.Rules) {
		got = append(got, v.String())
	}
	text := strings.Join(got, "\n")
	for _, want := range []string{
		"collectors/badcollector imports internal/ledger: collectors and the public SDK import nothing from internal/",
		"collectors/badcollector depends on internal/evidence: collectors and the public SDK import nothing from internal/",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("the check did not report %q; it reported:\n%s", want, text)
		}
	}
	// The CLI may import the ledger; a library may not import the CLI.
	pkgs[0].ImportPath = layering.Module + "/cmd/tickmark/cli/x"
	if v := layering.Check(pkgs, layering.Rules); len(v) != 0 {
		t.Errorf("the CLI may import the ledger, yet: %v", v)
	}
	lib := layering.Package{ImportPath: layering.Module + "/internal/x", Name: "x", Imports: []string{layering.Module + "/cmd/tickmark/cli"}, Deps: []string{layering.Module + "/cmd/tickmark/cli"}}
	if v := layering.Check([]layering.Package{lib}, layering.Rules); len(v) != 1 || !strings.Contains(v[0].String(), "nothing imports the CLI") {
		t.Errorf("internal/x importing the CLI: %v", v)
	}
	lib.Name = "main"
	if v := layering.Check([]layering.Package{lib}, layering.Rules); len(v) != 0 {
		t.Errorf("a command built around cli.Main: %v", v)
	}
}
