package backupdb_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/tickmark-dev/tickmark/collectors/collectortest"

	_ "github.com/tickmark-dev/tickmark/docs/examples/backup-collector/backupdb"
)

// restoreLog is the fake backup system: a restore-test log in a temp dir.
type restoreLog struct {
	path string
	next int
}

func newLog(t *testing.T, n int) *restoreLog {
	l := &restoreLog{path: filepath.Join(t.TempDir(), "restore-tests.jsonl"), next: 1}
	l.add(t, n)
	return l
}

// add appends n restore tests, one every 12 hours from 2026-11-01.
func (l *restoreLog) add(t testing.TB, n int) {
	f, err := os.OpenFile(l.path, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for i := 0; i < n; i++ {
		start := time.Date(2026, 11, 1, 3, 0, 0, 0, time.UTC).Add(time.Duration(l.next) * 12 * time.Hour)
		fmt.Fprintf(f, `{"id":%d,"database":"db-%d","started_at":%q,"finished_at":%q,"result":"passed","rows_verified":%d,"operator":"backup-operator@example.com"}`+"\n",
			1000+l.next, l.next%3, start.Format(time.RFC3339), start.Add(10*time.Minute).Format(time.RFC3339), 1000*l.next)
		l.next++
	}
}

// ids reads the test IDs out of an artifact body (the raw log lines).
func ids(a collectortest.Artifact) []string {
	var out []string
	sc := bufio.NewScanner(bytes.NewReader(a.Body))
	for sc.Scan() {
		var t struct{ ID int }
		if json.Unmarshal(sc.Bytes(), &t) == nil {
			out = append(out, fmt.Sprint(t.ID))
		}
	}
	return out
}

func TestConformance(t *testing.T) {
	log := newLog(t, 25) // the last on Nov 13, before the suite's clock (Nov 30)
	collectortest.Suite{
		Type:   "backupdb",
		Config: "path: " + log.path + "\nbatch_size: 10\n",
		Items:  ids,
		Grow:   func() { log.add(t, 4) },
		Failures: []collectortest.Failure{{
			Name:            "log missing",
			Config:          "path: " + log.path + ".gone\n",
			MessageContains: []string{"backupdb:", log.path + ".gone does not exist", "backupdb.path"},
		}},
	}.Run(t)
}
