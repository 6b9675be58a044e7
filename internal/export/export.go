// Package export builds auditor packages — a ZIP holding the evidence of an
// observation window by control and date, every record, an inclusion proof
// for every record against a signed checkpoint, the checkpoints and public
// keys, an offline index and SHA256SUMS — and verifies them with nothing
// but the package.
package export

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
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
)

// MemoryLimit is the soft Go memory limit the export command sets (unless
// GOMEMLIMIT is set): an export allocates much short-lived garbage (one
// decoded record per file), and on a busy machine the collector can lag
// behind; the limit makes it keep the heap small. The live heap is a few MiB.
const MemoryLimit = 64 << 20

// Format names the package format (manifest.json "format").
const Format = "tickmark-auditor-package/v1"

// ProofHeader is the first line of every proof (C2SP tlog-proof).
const ProofHeader = "c2sp.org/tlog-proof@v1"

// Selection is one control to export and how its evidence is found.
type Selection struct {
	// ID is the folder name under evidence/.
	ID string
	// Types, if set, selects records of these evidence types (an
	// organisation control); otherwise records filed under the control ID
	// (a criterion such as CC6.1).
	Types []string
	Title string
}

// Options for Write.
type Options struct {
	From, To time.Time // collected_at in [From, To) (By: observed, what was observed in it)
	// By applies the window to collection time (the default) or to what a
	// record observed (readmodel.ByObserved: its event window or
	// observed_at). The manifest states it and verify-package selects the
	// records the same way.
	By readmodel.By
	// Controls to export; empty: every control ID found on the window's records.
	Controls []Selection
	// TempDir holds the spooled central directory and indexes (default os.TempDir()).
	TempDir string
	// OSCAL adds oscal/assessment-results.json (OSCAL 1.1.3 assessment
	// results: an observation per evidence file's record, a finding per
	// check result) and returns it in Result.OSCAL. It holds a few hundred
	// bytes per record in memory.
	OSCAL bool
	// Tool names the producer in the OSCAL metadata.
	Tool string
	// Now is the OSCAL document's last-modified time (default: the latest
	// checkpoint's time is not known here, so time.Now).
	Now time.Time
}

// Manifest is manifest.json.
type Manifest struct {
	Format     string        `json:"format"`
	Agent      string        `json:"agent"`
	Origin     string        `json:"origin"`
	From       time.Time     `json:"from"`
	To         time.Time     `json:"to"`
	By         readmodel.By  `json:"by,omitempty"` // "observed"; absent: by collection time
	Controls   []ManifestCtl `json:"controls"`
	Checkpoint ManifestCP    `json:"checkpoint"`
	Records    int           `json:"records"`
	Bodies     int           `json:"evidence_files"`
	// CheckInputs counts the evidence files included as inputs of the
	// window's check results (outside the selected controls).
	CheckInputs int               `json:"check_inputs,omitempty"`
	Unsigned    int               `json:"records_not_yet_signed"`
	Keys        []string          `json:"keys"`
	Checkpoints []int64           `json:"checkpoints"`
	Layout      map[string]string `json:"layout"`
}

// ManifestCtl is one exported control.
type ManifestCtl struct {
	ID      string   `json:"id"`
	Title   string   `json:"title,omitempty"`
	Types   []string `json:"evidence_types,omitempty"`
	Records int      `json:"records"`
}

// ManifestCP names the checkpoint every proof is against.
type ManifestCP struct {
	Size int64  `json:"size"`
	Root string `json:"root"`
	File string `json:"file"`
}

// Result summarises an export.
type Result struct {
	Root     string // the folder inside the zip
	Manifest Manifest
	Files    int
	// OSCAL is oscal/assessment-results.json (with Options.OSCAL).
	OSCAL []byte
}

// OSCALFile is the OSCAL assessment results in a package.
const OSCALFile = "oscal/assessment-results.json"

// RootName is the folder every file of a package sits in.
func RootName(agent string, from, to time.Time) string {
	return fmt.Sprintf("tickmark-%s-%s-to-%s", agent, from.UTC().Format("20060102"), to.UTC().Add(-time.Nanosecond).Format("20060102"))
}

