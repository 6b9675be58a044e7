// Package verify checks a ledger and its published copy: every record's
// canonical bytes and sequence, the Merkle root at every checkpoint and the
// checkpoint signatures, the published tiles and checkpoints, and every
// body's SHA-256 in the store (or the spool, for bodies not yet pushed).
package verify

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math"
	"sort"
	"strings"
	"sync"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/tickmark-dev/tickmark/internal/evidence"
	"github.com/tickmark-dev/tickmark/internal/ledger"
	"github.com/tickmark-dev/tickmark/internal/publog"
	"github.com/tickmark-dev/tickmark/internal/store"
	"github.com/tickmark-dev/tickmark/internal/tsa"
)

// Problem is one failed check.
type Problem struct {
	Kind    string  `json:"kind"` // record, checkpoint, body, tile, key
	Seq     *uint64 `json:"seq,omitempty"`
	Type    string  `json:"type,omitempty"`
	Key     string  `json:"key,omitempty"` // object key involved
	Size    int64   `json:"checkpoint_size,omitempty"`
	Message string  `json:"message"`
}

func (p Problem) String() string {
	var b strings.Builder
	switch {
	case p.Seq != nil:
		fmt.Fprintf(&b, "record %d", *p.Seq)
		if p.Type != "" {
			fmt.Fprintf(&b, " (%s)", p.Type)
		}
	case p.Kind == "checkpoint":
		fmt.Fprintf(&b, "checkpoint %d", p.Size)
	default:
		b.WriteString(p.Kind)
	}
	b.WriteString(": " + p.Message)
	if p.Key != "" {
		b.WriteString(" [" + p.Key + "]")
	}
	return b.String()
}

// Report is the result of a verification.
type Report struct {
	Agent            string    `json:"agent"`
	Records          int64     `json:"records"`
	Checkpoints      int       `json:"checkpoints"`
	StoreCheckpoints int       `json:"store_checkpoints"`
	BodiesChecked    int       `json:"bodies_checked"`
	BodiesInSpool    int       `json:"bodies_in_spool"`
	Timestamped      int       `json:"timestamped_checkpoints"`
	Unstamped        []int64   `json:"unstamped_checkpoints,omitempty"`
	TreeSize         int64     `json:"tree_size"`
	Root             string    `json:"root,omitempty"`
	Problems         []Problem `json:"problems"`
	OK               bool      `json:"ok"`
}

// Options tune verification.
type Options struct {
	// Bucket, if set, is checked too (published log and bodies).
	Bucket *store.Bucket
	// SkipBodies skips reading bodies (structure and signatures only).
	SkipBodies bool
	// Concurrency of body reads (default 4).
	Concurrency int
	// MaxProblems stops collecting after this many (default 1000).
	MaxProblems int
	// TSARoots, when a timestamp authority is configured, checks every
	// checkpoint's RFC 3161 token and lists checkpoints without one.
	TSARoots *x509.CertPool
	// Pin is the key the log must be signed with (or a key it announced).
	Pin Pin
}

type reporter struct {
	mu   sync.Mutex
	r    *Report
	max  int
	full bool
}

func (rp *reporter) add(p Problem) {
	rp.mu.Lock()
	defer rp.mu.Unlock()
	if len(rp.r.Problems) >= rp.max {
		rp.full = true
		return
	}
	rp.r.Problems = append(rp.r.Problems, p)
}

func seqPtr(s uint64) *uint64 { return &s }

