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
	"fmt"
	"io"
	"maps"
	"math"
	"slices"
	"sort"
	"sync"

	"golang.org/x/mod/sumdb/tlog"

	"github.com/tickmark-dev/tickmark/internal/evidence"
	"github.com/tickmark-dev/tickmark/internal/ledger"
	"github.com/tickmark-dev/tickmark/internal/publog"
	"github.com/tickmark-dev/tickmark/internal/store"
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
	s := p.Kind
	switch {
	case p.Seq != nil && p.Type != "":
		s = fmt.Sprintf("record %d (%s)", *p.Seq, p.Type)
	case p.Seq != nil:
		s = fmt.Sprintf("record %d", *p.Seq)
	case p.Kind == "checkpoint":
		s = fmt.Sprintf("checkpoint %d", p.Size)
	}
	s += ": " + p.Message
	if p.Key != "" {
		s += " [" + p.Key + "]"
	}
	return s
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
	// Concurrency of body reads (default 4 for a ledger, 8 for a bucket).
	Concurrency int
	// MaxProblems stops collecting after this many (default 1000).
	MaxProblems int
	// TSARoots, when a timestamp authority is configured, checks every
	// checkpoint's RFC 3161 token and lists checkpoints without one.
	TSARoots *x509.CertPool
	// Pin is the key the log must be signed with (or a key it announced).
	Pin Pin
}

// Reporter collects a report's problems (safe for concurrent use),
// keeping the first max (1000 if max <= 0).
type Reporter struct {
	mu   sync.Mutex
	r    *Report
	max  int
	full bool
}

// NewReporter returns a Reporter adding to r.
func NewReporter(r *Report, max int) *Reporter {
	if max <= 0 {
		max = 1000
	}
	return &Reporter{r: r, max: max}
}

// Add adds a problem.
func (rp *Reporter) Add(p Problem) {
	rp.mu.Lock()
	defer rp.mu.Unlock()
	if len(rp.r.Problems) >= rp.max {
		rp.full = true
		return
	}
	rp.r.Problems = append(rp.r.Problems, p)
}

// Done notes a list cut short, orders the problems by record (those of
// no record at seqless) and sets OK.
func (rp *Reporter) Done(seqless uint64) *Report {
	ps := rp.r.Problems
	if rp.full {
		ps = append(ps, Problem{Kind: "report", Message: fmt.Sprintf("more than %d problems; stopped listing", rp.max)})
	}
	at := func(p Problem) uint64 {
		if p.Seq != nil {
			return *p.Seq
		}
		return seqless
	}
	sort.SliceStable(ps, func(i, j int) bool { return at(ps[i]) < at(ps[j]) })
	rp.r.Problems, rp.r.OK = ps, len(ps) == 0
	return rp.r
}

func seqPtr(s uint64) *uint64 { return &s }

