package export

import (
	"archive/zip"
	"cmp"
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"golang.org/x/mod/sumdb/tlog"

	"github.com/tickmark-dev/tickmark/internal/checks"
	"github.com/tickmark-dev/tickmark/internal/evidence"
	"github.com/tickmark-dev/tickmark/internal/ledger"
	"github.com/tickmark-dev/tickmark/internal/publog"
	"github.com/tickmark-dev/tickmark/internal/tsa"
	"github.com/tickmark-dev/tickmark/internal/verify"
)

// Problem is one failed check, naming the item (a file in the package).
type Problem struct {
	Item    string `json:"item"`
	Message string `json:"message"`
}

func (p Problem) String() string { return p.Item + ": " + p.Message }

// Report is the result of VerifyPackage.
type Report struct {
	Root        string   `json:"root"`
	Agent       string   `json:"agent"`
	Files       int      `json:"files"`
	Records     int      `json:"records"`
	Bodies      int      `json:"evidence_files"`
	Proofs      int      `json:"proofs"`
	Checkpoints int      `json:"checkpoints"`
	Consistent  int      `json:"checkpoints_proven_consistent"`
	Keys        []string `json:"keys"`
	// Timestamps counts checkpoints whose RFC 3161 token verified; with
	// TimestampChains false only the token's signature and imprint were
	// checked (no TSA CA given).
	Timestamps      int      `json:"timestamps_verified"`
	TimestampChains bool     `json:"timestamp_chains_checked"`
	TimestampTimes  []string `json:"timestamp_times,omitempty"`
	TreeSize        int64    `json:"tree_size"`
	// Checks counts the check results in the package; ChecksReproduced
	// those whose re-evaluation from the package's evidence gave the
	// recorded result.
	Checks           int `json:"checks"`
	ChecksReproduced int `json:"checks_reproduced"`
	// The package's scope as its exporter stated it: the window and the
	// controls (the auditor compares them with what was asked for).
	From     time.Time `json:"from"`
	To       time.Time `json:"to"`
	Controls []string  `json:"controls"`
	// Complete: the package's entry bundles hash to its checkpoint, and
	// the evidence files, records, index.csv, index.html and manifest.json
	// are exactly those its controls and window select in that log.
	Complete bool      `json:"complete"`
	Problems []Problem `json:"problems"`
	OK       bool      `json:"ok"`
}

// First returns the first problem, if any.
func (r *Report) First() (Problem, bool) {
	if len(r.Problems) == 0 {
		return Problem{}, false
	}
	return r.Problems[0], true
}

const maxProblems = 100

type fileInfo struct {
	sum  [32]byte
	size uint64
	f    *zip.File
}

type verifier struct {
	rep   *Report
	root  string
	files map[string]*fileInfo
}

func (v *verifier) fail(item, format string, args ...any) {
	if len(v.rep.Problems) < maxProblems {
		v.rep.Problems = append(v.rep.Problems, Problem{Item: item, Message: fmt.Sprintf(format, args...)})
	}
}

func (v *verifier) read(name string, limit int64) ([]byte, error) {
	rc, err := v.open(name, limit)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	return io.ReadAll(rc) // no more than the declared size, which open bounds
}

// VerifyPackage checks a package with nothing but its own content: every
// file against SHA256SUMS, every checkpoint's signature with the package's
// keys, every record's inclusion proof against a signed checkpoint, and
// every evidence file against its record. Problems name the file.
func VerifyPackage(r io.ReaderAt, size int64) (*Report, error) {
	return VerifyPackageWith(r, size, VerifyOptions{})
}

// VerifyOptions adds outside trust to a package verification.
type VerifyOptions struct {
	// TSARoots are the timestamp authority's CA certificates: with them
	// every checkpoints/<size>.tsr token is checked up to the TSA's chain at
	// the token's time; without them, only its signature and that it covers
	// the checkpoint's exact bytes.
	TSARoots *x509.CertPool
	// Pin is the key the package's log must be signed with (or a key it
	// announced): a package re-signed under another key fails.
	Pin verify.Pin
}

