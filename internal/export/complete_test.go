package export_test

import (
	"archive/zip"
	"bytes"
	"crypto/sha256"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"testing"

	"github.com/tickmark-dev/tickmark/internal/export"
)

// forged is a package opened by an attacker: its files in zip order.
type forged struct {
	t     *testing.T
	root  string
	order []string
	files map[string][]byte
}

func open(t *testing.T, pkg []byte) *forged {
	t.Helper()
	zr, err := zip.NewReader(bytes.NewReader(pkg), int64(len(pkg)))
	if err != nil {
		t.Fatal(err)
	}
	f := &forged{t: t, files: map[string][]byte{}}
	f.root, _, _ = strings.Cut(zr.File[0].Name, "/")
	for _, zf := range zr.File {
		rc, _ := zf.Open()
		b, _ := io.ReadAll(rc)
		rc.Close()
		name := short(zf.Name)
		f.order = append(f.order, name)
		f.files[name] = b
	}
	return f
}

// rows are index.csv's rows without the header.
func (f *forged) rows() [][]string {
	rs, err := csv.NewReader(bytes.NewReader(f.files["index.csv"])).ReadAll()
	if err != nil {
		f.t.Fatal(err)
	}
	return rs[1:]
}

// remove drops record seq: its record, proof and evidence files, its index
// rows and HTML rows, and the manifest's counts.
func (f *forged) remove(seq string) {
	var keep [][]string
	var man export.Manifest
	json.Unmarshal(f.files["manifest.json"], &man)
	removed := 0
	for _, r := range f.rows() {
		if r[6] != seq {
			keep = append(keep, r)
			continue
		}
		removed++
		f.drop(r[5])
		for i := range man.Controls {
			if man.Controls[i].ID == r[0] {
				man.Controls[i].Records--
			}
		}
		var html []string
		for _, line := range strings.Split(string(f.files["index.html"]), "\n") {
			if !strings.Contains(line, r[5]) {
				html = append(html, line)
			}
		}
		f.files["index.html"] = []byte(strings.Join(html, "\n"))
	}
	if removed == 0 {
		f.t.Fatalf("no row of record %s", seq)
	}
	f.drop(fmt.Sprintf("records/%012s.json", seq))
	f.drop(fmt.Sprintf("proofs/%012s.tlog-proof", seq))
	man.Records--
	man.Bodies -= removed
	f.setRows(keep)
	f.setManifest(man)
}

// add copies record seq's files and rows from another package of the same log.
func (f *forged) add(from *forged, seq string) {
	rows := f.rows()
	var man export.Manifest
	json.Unmarshal(f.files["manifest.json"], &man)
	added := 0
	for _, r := range from.rows() {
		if r[6] != seq {
			continue
		}
		added++
		rows = append(rows, r)
		f.put(r[5], from.files[r[5]])
		for i := range man.Controls {
			if man.Controls[i].ID == r[0] {
				man.Controls[i].Records++
			}
		}
	}
	if added == 0 {
		f.t.Fatalf("no row of record %s", seq)
	}
	for _, n := range []string{fmt.Sprintf("records/%012s.json", seq), fmt.Sprintf("proofs/%012s.tlog-proof", seq)} {
		f.put(n, from.files[n])
	}
	man.Records++
	man.Bodies += added
	f.setRows(rows)
	f.setManifest(man)
}

func (f *forged) drop(name string) {
	delete(f.files, name)
	for i, n := range f.order {
		if n == name {
			f.order = append(f.order[:i], f.order[i+1:]...)
			return
		}
	}
}

func (f *forged) put(name string, b []byte) {
	if _, ok := f.files[name]; !ok {
		f.order = append(f.order, name)
	}
	f.files[name] = b
}

func (f *forged) setRows(rows [][]string) {
	var b bytes.Buffer
	w := csv.NewWriter(&b)
	w.Write([]string{"control", "type", "subject", "collected_at", "sha256", "file", "seq", "collector", "record", "proof"})
	w.WriteAll(rows)
	f.files["index.csv"] = b.Bytes()
}

func (f *forged) setManifest(m export.Manifest) {
	b, _ := json.MarshalIndent(&m, "", "  ")
	f.files["manifest.json"] = append(b, '\n')
}

// zip writes the package with SHA256SUMS recomputed over every other file.
func (f *forged) zip() []byte {
	var sums strings.Builder
	for _, n := range f.order {
		if n != "SHA256SUMS" {
			fmt.Fprintf(&sums, "%x  %s\n", sha256.Sum256(f.files[n]), n)
		}
	}
	f.files["SHA256SUMS"] = []byte(sums.String())
	var out bytes.Buffer
	zw := zip.NewWriter(&out)
	for _, n := range f.order {
		w, _ := zw.Create(f.root + "/" + n)
		w.Write(f.files[n])
	}
	zw.Close()
	return out.Bytes()
}

func problemAbout(rep *export.Report, item, msg string) bool {
	for _, p := range rep.Problems {
		if p.Item == item && strings.Contains(p.Message, msg) {
			return true
		}
	}
	return false
}