// Ledger verifies a local ledger (and, with Options.Store, its published copy).
func Ledger(ctx context.Context, l *ledger.Ledger, o Options) (*Report, error) {
	if o.Concurrency <= 0 {
		o.Concurrency = 4
	}
	if o.MaxProblems <= 0 {
		o.MaxProblems = 1000
	}
	rep := &Report{Agent: l.Agent()}
	rp := &reporter{r: rep, max: o.MaxProblems}
	agent := l.Agent()

	// Keys: the ledger's own history is trusted (from the pinned key, if
	// one is given). A key published in the store that the ledger never held
	// is reported: another agent claiming this agent's ID, or a planted key.
	keys, err := l.Keys()
	if err != nil {
		return nil, err
	}
	known := map[string]bool{}
	for _, k := range keys {
		known[k] = true
	}
	trusted := checkAnnouncements(l, o.Pin, keys, rp)
	verifiers, err := ledger.Verifiers(trusted...)
	if err != nil {
		rp.add(Problem{Kind: "key", Message: err.Error()})
		verifiers = note.VerifierList()
	}
	// The published log, read through the one log reader: its listing and
	// read errors are problems, never skipped.
	var lg *Log
	if o.Bucket != nil {
		if lg, err = OpenLog(ctx, o.Bucket.Log(agent), agent, Pin{trusted: trusted}); err != nil {
			return nil, err
		}
		for _, p := range lg.Problems {
			if p.Kind == "checkpoint" && p.Size != 0 || p.Kind == "identity" {
				p.Kind, p.Message = "checkpoint", "store copy: "+p.Message
			}
			rp.add(p)
		}
		for id, vk := range lg.Keys {
			if !known[vk] {
				rp.add(Problem{Kind: "key", Key: o.Bucket.Log(agent).Locate(publog.KeyPath(id)), Message: fmt.Sprintf("public key %q is published for agent %s but this agent never held it: another agent may be using the same agent ID", vk, agent)})
			}
		}
	}

	// Checkpoints the roots must match: ledger copies and store copies.
	want := map[int64][]checkpointRef{}
	cps, err := l.Checkpoints()
	if err != nil {
		return nil, err
	}
	for _, cp := range cps {
		c, err := ledger.OpenCheckpoint(cp.Note, l.OriginLine(), verifiers)
		if err != nil {
			rp.add(Problem{Kind: "checkpoint", Size: cp.Size, Message: "ledger copy: " + err.Error()})
			continue
		}
		if c.Size != cp.Size {
			rp.add(Problem{Kind: "checkpoint", Size: cp.Size, Message: fmt.Sprintf("ledger copy is stored under size %d but says %d", cp.Size, c.Size)})
			continue
		}
		rep.Checkpoints++
		want[c.Size] = append(want[c.Size], checkpointRef{root: c.Root, where: "ledger copy"})
	}
	checkTokens(l, lg, cps, o, rep, rp)
	// What the store must hold: everything this ledger published. A store
	// whose log ends earlier (or is gone) was rolled back or deleted.
	published, err := l.Published()
	if err != nil {
		return nil, err
	}
	pubSize := published
	if lg != nil {
		rep.StoreCheckpoints = len(lg.Checkpoints)
		for _, c := range lg.Checkpoints {
			want[c.Size] = append(want[c.Size], checkpointRef{root: c.Root, where: "store copy", key: o.Bucket.Log(agent).Locate(publog.CheckpointPath(c.Size))})
			pubSize = max(pubSize, c.Size)
		}
		if published > 0 && (lg.Latest == nil || lg.Latest.Size < published) {
			latest := "none"
			if lg.Latest != nil {
				latest = fmt.Sprint(lg.Latest.Size)
			}
			rp.add(Problem{Kind: "checkpoint", Size: published, Key: o.Bucket.Log(agent).Locate(publog.CheckpointPath(published)),
				Message: fmt.Sprintf("this ledger published checkpoint %d but the store's latest valid checkpoint is %s: the published log was rolled back or deleted", published, latest)})
		}
	}

	var bodies *Evidence
	if !o.SkipBodies {
		bodies = NewEvidence(o.Bucket, o.Concurrency, "body", "body missing from the store", rp.add)
	}

	var fr frontier
	var storeTile []byte     // level-0 hashes of the current 256-block, from the store
	var storeBundle [][]byte // entries of the current block, from the store
	curBlock := int64(-1)
	// Records are decoded by workers; the Merkle frontier and the
	// published-copy comparison run in order on this goroutine.
	type decodeJob struct {
		seq  uint64
		data []byte
		loc  *ledger.SpoolLoc
	}
	decJobs := make(chan decodeJob, 1024)
	var decWG sync.WaitGroup
	workers := max(2, o.Concurrency/2)
	for i := 0; i < workers; i++ {
		decWG.Add(1)
		go func() {
			defer decWG.Done()
			for j := range decJobs {
				rec, derr := evidence.Decode(j.data)
				if derr != nil {
					rp.add(Problem{Kind: "record", Seq: seqPtr(j.seq), Message: "not a valid record: " + derr.Error()})
					continue
				}
				if rec.Seq != j.seq {
					rp.add(Problem{Kind: "record", Seq: seqPtr(j.seq), Type: rec.Type, Message: fmt.Sprintf("stored at %d but says seq %d", j.seq, rec.Seq)})
				}
				if rec.Agent != agent {
					rp.add(Problem{Kind: "record", Seq: seqPtr(j.seq), Type: rec.Type, Message: fmt.Sprintf("names agent %q, not %q", rec.Agent, agent)})
				}
				if o.SkipBodies {
					continue
				}
				if j.loc != nil {
					loc := *j.loc
					if bodies.Check(ctx, j.seq, rec, "", "body not yet pushed and missing from the spool", func() (io.ReadCloser, error) { return l.OpenSpool(loc) }) != nil {
						return
					}
				}
				if bodies.Record(ctx, j.seq, rec, j.loc == nil) != nil {
					return
				}
			}
		}()
	}
	err = l.View(func(v *ledger.Viewer) error {
		defer close(decJobs)
		size := v.Size()
		rep.TreeSize = size
		var expect uint64
		leaf := v.LeafHashes()
		// Every interior hash the ledger stores is recomputed from the
		// records: proofs and published tiles are made from them.
		interior := func(level int, index int64, h tlog.Hash) {
			if sh, ok := v.StoredHash(tlog.StoredHashIndex(level, index)); !ok || sh != h {
				rp.add(Problem{Kind: "hash", Message: fmt.Sprintf("the ledger's stored Merkle hash at level %d, index %d is missing or altered: it does not match the hash recomputed from the records (inclusion proofs and published tiles made from it would not verify)", level, index)})
			}
		}
		return v.Records(0, func(seq uint64, data []byte) error {
			if seq&1023 == 0 {
				if err := ctx.Err(); err != nil {
					return err
				}
			}
			for expect < seq {
				rp.add(Problem{Kind: "record", Seq: seqPtr(expect), Message: "missing from the ledger (sequence gap)"})
				// keep the tree aligned with the stored hash so later
				// records and checkpoints can still be checked
				if h, ok := v.StoredHash(tlog.StoredHashIndex(0, int64(expect))); ok {
					fr.add(h, nil)
				}
				expect++
				checkRoots(rp, &fr, want)
			}
			expect = seq + 1
			rep.Records++
			h := tlog.RecordHash(data)
			if sh, ok := leaf(seq); !ok {
				rp.add(Problem{Kind: "record", Seq: seqPtr(seq), Message: "its Merkle leaf hash is missing"})
			} else if sh != h {
				rp.add(Problem{Kind: "record", Seq: seqPtr(seq), Type: peekType(data), Message: "altered: its bytes no longer match the Merkle leaf hash recorded when it was committed"})
			}
			// Published copy: entry bundle and level-0 hash tile.
			if o.Bucket != nil && int64(seq) < pubSize {
				block := int64(seq) >> publog.TileHeight
				if block != curBlock {
					curBlock = block
					storeTile, storeBundle = readBlock(ctx, o.Bucket.Log(agent), pubSize, block, rp)
				}
				i := int(int64(seq) - curBlock<<publog.TileHeight)
				if storeTile != nil && !bytes.Equal(storeTile[i*tlog.HashSize:(i+1)*tlog.HashSize], h[:]) {
					rp.add(Problem{Kind: "record", Seq: seqPtr(seq), Type: peekType(data), Message: "differs from the published copy: leaf hash in the store's hash tile does not match"})
				}
				if storeBundle != nil && !bytes.Equal(storeBundle[i], data) {
					rp.add(Problem{Kind: "record", Seq: seqPtr(seq), Type: peekType(data), Message: "differs from the published copy in the store's entry bundle"})
				}
			}
			fr.add(h, interior)
			checkRoots(rp, &fr, want)
			if o.SkipBodies {
				// Structure only: the leaf hash already proves the bytes
				// are those committed; check the header cheaply.
				checkHeader(rp, seq, data, agent)
				return nil
			}
			j := decodeJob{seq: seq, data: bytes.Clone(data)}
			if loc, ok := v.Outbox(seq); ok {
				j.loc = &loc
			}
			select {
			case decJobs <- j:
			case <-ctx.Done():
				return ctx.Err()
			}
			return nil
		})
	})
	decWG.Wait()
	if bodies != nil {
		err = bodies.Finish(ctx, rep, agent, math.MaxInt64, true, err)
	}
	if err != nil {
		return nil, err
	}
	// Checkpoints beyond the records: truncated ledger.
	var sizes []int64
	for s := range want {
		if s > fr.size {
			sizes = append(sizes, s)
		}
	}
	sort.Slice(sizes, func(i, j int) bool { return sizes[i] < sizes[j] })
	for _, s := range sizes {
		for _, w := range want[s] {
			rp.add(Problem{Kind: "checkpoint", Size: s, Key: w.key, Message: fmt.Sprintf("%s covers %d records but the ledger has %d: records were removed", w.where, s, fr.size)})
		}
	}
	if rep.TreeSize > 0 || fr.size > 0 {
		r := fr.root()
		rep.Root = hex.EncodeToString(r[:])
	}
	if rp.full {
		rep.Problems = append(rep.Problems, Problem{Kind: "report", Message: fmt.Sprintf("more than %d problems; stopped listing", o.MaxProblems)})
	}
	SortProblems(rep.Problems, ^uint64(0))
	rep.OK = len(rep.Problems) == 0
	return rep, nil
}

