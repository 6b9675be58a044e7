package config

import (
	"strings"
	"testing"

	"github.com/tickmark-dev/tickmark/collectors"
	_ "github.com/tickmark-dev/tickmark/collectors/exec"
)

func TestDefaultsAndControlsResolution(t *testing.T) {
	c, err := Parse([]byte(`agent: {id: prod-1, data_dir: /var/lib/tickmark}
collectors:
  - name: backups
    type: exec
    controls: {custom.backup_test: [A1.2, CC7.5]}
    exec: {command: [/bin/true]}
`))
	if err != nil {
		t.Fatal(err)
	}
	cc := c.Collectors[0]
	if c.Store.Type != "filesystem" || c.Store.Path != "/var/lib/tickmark/store" {
		t.Errorf("store defaults: %+v", c.Store)
	}
	if cc.Schedule != "@every 6h" || cc.Backfill.String() != "90d" {
		t.Errorf("collector defaults: schedule %q backfill %s", cc.Schedule, cc.Backfill)
	}
	if got := cc.ControlsFor("custom.backup_test", []string{"X1"}); strings.Join(got, ",") != "A1.2,CC7.5" {
		t.Errorf("config mapping must win: %v", got)
	}
	if got := cc.ControlsFor("custom.other", []string{"X1"}); strings.Join(got, ",") != "X1" {
		t.Errorf("artifact controls next: %v", got)
	}
}

func TestSectionForAnotherTypeIsNamed(t *testing.T) {
	_, err := Parse([]byte("agent: {id: a}\ncollectors:\n  - name: x\n    type: nosuchtype\n    exec: {command: [/bin/true]}\n"))
	ces, ok := collectors.AsConfigErrors(err)
	if !ok || len(ces) == 0 {
		t.Fatalf("got %v", err)
	}
	msg := err.Error()
	if !strings.Contains(msg, "line 5") || !strings.Contains(msg, "collectors[0].exec") {
		t.Fatalf("message: %s", msg)
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte("agent: {id: a}\ncollectors:\n  - name: x\n    type: exec\n    exec: {command: [/bin/true], timeout: 5m}\n"))
	f.Add([]byte("agent:\n  id: a\nstore:\n  type: s3\n  bucket: b\n  object_lock: {mode: COMPLIANCE, retain_days: 1}\n"))
	f.Add([]byte("a: &x [*x]\n"))
	f.Add([]byte("collectors: [{name: x, type: exec, schedule: '@every 1h', controls: {a.b: [C1]}}]"))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := Parse(data)
		if err == nil && c.Agent.ID == "" {
			t.Fatal("configuration without agent.id accepted")
		}
		if err != nil && strings.TrimSpace(err.Error()) == "" {
			t.Fatal("empty error message")
		}
	})
}
