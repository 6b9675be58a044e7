package verify

import (
	"cmp"
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"
	"sync"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/tickmark-dev/tickmark/internal/evidence"
	"github.com/tickmark-dev/tickmark/internal/ledger"
	"github.com/tickmark-dev/tickmark/internal/publog"
	"github.com/tickmark-dev/tickmark/internal/tsa"
)

// Log is one agent's published log (in a bucket or an auditor package),
// its keys, key rotations and checkpoint signatures checked. Everything
// that could not be read or did not verify is in Problems.
type Log struct {
	Agent string
	// Keys are the published public keys that verified (key ID -> verifier text).
	Keys map[string]string
	// Checkpoints that verified with a published (or, pinned, a trusted) key,
	// oldest first.
	Checkpoints []*ledger.Checkpoint
	// Tokens are RFC 3161 tokens by checkpoint size.
	Tokens map[int64][]byte
	// Announcements are verified key rotation notes by new key ID.
	Announcements map[string][]byte
	// Latest is the largest verified checkpoint (nil if none).
	Latest *ledger.Checkpoint
	// Problems found while reading keys and checkpoints.
	Problems []Problem

	r       publog.Reader
	trusted note.Verifiers // the keys checkpoints must be signed with
}

// Pin is the key a verifier expects a log to be signed with (--key,
// --key-id, verify.key in the configuration): the log's checkpoints must
// be signed by it or by a key it announced, in a chain of rotations. The
// zero Pin trusts the keys the log publishes.
type Pin struct {
	Key   string // verifier key text ("<origin>+<id>+<base64>")
	KeyID string // or just its ID (8 hex digits)

	trusted note.Verifiers // exactly these keys (a ledger's key history, already pinned)
}

func (p Pin) set() bool { return p.Key != "" || p.KeyID != "" }

func (p Pin) String() string {
	if p.KeyID != "" {
		return p.KeyID
	}
	if id, err := ledger.KeyID(p.Key); err == nil {
		return id
	}
	return p.Key
}