// RecordFile, ProofFile and EvidenceFile name a record's files.
func RecordFile(seq uint64) string { return fmt.Sprintf("records/%012d.json", seq) }

// ProofFile is the proof of record seq.
func ProofFile(seq uint64) string { return fmt.Sprintf("proofs/%012d.tlog-proof", seq) }

// EvidenceFile is a record's body filed under a control.
func EvidenceFile(control string, r *evidence.Record) string {
	return fmt.Sprintf("evidence/%s/%s/%s/%s-%012d-%s.%s", control, r.CollectedAt.UTC().Format(time.DateOnly), r.Type, r.Agent, r.Seq, r.SHA256[:8], evidence.Ext(r.ContentType))
}

type pkgWriter struct {
	ctx  context.Context
	z    *zipWriter
	root string
	sums *spoolFile
}

func (p *pkgWriter) add(name string, write func(w io.Writer) error) ([32]byte, uint64, error) {
	sum, n, err := p.z.entry(p.root+"/"+name, write)
	if err != nil {
		return sum, n, fmt.Errorf("writing %s: %w", name, err)
	}
	fmt.Fprintf(p.sums.w, "%x  %s\n", sum, name)
	return sum, n, nil
}

func (p *pkgWriter) addBytes(name string, b []byte) error {
	sum, err := p.z.entryBytes(p.root+"/"+name, b)
	if err != nil {
		return fmt.Errorf("writing %s: %w", name, err)
	}
	fmt.Fprintf(p.sums.w, "%x  %s\n", sum, name)
	return nil
}

// smallBody is the size up to which a body is read into memory and stored
// uncompressed: deflating a few hundred bytes costs more than it saves.
const smallBody = 1 << 10

// addBody streams a record's body from the source into the package.
func (p *pkgWriter) addBody(ctx context.Context, name string, src readmodel.Source, r *evidence.Record, buf []byte) ([32]byte, uint64, error) {
	body, err := src.Body(ctx, r)
	if err != nil {
		return [32]byte{}, 0, err
	}
	defer body.Close()
	if r.Size <= smallBody {
		b, err := io.ReadAll(io.LimitReader(body, smallBody+1))
		if err != nil {
			return [32]byte{}, 0, err
		}
		if len(b) <= smallBody {
			return p.addStored(name, b)
		}
		// larger than its record says: stream it all, the hash check reports it
		return p.add(name, func(w io.Writer) error {
			if _, err := w.Write(b); err != nil {
				return err
			}
			_, err := io.CopyBuffer(w, body, buf)
			return err
		})
	}
	return p.add(name, func(w io.Writer) error {
		_, err := io.CopyBuffer(w, body, buf)
		return err
	})
}

func (p *pkgWriter) addStored(name string, b []byte) ([32]byte, uint64, error) {
	if err := p.addBytes(name, b); err != nil {
		return [32]byte{}, 0, err
	}
	return sha256.Sum256(b), uint64(len(b)), nil
}

// spoolFile is an unlinked temporary file written then copied into the zip.
type spoolFile struct {
	f *os.File
	w *bufio.Writer
}

func newSpool(dir string) (*spoolFile, error) {
	f, err := os.CreateTemp(dir, "tickmark-export-*")
	if err != nil {
		return nil, err
	}
	_ = os.Remove(f.Name())
	return &spoolFile{f: f, w: bufio.NewWriterSize(f, 1<<16)}, nil
}

func (s *spoolFile) copyTo(w io.Writer) error {
	if err := s.w.Flush(); err != nil {
		return err
	}
	if _, err := s.f.Seek(0, io.SeekStart); err != nil {
		return err
	}
	_, err := io.Copy(w, s.f)
	return err
}

func (s *spoolFile) close() { s.f.Close() }

// bitset marks the records already written.
type bitset []uint64

