// Package verify checks a ledger and its published copy: every record's
// canonical bytes and sequence, the Merkle root at every checkpoint and the
// checkpoint signatures, the published tiles and checkpoints, and every
// body's SHA-256 in the store (or the spool, for bodies not yet pushed).
package verify

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"sync"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/tickmark-dev/tickmark/internal/evidence"
	"github.com/tickmark-dev/tickmark/internal/ledger"
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
	// Store and Layout, if set, are checked too (published log and bodies).
	Store  store.Store
	Layout store.Layout
	// SkipBodies skips reading bodies (structure and signatures only).
	SkipBodies bool
	// Concurrency of body reads (default 4).
	Concurrency int
	// MaxProblems stops collecting after this many (default 1000).
	MaxProblems int
	// TSARoots, when a timestamp authority is configured, checks every
	// checkpoint's RFC 3161 token and lists checkpoints without one.
	TSARoots *x509.CertPool
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

	// Keys: the ledger's own history is trusted. A key published in the
	// store that the ledger never held is reported: another agent claiming
	// this agent's ID, or a planted key.
	keys, err := l.Keys()
	if err != nil {
		return nil, err
	}
	var vkeys []string
	known := map[string]bool{}
	for _, k := range keys {
		vkeys = append(vkeys, k)
		known[k] = true
	}
	if o.Store != nil {
		_ = o.Store.List(ctx, o.Layout.KeysPrefix(agent), func(key string) error {
			if !strings.HasSuffix(key, ".pub") {
				return nil
			}
			b, err := store.ReadAll(ctx, o.Store, key)
			if err != nil {
				rp.add(Problem{Kind: "key", Key: key, Message: "unreadable: " + err.Error()})
			} else if vk := strings.TrimSpace(string(b)); !known[vk] {
				rp.add(Problem{Kind: "key", Key: key, Message: fmt.Sprintf("public key %q is published for agent %s but this agent never held it: another agent may be using the same agent ID", vk, agent)})
			}
			return nil
		})
	}
	checkAnnouncements(ctx, l, o, rp)
	verifiers, err := ledger.Verifiers(dedupe(vkeys)...)
	if err != nil {
		rp.add(Problem{Kind: "key", Message: err.Error()})
		verifiers = note.VerifierList()
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
	checkTokens(ctx, l, cps, o, rep, rp)
	if o.Store != nil {
		var keysCP []string
		_ = o.Store.List(ctx, o.Layout.CheckpointsPrefix(agent), func(key string) error {
			if strings.HasSuffix(key, ".note") {
				keysCP = append(keysCP, key)
			}
			return nil
		})
		for _, key := range keysCP {
			_, size, ok := o.Layout.ParseCheckpoint(key)
			if !ok {
				continue
			}
			b, err := store.ReadAll(ctx, o.Store, key)
			if err != nil {
				rp.add(Problem{Kind: "checkpoint", Size: size, Key: key, Message: "store copy unreadable: " + err.Error()})
				continue
			}
			c, err := ledger.OpenCheckpoint(b, l.OriginLine(), verifiers)
			if err != nil {
				rp.add(Problem{Kind: "checkpoint", Size: size, Key: key, Message: "store copy: " + err.Error()})
				continue
			}
			if c.Size != size {
				rp.add(Problem{Kind: "checkpoint", Size: size, Key: key, Message: fmt.Sprintf("store copy says size %d", c.Size)})
				continue
			}
			rep.StoreCheckpoints++
			want[size] = append(want[size], checkpointRef{root: c.Root, where: "store copy", key: key})
		}
	}

	type bodyJob struct {
		seq  uint64
		rec  *evidence.Record
		loc  *ledger.SpoolLoc
		keys []string
	}
	jobs := make(chan bodyJob, 256)
	var wg sync.WaitGroup
	var bodiesChecked, inSpool int
	var cntMu sync.Mutex
	if !o.SkipBodies {
		for i := 0; i < o.Concurrency; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for j := range jobs {
					if j.loc != nil {
						rc, err := l.OpenSpool(*j.loc)
						if err != nil {
							rp.add(Problem{Kind: "body", Seq: seqPtr(j.seq), Type: j.rec.Type, Message: "body not yet pushed and missing from the spool: " + err.Error()})
							continue
						}
						checkBody(rp, j.seq, j.rec, rc, "spool")
						cntMu.Lock()
						inSpool++
						bodiesChecked++
						cntMu.Unlock()
						continue
					}
					for _, key := range j.keys {
						rc, err := o.Store.Get(ctx, key)
						if err != nil {
							rp.add(Problem{Kind: "body", Seq: seqPtr(j.seq), Type: j.rec.Type, Key: key, Message: "body missing from the store: " + err.Error()})
							continue
						}
						checkBody(rp, j.seq, j.rec, rc, key)
						cntMu.Lock()
						bodiesChecked++
						cntMu.Unlock()
					}
				}
			}()
		}
	}

	var fr frontier
	var storeTile []byte     // level-0 hashes of the current 256-block, from the store
	var storeBundle [][]byte // entries of the current block, from the store
	curBlock := int64(-1)
	var pubSize int64
	if o.Store != nil {
		for s := range want {
			for _, w := range want[s] {
				if w.where == "store copy" && s > pubSize {
					pubSize = s
				}
			}
		}
	}
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
				bj := bodyJob{seq: j.seq, rec: rec, loc: j.loc}
				if j.loc == nil && o.Store != nil {
					for _, c := range rec.Controls {
						bj.keys = append(bj.keys, o.Layout.Evidence(c, rec))
					}
				}
				if bj.loc != nil || len(bj.keys) > 0 {
					select {
					case jobs <- bj:
					case <-ctx.Done():
						return
					}
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
					fr.add(h)
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
			if o.Store != nil && int64(seq) < pubSize {
				block := int64(seq) >> store.TileHeight
				if block != curBlock {
					curBlock = block
					storeTile, storeBundle = nil, nil
					w := int(min(pubSize-block<<store.TileHeight, 1<<store.TileHeight))
					t := tlog.Tile{H: store.TileHeight, L: 0, N: block, W: w}
					tk := o.Layout.Tile(agent, t)
					if b, err := store.ReadAll(ctx, o.Store, tk); err == nil {
						storeTile = b
					} else {
						rp.add(Problem{Kind: "tile", Key: tk, Message: "published hash tile unreadable: " + err.Error()})
					}
					t.L = -1
					ek := o.Layout.Tile(agent, t)
					if b, err := store.ReadAll(ctx, o.Store, ek); err == nil {
						if storeBundle, err = ledger.ParseEntryBundle(b); err != nil {
							rp.add(Problem{Kind: "tile", Key: ek, Message: err.Error()})
						}
					} else {
						rp.add(Problem{Kind: "tile", Key: ek, Message: "published entry bundle unreadable: " + err.Error()})
					}
				}
				i := int(int64(seq) - curBlock<<store.TileHeight)
				if storeTile != nil && len(storeTile) >= (i+1)*tlog.HashSize && !bytes.Equal(storeTile[i*tlog.HashSize:(i+1)*tlog.HashSize], h[:]) {
					rp.add(Problem{Kind: "record", Seq: seqPtr(seq), Type: peekType(data), Message: "differs from the published copy: leaf hash in the store's hash tile does not match"})
				}
				if storeBundle != nil && i < len(storeBundle) && !bytes.Equal(storeBundle[i], data) {
					rp.add(Problem{Kind: "record", Seq: seqPtr(seq), Type: peekType(data), Message: "differs from the published copy in the store's entry bundle"})
				}
			}
			fr.add(h)
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
	close(jobs)
	wg.Wait()
	if err != nil {
		return nil, err
	}
	rep.BodiesChecked, rep.BodiesInSpool = bodiesChecked, inSpool
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
	sort.SliceStable(rep.Problems, func(i, j int) bool { return problemSeq(rep.Problems[i]) < problemSeq(rep.Problems[j]) })
	rep.OK = len(rep.Problems) == 0
	return rep, nil
}

