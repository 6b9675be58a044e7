package faults_test

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
)

// blobs is an exec collector entry emitting n bodies of size bytes with a
// checkpoint every `every` artifacts (testdata/blobs.sh), after sleeping
// `after` seconds.
func blobs(name string, n, size, every int, after float64) string {
	script := filepath.Join(moduleRoot(), "internal", "faults", "testdata", "blobs.sh")
	return fmt.Sprintf(`  - name: %s
    type: exec
    exec:
      command: ["/bin/sh", "-c", "sleep %g; N=%d SIZE=%d EVERY=%d PREFIX=%s exec /bin/sh %s"]
      timeout: 1m
`, name, after, n, size, every, name, script)
}

// items is an exec collector entry emitting n small artifacts quickly
// (testdata/exec/generate.sh, subjects item-<i>).
func items(name string, n, every int) string {
	return fmt.Sprintf(`  - name: %s
    type: exec
    controls: {test.item: [CC7.2]}
    exec:
      command: ["/usr/bin/env", "N=%d", "SIZE=200", "EVERY=%d", "/bin/sh", %q]
      timeout: 1m
`, name, n, every, generateScript())
}

// inNS puts the agent's data dir (and, if spoolSize is set, its spool) on
// size-limited tmpfs mounts of a private mount namespace; with storeSize,
// the store too.
func inNS(t *testing.T, a *agent, dataSize, spoolSize, storeSize string) *mountNS {
	t.Helper()
	mounts := []tmpfs{{dir: a.data, size: dataSize}}
	if spoolSize != "" {
		mounts = append(mounts, tmpfs{dir: filepath.Join(a.data, "spool"), size: spoolSize})
	}
	if storeSize != "" {
		mounts = append(mounts, tmpfs{dir: a.store, size: storeSize})
	}
	a.ns = newMountNS(t, mounts...)
	return a.ns
}

func wantErr(t *testing.T, what, got string, parts ...string) {
	t.Helper()
	for _, p := range parts {
		if !strings.Contains(got, p) {
			t.Fatalf("%s %q does not say %q", what, got, p)
		}
	}
}

// TestSpoolFull: the spool's file system fills up while a collector writes
// large bodies. That collector fails with ENOSPC named in its error and
// keeps what it checkpointed; a collector with small bodies in the same run
// still succeeds (the failed writes are given back); the next run, with
// space again, resumes from the cursor and collects the rest exactly once.
func TestSpoolFull(t *testing.T) {
	t.Parallel()
	a := newAgent(t, tickmarkBin(t), blobs("big", 8, 200<<10, 2, 0)+blobs("small", 5, 100, 5, 1))
	ns := inNS(t, a, "16m", "8m", "")
	spool := filepath.Join(a.data, "spool")
	ns.fill(spool, 700<<10)

	sum, r := a.runOnce()
	if r.code != 1 {
		t.Fatalf("run with a full spool: want exit 1\n%s", r)
	}
	big := collectorOf(t, sum, "big")
	if big.Outcome != "partial" || big.Artifacts != 2 || !big.Retryable {
		t.Fatalf("big: outcome %s, %d artifacts, retryable %v; want partial, 2 (the first checkpoint), retryable", big.Outcome, big.Artifacts, big.Retryable)
	}
	t.Logf("big's error: %s", big.Error)
	wantErr(t, "big's error", big.Error, "spool", "no space left on device")
	if small := collectorOf(t, sum, "small"); small.Outcome != "success" || small.Artifacts != 5 {
		t.Fatalf("small: outcome %s (%s), %d artifacts; want success with 5: only the collector that hit the full disk fails", small.Outcome, small.Error, small.Artifacts)
	}
	if sum.Push == nil || sum.Push.Error != "" || sum.Push.Bodies != 7 || sum.Push.Backlog != 0 {
		t.Fatalf("push after the failure: %+v; want the 7 committed bodies pushed", sum.Push)
	}
	wantErr(t, "stderr", r.stderr, "tickmark: error: 1 of 2 collectors failed: big")
	first := a.snapshot()
	if len(first.hashes) != 7 || a.cursor("big") != "2" {
		t.Fatalf("after the failed run: %d records, big's cursor %q; want 7 and \"2\"", len(first.hashes), a.cursor("big"))
	}
	a.verify()

	ns.unfill(spool)
	sum, r = a.runOnce()
	if r.code != 0 {
		t.Fatalf("run with space again: want exit 0\n%s", r)
	}
	if big := collectorOf(t, sum, "big"); big.Artifacts != 6 {
		t.Fatalf("big resumed with %d artifacts, want the 6 it had not committed", big.Artifacts)
	}
	final := a.snapshot()
	keepsAll(t, first, final, "after recovery")
	noDuplicates(t, final)
	if len(final.hashes) != 13 || final.outbox != 0 {
		t.Fatalf("final ledger: %d records, %d queued; want 13 and 0", len(final.hashes), final.outbox)
	}
	a.storeState(final)
	a.verify()
}

