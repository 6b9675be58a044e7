package export

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"slices"
	"sort"
	"strings"
	"time"

	"golang.org/x/mod/sumdb/tlog"

	"github.com/tickmark-dev/tickmark/internal/checks"
	"github.com/tickmark-dev/tickmark/internal/csvsafe"
	"github.com/tickmark-dev/tickmark/internal/evidence"
	"github.com/tickmark-dev/tickmark/internal/ledger"
	"github.com/tickmark-dev/tickmark/internal/oscal"
	"github.com/tickmark-dev/tickmark/internal/publog"
	"github.com/tickmark-dev/tickmark/internal/readmodel"
	"github.com/tickmark-dev/tickmark/internal/verify"
)

// expectedFile is an evidence file the signed log says the package holds.
type expectedFile struct {
	control string
	rec     *evidence.Record
	name    string
	input   bool // an input of a check result, outside the selection
}

// checkComplete proves from the log itself which records the package must
// hold: the entry bundles (tile/entries/…) must hash to the root of the
// manifest's signed checkpoint; from their records it recomputes the
// evidence files the package's controls and window select (and the inputs
// of its check results), and every one must be present, nothing else may
// be; index.csv, index.html and manifest.json are regenerated from that
// and compared byte for byte. The package's scope (window, controls and
// their titles and evidence types) is the exporter's statement and is
// reported, not proven: the auditor compares it with what was asked for.
func (v *verifier) checkComplete(lg *verify.Log, man *Manifest, order []string, keys []string) {
	cp, size := lg.Latest, lg.Latest.Size
	var cpSizes []int64
	for _, c := range lg.Checkpoints {
		cpSizes = append(cpSizes, c.Size)
	}
	if man.By != "" && man.By != readmodel.ByObserved {
		v.fail("manifest.json", "by %q: a package's window applies to collection time (no \"by\") or to what was observed (\"by\": \"observed\")", man.By)
		return
	}
	// Only the window's records are kept: the log can be far larger.
	log, ok := v.readLog(lg, func(r *evidence.Record) bool {
		if man.By == readmodel.ByObserved {
			return readmodel.ObservedIn(r, man.From, man.To)
		}
		return !r.CollectedAt.Before(man.From) && r.CollectedAt.Before(man.To)
	})
	if !ok {
		return
	}
	window := make([]*evidence.Record, 0, len(log))
	for _, seq := range slices.Sorted(maps.Keys(log)) {
		window = append(window, log[seq])
	}
	// The selection, in the exporter's order: by control, by evidence type
	// (an organisation control), by collection time.
	var files []expectedFile
	selected := map[uint64]bool{}
	counts := make([]int, len(man.Controls))
	for ci, c := range man.Controls {
		var sel []*evidence.Record
		for _, r := range window {
			if len(c.Types) > 0 && slices.Contains(c.Types, r.Type) || len(c.Types) == 0 && slices.Contains(r.Controls, c.ID) {
				sel = append(sel, r)
			}
		}
		sort.SliceStable(sel, func(i, j int) bool {
			a, b := sel[i], sel[j]
			if len(c.Types) > 0 && a.Type != b.Type {
				return slices.Index(c.Types, a.Type) < slices.Index(c.Types, b.Type)
			}
			if !a.CollectedAt.Equal(b.CollectedAt) {
				return a.CollectedAt.Before(b.CollectedAt)
			}
			return a.Seq < b.Seq
		})
		for _, r := range sel {
			files = append(files, expectedFile{control: c.ID, rec: r, name: EvidenceFile(c.ID, r)})
			selected[r.Seq] = true
		}
		counts[ci] = len(sel)
	}
	// The inputs of the selected check results, filed under their first control.
	inputs := map[uint64]bool{}
	for _, f := range files {
		if !strings.HasPrefix(f.rec.Type, checks.TypePrefix) || !v.has(f.name) {
			continue
		}
		b, err := v.read(f.name, maxResult)
		if err != nil {
			continue // reported with the check
		}
		res, err := checks.DecodeResult(b)
		if err != nil {
			continue
		}
		for _, in := range res.Inputs {
			if !selected[in.Seq] && int64(in.Seq) < size {
				inputs[in.Seq] = true
			}
		}
	}
	for _, seq := range slices.Sorted(maps.Keys(inputs)) {
		r, ok := log[seq]
		if !ok {
			if r, ok = v.logRecord(lg, seq); !ok {
				continue
			}
			log[seq] = r
		}
		if len(r.Controls) == 0 {
			continue
		}
		files = append(files, expectedFile{control: r.Controls[0], rec: r, name: EvidenceFile(r.Controls[0], r), input: true})
		selected[seq] = true
	}

	// Every selected record and evidence file present; nothing else.
	want := map[string]*expectedFile{}
	for i := range files {
		want[files[i].name] = &files[i]
	}
	for _, f := range files {
		if !v.has(f.name) {
			why := fmt.Sprintf("selected by control %s and the window", f.control)
			if f.input {
				why = "an input of a check result in the package"
			}
			v.fail(f.name, "missing: record %d (%s, %s, collected %s) is in the signed log and %s, but its evidence file is not in the package",
				f.rec.Seq, f.rec.Type, f.rec.Subject, f.rec.CollectedAt.UTC().Format("2006-01-02T15:04:05Z"), why)
		}
	}
	for _, seq := range slices.Sorted(maps.Keys(selected)) {
		if !v.has(RecordFile(seq)) {
			v.fail(RecordFile(seq), "missing: record %d (%s) is selected by the package's controls and window in the signed log", seq, log[seq].Type)
		}
	}
	bundles := map[string]bool{}
	for n := int64(0); n<<publog.TileHeight < size; n++ {
		bundles[publog.TilePath(publog.BundleTile(size, n))] = true
	}
	consistency := map[string]bool{}
	for _, s := range cpSizes {
		if s > 0 && s < size {
			consistency[consistencyFile(s)] = true
		}
	}
	for _, name := range order {
		switch {
		case name == "SHA256SUMS" || name == "manifest.json" || name == "index.csv" || name == "index.html" || name == OSCALFile:
		case name == "VERIFY.md":
			if b, err := v.read(name, 1<<20); err != nil || string(b) != verifyMD {
				v.fail(name, "differs from the instructions tickmark writes")
			}
		case strings.HasPrefix(name, "evidence/"):
			if _, ok := want[name]; !ok {
				v.fail(name, "not selected: the signed log has no record that the package's controls and window file here (an evidence file under a control its record does not name, or outside the window)")
			}
		case strings.HasPrefix(name, "records/"):
			if seq, ok := seqOf(name, RecordFile); ok && !selected[seq] {
				v.fail(name, "not selected: record %d is not one the package's controls and window select in the signed log", seq)
			}
		case strings.HasPrefix(name, "proofs/"):
			if seq, ok := seqOf(name, ProofFile); ok && !selected[seq] {
				v.fail(name, "not selected: record %d is not one the package's controls and window select in the signed log", seq)
			}
		case strings.HasPrefix(name, publog.TilesDir):
			if !bundles[name] {
				v.fail(name, "not an entry bundle of checkpoint %d", size)
			}
		case strings.HasSuffix(name, ".consistency"):
			if !consistency[name] {
				v.fail(name, "a consistency proof without its checkpoint")
			}
		case strings.HasPrefix(name, publog.KeysDir), strings.HasPrefix(name, publog.CheckpointsDir):
			// checked by the log checker
		default:
			v.fail(name, "not a file of an auditor package")
		}
	}

	// index.csv, index.html and manifest.json, regenerated.
	var csvb bytes.Buffer
	cw := csvsafe.NewWriter(&csvb)
	_ = cw.Write(indexHeader)
	for _, f := range files {
		_ = cw.Write(indexRow(f.control, f.rec, f.name))
	}
	cw.Flush()
	bodies, inputsN := 0, 0
	for _, f := range files {
		bodies++
		if f.input {
			inputsN++
		}
	}
	m := Manifest{Format: Format, Agent: man.Agent, Origin: ledger.Origin(man.Agent), From: man.From, To: man.To, By: man.By,
		Checkpoint: ManifestCP{Size: size, Root: base64.StdEncoding.EncodeToString(cp.Root[:]), File: checkpointFile(size)},
		Records:    len(selected), Bodies: bodies, CheckInputs: inputsN, Unsigned: man.Unsigned,
		Keys: keys, Checkpoints: cpSizes, Layout: manifestLayout(v.has(OSCALFile))}
	for i, c := range man.Controls {
		m.Controls = append(m.Controls, ManifestCtl{ID: c.ID, Title: c.Title, Types: c.Types, Records: counts[i]})
	}
	mj, _ := json.MarshalIndent(&m, "", "  ")
	var hb bytes.Buffer
	_ = writeHTMLHead(&hb, &m)
	j := 0
	for ci, c := range man.Controls {
		writeHTMLSection(&hb, c.ID, c.Title)
		for range counts[ci] {
			writeHTMLRow(&hb, files[j].rec, files[j].name)
			j++
		}
		writeHTMLSectionEnd(&hb, counts[ci])
	}
	io.WriteString(&hb, "</body></html>\n")
	for _, d := range []struct {
		name string
		want []byte
		what string
	}{
		{"index.csv", csvb.Bytes(), "one row per evidence file the signed log selects"},
		{"manifest.json", append(mj, '\n'), "the window, controls, counts, keys and checkpoints the signed log gives"},
		{"index.html", hb.Bytes(), "the page regenerated from the signed log"},
	} {
		b, err := v.readLines(d.name, max(indexLimit(len(order)), int64(len(d.want))), d.name == "index.csv")
		switch {
		case err != nil:
			v.fail(d.name, "%v", err)
		case !bytes.Equal(b, d.want):
			v.fail(d.name, "differs from %s%s", d.what, firstDiff(b, d.want))
		}
	}
	if v.has(OSCALFile) {
		v.checkOSCAL(man, files, log)
	}
	v.rep.Complete = true
}