// readBlock reads the level-0 hash tile and the entry bundle of one block
// of the published log of the given size; what is unreadable, truncated
// or malformed is a problem (and nil).
func readBlock(ctx context.Context, r publog.Reader, size, block int64, rp *reporter) ([]byte, [][]byte) {
	t := tlog.Tile{H: publog.TileHeight, L: 0, N: block, W: publog.Width(size, 0, block)}
	name := publog.TilePath(t)
	tile, err := r.Read(ctx, name)
	if err == nil && len(tile) != t.W*tlog.HashSize {
		err = fmt.Errorf("%d bytes, want %d (truncated)", len(tile), t.W*tlog.HashSize)
	}
	if err != nil {
		rp.add(Problem{Kind: "tile", Key: r.Locate(name), Message: "published hash tile unreadable: " + err.Error()})
		tile = nil
	}
	t.L = -1
	name = publog.TilePath(t)
	b, err := r.Read(ctx, name)
	var bundle [][]byte
	if err == nil {
		bundle, err = publog.ParseBundle(b)
		if err == nil && len(bundle) != t.W {
			err = fmt.Errorf("holds %d entries, want %d (truncated)", len(bundle), t.W)
		}
	}
	if err != nil {
		rp.add(Problem{Kind: "tile", Key: r.Locate(name), Message: "published entry bundle unreadable: " + err.Error()})
		bundle = nil
	}
	return tile, bundle
}

