// Package publog owns the published log: the C2SP tlog-tiles layout an
// agent writes under <prefix>log/<agent>/ in the bucket (and, for its keys
// and checkpoints, at the root of an auditor package), the parser of every
// name in it, the entry-bundle codec and the widths of partial tiles.
//
//	tile/entries/<N>[.p/<W>]      the records, 256 to a bundle
//	tile/<L>/<N>[.p/<W>]          the Merkle hash tiles
//	checkpoints/<size>.note       signed checkpoints (+ .tsr: RFC 3161 token)
//	keys/<key-id>.pub             the agent's public keys, old ones kept
//	keys/<key-id>.announce        a key rotation, signed by the old and the new key
//	state/<time>-<size>.json      cursors and last runs, for `ledger restore`
//
// A Reader serves those names, relative to the log's root, from wherever
// the log is (a bucket, an auditor package); the checker in
// internal/verify reads every log through one.
package publog

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"golang.org/x/mod/sumdb/tlog"
)

// TileHeight is the C2SP tlog-tiles height: 256 hashes (or entries) a tile.
const TileHeight = 8

// Dirs of a log, relative to its root.
const (
	CheckpointsDir = "checkpoints/"
	KeysDir        = "keys/"
	TilesDir       = "tile/"
	StateDir       = "state/"
)

// Root is where agent's log lives under a bucket prefix ("" or "soc2/");
// agent "" gives the folder of every agent's log.
func Root(prefix, agent string) string {
	if agent == "" {
		return prefix + "log/"
	}
	return prefix + "log/" + agent + "/"
}

// AgentOf returns the agent whose log holds key (a full bucket key), or "".
func AgentOf(prefix, key string) string {
	rest, ok := strings.CutPrefix(key, Root(prefix, ""))
	if !ok {
		return ""
	}
	a, _, _ := strings.Cut(rest, "/")
	return a
}

// TilePath is the name of a hash tile or (L == -1) an entry bundle.
func TilePath(t tlog.Tile) string {
	var b strings.Builder
	b.WriteString(TilesDir)
	if t.L < 0 {
		b.WriteString("entries")
	} else {
		b.WriteString(strconv.Itoa(t.L))
	}
	b.WriteString("/")
	b.WriteString(TileIndexPath(t.N))
	if t.W < 1<<TileHeight {
		b.WriteString(".p/")
		b.WriteString(strconv.Itoa(t.W))
	}
	return b.String()
}

// TileIndexPath encodes a tile index as in C2SP tlog-tiles: zero-padded
// 3-digit elements, all but the last prefixed with x (1234067 -> x001/x234/067).
func TileIndexPath(n int64) string {
	s := fmt.Sprintf("%03d", n%1000)
	for n >= 1000 {
		n /= 1000
		s = fmt.Sprintf("x%03d/%s", n%1000, s)
	}
	return s
}

// CheckpointPath is the name of the signed checkpoint of a tree size.
func CheckpointPath(size int64) string { return fmt.Sprintf("%s%d.note", CheckpointsDir, size) }

// TokenPath is the name of a checkpoint's RFC 3161 token.
func TokenPath(size int64) string { return fmt.Sprintf("%s%d.tsr", CheckpointsDir, size) }

// KeyPath is the name of a public key.
func KeyPath(keyID string) string { return KeysDir + keyID + ".pub" }

// AnnouncementPath is the name of the note announcing keyID, signed by
// the key before it and by keyID.
func AnnouncementPath(keyID string) string { return KeysDir + keyID + ".announce" }

// StatePath is the name of the state object published after a push at
// tree size size. Names sort by time.
func StatePath(t time.Time, size int64) string {
	return fmt.Sprintf("%s%s-%d.json", StateDir, t.UTC().Format("20060102T150405.000000000Z"), size)
}

// Kind is what a name in a log is.
type Kind int

// Kinds of names.
const (
	Unknown Kind = iota
	Checkpoint
	Token
	PublicKey
	Announcement
	HashTile
	EntryBundle
	State
)

// Name is a parsed name.
type Name struct {
	Kind  Kind
	Size  int64     // Checkpoint, Token, State: the tree size
	KeyID string    // PublicKey, Announcement
	Tile  tlog.Tile // HashTile, EntryBundle (L == -1)
}

