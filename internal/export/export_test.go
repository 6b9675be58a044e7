package export_test

import (
	"archive/zip"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tickmark-dev/tickmark/collectors"
	"github.com/tickmark-dev/tickmark/internal/controls/controlstest"
	"github.com/tickmark-dev/tickmark/internal/export"
	"github.com/tickmark-dev/tickmark/internal/readmodel"
)

func date(s string) time.Time {
	t, err := time.Parse(time.DateOnly, s)
	if err != nil {
		panic(err)
	}
	return t
}

// plan: two collectors over ten days; okta fails on day 4; bodies are
// pushed to a filesystem store except those of the last day (still in the
// spool), so both body paths are exercised.
func plan(dir, flavour string) controlstest.Plan {
	return controlstest.Plan{
		Dir: dir, Agent: "prod-1", From: date("2026-03-01"), To: date("2026-03-11"), Push: true,
		Collectors: []controlstest.Collector{
			{Name: "okta-prod", Type: "okta", Hour: 6, Controls: map[string][]string{"okta.users": {"CC6.1", "CC6.2"}},
				Emit: func(day time.Time) []collectors.Artifact {
					return []collectors.Artifact{{Type: "okta.users", Subject: "example.okta.com", ContentType: "application/json",
						Body: controlstest.JSON(`[{"id":"u1","login":"alice@example.com"},{"id":"u%d","login":"%s%d@example.com"}]`, day.Day(), flavour, day.Day())}}
				},
				Fail: func(day time.Time) error {
					if day.Day() == 4 {
						return collectors.Permanent(errors.New("okta: 401"))
					}
					return nil
				}},
			{Name: "github-org", Type: "github", Hour: 7, Controls: map[string][]string{"github.pull_requests": {"CC8.1"}},
				Emit: func(day time.Time) []collectors.Artifact {
					return []collectors.Artifact{
						{Type: "github.pull_requests", Subject: "example/api", ContentType: "application/json",
							Body: controlstest.JSON(`{"pull_requests":[{"number":%d,"merged_by":"%s"}]}`, day.Day(), flavour)},
						{Type: "github.pull_requests", Subject: "example/web", ContentType: "text/plain", Body: []byte(strings.Repeat("log line\n", 500))},
					}
				}},
		},
	}
}

func build(t *testing.T, flavour string) (*controlstest.Built, *readmodel.Ledger) {
	t.Helper()
	b, err := controlstest.Build(context.Background(), plan(t.TempDir(), flavour))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Close)
	return b, &readmodel.Ledger{L: b.Ledger, Bucket: b.Bucket}
}

