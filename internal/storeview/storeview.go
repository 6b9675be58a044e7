// Package storeview reads the bucket alone, across every agent of a fleet:
// no agent disk, read-only credentials. It lists the agents under log/,
// reads each one's announced keys, signed checkpoints, C2SP tlog-tiles
// hash tiles and entry bundles, authenticates every record against the
// agent's latest checkpoint (every tile is checked against the signed root
// with tlog.TileHashReader), checks that every other checkpoint is
// consistent with it, and re-hashes the evidence objects filed under each
// control. A second agent writing under the same ID shows up as a
// checkpoint signed by a key that was never announced, or as checkpoints
// that do not belong to one log (a fork).
package storeview

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
	"github.com/tickmark-dev/tickmark/internal/verify"
)

// View reads a bucket.
type View struct {
	Store  store.Store
	Layout store.Layout
	// Concurrency of body reads (default 8).
	Concurrency int
}

// Agents lists the agents that published anything under log/.
func (v *View) Agents(ctx context.Context) ([]string, error) {
	seen := map[string]bool{}
	var out []string
	err := v.Store.List(ctx, v.Layout.LogPrefix(""), func(key string) error {
		if a := v.Layout.Agent(key); a != "" && !seen[a] {
			seen[a] = true
			out = append(out, a)
		}
		return nil
	})
	sort.Strings(out)
	return out, err
}

// Log is one agent's published log, its signatures checked.
type Log struct {
	Agent string
	// Keys are the announced public keys (key ID -> verifier text).
	Keys map[string]string
	// Checkpoints that verified with an announced key, by size.
	Checkpoints []*ledger.Checkpoint
	// Tokens are RFC 3161 tokens by checkpoint size.
	Tokens map[int64][]byte
	// Announcements are verified key rotation notes by new key ID.
	Announcements map[string][]byte
	// Latest is the largest verified checkpoint (nil if none).
	Latest *ledger.Checkpoint
	// Problems found while reading keys and checkpoints.
	Problems []verify.Problem

	v *View
}