// OpenLog reads agent's keys, key announcements, checkpoints and timestamp
// tokens through r and checks each checkpoint's signature against the keys
// the agent published (or, with a Pin, the keys trusted from it). Read
// errors are problems of the log, never skipped; only a cancelled ctx is
// an error.
func OpenLog(ctx context.Context, r publog.Reader, agent string, pin Pin) (*Log, error) {
	lg := &Log{Agent: agent, Keys: map[string]string{}, Tokens: map[int64][]byte{}, Announcements: map[string][]byte{}, r: r}
	origin := ledger.Origin(agent)
	keyNames, err := lg.list(ctx, publog.KeysDir, "key", "the published keys")
	if err != nil {
		return nil, err
	}
	for _, k := range keyNames {
		n := publog.Parse(k)
		if n.Kind != publog.PublicKey && n.Kind != publog.Announcement {
			lg.problem(Problem{Kind: "key", Key: r.Locate(k), Message: "not a key or key announcement name: nothing tickmark writes"})
			continue
		}
		b, err := r.Read(ctx, k)
		if err != nil {
			lg.problem(Problem{Kind: "key", Key: r.Locate(k), Message: "unreadable: " + err.Error()})
			continue
		}
		if n.Kind == publog.Announcement {
			a, err := ledger.OpenAnnouncement(b)
			if err != nil {
				lg.problem(Problem{Kind: "key", Key: r.Locate(k), Message: fmt.Sprintf("announcement of key %s: %v", n.KeyID, err)})
				continue
			}
			if a.Origin != origin {
				lg.problem(Problem{Kind: "identity", Key: r.Locate(k), Message: fmt.Sprintf("key announcement is for %q, not %q", a.Origin, origin)})
				continue
			}
			id, err := ledger.KeyID(a.New)
			if err != nil {
				lg.problem(Problem{Kind: "key", Key: r.Locate(k), Message: err.Error()})
				continue
			}
			lg.Announcements[id] = b
			continue
		}
		text := strings.TrimSpace(string(b))
		nv, err := note.NewVerifier(text)
		if err != nil {
			lg.problem(Problem{Kind: "key", Key: r.Locate(k), Message: "not a public key: " + err.Error()})
			continue
		}
		id := fmt.Sprintf("%08x", nv.KeyHash())
		if n.KeyID != id {
			lg.problem(Problem{Kind: "key", Key: r.Locate(k), Message: fmt.Sprintf("file name does not match the key's ID %s", id)})
		}
		if nv.Name() != origin {
			lg.problem(Problem{Kind: "identity", Key: r.Locate(k), Message: fmt.Sprintf("key is for %q, not %q", nv.Name(), origin)})
			continue
		}
		lg.Keys[id] = text
	}
	// More than one key is normal after a rotation (or a restore that lost
	// the key file): old keys stay published. Once the agent has rotated
	// with announcements, every key but the first must be announced by a
	// trusted one. Beyond that, what tells rotation from a second agent is
	// whether the checkpoints form one log (Published).
	lg.trusted = lg.trust(pin)
	if pin.trusted != nil {
		lg.trusted = pin.trusted
	}
	cpNames, err := lg.list(ctx, publog.CheckpointsDir, "checkpoint", "the published checkpoints")
	if err != nil {
		return nil, err
	}
	for _, k := range cpNames {
		n := publog.Parse(k)
		if n.Kind != publog.Checkpoint && n.Kind != publog.Token {
			lg.problem(Problem{Kind: "checkpoint", Key: r.Locate(k), Message: "not a checkpoint or token name: nothing tickmark writes"})
			continue
		}
		b, err := r.Read(ctx, k)
		switch {
		case err != nil:
			lg.problem(Problem{Kind: "checkpoint", Size: n.Size, Key: r.Locate(k), Message: "unreadable: " + err.Error()})
		case n.Kind == publog.Token:
			lg.Tokens[n.Size] = b
		default:
			if c, err := openCheckpoint(b, n.Size, origin, lg.trusted); err != nil {
				lg.problem(lg.signatureProblem(n.Size, k, err, pin))
			} else {
				lg.Checkpoints = append(lg.Checkpoints, c)
			}
		}
	}
	sort.Slice(lg.Checkpoints, func(i, j int) bool { return lg.Checkpoints[i].Size < lg.Checkpoints[j].Size })
	if n := len(lg.Checkpoints); n > 0 {
		lg.Latest = lg.Checkpoints[n-1]
	}
	lg.checkIdle()
	return lg, nil
}

// openCheckpoint opens a signed checkpoint stored under size.
func openCheckpoint(b []byte, size int64, origin string, vs note.Verifiers) (*ledger.Checkpoint, error) {
	c, err := ledger.OpenCheckpoint(b, origin, vs)
	if err == nil && c.Size != size {
		return nil, fmt.Errorf("stored as size %d but says %d", size, c.Size)
	}
	return c, err
}

// checkIdle reports, in a log with more than one key, a key that no valid
// announcement introduces and that signs no checkpoint: a key published
// by another data dir under the same agent ID (a fork the agent refused
// to carry on). A key that lost its predecessor's private key (a restore
// without the key file) is unannounced but signs the checkpoints after it.
func (lg *Log) checkIdle() {
	if len(lg.Keys) < 2 {
		return
	}
	used := map[string]bool{}
	for _, c := range lg.Checkpoints {
		if n, err := note.Open(c.Note, lg.trusted); err == nil {
			for _, sig := range append(n.Sigs, n.UnverifiedSigs...) {
				used[fmt.Sprintf("%08x", sig.Hash)] = true
			}
		}
	}
	for _, id := range slices.Sorted(maps.Keys(lg.Keys)) {
		text := lg.Keys[id]
		if _, announced := lg.Announcements[id]; announced || used[id] {
			continue
		}
		lg.problem(Problem{Kind: "identity", Key: lg.r.Locate(publog.KeyPath(id)),
			Message: fmt.Sprintf("key %s is published without a valid announcement and signs no checkpoint: another agent (or a replaced data dir) may be using the ID %q", text, lg.Agent)})
	}
}