// TestLedgerFull: the file system holding the ledger fills up. The
// collector whose commit meets ENOSPC fails with the ledger file named in
// its error; every transaction that did commit stays, with its cursor; the
// ledger is not corrupted (verify passes); and the next run with space
// resumes from the cursor and collects the rest exactly once.
func TestLedgerFull(t *testing.T) {
	t.Parallel()
	a := newAgent(t, tickmarkBin(t), items("small", 5, 5)+items("many", 3000, 250))
	ns := inNS(t, a, "8m", "64m", "")
	ns.fill(a.data, 600<<10)

	sum, r := a.runOnce()
	if r.code != 1 {
		t.Fatalf("run with a full ledger disk: want exit 1\n%s", r)
	}
	many := collectorOf(t, sum, "many")
	if many.Outcome == "success" || !many.Retryable {
		t.Fatalf("many: outcome %s, retryable %v; want a retryable failure", many.Outcome, many.Retryable)
	}
	t.Logf("many's error: %s", many.Error)
	wantErr(t, "many's error", many.Error, "ledger.db", "no space left on device")
	if small := collectorOf(t, sum, "small"); small.Outcome != "success" {
		// Both share the full disk; if small's commit came too late it
		// must fail for the same, named reason.
		wantErr(t, "small's error", small.Error, "no space left on device")
	}
	first := a.snapshot()
	got := 0
	for s := range first.subjects {
		if strings.HasPrefix(s, "many/") {
			got++
		}
	}
	if got != many.Artifacts || a.cursor("many") != fmt.Sprint(got) || got%250 != 0 {
		t.Fatalf("many: the summary says %d artifacts committed, the ledger holds %d with cursor %q; want equal, at a checkpoint", many.Artifacts, got, a.cursor("many"))
	}
	a.verify()

	// Completely full. A small commit may still fit in pages the ledger
	// file has free; a large one fails. Whatever the summary says was
	// committed is exactly what the ledger gained, and nothing breaks.
	a.writeConfig(items("small", 10, 5) + items("many", 3000, 250)) // small has 5 more
	ns.fill(a.data, 0)
	sum, r = a.runOnce()
	if r.code != 1 {
		t.Fatalf("run with a completely full ledger disk: want exit 1\n%s", r)
	}
	committed := 0
	for _, c := range sum.Collectors {
		committed += c.Artifacts
		if c.Outcome != "success" {
			wantErr(t, c.Name+"'s error", c.Error, "ledger.db", "no space left on device")
		}
	}
	if collectorOf(t, sum, "many").Artifacts != 0 {
		t.Fatal("many committed on a completely full disk")
	}
	again := a.snapshot()
	keepsAll(t, first, again, "on a full disk")
	if len(again.hashes) != len(first.hashes)+committed || a.cursor("many") != fmt.Sprint(got) {
		t.Fatalf("the ledger gained %d records on a full disk; the summary says %d", len(again.hashes)-len(first.hashes), committed)
	}
	a.verify()
	first = again

	ns.unfill(a.data)
	sum, r = a.runOnce()
	if r.code != 0 {
		t.Fatalf("run with space again: want exit 0\n%s", r)
	}
	if n := collectorOf(t, sum, "many").Artifacts; n != 3000-got {
		t.Fatalf("many resumed with %d artifacts, want %d", n, 3000-got)
	}
	final := a.snapshot()
	keepsAll(t, first, final, "after recovery")
	noDuplicates(t, final)
	if len(final.hashes) != 3010 || final.outbox != 0 {
		t.Fatalf("final ledger: %d records, %d queued; want 3010 and 0", len(final.hashes), final.outbox)
	}
	a.storeState(final)
	a.verify()
}

