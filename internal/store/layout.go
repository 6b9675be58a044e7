package store

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"golang.org/x/mod/sumdb/tlog"

	"github.com/tickmark-dev/tickmark/internal/evidence"
)

// TileHeight is the C2SP tlog-tiles height: 256 hashes (or entries) a tile.
const TileHeight = 8

// Layout builds every object key in the bucket:
//
//	<prefix>/controls/<control>/<yyyy>/<mm>/<dd>/<type>/<agent>-<seq>-<sha8>.<ext>
//	<prefix>/log/<agent>/tile/entries/<N>[.p/<W>]
//	<prefix>/log/<agent>/tile/<L>/<N>[.p/<W>]
//	<prefix>/log/<agent>/checkpoints/<size>.note   (+ .tsr)
//	<prefix>/log/<agent>/keys/<key-id>.pub
type Layout struct {
	prefix string
}

// NewLayout returns the layout under prefix ("" or "soc2/").
func NewLayout(prefix string) Layout { return Layout{prefix: cleanPrefix(prefix)} }

// Prefix returns the normalised prefix ("" or "soc2/").
func (l Layout) Prefix() string { return l.prefix }

// Evidence is the key of a record's body filed under one control.
func (l Layout) Evidence(control string, r *evidence.Record) string {
	t := r.CollectedAt.UTC()
	return fmt.Sprintf("%scontrols/%s/%04d/%02d/%02d/%s/%s-%012d-%s.%s", l.prefix, control,
		t.Year(), int(t.Month()), t.Day(), r.Type, r.Agent, r.Seq, r.SHA256[:8], evidence.Ext(r.ContentType))
}

// ControlsPrefix lists evidence of one control ("" for all).
func (l Layout) ControlsPrefix(control string) string {
	if control == "" {
		return l.prefix + "controls/"
	}
	return l.prefix + "controls/" + control + "/"
}

// EvidenceKey is a parsed evidence key.
type EvidenceKey struct {
	Control string
	Date    time.Time
	Type    string
	Agent   string
	Seq     uint64
	SHA8    string
	Ext     string
}

// ParseEvidence parses a key built by Evidence.
func (l Layout) ParseEvidence(key string) (EvidenceKey, error) {
	rest, ok := strings.CutPrefix(key, l.prefix+"controls/")
	if !ok {
		return EvidenceKey{}, fmt.Errorf("not an evidence key: %s", key)
	}
	p := strings.Split(rest, "/")
	if len(p) != 6 {
		return EvidenceKey{}, fmt.Errorf("not an evidence key: %s", key)
	}
	d, err := time.Parse("2006/01/02", p[1]+"/"+p[2]+"/"+p[3])
	if err != nil {
		return EvidenceKey{}, fmt.Errorf("not an evidence key: %s", key)
	}
	name, ext, _ := strings.Cut(p[5], ".")
	// <agent>-<seq12>-<sha8>; agent IDs may contain '-'
	if len(name) < 1+1+12+1+8 {
		return EvidenceKey{}, fmt.Errorf("not an evidence key: %s", key)
	}
	sha8 := name[len(name)-8:]
	seqs := name[len(name)-8-1-12 : len(name)-8-1]
	seq, err := strconv.ParseUint(seqs, 10, 64)
	if err != nil {
		return EvidenceKey{}, fmt.Errorf("not an evidence key: %s", key)
	}
	return EvidenceKey{Control: p[0], Date: d, Type: p[4], Agent: name[:len(name)-8-1-12-1], Seq: seq, SHA8: sha8, Ext: ext}, nil
}

// LogPrefix is where an agent's log lives ("" agent: all agents).
func (l Layout) LogPrefix(agent string) string {
	if agent == "" {
		return l.prefix + "log/"
	}
	return l.prefix + "log/" + agent + "/"
}

// Tile is the key of a hash tile or (L == -1) an entry bundle.
func (l Layout) Tile(agent string, t tlog.Tile) string {
	var b strings.Builder
	b.WriteString(l.LogPrefix(agent))
	b.WriteString("tile/")
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

// Checkpoint is the key of a signed checkpoint.
func (l Layout) Checkpoint(agent string, size int64) string {
	return fmt.Sprintf("%scheckpoints/%d.note", l.LogPrefix(agent), size)
}

// CheckpointToken is the key of a checkpoint's RFC 3161 token.
func (l Layout) CheckpointToken(agent string, size int64) string {
	return fmt.Sprintf("%scheckpoints/%d.tsr", l.LogPrefix(agent), size)
}

// CheckpointsPrefix lists an agent's checkpoints.
func (l Layout) CheckpointsPrefix(agent string) string { return l.LogPrefix(agent) + "checkpoints/" }

// ParseCheckpoint returns the tree size of a checkpoint key.
func (l Layout) ParseCheckpoint(key string) (agent string, size int64, ok bool) {
	rest, found := strings.CutPrefix(key, l.prefix+"log/")
	if !found {
		return "", 0, false
	}
	agent, file, found := strings.Cut(rest, "/checkpoints/")
	if !found || strings.Contains(agent, "/") {
		return "", 0, false
	}
	num, found := strings.CutSuffix(file, ".note")
	if !found {
		return "", 0, false
	}
	n, err := strconv.ParseInt(num, 10, 64)
	if err != nil || n < 0 {
		return "", 0, false
	}
	return agent, n, true
}

// Key is the key of an agent's public key.
func (l Layout) Key(agent, keyID string) string {
	return l.LogPrefix(agent) + "keys/" + keyID + ".pub"
}

// KeyAnnouncement is the key of the note announcing keyID, signed by the
// key before it.
func (l Layout) KeyAnnouncement(agent, keyID string) string {
	return l.LogPrefix(agent) + "keys/" + keyID + ".announce"
}

// KeysPrefix lists an agent's public keys.
func (l Layout) KeysPrefix(agent string) string { return l.LogPrefix(agent) + "keys/" }

// Agents returns the agent named by a key under log/, or "".
func (l Layout) Agent(key string) string {
	rest, ok := strings.CutPrefix(key, l.prefix+"log/")
	if !ok {
		return ""
	}
	a, _, _ := strings.Cut(rest, "/")
	return a
}

// WriteProbe is the key of the small fixed object an S3 store writes twice
// at start-up to learn whether the server honours If-None-Match.
func (l Layout) WriteProbe() string { return l.prefix + "tickmark/conditional-write-probe" }

// State is the key of an agent's state object (cursors and last runs)
// published after a push at tree size size: what `ledger restore` needs
// beyond the log. Keys sort by time.
func (l Layout) State(agent string, t time.Time, size int64) string {
	return fmt.Sprintf("%sstate/%s-%d.json", l.LogPrefix(agent), t.UTC().Format("20060102T150405.000000000Z"), size)
}

// StatePrefix lists an agent's state objects.
func (l Layout) StatePrefix(agent string) string { return l.LogPrefix(agent) + "state/" }