type checkpointRef struct {
	root  tlog.Hash
	where string
	key   string
}

func checkRoots(rp *reporter, fr *frontier, want map[int64][]checkpointRef) {
	refs, ok := want[fr.size]
	if !ok {
		return
	}
	root := fr.root()
	for _, w := range refs {
		if w.root != root {
			rp.add(Problem{Kind: "checkpoint", Size: fr.size, Key: w.key, Message: w.where + ": signed root does not match the records (a record was altered, removed or inserted)"})
		}
	}
}

// ErrProblems is returned by callers that turn a failed report into an error.
var ErrProblems = errors.New("verification failed")

// peekType extracts the evidence type from record bytes for messages, even
// from a record that no longer decodes.
func peekType(data []byte) string {
	const k = `"type":"`
	i := bytes.Index(data, []byte(k))
	if i < 0 {
		return ""
	}
	rest := data[i+len(k):]
	j := bytes.IndexByte(rest, '"')
	if j < 0 || j > 128 {
		return ""
	}
	return string(rest[:j])
}

// checkHeader checks that a record starts with its version and sequence
// number and names the agent, without decoding it.
func checkHeader(rp *reporter, seq uint64, data []byte, agent string) {
	prefix := fmt.Appendf(nil, `{"v":%d,"seq":%d,"agent":%q,`, evidence.Version, seq, agent)
	if !bytes.HasPrefix(data, prefix) {
		rp.add(Problem{Kind: "record", Seq: seqPtr(seq), Type: peekType(data), Message: fmt.Sprintf("does not begin with version %d, sequence number %d and agent %q", evidence.Version, seq, agent)})
	}
}