func exportZip(t *testing.T, src readmodel.Source, o export.Options) []byte {
	t.Helper()
	var buf bytes.Buffer
	if o.From.IsZero() {
		o.From, o.To = date("2026-03-01"), date("2026-03-11")
	}
	if _, err := export.Write(context.Background(), &buf, src, o); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func verify(t *testing.T, b []byte) *export.Report {
	t.Helper()
	rep, err := export.VerifyPackage(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

func TestExportVerifies(t *testing.T) {
	_, src := build(t, "a")
	pkg := exportZip(t, src, export.Options{})
	rep := verify(t, pkg)
	if !rep.OK {
		t.Fatalf("fresh package does not verify: %v", rep.Problems)
	}
	// 9 okta days + 10 days x 2 github artifacts; okta records are filed
	// under CC6.1 and CC6.2.
	if rep.Records != 29 || rep.Bodies != 9*2+20 || rep.Proofs != 29 || rep.Checkpoints != 10 || len(rep.Keys) != 1 {
		t.Errorf("report = %+v", rep)
	}
	again := exportZip(t, src, export.Options{})
	if !bytes.Equal(pkg, again) {
		t.Errorf("two exports of the same inputs differ")
	}
	// A window and a control.
	part := exportZip(t, src, export.Options{From: date("2026-03-02"), To: date("2026-03-04"), Controls: []export.Selection{{ID: "CC8.1"}}})
	rep = verify(t, part)
	if !rep.OK || rep.Records != 4 || rep.Bodies != 4 {
		t.Errorf("CC8.1 on 2-3 March: %+v", rep)
	}
	// An organisation control, selected by evidence type.
	part = exportZip(t, src, export.Options{Controls: []export.Selection{{ID: "AC-04", Types: []string{"okta.users"}, Title: "user inventory"}}})
	rep = verify(t, part)
	if !rep.OK || rep.Records != 9 || rep.Bodies != 9 {
		t.Errorf("AC-04: %+v", rep)
	}
	files := listFiles(t, part)
	found := false
	for f := range files {
		found = found || strings.Contains(f, "/evidence/AC-04/2026-03-05/okta.users/prod-1-")
	}
	if !found {
		t.Errorf("no AC-04 evidence filed under its date: %v", files)
	}
}

func listFiles(t *testing.T, b []byte) map[string]bool {
	zr, err := zip.NewReader(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]bool{}
	for _, f := range zr.File {
		out[f.Name] = true
	}
	return out
}

// rewrite copies a package, letting edit change or drop each file.
func rewrite(t *testing.T, b []byte, edit func(name string, data []byte) ([]byte, bool)) []byte {
	t.Helper()
	zr, err := zip.NewReader(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	zw := zip.NewWriter(&out)
	for _, f := range zr.File {
		rc, _ := f.Open()
		data, _ := io.ReadAll(rc)
		rc.Close()
		data, keep := edit(f.Name, data)
		if !keep {
			continue
		}
		w, _ := zw.Create(f.Name)
		w.Write(data)
	}
	zw.Close()
	return out.Bytes()
}

func short(name string) string { _, s, _ := strings.Cut(name, "/"); return s }

func TestTamperingIsNamed(t *testing.T) {
	_, src := build(t, "a")
	pkg := exportZip(t, src, export.Options{})
	names := listFiles(t, pkg)
	if len(names) < 40 {
		t.Fatalf("only %d files", len(names))
	}
	// One byte changed in any file: the first problem names that file
	// (for SHA256SUMS, the file whose line changed).
	for name := range names {
		var sumsLine string
		bad := rewrite(t, pkg, func(n string, d []byte) ([]byte, bool) {
			if n == name {
				d = bytes.Clone(d)
				i := len(d) / 2
				if n == short(name) || strings.HasSuffix(n, "/SHA256SUMS") {
					i = 0 // first hex digit of the first line
					sumsLine = strings.SplitN(string(d), "\n", 2)[0]
				}
				d[i] ^= 0x01
			}
			return d, true
		})
		rep := verify(t, bad)
		first, ok := rep.First()
		want := short(name)
		if strings.HasSuffix(name, "/SHA256SUMS") {
			_, want, _ = strings.Cut(sumsLine, "  ")
		}
		if rep.OK || !ok || first.Item != want && !(strings.HasSuffix(name, "/SHA256SUMS") && first.Item == "SHA256SUMS") {
			t.Errorf("byte changed in %s: first problem %+v, want it to name %s", want, first, want)
		}
	}
	// A file removed.
	for _, kind := range []string{"/records/", "/proofs/", "/evidence/", "/checkpoints/", "/keys/", "/index.csv", "/manifest.json"} {
		var removed string
		bad := rewrite(t, pkg, func(n string, d []byte) ([]byte, bool) {
			if removed == "" && strings.Contains(n, kind) {
				removed = short(n)
				return nil, false
			}
			return d, true
		})
		rep := verify(t, bad)
		if first, _ := rep.First(); rep.OK || first.Item != removed || !strings.Contains(first.Message, "missing") {
			t.Errorf("removed %s: first problem %+v", removed, first)
		}
	}
	// A file added.
	zr1, _ := zip.NewReader(bytes.NewReader(pkg), int64(len(pkg)))
	root := strings.Split(zr1.File[0].Name, "/")[0]
	var extra bytes.Buffer
	zw := zip.NewWriter(&extra)
	for _, f := range zr1.File {
		if err := zw.Copy(f); err != nil {
			t.Fatal(err)
		}
	}
	w, _ := zw.Create(root + "/evidence/CC8.1/2026-03-02/github.pull_requests/extra.json")
	w.Write([]byte(`{"planted":true}`))
	zw.Close()
	if first, _ := verify(t, extra.Bytes()).First(); first.Item != "evidence/CC8.1/2026-03-02/github.pull_requests/extra.json" {
		t.Errorf("added file: first problem %+v", first)
	}
	// A corrupted byte in the zip itself (compressed data): named by the CRC check.
	zr, _ := zip.NewReader(bytes.NewReader(pkg), int64(len(pkg)))
	var target *zip.File
	for _, f := range zr.File {
		if strings.Contains(f.Name, "/evidence/") {
			target = f
			break
		}
	}
	off, _ := target.DataOffset()
	raw := bytes.Clone(pkg)
	raw[off+int64(target.CompressedSize64/2)] ^= 0xff
	rep := verify(t, raw)
	if first, _ := rep.First(); rep.OK || first.Item != short(target.Name) {
		t.Errorf("corrupt compressed data in %s: first problem %+v", target.Name, first)
	}
}

func TestRecordFromAnotherPackage(t *testing.T) {
	_, srcA := build(t, "a")
	_, srcB := build(t, "b") // same agent name, another key and other content
	pkgA := exportZip(t, srcA, export.Options{})
	pkgB := exportZip(t, srcB, export.Options{})
	filesB := map[string][]byte{}
	rewrite(t, pkgB, func(n string, d []byte) ([]byte, bool) { filesB[short(n)] = d; return d, true })
	rec := "records/000000000002.json"
	if bytes.Equal(filesB[rec], nil) {
		t.Fatal("package B has no record 2")
	}
	// Swapped in as is: named through its hash.
	swapped := rewrite(t, pkgA, func(n string, d []byte) ([]byte, bool) {
		if short(n) == rec {
			return filesB[rec], true
		}
		return d, true
	})
	if first, _ := verify(t, swapped).First(); first.Item != rec {
		t.Errorf("swapped record: first problem %+v", first)
	}
	// Swapped in with SHA256SUMS recomputed, and with its body and proof:
	// the proof (another key's checkpoint) or the leaf fails.
	for _, withProof := range []bool{false, true} {
		var sums []string
		swapped = rewrite(t, pkgA, func(n string, d []byte) ([]byte, bool) {
			s := short(n)
			if s == rec || withProof && s == "proofs/000000000002.tlog-proof" {
				d = filesB[s]
			}
			if s == "SHA256SUMS" {
				return []byte(strings.Join(sums, "")), true
			}
			sums = append(sums, fmt.Sprintf("%x  %s\n", sha(d), s))
			return d, true
		})
		rep := verify(t, swapped)
		first, _ := rep.First()
		wantItem := rec
		if withProof {
			wantItem = "proofs/000000000002.tlog-proof"
		}
		if rep.OK || first.Item != wantItem {
			t.Errorf("swapped record (proof swapped too: %v), hashes fixed: first problem %+v", withProof, first)
		}
	}
}

func TestSHA256SUMSWithCoreutils(t *testing.T) {
	_, src := build(t, "a")
	pkg := exportZip(t, src, export.Options{})
	dir := t.TempDir()
	zpath := filepath.Join(dir, "pkg.zip")
	if err := os.WriteFile(zpath, pkg, 0o600); err != nil {
		t.Fatal(err)
	}
	// Info-ZIP unzip reads the archive (and extracts it, as an auditor would).
	out, err := exec.Command("unzip", "-q", zpath, "-d", dir).CombinedOutput()
	if err != nil {
		t.Fatalf("unzip: %v\n%s", err, out)
	}
	root := filepath.Join(dir, export.RootName("prod-1", date("2026-03-01"), date("2026-03-11")))
	cmd := exec.Command("sha256sum", "-c", "--strict", "SHA256SUMS")
	cmd.Dir = root
	out, err = cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("sha256sum -c: %v\n%s", err, out)
	}
	if n := strings.Count(string(out), ": OK\n"); n != len(listFiles(t, pkg))-1 {
		t.Errorf("sha256sum checked %d files, the package has %d besides SHA256SUMS", n, len(listFiles(t, pkg))-1)
	}
	// and it notices a change
	ev, _ := filepath.Glob(filepath.Join(root, "evidence", "CC8.1", "*", "*", "*"))
	os.WriteFile(ev[0], []byte("changed"), 0o600)
	cmd = exec.Command("sha256sum", "-c", "--quiet", "SHA256SUMS")
	cmd.Dir = root
	out, err = cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(out), "FAILED") {
		t.Errorf("sha256sum -c passed a changed file: %s", out)
	}
}

// Every earlier checkpoint is proven a prefix of the latest; a proof that
// does not fit names the checkpoint.
func TestCheckpointConsistency(t *testing.T) {
	_, src := build(t, "a")
	pkg := exportZip(t, src, export.Options{})
	rep := verify(t, pkg)
	if rep.Consistent != rep.Checkpoints-1 || rep.Consistent != 9 {
		t.Fatalf("%d of %d checkpoints proven consistent, want 9", rep.Consistent, rep.Checkpoints)
	}
	files := map[string][]byte{}
	rewrite(t, pkg, func(n string, d []byte) ([]byte, bool) { files[short(n)] = d; return d, true })
	var sums []string
	bad := rewrite(t, pkg, func(n string, d []byte) ([]byte, bool) {
		s := short(n)
		if s == "checkpoints/6.consistency" {
			d = bytes.Replace(files["checkpoints/8.consistency"], []byte("old 8"), []byte("old 6"), 1)
		}
		if s == "SHA256SUMS" {
			return []byte(strings.Join(sums, "")), true
		}
		sums = append(sums, fmt.Sprintf("%x  %s\n", sha(d), s))
		return d, true
	})
	if first, _ := verify(t, bad).First(); first.Item != "checkpoints/6.note" || !strings.Contains(first.Message, "not consistent") {
		t.Errorf("forged consistency proof: first problem %+v", first)
	}
}
