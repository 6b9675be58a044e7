package charttest

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
)

var (
	binOnce sync.Once
	binDir  string
	binPath string
	binErr  error
	binOut  []byte
)

func TestMain(m *testing.M) {
	code := m.Run()
	if binDir != "" {
		os.RemoveAll(binDir)
	}
	os.Exit(code)
}

// tickmarkBinary builds tickmark once, the way deploy/Dockerfile does
// (static, -trimpath, version stamped), from the repository at ../..: the
// chart's configurations are checked by the real binary, and this module
// needs none of tickmark's own dependencies.
func tickmarkBinary(t *testing.T) string {
	t.Helper()
	binOnce.Do(func() {
		binDir, binErr = os.MkdirTemp("", "tickmark-charttest-")
		if binErr != nil {
			return
		}
		binPath = filepath.Join(binDir, "tickmark")
		cmd := exec.Command("go", "build", "-trimpath", "-buildvcs=false",
			"-ldflags", "-s -w -X github.com/tickmark-dev/tickmark/internal/app.Version=v9.9.9-image-test",
			"-o", binPath, "./cmd/tickmark")
		cmd.Dir = "../.."
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOWORK=off")
		binOut, binErr = cmd.CombinedOutput()
	})
	if binErr != nil {
		t.Fatalf("go build: %v\n%s", binErr, binOut)
	}
	return binPath
}

var (
	typesOnce sync.Once
	types     map[string]bool
)

// registeredTypes lists the collector types the binary has.
func registeredTypes(t *testing.T) map[string]bool {
	t.Helper()
	typesOnce.Do(func() {
		out, err := exec.Command(tickmarkBinary(t), "collectors", "list", "--json").Output()
		if err != nil {
			t.Fatalf("collectors list: %v", err)
		}
		types = map[string]bool{}
		for _, m := range regexp.MustCompile(`"type":\s*"([a-z][a-z0-9_]*)"`).FindAllStringSubmatch(string(out), -1) {
			types[m[1]] = true
		}
		if !types["exec"] {
			t.Fatalf("collectors list --json names no exec type:\n%s", out)
		}
	})
	return types
}

// configProblems runs `tickmark config validate --json` on a rendered
// config.yaml, with every env: reference set, and returns its problems. A
// collector whose type this binary does not have yet (an example for a
// collector still on its way) may be reported as an unknown type, and
// nothing else.
func configProblems(t *testing.T, text string) []string {
	t.Helper()
	f := filepath.Join(t.TempDir(), "config.yaml")
	if err := os.WriteFile(f, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(tickmarkBinary(t), "config", "validate", "--json", f)
	cmd.Env = []string{"PATH=/usr/bin:/bin"}
	for _, m := range regexp.MustCompile(`env:([A-Za-z_][A-Za-z0-9_]*)`).FindAllStringSubmatch(text, -1) {
		cmd.Env = append(cmd.Env, m[1]+"=placeholder-for-validation")
	}
	out, _ := cmd.Output()
	var res struct {
		Valid    bool `json:"valid"`
		Problems []struct {
			Line    int    `json:"line"`
			Key     string `json:"key"`
			Message string `json:"message"`
		} `json:"problems"`
	}
	if err := json.Unmarshal(out, &res); err != nil {
		t.Fatalf("config validate: %v\n%s", err, out)
	}
	known := registeredTypes(t)
	var problems []string
	for _, p := range res.Problems {
		m := regexp.MustCompile(`^unknown collector type "([a-z0-9_]+)"`).FindStringSubmatch(p.Message)
		if m == nil || known[m[1]] {
			problems = append(problems, fmt.Sprintf("line %d: %s: %s", p.Line, p.Key, p.Message))
		}
	}
	if !res.Valid && len(res.Problems) == 0 {
		problems = append(problems, "invalid without problems: "+string(out))
	}
	return problems
}

func validateConfig(t *testing.T, name, text string) {
	t.Helper()
	for _, p := range configProblems(t, text) {
		t.Errorf("config.yaml of %s is invalid: %s\n%s", name, p, text)
	}
}

// The check above is real: a mistake in a collector's section is caught.
func TestConfigValidationCatchesMistakes(t *testing.T) {
	m, err := render(t, "", map[string]any{"collectors": []any{
		map[string]any{"name": "backups", "type": "exec", "exec": map[string]any{"command": []any{"/bin/true"}, "bogus_key": 1}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	got := configProblems(t, m.ConfigMaps[0].Data["config.yaml"])
	if len(got) != 1 || !strings.Contains(got[0], "bogus_key") {
		t.Fatalf("problems = %v, want one naming bogus_key", got)
	}
}