// OpenLog reads an agent's keys and checkpoints and checks each
// checkpoint's signature against the keys the agent announced.
func (v *View) OpenLog(ctx context.Context, agent string) (*Log, error) {
	lg := &Log{Agent: agent, Keys: map[string]string{}, Tokens: map[int64][]byte{}, Announcements: map[string][]byte{}, v: v}
	origin := ledger.Origin(agent)
	var keyKeys []string
	if err := v.Store.List(ctx, v.Layout.KeysPrefix(agent), func(k string) error { keyKeys = append(keyKeys, k); return nil }); err != nil {
		return nil, err
	}
	var vs []note.Verifier
	for _, k := range keyKeys {
		if strings.HasSuffix(k, ".announce") {
			b, err := store.ReadAll(ctx, v.Store, k)
			if err != nil {
				return nil, err
			}
			a, err := ledger.OpenAnnouncement(b)
			if err != nil {
				lg.problem(verify.Problem{Kind: "key", Key: k, Message: err.Error()})
				continue
			}
			if a.Origin != origin {
				lg.problem(verify.Problem{Kind: "identity", Key: k, Message: fmt.Sprintf("key announcement is for %q, not %q", a.Origin, origin)})
				continue
			}
			id, err := ledger.KeyID(a.New)
			if err != nil {
				lg.problem(verify.Problem{Kind: "key", Key: k, Message: err.Error()})
				continue
			}
			lg.Announcements[id] = b
			continue
		}
		if !strings.HasSuffix(k, ".pub") {
			continue
		}
		b, err := store.ReadAll(ctx, v.Store, k)
		if err != nil {
			return nil, err
		}
		text := strings.TrimSpace(string(b))
		nv, err := note.NewVerifier(text)
		if err != nil {
			lg.problem(verify.Problem{Kind: "key", Key: k, Message: "not a public key: " + err.Error()})
			continue
		}
		id := fmt.Sprintf("%08x", nv.KeyHash())
		if !strings.HasSuffix(k, "/"+id+".pub") {
			lg.problem(verify.Problem{Kind: "key", Key: k, Message: fmt.Sprintf("file name does not match the key's ID %s", id)})
		}
		if nv.Name() != origin {
			lg.problem(verify.Problem{Kind: "identity", Key: k, Message: fmt.Sprintf("key is for %q, not %q", nv.Name(), origin)})
			continue
		}
		lg.Keys[id] = text
		vs = append(vs, nv)
	}
	// More than one key is normal after a rotation (or a restore that lost
	// the key file): old keys stay published. Once the agent has rotated
	// with announcements, every key but the first must be announced by a
	// trusted one. Beyond that, what tells rotation from a second agent is
	// whether the checkpoints form one log (VerifyAgent).
	lg.checkAnnouncements()
	verifiers := note.VerifierList(vs...)
	var cpKeys []string
	if err := v.Store.List(ctx, v.Layout.CheckpointsPrefix(agent), func(k string) error { cpKeys = append(cpKeys, k); return nil }); err != nil {
		return nil, err
	}
	for _, k := range cpKeys {
		if strings.HasSuffix(k, ".tsr") {
			var size int64
			if _, err := fmt.Sscanf(k[len(v.Layout.CheckpointsPrefix(agent)):], "%d.tsr", &size); err == nil {
				if b, err := store.ReadAll(ctx, v.Store, k); err == nil {
					lg.Tokens[size] = b
				}
			}
			continue
		}
		_, size, ok := v.Layout.ParseCheckpoint(k)
		if !ok {
			continue
		}
		b, err := store.ReadAll(ctx, v.Store, k)
		if err != nil {
			return nil, err
		}
		c, err := ledger.OpenCheckpoint(b, origin, verifiers)
		if err != nil {
			var unv *note.UnverifiedNoteError
			if errors.As(err, &unv) {
				var who []string
				for _, sig := range unv.Note.UnverifiedSigs {
					who = append(who, fmt.Sprintf("%s+%08x", sig.Name, sig.Hash))
				}
				lg.problem(verify.Problem{Kind: "identity", Size: size, Key: k,
					Message: fmt.Sprintf("signed by a key agent %s never announced under %s (%s): another agent may be using the ID %q",
						agent, v.Layout.KeysPrefix(agent), strings.Join(who, ", "), agent)})
			} else if strings.Contains(err.Error(), "unknown key") {
				lg.problem(verify.Problem{Kind: "identity", Size: size, Key: k,
					Message: fmt.Sprintf("signed by a key agent %s never announced under %s: another agent may be using the ID %q", agent, v.Layout.KeysPrefix(agent), agent)})
			} else {
				lg.problem(verify.Problem{Kind: "checkpoint", Size: size, Key: k, Message: err.Error()})
			}
			continue
		}
		if c.Size != size {
			lg.problem(verify.Problem{Kind: "checkpoint", Size: size, Key: k, Message: fmt.Sprintf("stored as size %d but says %d", size, c.Size)})
			continue
		}
		lg.Checkpoints = append(lg.Checkpoints, c)
	}
	sort.Slice(lg.Checkpoints, func(i, j int) bool { return lg.Checkpoints[i].Size < lg.Checkpoints[j].Size })
	if n := len(lg.Checkpoints); n > 0 {
		lg.Latest = lg.Checkpoints[n-1]
	} else {
		lg.problem(verify.Problem{Kind: "checkpoint", Message: "no verifiable checkpoint published"})
	}
	return lg, nil
}

func (lg *Log) problem(p verify.Problem) { lg.Problems = append(lg.Problems, p) }

func (lg *Log) checkAnnouncements() {
	if len(lg.Announcements) == 0 {
		return
	}
	announced := map[string]bool{}
	var msgs [][]byte
	for _, m := range lg.Announcements {
		if a, err := ledger.OpenAnnouncement(m); err == nil {
			announced[a.New] = true
			msgs = append(msgs, m)
		}
	}
	var first []string
	for _, k := range lg.Keys {
		if !announced[k] {
			first = append(first, k)
		}
	}
	if len(first) != 1 {
		lg.problem(verify.Problem{Kind: "identity", Message: fmt.Sprintf("%d published keys are not announced by an earlier key; exactly one (the first) may be: another agent may be using the ID %q", len(first), lg.Agent)})
		return
	}
	_, errs := ledger.TrustedKeys(first[0], msgs)
	for _, err := range errs {
		lg.problem(verify.Problem{Kind: "key", Message: err.Error()})
	}
}

