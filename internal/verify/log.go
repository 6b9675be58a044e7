package verify

import (
	"context"
	"crypto/x509"
	"encoding/base64"
	"encoding/binary"
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

	r publog.Reader
}

// Pin is the key a verifier expects a log to be signed with (--key,
// --key-id, verify.key in the configuration): the log's checkpoints must
// be signed by it or by a key it announced, in a chain of rotations. The
// zero Pin trusts the keys the log publishes.
type Pin struct {
	Key   string // verifier key text ("<origin>+<id>+<base64>")
	KeyID string // or just its ID (8 hex digits)

	trusted []string // exactly these keys (a ledger's key history, already pinned)
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
				lg.problem(Problem{Kind: "key", Key: r.Locate(k), Message: err.Error()})
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
	lg.checkAnnouncements()
	trusted := lg.Keys
	switch {
	case pin.trusted != nil:
		trusted = map[string]string{}
		for _, k := range pin.trusted {
			trusted[k] = k
		}
	case pin.set():
		trusted = lg.pinned(pin)
	}
	var vs []note.Verifier
	for _, text := range trusted {
		if nv, err := note.NewVerifier(text); err == nil {
			vs = append(vs, nv)
		}
	}
	verifiers := note.VerifierList(vs...)
	cpNames, err := lg.list(ctx, publog.CheckpointsDir, "checkpoint", "the published checkpoints")
	if err != nil {
		return nil, err
	}
	for _, k := range cpNames {
		n := publog.Parse(k)
		switch n.Kind {
		case publog.Token:
			if b, err := r.Read(ctx, k); err != nil {
				lg.problem(Problem{Kind: "checkpoint", Size: n.Size, Key: r.Locate(k), Message: "timestamp token unreadable: " + err.Error()})
			} else {
				lg.Tokens[n.Size] = b
			}
			continue
		case publog.Checkpoint:
		default:
			lg.problem(Problem{Kind: "checkpoint", Key: r.Locate(k), Message: "not a checkpoint or token name: nothing tickmark writes"})
			continue
		}
		b, err := r.Read(ctx, k)
		if err != nil {
			lg.problem(Problem{Kind: "checkpoint", Size: n.Size, Key: r.Locate(k), Message: "unreadable: " + err.Error()})
			continue
		}
		c, err := ledger.OpenCheckpoint(b, origin, verifiers)
		if err != nil {
			lg.problem(lg.signatureProblem(n.Size, k, err, pin))
			continue
		}
		if c.Size != n.Size {
			lg.problem(Problem{Kind: "checkpoint", Size: n.Size, Key: r.Locate(k), Message: fmt.Sprintf("stored as size %d but says %d", n.Size, c.Size)})
			continue
		}
		lg.Checkpoints = append(lg.Checkpoints, c)
	}
	sort.Slice(lg.Checkpoints, func(i, j int) bool { return lg.Checkpoints[i].Size < lg.Checkpoints[j].Size })
	if n := len(lg.Checkpoints); n > 0 {
		lg.Latest = lg.Checkpoints[n-1]
	}
	lg.checkIdle()
	return lg, nil
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
		for _, id := range signers(c.Note) {
			used[id] = true
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

// signers returns the key IDs of a signed note's signature lines.
func signers(msg []byte) []string {
	_, sigs, ok := strings.Cut(string(msg), "\n\n")
	if !ok {
		return nil
	}
	var ids []string
	for _, line := range strings.Split(sigs, "\n") {
		f := strings.Fields(strings.TrimPrefix(line, "\u2014 "))
		if len(f) != 2 {
			continue
		}
		if b, err := base64.StdEncoding.DecodeString(f[1]); err == nil && len(b) >= 4 {
			ids = append(ids, fmt.Sprintf("%08x", binary.BigEndian.Uint32(b)))
		}
	}
	return ids
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
	switch {
	case pin.set():
		p.Message = fmt.Sprintf("not signed by the expected key %s or a key it announced: the log was signed under another key", pin)
	case len(signers) > 0:
		p.Message = fmt.Sprintf("signed by a key agent %s never announced under %s (%s): another agent may be using the ID %q",
			lg.Agent, lg.r.Locate(publog.KeysDir), strings.Join(signers, ", "), lg.Agent)
	default:
		p.Message = fmt.Sprintf("signed by a key agent %s never announced under %s: another agent may be using the ID %q", lg.Agent, lg.r.Locate(publog.KeysDir), lg.Agent)
	}
	return p
}

// pinned returns the published keys trusted from the pinned key: the pin
// itself and every key a chain of announcements leads to.
func (lg *Log) pinned(pin Pin) map[string]string {
	first := pin.Key
	if first == "" {
		first = lg.Keys[pin.KeyID]
	}
	if first == "" {
		lg.problem(Problem{Kind: "identity", Key: lg.r.Locate(publog.KeyPath(pin.KeyID)), Message: fmt.Sprintf("the expected key %s is not published: the log was signed under another key", pin)})
		return nil
	}
	trusted, _ := ledger.TrustedKeys(first, slices.Collect(maps.Values(lg.Announcements)))
	out := map[string]string{}
	for _, k := range trusted {
		if id, err := ledger.KeyID(k); err == nil {
			out[id] = k
		}
	}
	return out
}

func (lg *Log) problem(p Problem) { lg.Problems = append(lg.Problems, p) }

// unannounced opens a key history's announcements (passing those that do
// not open to bad) and returns the valid ones and the keys none introduces.
func unannounced(keys map[string]string, anns map[string][]byte, bad func(id string, err error)) (msgs [][]byte, first []string) {
	announced := map[string]bool{}
	for id, m := range anns {
		a, err := ledger.OpenAnnouncement(m)
		if err != nil {
			bad(id, err)
			continue
		}
		announced[a.New] = true
		msgs = append(msgs, m)
	}
	for _, k := range keys {
		if !announced[k] {
			first = append(first, k)
		}
	}
	return msgs, first
}

func (lg *Log) checkAnnouncements() {
	if len(lg.Announcements) == 0 {
		return
	}
	msgs, first := unannounced(lg.Keys, lg.Announcements, func(string, error) {})
	if len(first) != 1 {
		lg.problem(Problem{Kind: "identity", Message: fmt.Sprintf("%d published keys are not announced by an earlier key; exactly one (the first) may be: another agent may be using the ID %q", len(first), lg.Agent)})
		return
	}
	_, errs := ledger.TrustedKeys(first[0], msgs)
	for _, err := range errs {
		lg.problem(Problem{Kind: "key", Message: err.Error()})
	}
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
			b, err = r.r.Read(r.ctx, name)
			if err != nil {
				return nil, fmt.Errorf("hash tile %s: %w", r.r.Locate(name), err)
			}
			if len(b) != t.W*tlog.HashSize {
				return nil, fmt.Errorf("hash tile %s: %d bytes, want %d (truncated or padded)", r.r.Locate(name), len(b), t.W*tlog.HashSize)
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
	t := publog.BundleTile(lg.Latest.Size, n)
	name := publog.TilePath(t)
	b, err := lg.r.Read(ctx, name)
	if err != nil {
		return nil, fmt.Errorf("entry bundle %s unreadable: %w", lg.r.Locate(name), err)
	}
	entries, err := publog.ParseBundle(b)
	if err == nil && len(entries) != t.W {
		err = fmt.Errorf("holds %d entries, want %d", len(entries), t.W)
	}
	if err != nil {
		return nil, fmt.Errorf("entry bundle %s: %w", lg.r.Locate(name), err)
	}
	return entries, nil
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

// CheckHeads checks what binds the log's checkpoints together: every
// checkpoint's RFC 3161 token (listing those without one when roots are
// given or any token exists), and that every checkpoint is a prefix of the
// latest (one log, not a fork). It adds to rep.
func (lg *Log) CheckHeads(ctx context.Context, rep *Report, roots *x509.CertPool, add func(Problem)) {
	rep.StoreCheckpoints = len(lg.Checkpoints)
	if roots != nil || len(lg.Tokens) > 0 {
		for _, c := range lg.Checkpoints {
			tok, ok := lg.Tokens[c.Size]
			if !ok {
				rep.Unstamped = append(rep.Unstamped, c.Size)
				continue
			}
			if _, err := tsa.Verify(tok, c.Note, roots); err != nil {
				add(Problem{Kind: "checkpoint", Size: c.Size, Key: lg.r.Locate(publog.TokenPath(c.Size)), Message: "timestamp token: " + err.Error()})
				continue
			}
			rep.Timestamped++
		}
	}
	if lg.Latest == nil {
		add(Problem{Kind: "checkpoint", Message: "no verifiable checkpoint published in " + lg.r.Where()})
		return
	}
	rep.TreeSize = lg.Latest.Size
	rep.Root = fmt.Sprintf("%x", lg.Latest.Root[:])
	hr, err := lg.Hashes(ctx)
	if err != nil {
		return
	}
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