// StrayTiles lists the log's tiles and entry bundles and reports those
// no verified checkpoint covers: beyond the latest one, or a partial tile
// of a width no checkpoint's tree size gives (left by a writer whose
// checkpoint never followed), and names nothing tickmark writes. A
// listing error is a problem.
func (lg *Log) StrayTiles(ctx context.Context, add func(Problem)) {
	partial := map[tlog.Tile]bool{}
	for _, c := range lg.Checkpoints {
		for l := 0; c.Size>>(uint(l)*publog.TileHeight) > 0; l++ {
			n := c.Size >> (uint(l) * publog.TileHeight)
			if w := int(n % (1 << publog.TileHeight)); w > 0 {
				partial[tlog.Tile{H: publog.TileHeight, L: l, N: n >> publog.TileHeight, W: w}] = true
				if l == 0 {
					partial[tlog.Tile{H: publog.TileHeight, L: -1, N: n >> publog.TileHeight, W: w}] = true
				}
			}
		}
	}
	var latest int64
	if lg.Latest != nil {
		latest = lg.Latest.Size
	}
	err := lg.r.List(ctx, publog.TilesDir, func(name string) error {
		n := publog.Parse(name)
		if n.Kind != publog.HashTile && n.Kind != publog.EntryBundle {
			add(Problem{Kind: "tile", Key: lg.r.Locate(name), Message: "not a tile or entry bundle name: nothing tickmark writes"})
			return nil
		}
		t := n.Tile
		if t.W == 1<<publog.TileHeight && publog.Width(latest, t.L, t.N) == t.W || partial[t] {
			return nil
		}
		add(Problem{Kind: "tile", Key: lg.r.Locate(name), Message: fmt.Sprintf("belongs to no checkpoint (the latest verified is size %d): left by a writer whose checkpoint never followed, or planted", latest)})
		return nil
	})
	if err != nil && ctx.Err() == nil {
		add(Problem{Kind: "tile", Key: lg.r.Locate(publog.TilesDir), Message: "cannot list the tiles: " + err.Error()})
	}
}

// list returns the names under dir; a listing that fails is a problem.
func (lg *Log) list(ctx context.Context, dir, kind, what string) ([]string, error) {
	var names []string
	err := lg.r.List(ctx, dir, func(k string) error { names = append(names, k); return nil })
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		lg.problem(Problem{Kind: kind, Key: lg.r.Locate(dir), Message: fmt.Sprintf("cannot list %s: %v", what, err)})
	}
	sort.Strings(names)
	return names, nil
}

func (lg *Log) signatureProblem(size int64, name string, err error, pin Pin) Problem {
	p := Problem{Kind: "identity", Size: size, Key: lg.r.Locate(name)}
	var signers []string
	var unv *note.UnverifiedNoteError
	if errors.As(err, &unv) {
		for _, sig := range unv.Note.UnverifiedSigs {
			signers = append(signers, fmt.Sprintf("%s+%08x", sig.Name, sig.Hash))
		}
	} else if !strings.Contains(err.Error(), "unknown key") {
		p.Kind, p.Message = "checkpoint", err.Error()
		return p
	}
	if pin.set() {
		p.Message = fmt.Sprintf("not signed by the expected key %s or a key it announced: the log was signed under another key", pin)
		return p
	}
	by := ""
	if len(signers) > 0 {
		by = " (" + strings.Join(signers, ", ") + ")"
	}
	p.Message = fmt.Sprintf("signed by a key agent %s never announced under %s%s: another agent may be using the ID %q", lg.Agent, lg.r.Locate(publog.KeysDir), by, lg.Agent)
	return p
}

func (lg *Log) problem(p Problem) { lg.Problems = append(lg.Problems, p) }