// Ledger verifies a local ledger (and, with Options.Store, its published copy).
func Ledger(ctx context.Context, l *ledger.Ledger, o Options) (*Report, error) {
	if o.Concurrency <= 0 {
		o.Concurrency = 4
	}
	rep := &Report{Agent: l.Agent()}
	rp := NewReporter(rep, o.MaxProblems)
	agent := l.Agent()

	// The ledger's key history (trusted, from the pinned key if one is
	// given), checkpoints and tokens, read by the one log checker; the
	// roots of its checkpoints and the store's must match the records.
	r, err := l.Log()
	if err != nil {
		return nil, err
	}
	own, err := OpenLog(ctx, r, agent, o.Pin)
	if err != nil {
		return nil, err
	}
	want := map[int64][]checkpointRef{}
	for _, p := range own.Problems {
		rp.Add(copyOf("ledger copy", p))
	}
	roots(want, own, "ledger copy")
	rep.Checkpoints = len(own.Checkpoints)
	stamps(own.Checkpoints, own.Tokens, o.TSARoots, rep, func(c *ledger.Checkpoint, err error) {
		rp.Add(Problem{Kind: "checkpoint", Size: c.Size, Message: "timestamp token: " + err.Error()})
	})
	// The published log, read through the one log reader (its listing and
	// read errors are problems, never skipped), must hold everything this
	// ledger published: a store whose log ends earlier (or is gone) was
	// rolled back or deleted.
	if o.Bucket != nil {
		if err := storeCopy(ctx, l, o, own, want, rep, rp); err != nil {
			return nil, err
		}
	}

	var bodies *Evidence
	if !o.SkipBodies {
		bodies = NewEvidence(ctx, o.Bucket, agent, o.Concurrency, "body", "body missing from the store", rp.Add)
	}
	var fr Frontier
	err = l.View(func(v *ledger.Viewer) error {
		size := v.Size()
		rep.TreeSize = size
		var expect uint64
		leaf := v.LeafHashes()
		// Every interior hash the ledger stores is recomputed from the
		// records: proofs and published tiles are made from them.
		interior := func(level int, index int64, h tlog.Hash) {
			if sh, ok := v.StoredHash(tlog.StoredHashIndex(level, index)); !ok || sh != h {
				rp.Add(Problem{Kind: "hash", Message: fmt.Sprintf("the ledger's stored Merkle hash at level %d, index %d is missing or altered: it does not match the hash recomputed from the records (inclusion proofs and published tiles made from it would not verify)", level, index)})
			}
		}
		return v.Records(0, func(seq uint64, data []byte) error {
			if seq&1023 == 0 {
				if err := ctx.Err(); err != nil {
					return err
				}
			}
			for expect < seq {
				rp.Add(Problem{Kind: "record", Seq: seqPtr(expect), Message: "missing from the ledger (sequence gap)"})
				// keep the tree aligned with the stored hash so later
				// records and checkpoints can still be checked
				if h, ok := v.StoredHash(tlog.StoredHashIndex(0, int64(expect))); ok {
					fr.Add(h, nil)
				}
				expect++
				checkRoots(rp, &fr, want)
			}
			expect = seq + 1
			rep.Records++
			h := tlog.RecordHash(data)
			if sh, ok := leaf(seq); !ok {
				rp.Add(Problem{Kind: "record", Seq: seqPtr(seq), Message: "its Merkle leaf hash is missing"})
			} else if sh != h {
				rp.Add(Problem{Kind: "record", Seq: seqPtr(seq), Type: peekType(data), Message: "altered: its bytes no longer match the Merkle leaf hash recorded when it was committed"})
			}
			fr.Add(h, interior)
			checkRoots(rp, &fr, want)
			// The leaf hash already proves the bytes are those committed:
			// their header is checked cheaply, the rest decoded with the
			// bodies.
			checkHeader(rp, seq, data, agent)
			if o.SkipBodies {
				return nil
			}
			// Decoded by the evidence readers, whose spool or store body is
			// re-hashed.
			var spool func() (io.ReadCloser, error)
			if loc, ok := v.Outbox(seq); ok {
				spool = func() (io.ReadCloser, error) { return l.OpenSpool(loc) }
			}
			return bodies.Record(seq, nil, bytes.Clone(data), spool, true)
		})
	})
	if bodies != nil {
		err = bodies.Finish(rep, math.MaxInt64, true, err)
	}
	if err != nil {
		return nil, err
	}
	// Checkpoints beyond the records: truncated ledger.
	for _, s := range slices.Sorted(maps.Keys(want)) {
		for _, w := range want[s] {
			if s <= fr.Size {
				break
			}
			rp.Add(Problem{Kind: "checkpoint", Size: s, Key: w.key, Message: fmt.Sprintf("%s covers %d records but the ledger has %d: records were removed", w.where, s, fr.Size)})
		}
	}
	if rep.TreeSize > 0 || fr.Size > 0 {
		r := fr.Root()
		rep.Root = hex.EncodeToString(r[:])
	}
	return rp.Done(^uint64(0)), nil
}

type checkpointRef struct {
	root  tlog.Hash
	where string
	key   string
}

func checkRoots(rp *Reporter, fr *Frontier, want map[int64][]checkpointRef) {
	refs, ok := want[fr.Size]
	if !ok {
		return
	}
	root := fr.Root()
	for _, w := range refs {
		if w.root != root {
			rp.Add(Problem{Kind: "checkpoint", Size: fr.Size, Key: w.key, Message: w.where + ": signed root does not match the records (a record was altered, removed or inserted)"})
		}
	}
}

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
func checkHeader(rp *Reporter, seq uint64, data []byte, agent string) {
	prefix := fmt.Appendf(nil, `{"v":%d,"seq":%d,"agent":%q,`, evidence.Version, seq, agent)
	if !bytes.HasPrefix(data, prefix) {
		rp.Add(Problem{Kind: "record", Seq: seqPtr(seq), Type: peekType(data), Message: fmt.Sprintf("does not begin with version %d, sequence number %d and agent %q", evidence.Version, seq, agent)})
	}
}

// copyOf names a problem of the ledger's or the store's copy of the log
// (where), as a problem of a checkpoint if it is one of a checkpoint or of
// its signer.
func copyOf(where string, p Problem) Problem {
	p.Message = where + ": " + p.Message
	if p.Kind == "checkpoint" && p.Size != 0 || p.Kind == "identity" {
		p.Kind = "checkpoint"
	}
	return p
}