// Removing, adding or swapping a record, with every unsigned file
// (index.csv, index.html, manifest.json, SHA256SUMS) rewritten to match,
// fails verify-package naming what is wrong: the package's own entry
// bundles, which hash to the signed checkpoint, say which records its
// controls and window select.
func TestPackageCompletenessAgainstAnAttacker(t *testing.T) {
	_, src := build(t, "a")
	full := exportZip(t, src, export.Options{})
	if rep := verify(t, full); !rep.OK || !rep.Complete {
		t.Fatalf("the genuine package: %+v", rep.Problems)
	}
	window := exportZip(t, src, export.Options{From: date("2026-03-01"), To: date("2026-03-05")})
	if rep := verify(t, window); !rep.OK || !rep.Complete {
		t.Fatalf("the genuine window package: %+v", rep.Problems)
	}
	all := open(t, full)
	// A record of the window under CC8.1, and one collected after it.
	var inside, outside []string
	for _, r := range open(t, window).rows() {
		if r[0] == "CC8.1" {
			inside = r
			break
		}
	}
	for _, r := range all.rows() {
		if r[0] == "CC8.1" && r[3] >= "2026-03-07" {
			outside = r
			break
		}
	}
	if inside == nil || outside == nil {
		t.Fatal("no record to tamper with")
	}

	t.Run("remove", func(t *testing.T) {
		f := open(t, window)
		f.remove(inside[6])
		rep := verify(t, f.zip())
		if rep.OK || !problemAbout(rep, inside[5], "missing") {
			t.Errorf("a record removed: %v", rep.Problems)
		}
	})
	t.Run("add", func(t *testing.T) {
		f := open(t, window)
		f.add(all, outside[6])
		rep := verify(t, f.zip())
		if rep.OK || !problemAbout(rep, outside[5], "not selected") {
			t.Errorf("a record added: %v", rep.Problems)
		}
	})
	t.Run("swap", func(t *testing.T) {
		f := open(t, window)
		f.remove(inside[6])
		f.add(all, outside[6])
		rep := verify(t, f.zip())
		if rep.OK || !problemAbout(rep, inside[5], "missing") || !problemAbout(rep, outside[5], "not selected") {
			t.Errorf("a record swapped: %v", rep.Problems)
		}
	})
	t.Run("removed from the entry bundle too", func(t *testing.T) {
		f := open(t, window)
		f.remove(inside[6])
		bundle := "tile/entries/000.p/" + fmt.Sprint(len(all.rows())) // rewritten below whatever its width
		for _, n := range f.order {
			if strings.HasPrefix(n, "tile/entries/") {
				bundle = n
			}
		}
		b := f.files[bundle]
		// Drop the first entry (a record) from the bundle.
		n := int(b[0])<<8 | int(b[1])
		f.files[bundle] = b[2+n:]
		rep := verify(t, f.zip())
		if rep.OK || !problemAbout(rep, bundle, "entries") {
			t.Errorf("an entry dropped from the bundle: %v", rep.Problems)
		}
	})
	t.Run("evidence under a control its record does not name", func(t *testing.T) {
		f := open(t, window)
		var okta []string
		for _, r := range f.rows() {
			if r[1] == "okta.users" {
				okta = r
				break
			}
		}
		name := strings.Replace(okta[5], "evidence/"+okta[0]+"/", "evidence/CC8.1/", 1)
		f.put(name, f.files[okta[5]])
		row := append([]string(nil), okta...)
		row[0], row[5] = "CC8.1", name
		f.setRows(append(f.rows(), row))
		rep := verify(t, f.zip())
		if rep.OK || !problemAbout(rep, name, "not selected") {
			t.Errorf("evidence under another control: %v", rep.Problems)
		}
	})
	t.Run("an extra file", func(t *testing.T) {
		f := open(t, window)
		f.put("notes.txt", []byte("nothing to see\n"))
		rep := verify(t, f.zip())
		if rep.OK || !problemAbout(rep, "notes.txt", "not a file of an auditor package") {
			t.Errorf("an extra file: %v", rep.Problems)
		}
	})
	t.Run("a rewritten index row", func(t *testing.T) {
		f := open(t, window)
		rows := f.rows()
		rows[0][2] = "someone-else/repo"
		f.setRows(rows)
		rep := verify(t, f.zip())
		if rep.OK || !problemAbout(rep, "index.csv", "differs") {
			t.Errorf("a rewritten index row: %v", rep.Problems)
		}
	})
	for _, name := range []string{"../escape.txt", "evidence/../../escape.txt"} {
		t.Run("name "+name, func(t *testing.T) {
			f := open(t, window)
			f.put(name, []byte("x"))
			rep := verify(t, f.zip())
			if rep.OK || !problemAbout(rep, f.root+"/"+name, "climbs") {
				t.Errorf("%s: %v", name, rep.Problems)
			}
		})
	}
	t.Run("absolute name", func(t *testing.T) {
		f := open(t, window)
		b := f.zip()
		zr, _ := zip.NewReader(bytes.NewReader(b), int64(len(b)))
		var out bytes.Buffer
		zw := zip.NewWriter(&out)
		for _, zf := range zr.File {
			zw.Copy(zf)
		}
		w, _ := zw.Create("/etc/evil")
		w.Write([]byte("x"))
		zw.Close()
		rep := verify(t, out.Bytes())
		if rep.OK || !problemAbout(rep, "/etc/evil", "absolute") {
			t.Errorf("absolute name: %v", rep.Problems)
		}
	})
}