// tileReader reads hash tiles from the store, caching the upper levels.
type tileReader struct {
	ctx   context.Context
	v     *View
	agent string
	mu    sync.Mutex
	cache map[string][]byte
}

func (r *tileReader) Height() int { return store.TileHeight }

func (r *tileReader) ReadTiles(tiles []tlog.Tile) ([][]byte, error) {
	out := make([][]byte, len(tiles))
	for i, t := range tiles {
		key := r.v.Layout.Tile(r.agent, t)
		r.mu.Lock()
		b, ok := r.cache[key]
		r.mu.Unlock()
		if !ok {
			var err error
			b, err = store.ReadAll(r.ctx, r.v.Store, key)
			if err != nil {
				return nil, fmt.Errorf("hash tile %s: %w", key, err)
			}
			if len(b) != t.W*tlog.HashSize {
				return nil, fmt.Errorf("hash tile %s: %d bytes, want %d", key, len(b), t.W*tlog.HashSize)
			}
		}
		out[i] = b
	}
	return out, nil
}

// SaveTiles keeps verified tiles above level 0 (few, and read for every proof).
func (r *tileReader) SaveTiles(tiles []tlog.Tile, data [][]byte) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for i, t := range tiles {
		if t.L >= 1 {
			r.cache[r.v.Layout.Tile(r.agent, t)] = data[i]
		}
	}
}

// Entry is one authenticated record of an agent's log.
type Entry struct {
	Seq    uint64
	Data   []byte // canonical record bytes (the Merkle leaf)
	Record *evidence.Record
}

// Hashes returns a reader of the log's stored hashes, every tile
// authenticated against the latest checkpoint.
func (lg *Log) Hashes(ctx context.Context) (tlog.HashReader, error) {
	if lg.Latest == nil {
		return nil, fmt.Errorf("agent %s has no verifiable checkpoint", lg.Agent)
	}
	tr := &tileReader{ctx: ctx, v: lg.v, agent: lg.Agent, cache: map[string][]byte{}}
	return tlog.TileHashReader(tlog.Tree{N: lg.Latest.Size, Hash: lg.Latest.Root}, tr), nil
}

// Entries reads the records of the log up to the latest checkpoint from the
// entry bundles, in sequence order, and calls fn with each one whose leaf
// hash is proven by the signed root. A record that cannot be proven is
// passed to bad (or, if bad is nil, stops the walk with an error).
func (lg *Log) Entries(ctx context.Context, fn func(Entry) error, bad func(verify.Problem)) error {
	hr, err := lg.Hashes(ctx)
	if err != nil {
		return err
	}
	report := func(p verify.Problem) error {
		if bad == nil {
			return errors.New(p.String())
		}
		bad(p)
		return nil
	}
	size := lg.Latest.Size
	for block := int64(0); block<<store.TileHeight < size; block++ {
		if err := ctx.Err(); err != nil {
			return err
		}
		start := block << store.TileHeight
		w := int(min(size-start, 1<<store.TileHeight))
		bt := tlog.Tile{H: store.TileHeight, L: -1, N: block, W: w}
		key := lg.v.Layout.Tile(lg.Agent, bt)
		b, err := store.ReadAll(ctx, lg.v.Store, key)
		if err != nil {
			if err := report(verify.Problem{Kind: "tile", Key: key, Message: "entry bundle unreadable: " + err.Error()}); err != nil {
				return err
			}
			continue
		}
		entries, err := ledger.ParseEntryBundle(b)
		if err == nil && len(entries) != w {
			err = fmt.Errorf("holds %d entries, want %d", len(entries), w)
		}
		if err != nil {
			if err := report(verify.Problem{Kind: "tile", Key: key, Message: "entry bundle: " + err.Error()}); err != nil {
				return err
			}
			continue
		}
		idx := make([]int64, w)
		for i := range idx {
			idx[i] = tlog.StoredHashIndex(0, start+int64(i))
		}
		leaves, err := hr.ReadHashes(idx)
		if err != nil {
			if err := report(verify.Problem{Kind: "tile", Key: lg.v.Layout.Tile(lg.Agent, tlog.Tile{H: store.TileHeight, L: 0, N: block, W: w}),
				Message: "hash tile does not verify against the signed checkpoint: " + err.Error()}); err != nil {
				return err
			}
			continue
		}
		for i, data := range entries {
			seq := uint64(start) + uint64(i)
			if tlog.RecordHash(data) != leaves[i] {
				if err := report(verify.Problem{Kind: "record", Seq: &seq, Key: key, Message: "entry bundle record does not match the signed log (altered)"}); err != nil {
					return err
				}
				continue
			}
			rec, err := evidence.DecodeCanonical(data)
			if err != nil {
				if err := report(verify.Problem{Kind: "record", Seq: &seq, Key: key, Message: "not a valid canonical record: " + err.Error()}); err != nil {
					return err
				}
				continue
			}
			if rec.Seq != seq || rec.Agent != lg.Agent {
				if err := report(verify.Problem{Kind: "record", Seq: &seq, Type: rec.Type, Key: key,
					Message: fmt.Sprintf("says seq %d, agent %q", rec.Seq, rec.Agent)}); err != nil {
					return err
				}
				continue
			}
			if err := fn(Entry{Seq: seq, Data: data, Record: rec}); err != nil {
				return err
			}
		}
	}
	return nil
}