// checkOSCAL regenerates oscal/assessment-results.json from the selected
// records (each linked to its first evidence file) with the time and tool
// the document states, and compares it byte for byte.
func (v *verifier) checkOSCAL(man *Manifest, files []expectedFile, log map[uint64]*evidence.Record) {
	b, err := v.read(OSCALFile, indexLimit(len(files))*16)
	if err != nil {
		v.fail(OSCALFile, "%v", err)
		return
	}
	var doc struct {
		AR struct {
			Metadata struct {
				LastModified string `json:"last-modified"`
				Props        []struct {
					Name  string `json:"name"`
					Value string `json:"value"`
				} `json:"props"`
			} `json:"metadata"`
		} `json:"assessment-results"`
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		v.fail(OSCALFile, "not an OSCAL assessment-results document: %v", err)
		return
	}
	in := oscal.Input{Agent: man.Agent, From: man.From, To: man.To}
	if in.Generated, err = time.Parse(time.RFC3339, doc.AR.Metadata.LastModified); err != nil {
		v.fail(OSCALFile, "metadata.last-modified: %v", err)
		return
	}
	for _, p := range doc.AR.Metadata.Props {
		if p.Name == "tool" {
			in.Tool = p.Value
		}
	}
	href := map[uint64]string{}
	for _, f := range files {
		if _, ok := href[f.rec.Seq]; !ok {
			href[f.rec.Seq] = f.name
		}
	}
	for _, seq := range slices.Sorted(maps.Keys(href)) {
		in.Records = append(in.Records, oscal.Evidence{Record: log[seq], Href: href[seq]})
	}
	want, err := oscal.Marshal(in)
	if err != nil {
		v.fail(OSCALFile, "%v", err)
		return
	}
	if want = append(want, '\n'); !bytes.Equal(b, want) {
		v.fail(OSCALFile, "differs from the assessment results regenerated from the signed log%s", firstDiff(b, want))
	}
}

