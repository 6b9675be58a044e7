package charttest

import (
	"debug/elf"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// No container engine runs here, so the image is checked in two halves:
// the Dockerfile says what the image must be, and the binary it packages is
// built the same way and checked to be static and versioned.
func TestDockerfile(t *testing.T) {
	b, err := os.ReadFile("../Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	df := string(b)
	stages := regexp.MustCompile(`(?m)^FROM\s+(\S+)`).FindAllStringSubmatch(df, -1)
	if len(stages) < 2 {
		t.Fatalf("want a multi-stage build, got %d FROM lines", len(stages))
	}
	final := df[strings.LastIndex(df, "\nFROM "):]
	if base := stages[len(stages)-1][1]; base != "scratch" && !strings.HasPrefix(base, "gcr.io/distroless/static") {
		t.Errorf("final base %s: want distroless/static or scratch", base)
	}
	user := regexp.MustCompile(`(?m)^USER\s+(\d+)(:\d+)?\s*$`).FindStringSubmatch(final)
	if user == nil || user[1] == "0" {
		t.Errorf("final stage must set a numeric non-root USER (runAsNonRoot checks it): %v", user)
	}
	for _, want := range []string{"HOME=/var/lib/tickmark", "TMPDIR=/var/lib/tickmark", `ENTRYPOINT ["/usr/local/bin/tickmark"]`} {
		if !strings.Contains(final, want) {
			t.Errorf("final stage lacks %s", want)
		}
	}
	build := regexp.MustCompile(`(?s)CGO_ENABLED=0.*?go build(.*?)\./cmd/tickmark`).FindStringSubmatch(df)
	if build == nil {
		t.Fatal("no `CGO_ENABLED=0 ... go build ... ./cmd/tickmark` in the Dockerfile")
	}
	for _, want := range []string{"-trimpath", "-X github.com/tickmark-dev/tickmark/internal/app.Version=${VERSION}"} {
		if !strings.Contains(build[1], want) {
			t.Errorf("go build lacks %s", want)
		}
	}
}

func TestStaticVersionedBinary(t *testing.T) {
	bin := tickmarkBinary(t)
	f, err := elf.Open(bin)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			t.Error("binary has a dynamic loader (PT_INTERP): not static")
		}
	}
	if libs, _ := f.ImportedLibraries(); len(libs) > 0 {
		t.Errorf("binary links %v: not static", libs)
	}
	out, err := exec.Command(bin, "version").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "v9.9.9-image-test") {
		t.Errorf("version: %v %s", err, out)
	}
}

// The IAM examples are valid JSON, and the agent's policy never allows a
// delete or an Object Lock change (it denies them explicitly).
func TestIAMExamples(t *testing.T) {
	files, err := filepath.Glob("../iam/*.json")
	if err != nil || len(files) < 3 {
		t.Fatalf("IAM examples: %v %v", files, err)
	}
	type statement struct {
		Effect   string
		Action   any
		Resource any
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var doc struct {
			Version   string
			Statement []statement
		}
		if err := json.Unmarshal(b, &doc); err != nil || doc.Version != "2012-10-17" || len(doc.Statement) == 0 {
			t.Fatalf("%s: %v", f, err)
		}
		if filepath.Base(f) != "tickmark-store-policy.json" {
			continue
		}
		denied := map[string]bool{}
		for _, st := range doc.Statement {
			for _, a := range actions(st.Action) {
				if st.Effect == "Allow" && (strings.Contains(a, "Delete") || strings.Contains(a, "Bypass") || strings.HasSuffix(a, "*")) {
					t.Errorf("%s allows %s", f, a)
				}
				if st.Effect == "Deny" {
					denied[a] = true
				}
			}
		}
		for _, a := range []string{"s3:DeleteObject", "s3:DeleteObjectVersion", "s3:BypassGovernanceRetention"} {
			if !denied[a] {
				t.Errorf("%s does not deny %s", f, a)
			}
		}
	}
}

func actions(v any) []string {
	switch a := v.(type) {
	case string:
		return []string{a}
	case []any:
		var out []string
		for _, x := range a {
			out = append(out, x.(string))
		}
		return out
	}
	return nil
}