// VerifyPackageWith is VerifyPackage with outside trust anchors.
func VerifyPackageWith(r io.ReaderAt, size int64, o VerifyOptions) (*Report, error) {
	zr, err := zip.NewReader(r, size)
	if err != nil {
		return nil, fmt.Errorf("not a readable zip: %w", err)
	}
	rep := &Report{}
	v := &verifier{rep: rep, files: map[string]*fileInfo{}}
	// Root folder.
	for _, f := range zr.File {
		top, _, _ := strings.Cut(f.Name, "/")
		if v.root == "" {
			v.root = top
		}
		if top != v.root || !strings.Contains(f.Name, "/") {
			v.fail(f.Name, "outside the package folder %s/", v.root)
		}
		if bad := unsafeName(f.Name); bad != "" {
			v.fail(f.Name, "%s: no file of a package is named so", bad)
		}
	}
	rep.Root = v.root
	// 1. Every file's hash.
	order := make([]string, 0, len(zr.File))
	buf := make([]byte, 256<<10)
	for _, f := range zr.File {
		name := strings.TrimPrefix(f.Name, v.root+"/")
		if strings.HasSuffix(f.Name, "/") {
			continue
		}
		if _, dup := v.files[name]; dup {
			v.fail(name, "appears twice in the zip")
			continue
		}
		if err := checkEntry(f); err != nil {
			v.fail(name, "%v", err)
			continue
		}
		rc, err := f.Open()
		if err != nil {
			v.fail(name, "unreadable: %v", err)
			continue
		}
		h := sha256.New()
		n, err := io.CopyBuffer(h, rc, buf)
		rc.Close()
		if err != nil {
			v.fail(name, "unreadable: %v", err)
			continue
		}
		fi := &fileInfo{size: uint64(n), f: f}
		copy(fi.sum[:], h.Sum(nil))
		v.files[name] = fi
		order = append(order, name)
	}
	rep.Files = len(order)
	listed := map[string]bool{} // only names of files in the package
	err = v.scanLines("SHA256SUMS", indexLimit(len(zr.File)), func(ln int, line string) {
		want, name, ok := strings.Cut(line, "  ")
		if _, herr := hex.DecodeString(want); !ok || len(want) != 64 || herr != nil {
			v.fail("SHA256SUMS", "line %d is not `<sha256>  <file>`", ln)
			return
		}
		fi, ok := v.files[name]
		if !ok {
			v.fail(name, "listed in SHA256SUMS but missing from the package")
			return
		}
		listed[name] = true
		if hex.EncodeToString(fi.sum[:]) != want {
			v.fail(name, "altered: its sha256 is %x but SHA256SUMS says %s (the file, or its line in SHA256SUMS, was changed)", fi.sum, want)
		}
	})
	if err != nil {
		v.fail("SHA256SUMS", "%v", err)
	}
	for _, name := range order {
		if name != "SHA256SUMS" && !listed[name] {
			v.fail(name, "not listed in SHA256SUMS (added to the package)")
		}
	}
	// 2. Manifest, keys, checkpoints.
	var man Manifest
	if b, err := v.read("manifest.json", 64<<20); err != nil {
		v.fail("manifest.json", "%v", err)
	} else if err := json.Unmarshal(b, &man); err != nil || man.Format != Format {
		v.fail("manifest.json", "not a %s manifest", Format)
	}
	rep.Agent = man.Agent
	rep.From, rep.To = man.From, man.To
	for _, c := range man.Controls {
		rep.Controls = append(rep.Controls, c.ID)
	}
	// Keys, checkpoints and tokens: the package's copy of the published
	// log, read by the one log checker (and held to the pinned key).
	lg, err := verify.OpenLog(context.Background(), pkgLog{v, order}, man.Agent, o.Pin)
	if err != nil {
		return nil, err
	}
	for _, p := range lg.Problems {
		v.fail(cmp.Or(p.Key, "checkpoints/"), "%s", p.Message)
	}
	rep.Keys = slices.Sorted(maps.Keys(lg.Keys))
	checkpoints, signed := map[int64]*ledger.Checkpoint{}, map[string]*ledger.Checkpoint{}
	for _, cp := range lg.Checkpoints {
		checkpoints[cp.Size], signed[string(cp.Note)] = cp, cp
	}
	rep.Checkpoints = len(lg.Checkpoints)
	// RFC 3161 tokens over the checkpoints' exact bytes.
	rep.TimestampChains = o.TSARoots != nil
	for _, size := range slices.Sorted(maps.Keys(lg.Tokens)) {
		name, tok := publog.TokenPath(size), lg.Tokens[size]
		cp, ok := checkpoints[size]
		if !ok {
			v.fail(name, "timestamp token without its checkpoint %s", checkpointFile(size))
			continue
		}
		var tv *tsa.Verified
		if o.TSARoots != nil {
			tv, err = tsa.Verify(tok, cp.Note, o.TSARoots)
		} else {
			tv, err = tsa.VerifySignature(tok, cp.Note)
		}
		if err != nil {
			v.fail(name, "%v", err)
			continue
		}
		rep.Timestamps++
		rep.TimestampTimes = append(rep.TimestampTimes, fmt.Sprintf("%d@%s", size, tv.Time.UTC().Format(time.RFC3339)))
	}
	if cp, ok := checkpoints[man.Checkpoint.Size]; !ok {
		v.fail(checkpointFile(man.Checkpoint.Size), "the manifest's checkpoint is missing or not validly signed")
	} else {
		rep.TreeSize = cp.Size
		if base64.StdEncoding.EncodeToString(cp.Root[:]) != man.Checkpoint.Root {
			v.fail("manifest.json", "checkpoint root differs from %s", checkpointFile(cp.Size))
		}
		// Every earlier checkpoint is a prefix of the latest: one log.
		for _, s := range slices.Sorted(maps.Keys(checkpoints)) {
			old := checkpoints[s]
			if s == 0 || s >= cp.Size {
				continue
			}
			name := consistencyFile(s)
			b, err := v.read(name, 1<<20)
			if err != nil {
				v.fail(name, "consistency proof of %s: %v", checkpointFile(s), err)
				continue
			}
			o, n, proof, err := ParseConsistency(b)
			if err == nil && (o != s || n != cp.Size) {
				err = fmt.Errorf("proves %d to %d, not %d to %d", o, n, s, cp.Size)
			}
			if err == nil {
				err = tlog.CheckTree(proof, cp.Size, cp.Root, s, old.Root)
			}
			if err != nil {
				v.fail(checkpointFile(s), "not consistent with %s (%s): %v", checkpointFile(cp.Size), name, err)
				continue
			}
			rep.Consistent++
		}
	}
	// 3. Records and proofs.
	type recInfo struct {
		rec    *evidence.Record
		bodies int
		file   string // a verified evidence file of the record
	}
	records := map[uint64]*recInfo{}
	for _, name := range order {
		if !strings.HasPrefix(name, "records/") {
			continue
		}
		seq, ok := seqOf(name, RecordFile)
		if !ok {
			v.fail(name, "not a record file name")
			continue
		}
		data, err := v.read(name, evidence.MaxRecordSize)
		if err != nil {
			v.fail(name, "%v", err)
			continue
		}
		rec, err := evidence.DecodeCanonical(data)
		if err != nil {
			v.fail(name, "%v", err)
			continue
		}
		if rec.Seq != seq || rec.Agent != man.Agent {
			v.fail(name, "record says agent %q seq %d: it is not this package's record %d", rec.Agent, rec.Seq, seq)
			continue
		}
		rep.Records++
		pname := ProofFile(seq)
		pb, err := v.read(pname, 1<<20)
		if err != nil {
			v.fail(pname, "inclusion proof of %s: %v", name, err)
			continue
		}
		idx, proof, cpText, err := ParseProof(pb)
		if err != nil {
			v.fail(pname, "%v", err)
			continue
		}
		if idx != int64(seq) {
			v.fail(pname, "proves index %d, not record %d", idx, seq)
			continue
		}
		cp, ok := signed[string(cpText)]
		if !ok {
			v.fail(pname, "its checkpoint is not one of the package's validly signed checkpoints")
			continue
		}
		if err := tlog.CheckRecord(proof, cp.Size, cp.Root, int64(seq), tlog.RecordHash(data)); err != nil {
			v.fail(name, "not included in the signed checkpoint %d: the inclusion proof in %s does not verify (%v)", cp.Size, pname, err)
			continue
		}
		rep.Proofs++
		records[seq] = &recInfo{rec: rec}
	}
	for _, name := range order {
		if strings.HasPrefix(name, "proofs/") {
			if seq, ok := seqOf(name, ProofFile); !ok || !v.has(RecordFile(seq)) {
				v.fail(name, "a proof without its record")
			}
		}
	}
	// 4. Evidence files against their records.
	for _, name := range order {
		if !strings.HasPrefix(name, "evidence/") {
			continue
		}
		parts := strings.Split(name, "/")
		base, _, _ := strings.Cut(parts[len(parts)-1], ".")
		seq, err := strconv.ParseUint(base[max(0, len(base)-21):max(0, len(base)-9)], 10, 64)
		if len(parts) != 5 || len(base) < 22 || err != nil {
			v.fail(name, "not an evidence file name")
			continue
		}
		ri, ok := records[seq]
		if !ok {
			v.fail(name, "its record %s is missing or did not verify", RecordFile(seq))
			continue
		}
		fi := v.files[name]
		if name != EvidenceFile(parts[1], ri.rec) {
			v.fail(name, "does not match its record %s (type, date or hash in the name)", RecordFile(seq))
			continue
		}
		if hex.EncodeToString(fi.sum[:]) != ri.rec.SHA256 || int64(fi.size) != ri.rec.Size {
			v.fail(name, "body does not match its record %s: sha256 %x (%d bytes), record says %s (%d bytes)", RecordFile(seq), fi.sum, fi.size, ri.rec.SHA256, ri.rec.Size)
			continue
		}
		ri.bodies++
		ri.file = name
		rep.Bodies++
	}
	seqs := slices.Sorted(maps.Keys(records))
	for _, s := range seqs {
		if records[s].bodies == 0 {
			v.fail(RecordFile(s), "no evidence file for this record")
		}
	}
	// 4b. Every check result re-evaluated from the package's own evidence.
	lookup := func(seq uint64) (*evidence.Record, bool) {
		ri, ok := records[seq]
		if !ok || ri.file == "" {
			return nil, false
		}
		return ri.rec, true
	}
	open := func(_ context.Context, r *evidence.Record) (io.ReadCloser, error) {
		ri, ok := records[r.Seq]
		if !ok || ri.file == "" {
			return nil, fmt.Errorf("no evidence file of record %d", r.Seq)
		}
		return v.files[ri.file].f.Open()
	}
	for _, s := range seqs {
		ri := records[s]
		if !strings.HasPrefix(ri.rec.Type, checks.TypePrefix) || ri.file == "" {
			continue
		}
		id := strings.TrimPrefix(ri.rec.Type, checks.TypePrefix)
		b, err := v.read(ri.file, maxResult)
		if err != nil {
			v.fail(ri.file, "check %s: %v", id, err)
			continue
		}
		res, err := checks.DecodeResult(b)
		if err != nil {
			v.fail(ri.file, "check %s: %v", id, err)
			continue
		}
		rep.Checks++
		diffs := checks.Recheck(context.Background(), ri.rec, res, lookup, open)
		for _, d := range diffs {
			v.fail(ri.file, "check %s: %s", id, d)
		}
		if len(diffs) == 0 {
			rep.ChecksReproduced++
		}
	}
	// 5. Completeness: the log's entry bundles say which records and
	// files the package holds; the indexes and manifest are regenerated.
	if lg.Latest == nil || lg.Latest.Size != man.Checkpoint.Size {
		v.fail("manifest.json", "cannot prove the package complete: it names checkpoint %d, not the package's latest validly signed checkpoint", man.Checkpoint.Size)
	} else {
		v.checkComplete(lg, &man, order, rep.Keys)
	}
	rep.OK = len(rep.Problems) == 0
	return rep, nil
}