// readLog reads the entry bundles up to cp and checks that they hash to
// its root; it returns the records keep accepts, by sequence number. It
// holds a Merkle frontier (a hash per level), not the log.
func (v *verifier) readLog(lg *verify.Log, keep func(*evidence.Record) bool) (map[uint64]*evidence.Record, bool) {
	cp, size := lg.Latest, lg.Latest.Size
	out := map[uint64]*evidence.Record{}
	var fr verify.Frontier
	for n := int64(0); n<<publog.TileHeight < size; n++ {
		entries, ok := v.bundle(lg, n)
		if !ok {
			return nil, false
		}
		for i, e := range entries {
			seq := uint64(n<<publog.TileHeight) + uint64(i)
			r, err := evidence.DecodeCanonical(e)
			if err != nil || r.Seq != seq {
				v.fail(publog.TilePath(publog.BundleTile(size, n)), "entry %d is not record %d", i, seq)
				return nil, false
			}
			if keep(r) {
				out[seq] = r
			}
			fr.Add(tlog.RecordHash(e), nil)
		}
	}
	if fr.Root() != cp.Root {
		v.fail(publog.TilesDir+"entries/", "the entry bundles do not hash to the root of the signed %s: records were removed, added or altered", checkpointFile(size))
		return nil, false
	}
	return out, true
}

// bundle reads entry bundle n of the package's log.
func (v *verifier) bundle(lg *verify.Log, n int64) ([][]byte, bool) {
	entries, err := lg.Bundle(context.Background(), n)
	if err != nil {
		v.fail(publog.TilePath(publog.BundleTile(lg.Latest.Size, n)), "%v (without every bundle the package cannot prove it holds every record it must)", err)
	}
	return entries, err == nil
}

// logRecord reads record seq from the bundles readLog authenticated.
func (v *verifier) logRecord(lg *verify.Log, seq uint64) (*evidence.Record, bool) {
	entries, ok := v.bundle(lg, int64(seq>>publog.TileHeight))
	if !ok {
		return nil, false
	}
	r, err := evidence.DecodeCanonical(entries[seq%(1<<publog.TileHeight)])
	return r, err == nil && r.Seq == seq
}

// firstDiff names the first line where got differs from want.
func firstDiff(got, want []byte) string {
	g, w := strings.Split(string(got), "\n"), strings.Split(string(want), "\n")
	for i := range min(len(g), len(w)) {
		if g[i] != w[i] {
			return fmt.Sprintf(" (line %d: %.120q, expected %.120q)", i+1, g[i], w[i])
		}
	}
	return fmt.Sprintf(" (%d lines, expected %d)", len(g), len(w))
}

// readLines reads a file of the package refused unread over limit, and
// (lines) failing on a line longer than an index line may be.
func (v *verifier) readLines(name string, limit int64, lines bool) ([]byte, error) {
	rc, err := v.open(name, limit)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	var r io.Reader = io.LimitReader(rc, limit+1)
	if lines {
		r = &lineLimiter{r: r, max: maxIndexLine}
	}
	return io.ReadAll(r)
}
