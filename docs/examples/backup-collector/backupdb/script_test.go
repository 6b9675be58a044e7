package backupdb_test

import (
	"fmt"
	"path/filepath"
	"testing"

	"github.com/tickmark-dev/tickmark/collectors/collectortest"
	_ "github.com/tickmark-dev/tickmark/collectors/exec"
)

// The same suite against the same collector written as an exec script.
func TestScriptConformance(t *testing.T) {
	log := newLog(t, 25)
	script, err := filepath.Abs("../scripts/restore-tests.sh")
	if err != nil {
		t.Fatal(err)
	}
	cfg := fmt.Sprintf("command: [/bin/sh, %q, %q]\ntimeout: 1m\n", script, log.path)
	collectortest.Suite{
		Type:   "exec",
		Config: cfg,
		Items:  ids,
		Grow:   func() { log.add(t, 4) },
		Failures: []collectortest.Failure{{
			Name:            "log missing",
			Config:          fmt.Sprintf("command: [/bin/sh, %q, %q]\n", script, log.path+".gone"),
			MessageContains: []string{"exit status 2", log.path + ".gone does not exist"},
		}},
	}.Run(t)
}