func (b *bitset) set(i uint64) {
	for uint64(len(*b)) <= i/64 {
		*b = append(*b, 0)
	}
	(*b)[i/64] |= 1 << (i % 64)
}

func (b bitset) has(i uint64) bool { return i/64 < uint64(len(b)) && b[i/64]&(1<<(i%64)) != 0 }

// Write streams a package to w. Memory stays bounded whatever the number
// and size of the records: bodies are streamed from the source into the
// zip, and the zip's central directory, the indexes and SHA256SUMS are
// spooled to temporary files.
func Write(ctx context.Context, w io.Writer, src readmodel.Source, o Options) (*Result, error) {
	if !o.From.Before(o.To) {
		return nil, errors.New("export: empty window")
	}
	cps, err := src.Checkpoints()
	if err != nil {
		return nil, err
	}
	if len(cps) == 0 {
		return nil, errors.New("export: the ledger has no signed checkpoint yet; run `tickmark run --once` first")
	}
	latest := cps[len(cps)-1]
	keys, err := src.Keys()
	if err != nil {
		return nil, err
	}
	tokens, err := src.Tokens()
	if err != nil {
		return nil, err
	}
	agent := src.Agent()
	root := RootName(agent, o.From, o.To)
	z, err := newZipWriter(w, o.TempDir)
	if err != nil {
		return nil, err
	}
	spools := make([]*spoolFile, 0, 3)
	newS := func() (*spoolFile, error) {
		s, err := newSpool(o.TempDir)
		if err == nil {
			spools = append(spools, s)
		}
		return s, err
	}
	defer func() {
		for _, s := range spools {
			s.close()
		}
		z.cd.Close()
	}()
	sums, err := newS()
	if err != nil {
		return nil, err
	}
	csvS, err := newS()
	if err != nil {
		return nil, err
	}
	htmlS, err := newS()
	if err != nil {
		return nil, err
	}
	p := &pkgWriter{ctx: ctx, z: z, root: root, sums: sums}
	by := o.By
	if by == readmodel.ByCollected {
		by = "" // the default is not written: packages stay as they were
	}
	man := Manifest{Format: Format, Agent: agent, Origin: ledger.Origin(agent), From: o.From.UTC(), To: o.To.UTC(), By: by,
		Checkpoint: ManifestCP{Size: latest.Size, Root: base64.StdEncoding.EncodeToString(latest.Root[:]), File: checkpointFile(latest.Size)},
		Layout:     manifestLayout(o.OSCAL)}

	// 1. Static files, keys and checkpoints.
	if err := p.addBytes("VERIFY.md", []byte(verifyMD)); err != nil {
		return nil, err
	}
	for _, id := range sortedKeys(keys) {
		man.Keys = append(man.Keys, id)
		if err := p.addBytes(publog.KeyPath(id), []byte(strings.TrimSpace(keys[id])+"\n")); err != nil {
			return nil, err
		}
	}
	for _, cp := range cps {
		if cp.Size > latest.Size {
			continue
		}
		man.Checkpoints = append(man.Checkpoints, cp.Size)
		if err := p.addBytes(checkpointFile(cp.Size), cp.Note); err != nil {
			return nil, err
		}
		if cp.Size < latest.Size && cp.Size > 0 {
			proof, err := src.ProveTree(latest.Size, cp.Size)
			if err != nil {
				return nil, fmt.Errorf("proving checkpoint %d consistent with %d: %w", cp.Size, latest.Size, err)
			}
			if err := tlog.CheckTree(proof, latest.Size, latest.Root, cp.Size, cp.Root); err != nil {
				return nil, fmt.Errorf("checkpoint %d is not consistent with checkpoint %d: %w (run `tickmark verify`)", cp.Size, latest.Size, err)
			}
			if err := p.addBytes(consistencyFile(cp.Size), FormatConsistency(cp.Size, latest.Size, proof)); err != nil {
				return nil, err
			}
		}
		if tok, ok := tokens[cp.Size]; ok {
			if err := p.addBytes(publog.TokenPath(cp.Size), tok); err != nil {
				return nil, err
			}
		}
	}

	// 1b. The log's records up to the checkpoint, as C2SP entry bundles:
	// they hash to the checkpoint's root, so verify-package recomputes from
	// them which records the package must hold.
	if err := writeBundles(p, src, latest.Size); err != nil {
		return nil, err
	}

	// 2. Which controls.
	sel := o.Controls
	if len(sel) == 0 {
		seen := map[string]bool{}
		n := 0
		err := readmodel.FindBy(src, ledger.Query{From: o.From, To: o.To}, o.By, func(r *evidence.Record, _ []byte) error {
			if n++; n%1024 == 0 {
				release(src)
			}
			for _, c := range r.Controls {
				seen[c] = true
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
		for _, c := range sortedKeys(seen) {
			sel = append(sel, Selection{ID: c})
		}
	}

	// 3. Evidence by control, with the index rows.
	cw := csvsafe.NewWriter(csvS.w)
	_ = cw.Write(indexHeader)
	var recs, need bitset
	hrefs := map[uint64]string{} // with OSCAL: a record's first evidence file
	unsigned := map[uint64]bool{}
	buf := make([]byte, 256<<10)
	for _, s := range sel {
		mc := ManifestCtl{ID: s.ID, Title: s.Title, Types: s.Types}
		writeHTMLSection(htmlS.w, s.ID, s.Title)
		queries := []ledger.Query{{Control: s.ID, From: o.From, To: o.To}}
		if len(s.Types) > 0 {
			queries = queries[:0]
			for _, t := range s.Types {
				queries = append(queries, ledger.Query{Type: t, From: o.From, To: o.To})
			}
		}
		for _, q := range queries {
			err := readmodel.FindBy(src, q, o.By, func(r *evidence.Record, _ []byte) error {
				if err := ctx.Err(); err != nil {
					return err
				}
				if int64(r.Seq) >= latest.Size {
					unsigned[r.Seq] = true
					return nil
				}
				name := EvidenceFile(s.ID, r)
				sum, n, err := p.addBody(ctx, name, src, r, buf)
				if err != nil {
					return fmt.Errorf("record %d (%s): %w", r.Seq, r.Type, err)
				}
				if hex.EncodeToString(sum[:]) != r.SHA256 || int64(n) != r.Size {
					return fmt.Errorf("record %d (%s): the body read from the source does not match its record (sha256 %x, %d bytes; record says %s, %d bytes): run `tickmark verify`", r.Seq, r.Type, sum, n, r.SHA256, r.Size)
				}
				recs.set(r.Seq)
				if o.OSCAL {
					if _, ok := hrefs[r.Seq]; !ok {
						hrefs[r.Seq] = name
					}
				}
				if strings.HasPrefix(r.Type, checks.TypePrefix) {
					if err := needInputs(ctx, src, r, &need); err != nil {
						return err
					}
				}
				if man.Bodies%1024 == 0 {
					release(src)
				}
				mc.Records++
				man.Bodies++
				_ = cw.Write(indexRow(s.ID, r, name))
				writeHTMLRow(htmlS.w, r, name)
				return nil
			})
			if err != nil {
				return nil, err
			}
		}
		writeHTMLSectionEnd(htmlS.w, mc.Records)
		man.Controls = append(man.Controls, mc)
	}
	// 3b. The inputs of the check results, so that verify-package can
	// re-evaluate them, filed under their first control.
	for i := range uint64(len(need)) * 64 {
		if !need.has(i) || recs.has(i) {
			continue
		}
		if int64(i) >= latest.Size {
			unsigned[i] = true
			continue
		}
		r, err := src.Record(i)
		if err != nil {
			return nil, fmt.Errorf("input record %d of a check result: %w", i, err)
		}
		if len(r.Controls) == 0 {
			continue
		}
		name := EvidenceFile(r.Controls[0], r)
		sum, n, err := p.addBody(ctx, name, src, r, buf)
		if err != nil {
			return nil, fmt.Errorf("record %d (%s), an input of a check result: %w", r.Seq, r.Type, err)
		}
		if hex.EncodeToString(sum[:]) != r.SHA256 || int64(n) != r.Size {
			return nil, fmt.Errorf("record %d (%s): the body read from the source does not match its record: run `tickmark verify`", r.Seq, r.Type)
		}
		recs.set(i)
		if o.OSCAL {
			hrefs[i] = name
		}
		man.Bodies++
		man.CheckInputs++
		_ = cw.Write(indexRow(r.Controls[0], r, name))
	}
	cw.Flush()
	if err := cw.Error(); err != nil {
		return nil, err
	}
	man.Unsigned = len(unsigned)

	// 4. Records and their proofs, in sequence order.
	var obs []oscal.Evidence
	for i := range uint64(len(recs)) * 64 {
		if !recs.has(i) {
			continue
		}
		if i%1024 == 0 {
			release(src)
		}
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		r, err := src.Record(i)
		if err != nil {
			return nil, err
		}
		data, err := r.Encode()
		if err != nil {
			return nil, err
		}
		if err := p.addBytes(RecordFile(i), data); err != nil {
			return nil, err
		}
		proof, err := src.Prove(i, latest.Size)
		if err != nil {
			return nil, fmt.Errorf("proving record %d in checkpoint %d: %w", i, latest.Size, err)
		}
		if err := tlog.CheckRecord(proof, latest.Size, latest.Root, int64(i), tlog.RecordHash(data)); err != nil {
			return nil, fmt.Errorf("record %d does not verify against checkpoint %d: %w (run `tickmark verify`)", i, latest.Size, err)
		}
		if err := p.addBytes(ProofFile(i), FormatProof(int64(i), proof, latest.Note)); err != nil {
			return nil, err
		}
		man.Records++
		if o.OSCAL {
			obs = append(obs, oscal.Evidence{Record: r, Href: hrefs[i]})
		}
	}
	var oscalDoc []byte
	if o.OSCAL {
		now := o.Now
		if now.IsZero() {
			now = time.Now()
		}
		if oscalDoc, err = oscal.Marshal(oscal.Input{Agent: agent, From: o.From, To: o.To, Generated: now, Tool: o.Tool, Records: obs}); err != nil {
			return nil, err
		}
		if err := p.addBytes(OSCALFile, append(oscalDoc, '\n')); err != nil {
			return nil, err
		}
	}

	// 5. Indexes and manifest.
	if err := func() error {
		_, _, err := p.add("index.csv", csvS.copyTo)
		return err
	}(); err != nil {
		return nil, err
	}
	if _, _, err := p.add("index.html", func(w io.Writer) error {
		if err := writeHTMLHead(w, &man); err != nil {
			return err
		}
		if err := htmlS.copyTo(w); err != nil {
			return err
		}
		_, err := io.WriteString(w, "</body></html>\n")
		return err
	}); err != nil {
		return nil, err
	}
	mj, err := json.MarshalIndent(&man, "", "  ")
	if err != nil {
		return nil, err
	}
	if err := p.addBytes("manifest.json", append(mj, '\n')); err != nil {
		return nil, err
	}
	// 6. SHA256SUMS, last: every other file.
	if _, _, err := z.entry(root+"/SHA256SUMS", sums.copyTo); err != nil {
		return nil, err
	}
	files := int(z.entries)
	if err := z.close(); err != nil {
		return nil, err
	}
	return &Result{Root: root, Manifest: man, Files: files, OSCAL: oscalDoc}, nil
}

// writeBundles adds tile/entries/<N>[.p/<W>]: every record of the log
// below size, 256 to a bundle.
func writeBundles(p *pkgWriter, src readmodel.Source, size int64) error {
	entries := make([][]byte, 0, 1<<publog.TileHeight)
	for seq := int64(0); seq < size; seq++ {
		if seq%1024 == 0 {
			release(src)
		}
		if err := p.ctx.Err(); err != nil {
			return err
		}
		r, err := src.Record(uint64(seq))
		if err != nil {
			return fmt.Errorf("record %d for the entry bundles: %w", seq, err)
		}
		data, err := r.Encode()
		if err != nil {
			return err
		}
		entries = append(entries, data)
		if len(entries) == 1<<publog.TileHeight || seq == size-1 {
			b, err := publog.EncodeBundle(entries)
			if err != nil {
				return fmt.Errorf("entry bundle of record %d: %w", seq, err)
			}
			if err := p.addBytes(publog.TilePath(publog.BundleTile(size, seq>>publog.TileHeight)), b); err != nil {
				return err
			}
			entries = entries[:0]
		}
	}
	return nil
}

// indexHeader is index.csv's first row.
var indexHeader = []string{"control", "type", "subject", "collected_at", "sha256", "file", "seq", "collector", "record", "proof"}

// indexRow is index.csv's row of an evidence file.
func indexRow(control string, r *evidence.Record, name string) []string {
	return []string{control, r.Type, r.Subject, r.CollectedAt.UTC().Format(time.RFC3339), r.SHA256, name, fmt.Sprint(r.Seq), r.Collector, RecordFile(r.Seq), ProofFile(r.Seq)}
}

// manifestLayout is manifest.json's "layout".
func manifestLayout(withOSCAL bool) map[string]string {
	m := map[string]string{
		"evidence":    "evidence/<control>/<yyyy-mm-dd>/<evidence-type>/<agent>-<seq>-<sha256[:8]>.<ext>",
		"records":     "records/<seq>.json (canonical record bytes: the Merkle leaf)",
		"proofs":      "proofs/<seq>.tlog-proof (c2sp.org/tlog-proof@v1 against checkpoint.file)",
		"checkpoints": "checkpoints/<tree-size>.note (signed notes, c2sp.org/tlog-checkpoint); <tree-size>.consistency: RFC 6962 consistency proof to checkpoint.file",
		"keys":        "keys/<key-id>.pub (note verifier keys)",
		"log":         "tile/entries/<N>[.p/<W>] (C2SP tlog-tiles entry bundles: every record up to checkpoint.file, proving which records the window and controls select)",
	}
	if withOSCAL {
		m["oscal"] = OSCALFile + " (OSCAL 1.1.3 assessment results: observations for the evidence, findings for the check results)"
	}
	return m
}

// needInputs marks the input records of a check result.
func needInputs(ctx context.Context, src readmodel.Source, r *evidence.Record, need *bitset) error {
	body, err := src.Body(ctx, r)
	if err != nil {
		return fmt.Errorf("record %d (%s): %w", r.Seq, r.Type, err)
	}
	defer body.Close()
	b, err := io.ReadAll(io.LimitReader(body, maxResult))
	if err != nil {
		return fmt.Errorf("record %d (%s): %w", r.Seq, r.Type, err)
	}
	res, err := checks.DecodeResult(b)
	if err != nil {
		return fmt.Errorf("record %d (%s): %w", r.Seq, r.Type, err)
	}
	for _, in := range res.Inputs {
		need.set(in.Seq)
	}
	return nil
}

// maxResult bounds a check result body read whole.
const maxResult = 1 << 30

// release asks a source that maps its data (the ledger) to drop mapped
// pages from the resident set, so that memory stays bounded however many
// records are read.
func release(src readmodel.Source) {
	if r, ok := src.(interface{ ReleaseMemory() }); ok {
		r.ReleaseMemory()
	}
}

func checkpointFile(size int64) string { return publog.CheckpointPath(size) }

func consistencyFile(size int64) string { return fmt.Sprintf("checkpoints/%d.consistency", size) }

// ConsistencyHeader is the first line of a consistency proof file.
const ConsistencyHeader = "tickmark.dev/tlog-consistency@v1"

// FormatConsistency writes an RFC 6962 consistency proof from the tree of
// size old to the tree of size new: a header line, "old <n>", "new <n>",
// then one base64 hash per line.
func FormatConsistency(old, new int64, proof tlog.TreeProof) []byte {
	var b strings.Builder
	fmt.Fprintf(&b, "%s\nold %d\nnew %d\n", ConsistencyHeader, old, new)
	for _, h := range proof {
		b.WriteString(base64.StdEncoding.EncodeToString(h[:]) + "\n")
	}
	return []byte(b.String())
}

// ParseConsistency parses FormatConsistency's output.
func ParseConsistency(b []byte) (old, new int64, proof tlog.TreeProof, err error) {
	lines := strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
	if len(lines) < 3 || lines[0] != ConsistencyHeader {
		return 0, 0, nil, fmt.Errorf("consistency proof: first line is not %q", ConsistencyHeader)
	}
	if _, err := fmt.Sscanf(lines[1], "old %d", &old); err != nil {
		return 0, 0, nil, errors.New("consistency proof: bad old line")
	}
	if _, err := fmt.Sscanf(lines[2], "new %d", &new); err != nil {
		return 0, 0, nil, errors.New("consistency proof: bad new line")
	}
	for _, l := range lines[3:] {
		h, err := base64.StdEncoding.DecodeString(l)
		if err != nil || len(h) != tlog.HashSize {
			return 0, 0, nil, fmt.Errorf("consistency proof: bad hash line %q", l)
		}
		var th tlog.Hash
		copy(th[:], h)
		proof = append(proof, th)
	}
	if old < 0 || new < old || !bytes.Equal(FormatConsistency(old, new, proof), b) {
		return 0, 0, nil, errors.New("consistency proof: not in canonical form")
	}
	return old, new, proof, nil
}

// FormatProof writes a C2SP tlog-proof: the header, the index, the
// inclusion proof hashes (leaf sibling first), a blank line and the signed
// checkpoint verbatim.
func FormatProof(index int64, proof tlog.RecordProof, checkpoint []byte) []byte {
	var b strings.Builder
	b.WriteString(ProofHeader + "\n")
	fmt.Fprintf(&b, "index %d\n", index)
	for _, h := range proof {
		b.WriteString(base64.StdEncoding.EncodeToString(h[:]) + "\n")
	}
	b.WriteString("\n")
	b.Write(checkpoint)
	return []byte(b.String())
}

// ParseProof parses a C2SP tlog-proof (an extra line is allowed and ignored).
func ParseProof(b []byte) (index int64, proof tlog.RecordProof, checkpoint []byte, err error) {
	s := string(b)
	head, cp, ok := strings.Cut(s, "\n\n")
	if !ok {
		return 0, nil, nil, errors.New("proof: no blank line before the checkpoint")
	}
	lines := strings.Split(head, "\n")
	if len(lines) < 2 || lines[0] != ProofHeader {
		return 0, nil, nil, fmt.Errorf("proof: first line is not %q", ProofHeader)
	}
	i := 1
	extra := ""
	if strings.HasPrefix(lines[i], "extra ") {
		extra = lines[i]
		i++
	}
	if i >= len(lines) {
		return 0, nil, nil, errors.New("proof: no index line")
	}
	idx, ok := strings.CutPrefix(lines[i], "index ")
	if !ok {
		return 0, nil, nil, errors.New("proof: no index line")
	}
	if _, err := fmt.Sscanf(idx, "%d", &index); err != nil || fmt.Sprint(index) != idx || index < 0 {
		return 0, nil, nil, fmt.Errorf("proof: bad index %q", idx)
	}
	for _, l := range lines[i+1:] {
		h, err := base64.StdEncoding.DecodeString(l)
		if err != nil || len(h) != tlog.HashSize {
			return 0, nil, nil, fmt.Errorf("proof: bad hash line %q", l)
		}
		var th tlog.Hash
		copy(th[:], h)
		proof = append(proof, th)
	}
	canon := FormatProof(index, proof, []byte(cp))
	if extra != "" {
		canon = bytes.Replace(canon, []byte("\n"), []byte("\n"+extra+"\n"), 1)
	}
	if !bytes.Equal(canon, b) {
		return 0, nil, nil, errors.New("proof: not in canonical form")
	}
	return index, proof, []byte(cp), nil
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}