func problemSeq(p Problem) uint64 {
	if p.Seq != nil {
		return *p.Seq
	}
	return ^uint64(0)
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

func checkBody(rp *reporter, seq uint64, rec *evidence.Record, rc io.ReadCloser, where string) {
	defer rc.Close()
	h := sha256.New()
	n, err := io.Copy(h, rc)
	if err != nil {
		rp.add(Problem{Kind: "body", Seq: seqPtr(seq), Type: rec.Type, Key: where, Message: "reading body: " + err.Error()})
		return
	}
	got := hex.EncodeToString(h.Sum(nil))
	if got != rec.SHA256 || n != rec.Size {
		rp.add(Problem{Kind: "body", Seq: seqPtr(seq), Type: rec.Type, Key: where,
			Message: fmt.Sprintf("body altered: sha256 %s (%d bytes), record says %s (%d bytes)", got, n, rec.SHA256, rec.Size)})
	}
}

func dedupe(xs []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, x := range xs {
		if x != "" && !seen[x] {
			seen[x] = true
			out = append(out, x)
		}
	}
	return out
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
func checkTokens(ctx context.Context, l *ledger.Ledger, cps []*ledger.Checkpoint, o Options, rep *Report, rp *reporter) {
	tokens, err := l.Tokens()
	if err != nil {
		rp.add(Problem{Kind: "timestamp", Message: err.Error()})
		return
	}
	if o.TSARoots == nil && len(tokens) == 0 {
		return
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
		if o.Store == nil {
			continue
		}
		key := o.Layout.CheckpointToken(l.Agent(), cp.Size)
		stored, err := store.ReadAll(ctx, o.Store, key)
		if err != nil {
			continue // published with the next push
		}
		note, err := store.ReadAll(ctx, o.Store, o.Layout.Checkpoint(l.Agent(), cp.Size))
		if err != nil {
			continue
		}
		if _, err := tsa.Verify(stored, note, o.TSARoots); err != nil {
			rp.add(Problem{Kind: "checkpoint", Size: cp.Size, Key: key, Message: "store copy of the timestamp token: " + err.Error()})
		}
	}
}

// checkAnnouncements checks every key rotation: each announcement (in the
// ledger and in the store) must be signed by both keys it names, and every
// key the ledger has signed with must be the first key or announced by a
// trusted one.
func checkAnnouncements(ctx context.Context, l *ledger.Ledger, o Options, rp *reporter) {
	anns, err := l.Announcements()
	if err != nil {
		rp.add(Problem{Kind: "key", Message: err.Error()})
		return
	}
	var msgs [][]byte
	announced := map[string]bool{}
	for id, m := range anns {
		a, err := ledger.OpenAnnouncement(m)
		if err != nil {
			rp.add(Problem{Kind: "key", Message: fmt.Sprintf("announcement of key %s: %v", id, err)})
			continue
		}
		msgs = append(msgs, m)
		announced[a.New] = true
		if o.Store != nil {
			key := o.Layout.KeyAnnouncement(l.Agent(), id)
			if b, err := store.ReadAll(ctx, o.Store, key); err == nil {
				if _, err := ledger.OpenAnnouncement(b); err != nil {
					rp.add(Problem{Kind: "key", Key: key, Message: "store copy of the key announcement: " + err.Error()})
				}
			}
		}
	}
	keys, err := l.Keys()
	if err != nil || len(anns) == 0 {
		return
	}
	// The first key is the one no announcement introduces.
	var first []string
	for _, vk := range keys {
		if !announced[vk] {
			first = append(first, vk)
		}
	}
	if len(first) != 1 {
		rp.add(Problem{Kind: "key", Message: fmt.Sprintf("%d keys in the key history are not announced by an earlier key; exactly one (the first) may be", len(first))})
		return
	}
	_, errs := ledger.TrustedKeys(first[0], msgs)
	for _, err := range errs {
		rp.add(Problem{Kind: "key", Message: err.Error()})
	}
}