// Options tune Verify.
type Options struct {
	Agent       string // only this agent ("" for all)
	SkipBodies  bool
	MaxProblems int // per agent (default 1000)
	// TSARoots, when a timestamp authority is configured, checks every
	// published RFC 3161 token and lists the checkpoints without one.
	TSARoots *x509.CertPool
}

// FleetReport is Verify's result: one report per agent.
type FleetReport struct {
	Agents []*verify.Report `json:"agents"`
	OK     bool             `json:"ok"`
}

// Verify checks every agent's log in the bucket (or one agent's).
func (v *View) Verify(ctx context.Context, o Options) (*FleetReport, error) {
	agents := []string{o.Agent}
	if o.Agent == "" {
		var err error
		if agents, err = v.Agents(ctx); err != nil {
			return nil, err
		}
	}
	fr := &FleetReport{OK: true}
	for _, a := range agents {
		rep, err := v.VerifyAgent(ctx, a, o)
		if err != nil {
			return nil, err
		}
		fr.Agents = append(fr.Agents, rep)
		fr.OK = fr.OK && rep.OK
	}
	if len(agents) == 0 {
		fr.OK = false
	}
	return fr, nil
}

// VerifyAgent checks one agent's published log and evidence.
func (v *View) VerifyAgent(ctx context.Context, agent string, o Options) (*verify.Report, error) {
	if o.MaxProblems <= 0 {
		o.MaxProblems = 1000
	}
	conc := v.Concurrency
	if conc <= 0 {
		conc = 8
	}
	rep := &verify.Report{Agent: agent}
	var mu sync.Mutex
	add := func(p verify.Problem) {
		mu.Lock()
		defer mu.Unlock()
		if len(rep.Problems) < o.MaxProblems {
			rep.Problems = append(rep.Problems, p)
		}
	}
	lg, err := v.OpenLog(ctx, agent)
	if err != nil {
		return nil, err
	}
	for _, p := range lg.Problems {
		add(p)
	}
	rep.StoreCheckpoints = len(lg.Checkpoints)
	if o.TSARoots != nil || len(lg.Tokens) > 0 {
		for _, c := range lg.Checkpoints {
			tok, ok := lg.Tokens[c.Size]
			if !ok {
				rep.Unstamped = append(rep.Unstamped, c.Size)
				continue
			}
			if _, err := tsa.Verify(tok, c.Note, o.TSARoots); err != nil {
				add(verify.Problem{Kind: "checkpoint", Size: c.Size, Key: v.Layout.CheckpointToken(agent, c.Size), Message: "timestamp token: " + err.Error()})
				continue
			}
			rep.Timestamped++
		}
	}
	if lg.Latest != nil {
		rep.TreeSize = lg.Latest.Size
		rep.Root = hex.EncodeToString(lg.Latest.Root[:])
		// Every checkpoint must be a prefix of the latest: one log.
		if hr, err := lg.Hashes(ctx); err == nil {
			for _, c := range lg.Checkpoints[:len(lg.Checkpoints)-1] {
				h, err := tlog.TreeHash(c.Size, hr)
				if err != nil || h != c.Root {
					msg := fmt.Sprintf("not consistent with checkpoint %d: the log forked (two agents writing as %q, or a rewritten log)", lg.Latest.Size, agent)
					if err != nil {
						msg += ": " + err.Error()
					}
					add(verify.Problem{Kind: "identity", Size: c.Size, Key: v.Layout.Checkpoint(agent, c.Size), Message: msg})
				}
			}
		}
	}
	type job struct {
		seq uint64
		rec *evidence.Record
		key string
	}
	jobs := make(chan job, 256)
	var wg sync.WaitGroup
	var checked int
	for i := 0; i < conc && !o.SkipBodies; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range jobs {
				p := checkObject(ctx, v.Store, j.key, j.rec)
				mu.Lock()
				checked++
				mu.Unlock()
				if p != "" {
					add(verify.Problem{Kind: "body", Seq: &j.seq, Type: j.rec.Type, Key: j.key, Message: p})
				}
			}
		}()
	}
	var walkErr error
	if lg.Latest != nil {
		walkErr = lg.Entries(ctx, func(e Entry) error {
			rep.Records++
			if o.SkipBodies {
				return nil
			}
			for _, c := range e.Record.Controls {
				select {
				case jobs <- job{seq: e.Seq, rec: e.Record, key: v.Layout.Evidence(c, e.Record)}:
				case <-ctx.Done():
					return ctx.Err()
				}
			}
			return nil
		}, add)
	}
	close(jobs)
	wg.Wait()
	if walkErr != nil {
		return nil, walkErr
	}
	rep.BodiesChecked = checked
	sort.SliceStable(rep.Problems, func(i, j int) bool { return seqOf(rep.Problems[i]) < seqOf(rep.Problems[j]) })
	rep.OK = len(rep.Problems) == 0
	return rep, nil
}