// trust checks the key history: once the agent has rotated with
// announcements (each signed by both keys it names, checked when read),
// every key but the first must be announced by a trusted one. It returns
// the keys to trust: all of them or, with a pin, those a chain of
// announcements leads to from the pinned key.
func (lg *Log) trust(pin Pin) note.Verifiers {
	msgs := slices.Collect(maps.Values(lg.Announcements))
	var first []string
	for id, k := range lg.Keys {
		if _, ok := lg.Announcements[id]; !ok {
			first = append(first, k)
		}
	}
	if len(msgs) > 0 && len(first) != 1 {
		lg.problem(Problem{Kind: "identity", Message: fmt.Sprintf("%d keys published in %s are not announced by an earlier key; exactly one (the first) may be: another agent may be using the ID %q", len(first), lg.r.Where(), lg.Agent)})
	} else if len(msgs) > 0 {
		_, errs := ledger.TrustedKeys(first[0], msgs)
		for _, err := range errs {
			lg.problem(Problem{Kind: "key", Message: err.Error()})
		}
	}
	trusted := slices.Collect(maps.Values(lg.Keys))
	if pinned := cmp.Or(pin.Key, lg.Keys[pin.KeyID]); pinned != "" {
		trusted, _ = ledger.TrustedKeys(pinned, msgs)
	} else if pin.set() {
		lg.problem(Problem{Kind: "identity", Key: lg.r.Locate(publog.KeyPath(pin.KeyID)), Message: fmt.Sprintf("the expected key %s is not published in %s: the log was signed under another key", pin, lg.r.Where())})
		trusted = nil
	}
	var vs []note.Verifier
	for _, k := range trusted {
		if v, err := note.NewVerifier(strings.TrimSpace(k)); err == nil {
			vs = append(vs, v)
		} else {
			lg.problem(Problem{Kind: "key", Message: "bad public key: " + err.Error()})
		}
	}
	return note.VerifierList(vs...)
}

// tileReader reads hash tiles through the log's Reader, caching the upper levels.
type tileReader struct {
	ctx   context.Context
	r     publog.Reader
	mu    sync.Mutex
	cache map[string][]byte
}

func (r *tileReader) Height() int { return publog.TileHeight }