// TestStoreUnreachable: the store's file system is full, then read-only.
// Collection goes on: every collector succeeds and commits; the push fails
// with the store and the cause named, exit 1, and every body stays queued
// in the outbox. When the store is writable again the next run pushes the
// whole queue, each body exactly once.
func TestStoreUnreachable(t *testing.T) {
	t.Parallel()
	a := newAgent(t, tickmarkBin(t), items("one", 200, 50)+items("two", 50, 50))
	ns := inNS(t, a, "32m", "", "4m")
	ns.fill(a.store, 100<<10)

	// 1. The store is full.
	sum, r := a.runOnce()
	if r.code != 1 {
		t.Fatalf("run with a full store: want exit 1\n%s", r)
	}
	for _, c := range sum.Collectors {
		if c.Outcome != "success" {
			t.Fatalf("%s: %s (%s); a store outage must not fail collection", c.Name, c.Outcome, c.Error)
		}
	}
	if sum.Push == nil || sum.Push.Backlog == 0 {
		t.Fatalf("push: %+v; want a backlog", sum.Push)
	}
	wantErr(t, "push error", sum.Push.Error, "put controls/", "no space left on device")
	wantErr(t, "stderr", r.stderr, "tickmark: error: pushing to filesystem store "+a.store+": ", "no space left on device", "artifacts are committed locally and queued; the next run retries")
	first := a.snapshot()
	if len(first.hashes) != 250 || first.outbox != sum.Push.Backlog {
		t.Fatalf("ledger: %d records, %d queued; want 250 and the reported backlog %d", len(first.hashes), first.outbox, sum.Push.Backlog)
	}
	a.verify()

	// 2. The store is read-only (and one collector has 100 more artifacts).
	ns.unfill(a.store)
	ns.sh("mount -o remount,ro '" + a.store + "'")
	a.writeConfig(items("one", 300, 50) + items("two", 50, 50))
	sum, r = a.runOnce()
	if r.code != 1 {
		t.Fatalf("run with a read-only store: want exit 1\n%s", r)
	}
	if one := collectorOf(t, sum, "one"); one.Outcome != "success" || one.Artifacts != 100 {
		t.Fatalf("one: %s with %d artifacts; want success with 100", one.Outcome, one.Artifacts)
	}
	wantErr(t, "push error", sum.Push.Error, "read-only file system")
	second := a.snapshot()
	keepsAll(t, first, second, "after the read-only store")
	if second.outbox != first.outbox+100 || sum.Push.Backlog != second.outbox {
		t.Fatalf("queue: %d (reported %d), want %d", second.outbox, sum.Push.Backlog, first.outbox+100)
	}
	a.verify()

	// 3. The store is back: the whole queue is pushed once.
	ns.sh("mount -o remount,rw '" + a.store + "'")
	sum, r = a.runOnce()
	if r.code != 0 {
		t.Fatalf("run with the store back: want exit 0\n%s", r)
	}
	if sum.Push.Bodies != second.outbox || sum.Push.Backlog != 0 {
		t.Fatalf("push: %d bodies, backlog %d; want the %d queued, then 0", sum.Push.Bodies, sum.Push.Backlog, second.outbox)
	}
	final := a.snapshot()
	keepsAll(t, second, final, "after recovery")
	noDuplicates(t, final)
	if len(final.hashes) != 350 || final.outbox != 0 {
		t.Fatalf("final ledger: %d records, %d queued; want 350 and 0", len(final.hashes), final.outbox)
	}
	a.storeState(final)
	a.verify()
}

// TestStoreUnavailableAtStart: the store cannot even be opened (its folder
// sits on a read-only file system and does not exist yet). `run` still
// collects and commits everything, reports the store as the failure (exit
// 1, every body queued) and, once the store is writable, the next run
// pushes the whole queue.
func TestStoreUnavailableAtStart(t *testing.T) {
	t.Parallel()
	a := newAgent(t, tickmarkBin(t), items("one", 40, 10)+items("two", 10, 10))
	mnt := filepath.Join(a.dir, "mnt")
	a.store = filepath.Join(mnt, "evidence")
	a.writeConfig(items("one", 40, 10) + items("two", 10, 10))
	ns := newMountNS(t, tmpfs{dir: mnt, size: "8m"})
	a.ns = ns
	ns.sh("mount -o remount,ro '" + mnt + "'")

	sum, r := a.runOnce()
	if r.code != 1 {
		t.Fatalf("run with the store unavailable: want exit 1\n%s", r)
	}
	for _, c := range sum.Collectors {
		if c.Outcome != "success" {
			t.Fatalf("%s: %s (%s); a store outage must not stop collection", c.Name, c.Outcome, c.Error)
		}
	}
	wantErr(t, "stderr", r.stderr, "tickmark: error: opening filesystem store: ", "read-only file system", "artifacts are committed locally and queued; the next run retries")
	first := a.snapshot()
	if len(first.hashes) != 50 || first.outbox != 50 || sum.Push == nil || sum.Push.Backlog != 50 {
		t.Fatalf("ledger: %d records, %d queued, push %+v; want 50, 50 and a backlog of 50", len(first.hashes), first.outbox, sum.Push)
	}

	ns.sh("mount -o remount,rw '" + mnt + "'")
	sum, r = a.runOnce()
	if r.code != 0 || sum.Push.Bodies != 50 || sum.Push.Backlog != 0 {
		t.Fatalf("run with the store back: want exit 0 and the 50 queued bodies pushed\n%s", r)
	}
	final := a.snapshot()
	keepsAll(t, first, final, "after recovery")
	noDuplicates(t, final)
	a.storeState(final)
	a.verify()
}