func seqOf(p verify.Problem) uint64 {
	if p.Seq != nil {
		return *p.Seq
	}
	return 0
}

// checkObject re-hashes an evidence object; it returns a problem or "".
func checkObject(ctx context.Context, st store.Store, key string, rec *evidence.Record) string {
	rc, err := st.Get(ctx, key)
	if err != nil {
		return "evidence object missing: " + err.Error()
	}
	defer rc.Close()
	h := sha256.New()
	n, err := io.Copy(h, rc)
	if err != nil {
		return "reading evidence object: " + err.Error()
	}
	if got := h.Sum(nil); !bytes.Equal(got, mustHex(rec.SHA256)) || n != rec.Size {
		return fmt.Sprintf("evidence object altered: sha256 %x (%d bytes), record says %s (%d bytes)", got, n, rec.SHA256, rec.Size)
	}
	return ""
}

func mustHex(s string) []byte {
	b, _ := hex.DecodeString(s)
	return b
}

var errStop = errors.New("stop")

// Find calls fn for each authenticated record that matches q, for one
// agent or ("" ) every agent: agents in name order, each agent's records in
// sequence order. The bucket has no index, so every entry bundle is read.
func (v *View) Find(ctx context.Context, agent string, q ledger.Query, fn func(*evidence.Record) error) error {
	agents := []string{agent}
	if agent == "" {
		var err error
		if agents, err = v.Agents(ctx); err != nil {
			return err
		}
	}
	n := 0
	for _, a := range agents {
		lg, err := v.OpenLog(ctx, a)
		if err != nil {
			return err
		}
		if lg.Latest == nil {
			continue // nothing published yet (or nothing verifiable: `verify --from-store` says which)
		}
		err = lg.Entries(ctx, func(e Entry) error {
			if !Match(q, e.Record) {
				return nil
			}
			if err := fn(e.Record); err != nil {
				return err
			}
			n++
			if q.Limit > 0 && n >= q.Limit {
				return errStop
			}
			return nil
		}, nil)
		if errors.Is(err, errStop) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("agent %s: %w", a, err)
		}
	}
	return nil
}

// Match reports whether a record matches a query's filters.
func Match(q ledger.Query, r *evidence.Record) bool {
	if q.Type != "" && r.Type != q.Type || q.Collector != "" && r.Collector != q.Collector {
		return false
	}
	if !q.From.IsZero() && r.CollectedAt.Before(q.From) || !q.To.IsZero() && !r.CollectedAt.Before(q.To) {
		return false
	}
	if q.Control == "" {
		return true
	}
	for _, c := range r.Controls {
		if c == q.Control {
			return true
		}
	}
	return false
}