func (r *tileReader) ReadTiles(tiles []tlog.Tile) ([][]byte, error) {
	out := make([][]byte, len(tiles))
	for i, t := range tiles {
		name := publog.TilePath(t)
		r.mu.Lock()
		b, ok := r.cache[name]
		r.mu.Unlock()
		if !ok {
			var err error
			if b, _, err = readTile(r.ctx, r.r, t); err != nil {
				return nil, err
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
			r.cache[publog.TilePath(t)] = data[i]
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
	tr := &tileReader{ctx: ctx, r: lg.r, cache: map[string][]byte{}}
	return tlog.TileHashReader(tlog.Tree{N: lg.Latest.Size, Hash: lg.Latest.Root}, tr), nil
}

// Bundle reads entry bundle n of the log at its latest checkpoint.
func (lg *Log) Bundle(ctx context.Context, n int64) ([][]byte, error) {
	_, entries, err := readTile(ctx, lg.r, publog.BundleTile(lg.Latest.Size, n))
	return entries, err
}

// readTile reads hash tile t or (L == -1) entry bundle t whole: one of
// another width (truncated or padded) is an error naming it.
func readTile(ctx context.Context, r publog.Reader, t tlog.Tile) (tile []byte, bundle [][]byte, err error) {
	name, what := publog.TilePath(t), "hash tile"
	if t.L < 0 {
		what = "entry bundle"
	}
	b, err := r.Read(ctx, name)
	switch {
	case err != nil:
	case t.L < 0:
		if bundle, err = publog.ParseBundle(b); err == nil && len(bundle) != t.W {
			err = fmt.Errorf("holds %d entries, want %d (truncated or padded)", len(bundle), t.W)
		}
	case len(b) != t.W*tlog.HashSize:
		err = fmt.Errorf("%d bytes, want %d (truncated or padded)", len(b), t.W*tlog.HashSize)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("%s %s: %w", what, r.Locate(name), err)
	}
	return b, bundle, nil
}

// Entries reads the records of the log up to the latest checkpoint from the
// entry bundles, in sequence order, and calls fn with each one whose leaf
// hash is proven by the signed root. A record that cannot be proven is
// passed to bad (or, if bad is nil, stops the walk with an error).
func (lg *Log) Entries(ctx context.Context, fn func(Entry) error, bad func(Problem)) error {
	hr, err := lg.Hashes(ctx)
	if err != nil {
		return err
	}
	report := func(p Problem) error {
		if bad == nil {
			return errors.New(p.String())
		}
		bad(p)
		return nil
	}
	size := lg.Latest.Size
	for block := int64(0); block<<publog.TileHeight < size; block++ {
		if err := ctx.Err(); err != nil {
			return err
		}
		start := block << publog.TileHeight
		bt := publog.BundleTile(size, block)
		key := lg.r.Locate(publog.TilePath(bt))
		entries, err := lg.Bundle(ctx, block)
		if err != nil {
			if err := report(Problem{Kind: "tile", Key: key, Message: err.Error()}); err != nil {
				return err
			}
			continue
		}
		idx := make([]int64, bt.W)
		for i := range idx {
			idx[i] = tlog.StoredHashIndex(0, start+int64(i))
		}
		leaves, err := hr.ReadHashes(idx)
		if err != nil {
			bt.L = 0
			if err := report(Problem{Kind: "tile", Key: lg.r.Locate(publog.TilePath(bt)),
				Message: "hash tile does not verify against the signed checkpoint: " + err.Error()}); err != nil {
				return err
			}
			continue
		}
		for i, data := range entries {
			seq := uint64(start) + uint64(i)
			p := Problem{Kind: "record", Seq: &seq, Key: key}
			var rec *evidence.Record
			if tlog.RecordHash(data) != leaves[i] {
				p.Message = "entry bundle record does not match the signed log (altered)"
			} else if rec, err = evidence.DecodeCanonical(data); err != nil {
				p.Message = "not a valid canonical record: " + err.Error()
			} else if rec.Seq != seq || rec.Agent != lg.Agent {
				p.Type, p.Message = rec.Type, fmt.Sprintf("says seq %d, agent %q", rec.Seq, rec.Agent)
			} else if err := fn(Entry{Seq: seq, Data: data, Record: rec}); err != nil {
				return err
			}
			if p.Message != "" {
				if err := report(p); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// forks reports every checkpoint that is not a prefix of the latest: the
// log forked (two agents writing as one, or a rewritten log).
func (lg *Log) forks(hr tlog.HashReader, add func(Problem)) {
	for _, c := range lg.Checkpoints[:len(lg.Checkpoints)-1] {
		h, err := tlog.TreeHash(c.Size, hr)
		if err != nil || h != c.Root {
			msg := fmt.Sprintf("not consistent with checkpoint %d: the log forked (two agents writing as %q, or a rewritten log)", lg.Latest.Size, lg.Agent)
			if err != nil {
				msg += ": " + err.Error()
			}
			add(Problem{Kind: "identity", Size: c.Size, Key: lg.r.Locate(publog.CheckpointPath(c.Size)), Message: msg})
		}
	}
}

// stamps checks the RFC 3161 token of every checkpoint (when roots are
// given or any token exists) against the checkpoint's exact bytes,
// counting it in rep or listing the checkpoint as not yet stamped; bad
// reports a token that does not verify.
func stamps(cps []*ledger.Checkpoint, tokens map[int64][]byte, roots *x509.CertPool, rep *Report, bad func(*ledger.Checkpoint, error)) {
	if roots == nil && len(tokens) == 0 {
		return
	}
	for _, c := range cps {
		if tok, ok := tokens[c.Size]; !ok {
			rep.Unstamped = append(rep.Unstamped, c.Size)
		} else if _, err := tsa.Verify(tok, c.Note, roots); err != nil {
			bad(c, err)
		} else {
			rep.Timestamped++
		}
	}
}
