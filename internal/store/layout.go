package store

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"golang.org/x/mod/sumdb/tlog"

	"github.com/tickmark-dev/tickmark/internal/evidence"
	"github.com/tickmark-dev/tickmark/internal/publog"
)

// TileHeight is the C2SP tlog-tiles height (see publog.TileHeight).
const TileHeight = publog.TileHeight

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
func (l Layout) LogPrefix(agent string) string { return publog.Root(l.prefix, agent) }

// Log reads agent's published log in st.
func (l Layout) Log(st Store, agent string) publog.Reader {
	return publog.InBucket(st, l.LogPrefix(agent))
}

// Tile is the key of a hash tile or (L == -1) an entry bundle.
func (l Layout) Tile(agent string, t tlog.Tile) string {
	return l.LogPrefix(agent) + publog.TilePath(t)
}

// Checkpoint is the key of a signed checkpoint.
func (l Layout) Checkpoint(agent string, size int64) string {
	return l.LogPrefix(agent) + publog.CheckpointPath(size)
}

// CheckpointToken is the key of a checkpoint's RFC 3161 token.
func (l Layout) CheckpointToken(agent string, size int64) string {
	return l.LogPrefix(agent) + publog.TokenPath(size)
}

// Key is the key of an agent's public key.
func (l Layout) Key(agent, keyID string) string { return l.LogPrefix(agent) + publog.KeyPath(keyID) }

// KeyAnnouncement is the key of the note announcing keyID, signed by the
// key before it.
func (l Layout) KeyAnnouncement(agent, keyID string) string {
	return l.LogPrefix(agent) + publog.AnnouncementPath(keyID)
}

// Agent returns the agent named by a key under log/, or "".
func (l Layout) Agent(key string) string { return publog.AgentOf(l.prefix, key) }

// WriteProbe is the key of the small fixed object an S3 store writes twice
// at start-up to learn whether the server honours If-None-Match.
func (l Layout) WriteProbe() string { return l.prefix + "tickmark/conditional-write-probe" }

// State is the key of an agent's state object (cursors and last runs)
// published after a push at tree size size: what `ledger restore` needs
// beyond the log. Keys sort by time.
func (l Layout) State(agent string, t time.Time, size int64) string {
	return l.LogPrefix(agent) + publog.StatePath(t, size)
}

// StatePrefix lists an agent's state objects.
func (l Layout) StatePrefix(agent string) string { return l.LogPrefix(agent) + publog.StateDir }