// pkgLog serves the package's keys/ and checkpoints/ as a published log
// (consistency proofs, which only packages carry, are the package's own).
type pkgLog struct {
	v     *verifier
	order []string
}

func (p pkgLog) List(_ context.Context, dir string, fn func(string) error) error {
	for _, name := range p.order {
		if strings.HasPrefix(name, dir) && !strings.HasSuffix(name, ".consistency") {
			if err := fn(name); err != nil {
				return err
			}
		}
	}
	return nil
}

func (p pkgLog) Read(_ context.Context, name string) ([]byte, error) {
	if n := publog.Parse(name); n.Kind == publog.EntryBundle {
		return p.v.read(name, int64(n.Tile.W)*(evidence.MaxRecordSize+2))
	}
	return p.v.read(name, 1<<20)
}
func (p pkgLog) Where() string             { return "the package" }
func (p pkgLog) Locate(name string) string { return name }

func (v *verifier) has(name string) bool { _, ok := v.files[name]; return ok }

// seqOf parses the name file gives record seq (RecordFile, ProofFile).
func seqOf(name string, file func(uint64) string) (uint64, bool) {
	seq, err := strconv.ParseUint(strings.TrimFunc(name, func(r rune) bool { return r < '0' || r > '9' }), 10, 64)
	return seq, err == nil && file(seq) == name
}

// unsafeName says why a zip entry name could escape the folder it is
// extracted to, or "".
func unsafeName(name string) string {
	switch {
	case strings.HasPrefix(name, "/") || len(name) > 1 && name[1] == ':':
		return "an absolute name"
	case strings.Contains(name, "\\"):
		return "a name with a backslash"
	}
	for _, el := range strings.Split(name, "/") {
		if el == ".." || el == "." {
			return "a name that climbs with " + el
		}
	}
	return ""
}