// Parse parses a name relative to a log's root; Kind is Unknown for a name
// no writer of this layout produces.
func Parse(name string) Name {
	switch {
	case strings.HasPrefix(name, CheckpointsDir):
		rest := name[len(CheckpointsDir):]
		for suffix, k := range map[string]Kind{".note": Checkpoint, ".tsr": Token} {
			if num, ok := strings.CutSuffix(rest, suffix); ok {
				if n, ok := parseSize(num); ok {
					return Name{Kind: k, Size: n}
				}
			}
		}
	case strings.HasPrefix(name, KeysDir):
		rest := name[len(KeysDir):]
		for suffix, k := range map[string]Kind{".pub": PublicKey, ".announce": Announcement} {
			if id, ok := strings.CutSuffix(rest, suffix); ok && id != "" && !strings.Contains(id, "/") {
				return Name{Kind: k, KeyID: id}
			}
		}
	case strings.HasPrefix(name, StateDir):
		rest, ok := strings.CutSuffix(name[len(StateDir):], ".json")
		if i := strings.LastIndexByte(rest, '-'); ok && i > 0 && !strings.Contains(rest, "/") {
			if n, ok := parseSize(rest[i+1:]); ok {
				return Name{Kind: State, Size: n}
			}
		}
	case strings.HasPrefix(name, TilesDir):
		rest, kind, level := name[len(TilesDir):], HashTile, "8/"
		if r, ok := strings.CutPrefix(rest, "entries/"); ok {
			rest, kind, level = r, EntryBundle, "8/data/"
		}
		// tlog's parser, then the round trip: only canonical names.
		if t, err := tlog.ParseTilePath("tile/" + level + rest); err == nil && t.H == TileHeight && TilePath(t) == name {
			return Name{Kind: kind, Tile: t}
		}
	}
	return Name{}
}

func parseSize(s string) (int64, bool) {
	if s == "" || s[0] == '+' || s[0] == '-' || len(s) > 1 && s[0] == '0' {
		return 0, false
	}
	n, err := strconv.ParseInt(s, 10, 64)
	return n, err == nil && n >= 0
}

// Width is the number of entries (level -1) or hashes (level L) in tile n
// of a log of the given size: 256, or fewer for the last, partial tile; 0
// if the tile is beyond the log.
func Width(size int64, level int, n int64) int {
	if level < 0 {
		level = 0
	}
	count := size >> (uint(level) * TileHeight) // hashes at this level
	start := n << TileHeight
	if start >= count {
		return 0
	}
	return int(min(count-start, 1<<TileHeight))
}

// BundleTile is entry bundle n of a log of the given size.
func BundleTile(size, n int64) tlog.Tile {
	return tlog.Tile{H: TileHeight, L: -1, N: n, W: Width(size, 0, n)}
}

// EncodeBundle encodes records as a C2SP tlog-tiles entry bundle: each
// entry a big-endian uint16 length and the bytes.
func EncodeBundle(entries [][]byte) ([]byte, error) {
	var buf bytes.Buffer
	for _, e := range entries {
		if len(e) > 0xffff {
			return nil, errors.New("entry too large for a bundle")
		}
		buf.Write(binary.BigEndian.AppendUint16(nil, uint16(len(e))))
		buf.Write(e)
	}
	return buf.Bytes(), nil
}

// ParseBundle splits an entry bundle.
func ParseBundle(b []byte) ([][]byte, error) {
	var out [][]byte
	for len(b) > 0 {
		if len(b) < 2 {
			return nil, errors.New("entry bundle: truncated length")
		}
		n := int(binary.BigEndian.Uint16(b))
		b = b[2:]
		if len(b) < n {
			return nil, errors.New("entry bundle: truncated entry")
		}
		out = append(out, b[:n])
		b = b[n:]
	}
	return out, nil
}

// Reader serves a published log's objects by name, relative to its root.
// Errors are returned, never swallowed: a log that cannot be listed is not
// an empty log.
type Reader interface {
	// List calls fn with every name under dir (one of the *Dir constants).
	List(ctx context.Context, dir string, fn func(name string) error) error
	// Read returns the object's bytes.
	Read(ctx context.Context, name string) ([]byte, error)
	// Where describes the log for messages ("s3://bucket under log/a/").
	Where() string
	// Locate is the name as a person finds it (the bucket key, the file in
	// the package): the Key of a problem.
	Locate(name string) string
}

// Objects is what a bucket offers (internal/store.Store has it).
type Objects interface {
	List(ctx context.Context, prefix string, fn func(key string) error) error
	Get(ctx context.Context, key string) (io.ReadCloser, error)
	Describe() string
}

// InBucket reads the log under root (see Root) in a bucket.
func InBucket(o Objects, root string) Reader { return bucketReader{o, root} }

type bucketReader struct {
	o    Objects
	root string
}

func (r bucketReader) List(ctx context.Context, dir string, fn func(string) error) error {
	return r.o.List(ctx, r.root+dir, func(key string) error { return fn(strings.TrimPrefix(key, r.root)) })
}

func (r bucketReader) Read(ctx context.Context, name string) ([]byte, error) {
	rc, err := r.o.Get(ctx, r.root+name)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	return io.ReadAll(rc)
}

func (r bucketReader) Where() string { return r.o.Describe() + " under " + r.root }

func (r bucketReader) Locate(name string) string { return r.root + name }