// roots adds lg's checkpoints to the roots the records must match.
func roots(want map[int64][]checkpointRef, lg *Log, where string) {
	for _, c := range lg.Checkpoints {
		want[c.Size] = append(want[c.Size], checkpointRef{root: c.Root, where: where, key: lg.r.Locate(publog.CheckpointPath(c.Size))})
	}
}

// storeCopy checks the ledger's published log in o.Bucket as the bucket
// alone shows it (Published, bodies aside: the ledger's walk re-hashes
// them) and against the ledger: its keys are the ledger's, its checkpoints
// (signed by a key the ledger trusts) join want, and it holds every
// checkpoint the ledger published.
func storeCopy(ctx context.Context, l *ledger.Ledger, o Options, own *Log, want map[int64][]checkpointRef, rep *Report, rp *Reporter) error {
	agent, r := l.Agent(), o.Bucket.Log(l.Agent())
	var srep Report
	lg, err := Published(ctx, agent, Options{Bucket: o.Bucket, Pin: Pin{trusted: own.trusted}, TSARoots: o.TSARoots, SkipBodies: true}, &srep,
		func(p Problem) { rp.Add(copyOf("store copy", p)) })
	if err != nil {
		return err
	}
	rep.StoreCheckpoints = srep.StoreCheckpoints
	roots(want, lg, "store copy")
	for id, vk := range lg.Keys {
		if own.Keys[id] != vk {
			rp.Add(Problem{Kind: "key", Key: r.Locate(publog.KeyPath(id)), Message: fmt.Sprintf("public key %q is published for agent %s but this agent never held it: another agent may be using the same agent ID", vk, agent)})
		}
	}
	published, err := l.Published()
	if err != nil {
		return err
	}
	if published > 0 && (lg.Latest == nil || lg.Latest.Size < published) {
		latest := "none"
		if lg.Latest != nil {
			latest = fmt.Sprint(lg.Latest.Size)
		}
		rp.Add(Problem{Kind: "checkpoint", Size: published, Key: r.Locate(publog.CheckpointPath(published)),
			Message: fmt.Sprintf("this ledger published checkpoint %d but the store's latest valid checkpoint is %s: the published log was rolled back or deleted", published, latest)})
	}
	return nil
}

// Published checks agent's log in o.Bucket as the bucket alone shows it:
// its keys and checkpoints, each one's RFC 3161 token (listing those
// without one when roots are given or any token exists), that every
// checkpoint is a prefix of the latest (one log, not a fork), the tiles
// no checkpoint covers, and every entry against the latest checkpoint,
// whose bodies are re-hashed (unless SkipBodies) and, after a complete
// walk, the objects no record names reported. It adds to rep and add and
// returns the log.
func Published(ctx context.Context, agent string, o Options, rep *Report, add func(Problem)) (*Log, error) {
	lg, err := OpenLog(ctx, o.Bucket.Log(agent), agent, o.Pin)
	if err != nil {
		return nil, err
	}
	for _, p := range lg.Problems {
		add(p)
	}
	rep.StoreCheckpoints = len(lg.Checkpoints)
	stamps(lg.Checkpoints, lg.Tokens, o.TSARoots, rep, func(c *ledger.Checkpoint, err error) {
		add(Problem{Kind: "checkpoint", Size: c.Size, Key: lg.r.Locate(publog.TokenPath(c.Size)), Message: "timestamp token: " + err.Error()})
	})
	lg.StrayTiles(ctx, add)
	if o.Concurrency <= 0 {
		o.Concurrency = 8
	}
	bodies := NewEvidence(ctx, o.Bucket, agent, o.Concurrency, "evidence object", "evidence object missing", add)
	var walkErr error
	complete, size := lg.Latest != nil, int64(0)
	if lg.Latest != nil {
		size, rep.TreeSize, rep.Root = lg.Latest.Size, lg.Latest.Size, fmt.Sprintf("%x", lg.Latest.Root[:])
		if hr, err := lg.Hashes(ctx); err == nil {
			lg.forks(hr, add)
		}
		walkErr = lg.Entries(ctx, func(e Entry) error {
			if rep.Records++; o.SkipBodies {
				return nil
			}
			return bodies.Record(e.Seq, e.Record, nil, nil, true)
		}, func(p Problem) { complete = false; add(p) })
	}
	// Stray objects only over a complete walk: a record the log could not
	// serve would make its objects look stray.
	return lg, bodies.Finish(rep, size, !o.SkipBodies && complete, walkErr)
}
