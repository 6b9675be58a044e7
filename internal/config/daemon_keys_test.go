package config

import (
	"strings"
	"testing"
	"time"

	"github.com/tickmark-dev/tickmark/collectors"
)

// The daemon's keys: agent.shutdown_grace, runner.jitter and a collector's
// own jitter, which wins over runner.jitter (even when it is 0).
func TestDaemonKeys(t *testing.T) {
	c, err := Parse([]byte(`agent: {id: prod-1, shutdown_grace: 45s, listen: ":9100"}
runner: {jitter: 2m}
collectors:
  - name: default-jitter
    type: exec
    exec: {command: [/bin/true]}
  - name: own-jitter
    type: exec
    jitter: 10s
    exec: {command: [/bin/true]}
  - name: no-jitter
    type: exec
    jitter: 0s
    exec: {command: [/bin/true]}
`))
	if err != nil {
		t.Fatal(err)
	}
	if c.Agent.ShutdownGrace.D() != 45*time.Second || c.Agent.Listen != ":9100" {
		t.Errorf("agent: %+v", c.Agent)
	}
	for name, want := range map[string]time.Duration{"default-jitter": 2 * time.Minute, "own-jitter": 10 * time.Second, "no-jitter": 0} {
		cc, _ := c.Find(name)
		if got := c.JitterBound(cc); got != want {
			t.Errorf("%s: jitter %s, want %s", name, got, want)
		}
	}
}

func TestDaemonKeysInvalid(t *testing.T) {
	for _, c := range []struct {
		yaml, want string
		line       int
	}{
		{"agent: {id: prod-1, shutdown_grace: soon}\n", `agent.shutdown_grace: invalid duration "soon"`, 1},
		{"agent: {id: prod-1}\nrunner:\n  jitter: often\n", `runner.jitter: invalid duration "often"`, 3},
		{"agent: {id: prod-1}\ncollectors:\n  - name: x\n    type: exec\n    jitter: -5s\n    exec: {command: [/bin/true]}\n", `negative duration "-5s"`, 5},
	} {
		_, err := Parse([]byte(c.yaml))
		ces, ok := collectors.AsConfigErrors(err)
		if !ok || len(ces) != 1 || !strings.Contains(ces[0].Error(), c.want) || ces[0].Line != c.line {
			t.Errorf("%q: got %v, want one error at line %d containing %q", c.yaml, err, c.line, c.want)
		}
	}
}
