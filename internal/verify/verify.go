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
	"maps"
	"math"
	"slices"
	"strings"
	"sync"

	"golang.org/x/mod/sumdb/note"
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

// NewReporter returns a function that adds problems to r (safe for
// concurrent use), keeping the first max.
func NewReporter(r *Report, max int) func(Problem) { return (&reporter{r: r, max: max}).add }

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
	anns, err := l.Announcements()
	if err != nil {
		rp.add(Problem{Kind: "key", Message: err.Error()})
	}
	verifiers := trust(keys, anns, o.Pin, "in this ledger's key history", func(string) string { return "" }, rp.add)
	// Checkpoints the roots must match: ledger copies and store copies.
	want := map[int64][]checkpointRef{}
	cps, err := l.Checkpoints()
	if err != nil {
		return nil, err
	}
	for _, cp := range cps {
		if c, err := openCheckpoint(cp.Note, cp.Size, l.OriginLine(), verifiers); err != nil {
			rp.add(Problem{Kind: "checkpoint", Size: cp.Size, Message: "ledger copy: " + err.Error()})
		} else {
			rep.Checkpoints++
			want[c.Size] = append(want[c.Size], checkpointRef{root: c.Root, where: "ledger copy"})
		}
	}
	tokens, err := l.Tokens()
	if err != nil {
		rp.add(Problem{Kind: "timestamp", Message: err.Error()})
	}
	stamps(cps, tokens, o.TSARoots, rep, func(c *ledger.Checkpoint, err error) {
		rp.add(Problem{Kind: "checkpoint", Size: c.Size, Message: "timestamp token: " + err.Error()})
	})
	// The published log, read through the one log reader (its listing and
	// read errors are problems, never skipped), must hold everything this
	// ledger published: a store whose log ends earlier (or is gone) was
	// rolled back or deleted.
	if o.Bucket != nil {
		if err := storeCopy(ctx, l, o, keys, verifiers, want, rep, rp); err != nil {
			return nil, err
		}
	}

	var bodies *Evidence
	if !o.SkipBodies {
		bodies = NewEvidence(o.Bucket, o.Concurrency, "body", "body missing from the store", rp.add)
	}

	var fr frontier
	// Records are decoded by workers; the Merkle frontier runs in order
	// on this goroutine.
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
	for _, s := range slices.Sorted(maps.Keys(want)) {
		for _, w := range want[s] {
			if s <= fr.size {
				break
			}
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

// storeCopy checks the ledger's published log in o.Bucket: its keys are
// the ledger's, its checkpoints (signed by a key the ledger trusts) join
// want, it holds every checkpoint the ledger published, and its tiles and
// entry bundles are those of its latest checkpoint.
func storeCopy(ctx context.Context, l *ledger.Ledger, o Options, keys map[string]string, verifiers note.Verifiers, want map[int64][]checkpointRef, rep *Report, rp *reporter) error {
	agent := l.Agent()
	r := o.Bucket.Log(agent)
	lg, err := OpenLog(ctx, r, agent, Pin{trusted: verifiers})
	if err != nil {
		return err
	}
	for _, p := range lg.Problems {
		if p.Kind == "checkpoint" && p.Size != 0 || p.Kind == "identity" {
			p.Kind, p.Message = "checkpoint", "store copy: "+p.Message
		}
		rp.add(p)
	}
	for id, vk := range lg.Keys {
		if keys[id] != vk {
			rp.add(Problem{Kind: "key", Key: r.Locate(publog.KeyPath(id)), Message: fmt.Sprintf("public key %q is published for agent %s but this agent never held it: another agent may be using the same agent ID", vk, agent)})
		}
	}
	rep.StoreCheckpoints = len(lg.Checkpoints)
	for _, c := range lg.Checkpoints {
		want[c.Size] = append(want[c.Size], checkpointRef{root: c.Root, where: "store copy", key: r.Locate(publog.CheckpointPath(c.Size))})
	}
	stamps(lg.Checkpoints, lg.Tokens, o.TSARoots, &Report{}, func(c *ledger.Checkpoint, err error) {
		rp.add(Problem{Kind: "checkpoint", Size: c.Size, Key: r.Locate(publog.TokenPath(c.Size)), Message: "store copy of the timestamp token: " + err.Error()})
	})
	published, err := l.Published()
	if err != nil {
		return err
	}
	if published > 0 && (lg.Latest == nil || lg.Latest.Size < published) {
		latest := "none"
		if lg.Latest != nil {
			latest = fmt.Sprint(lg.Latest.Size)
		}
		rp.add(Problem{Kind: "checkpoint", Size: published, Key: r.Locate(publog.CheckpointPath(published)),
			Message: fmt.Sprintf("this ledger published checkpoint %d but the store's latest valid checkpoint is %s: the published log was rolled back or deleted", published, latest)})
	}
	lg.StrayTiles(ctx, rp.add)
	if lg.Latest == nil {
		return nil
	}
	// Every tile and bundle authenticated by the latest store checkpoint,
	// whose root matches the ledger's (want): the published copy is the
	// ledger's records.
	return lg.Entries(ctx, func(Entry) error { return nil }, func(p Problem) {
		p.Message = "published copy: " + p.Message
		rp.add(p)
	})
}