// checkTokens verifies the RFC 3161 token of every checkpoint (ledger and
// store copies) and lists checkpoints not yet stamped.
func checkTokens(l *ledger.Ledger, lg *Log, cps []*ledger.Checkpoint, o Options, rep *Report, rp *reporter) {
	tokens, err := l.Tokens()
	if err != nil {
		rp.add(Problem{Kind: "timestamp", Message: err.Error()})
		return
	}
	if o.TSARoots == nil && len(tokens) == 0 {
		return
	}
	published := map[int64][]byte{}
	if lg != nil {
		for _, c := range lg.Checkpoints {
			published[c.Size] = c.Note
		}
	}
	for _, cp := range cps {
		tok, ok := tokens[cp.Size]
		if !ok {
			rep.Unstamped = append(rep.Unstamped, cp.Size)
			continue
		}
		if _, err := tsa.Verify(tok, cp.Note, o.TSARoots); err != nil {
			rp.add(Problem{Kind: "checkpoint", Size: cp.Size, Message: "timestamp token: " + err.Error()})
			continue
		}
		rep.Timestamped++
		// The store copy, once published with its checkpoint.
		if note, ok := published[cp.Size]; ok && lg.Tokens[cp.Size] != nil {
			if _, err := tsa.Verify(lg.Tokens[cp.Size], note, o.TSARoots); err != nil {
				rp.add(Problem{Kind: "checkpoint", Size: cp.Size, Key: o.Bucket.Log(l.Agent()).Locate(publog.TokenPath(cp.Size)), Message: "store copy of the timestamp token: " + err.Error()})
			}
		}
	}
}

// checkAnnouncements checks every key rotation in the ledger: each
// announcement must be signed by both keys it names, and every key the
// ledger has signed with must be the first key or announced by a trusted
// one. It returns the keys to trust: the ledger's, or with a pin, those a
// chain of announcements leads to from the pinned key.
func checkAnnouncements(l *ledger.Ledger, pin Pin, keys map[string]string, rp *reporter) []string {
	var all []string
	for _, k := range keys {
		all = append(all, k)
	}
	anns, err := l.Announcements()
	if err != nil {
		rp.add(Problem{Kind: "key", Message: err.Error()})
		return all
	}
	msgs, first := unannounced(keys, anns, func(id string, err error) {
		rp.add(Problem{Kind: "key", Message: fmt.Sprintf("announcement of key %s: %v", id, err)})
	})
	if pin.set() {
		pinned := pin.Key
		if pinned == "" {
			pinned = keys[pin.KeyID]
		}
		if pinned == "" {
			rp.add(Problem{Kind: "key", Message: fmt.Sprintf("the expected key %s is not in this ledger's key history: the ledger is signed under another key", pin)})
			return []string{}
		}
		trusted, _ := ledger.TrustedKeys(pinned, msgs)
		return trusted
	}
	if len(anns) == 0 {
		return all
	}
	// The first key is the one no announcement introduces.
	if len(first) != 1 {
		rp.add(Problem{Kind: "key", Message: fmt.Sprintf("%d keys in the key history are not announced by an earlier key; exactly one (the first) may be", len(first))})
		return all
	}
	_, errs := ledger.TrustedKeys(first[0], msgs)
	for _, err := range errs {
		rp.add(Problem{Kind: "key", Message: err.Error()})
	}
	return all
}
