package backupdb_test

import (
	"bytes"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/tickmark-dev/tickmark/collectors/collectortest"
	_ "github.com/tickmark-dev/tickmark/docs/examples/backup-collector/backupdb"
)

func TestBatchesWindowsAndTheRunClock(t *testing.T) {
	log := newLog(t, 25)
	c := collectortest.Build(t, "backupdb", "path: "+log.path+"\nbatch_size: 10\n")
	// Tests finish at 03:10 and 15:10; the clock stops the run after test 1020.
	res := collectortest.Run(t, c, collectortest.Options{Now: time.Date(2026, 11, 11, 12, 0, 0, 0, time.UTC)})
	if res.Err != nil {
		t.Fatal(res.Err)
	}
	if len(res.Committed) != 2 || res.Cursor != "1020" || res.Checkpoints != 2 {
		t.Fatalf("%d artifacts, cursor %q, %d checkpoints; want 2, 1020, 2", len(res.Committed), res.Cursor, res.Checkpoints)
	}
	a := res.Committed[1]
	if got := strings.Join(ids(a), ","); got != "1011,1012,1013,1014,1015,1016,1017,1018,1019,1020" {
		t.Errorf("second artifact holds %s", got)
	}
	if a.WindowStart != time.Date(2026, 11, 6, 15, 10, 0, 0, time.UTC) || a.WindowEnd != time.Date(2026, 11, 11, 3, 10, 0, 0, time.UTC) {
		t.Errorf("window %s .. %s", a.WindowStart, a.WindowEnd)
	}
	if a.ContentType != "application/x-ndjson" || a.Source.Items != 10 || a.Source.Query != "tests 1011 to 1020 (after 0)" {
		t.Errorf("artifact %+v", a.Artifact)
	}
	raw, _ := os.ReadFile(log.path)
	if !bytes.Contains(raw, a.Body) {
		t.Errorf("the body is not the log's own bytes")
	}
}

func TestMalformedLineNamesIt(t *testing.T) {
	log := newLog(t, 3)
	f, _ := os.OpenFile(log.path, os.O_APPEND|os.O_WRONLY, 0)
	f.WriteString("restore of db-1 started\n")
	f.Close()
	res := collectortest.Run(t, collectortest.Build(t, "backupdb", "path: "+log.path+"\n"), collectortest.Options{})
	if res.Err == nil || !strings.Contains(res.Err.Error(), "line 4 is not a restore test") {
		t.Fatalf("error = %v", res.Err)
	}
	if len(res.Committed) != 0 {
		t.Errorf("committed %d artifacts before the bad line without a checkpoint", len(res.Committed))
	}
}

func TestConfig(t *testing.T) {
	for cfg, want := range map[string]string{
		"batch_size: 5\n":            "collectors[0].backupdb.path: is required",
		"path: /x\nbatch_size: -1\n": "batch_size: must be positive",
		"path: /x\nbatchsize: 5\n":   "line 2: collectors[0].backupdb.batchsize: unknown key",
	} {
		if _, err := collectortest.BuildErr("backupdb", cfg); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: error %v, want %q", cfg, err, want)
		}
	}
}
