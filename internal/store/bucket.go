package store

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/url"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/tickmark-dev/tickmark/internal/evidence"
	"github.com/tickmark-dev/tickmark/internal/publog"
)

// layout builds every object key in the bucket (only Bucket uses it):
//
//	<prefix>/controls/<control>/<yyyy>/<mm>/<dd>/<type>/<agent>-<seq>-<sha8>.<ext>
//	<prefix>/log/<agent>/tile/entries/<N>[.p/<W>]
//	<prefix>/log/<agent>/tile/<L>/<N>[.p/<W>]
//	<prefix>/log/<agent>/checkpoints/<size>.note   (+ .tsr)
//	<prefix>/log/<agent>/keys/<key-id>.pub
type layout struct {
	prefix string
}

// evidence is the key of a record's body filed under one control.
func (l layout) evidence(control string, r *evidence.Record) string {
	t := r.CollectedAt.UTC()
	return fmt.Sprintf("%scontrols/%s/%04d/%02d/%02d/%s/%s-%012d-%s.%s", l.prefix, control,
		t.Year(), int(t.Month()), t.Day(), r.Type, r.Agent, r.Seq, r.SHA256[:8], evidence.Ext(r.ContentType))
}

// controlsPrefix lists evidence of one control ("" for all).
func (l layout) controlsPrefix(control string) string {
	if control == "" {
		return l.prefix + "controls/"
	}
	return l.prefix + "controls/" + control + "/"
}

// EvidenceName is a parsed evidence object key.
type EvidenceName struct {
	Control string
	Date    time.Time
	Type    string
	Agent   string
	Seq     uint64
	SHA8    string
	Ext     string
}

// parseEvidence parses a key built by evidence.
func (l layout) parseEvidence(key string) (EvidenceName, error) {
	rest, ok := strings.CutPrefix(key, l.prefix+"controls/")
	if !ok {
		return EvidenceName{}, fmt.Errorf("not an evidence key: %s", key)
	}
	p := strings.Split(rest, "/")
	if len(p) != 6 {
		return EvidenceName{}, fmt.Errorf("not an evidence key: %s", key)
	}
	d, err := time.Parse("2006/01/02", p[1]+"/"+p[2]+"/"+p[3])
	if err != nil {
		return EvidenceName{}, fmt.Errorf("not an evidence key: %s", key)
	}
	name, ext, _ := strings.Cut(p[5], ".")
	// <agent>-<seq12>-<sha8>; agent IDs may contain '-'
	if len(name) < 1+1+12+1+8 {
		return EvidenceName{}, fmt.Errorf("not an evidence key: %s", key)
	}
	sha8 := name[len(name)-8:]
	seqs := name[len(name)-8-1-12 : len(name)-8-1]
	seq, err := strconv.ParseUint(seqs, 10, 64)
	if err != nil {
		return EvidenceName{}, fmt.Errorf("not an evidence key: %s", key)
	}
	return EvidenceName{Control: p[0], Date: d, Type: p[4], Agent: name[:len(name)-8-1-12-1], Seq: seq, SHA8: sha8, Ext: ext}, nil
}

// logRoot is where an agent's log lives ("" agent: all agents).
func (l layout) logRoot(agent string) string { return publog.Root(l.prefix, agent) }

// writeProbe is the key of the small fixed object an S3 store writes twice
// at start-up to learn whether the server honours If-None-Match.
func (l layout) writeProbe() string { return l.prefix + "tickmark/conditional-write-probe" }

// Bucket is one bucket of evidence: a Store and the layout of its keys,
// which only Bucket knows. Evidence is filed under each of a record's
// controls; every agent's log lives under log/<agent>/ (see publog):
//
//	<prefix>/controls/<control>/<yyyy>/<mm>/<dd>/<type>/<agent>-<seq>-<sha8>.<ext>
//	<prefix>/log/<agent>/…   (publog names)
type Bucket struct {
	st  Store
	lay layout
}

// NewBucket is the bucket in st under prefix ("" or "soc2/").
func NewBucket(st Store, prefix string) *Bucket {
	return &Bucket{st: st, lay: layout{prefix: cleanPrefix(prefix)}}
}

// Store is the object storage the bucket is in.
func (b *Bucket) Store() Store { return b.st }

// Describe names the store for messages.
func (b *Bucket) Describe() string { return b.st.Describe() }

// Sync makes every completed Put durable.
func (b *Bucket) Sync(ctx context.Context) error { return b.st.Sync(ctx) }

// Close closes the store.
func (b *Bucket) Close() error { return b.st.Close() }

// EvidenceObject is the key of r's body filed under control.
func (b *Bucket) EvidenceObject(control string, r *evidence.Record) string {
	return b.lay.evidence(control, r)
}

// PutEvidence writes r's body (r.Size bytes, checked against r.SHA256)
// under control, once.
func (b *Bucket) PutEvidence(ctx context.Context, control string, r *evidence.Record, body io.Reader) error {
	var sum [32]byte
	if h, err := hex.DecodeString(r.SHA256); err != nil || len(h) != len(sum) {
		return fmt.Errorf("record %d: bad sha256 %q", r.Seq, r.SHA256)
	} else {
		copy(sum[:], h)
	}
	return b.st.Put(ctx, b.lay.evidence(control, r), body, r.Size, sum)
}

// OpenEvidence opens r's body under the first of its controls that holds it.
func (b *Bucket) OpenEvidence(ctx context.Context, r *evidence.Record) (io.ReadCloser, error) {
	var lastErr error = errors.New("the record names no control")
	for _, c := range r.Controls {
		rc, err := b.st.Get(ctx, b.lay.evidence(c, r))
		if err == nil {
			return rc, nil
		}
		lastErr = err
	}
	return nil, fmt.Errorf("body of record %d (%s) not in %s: %w", r.Seq, r.Type, b.st.Describe(), lastErr)
}

// Location is where a person finds r's body (under its first control): a
// file:// URL into a filesystem store, an s3:// URL into an S3 bucket; ""
// for a record with no control or a store of another kind.
func (b *Bucket) Location(r *evidence.Record) string {
	if len(r.Controls) == 0 {
		return ""
	}
	key := b.lay.evidence(r.Controls[0], r)
	switch st := b.st.(type) {
	case *Filesystem:
		return (&url.URL{Scheme: "file", Path: filepath.ToSlash(filepath.Join(st.Root(), filepath.FromSlash(key)))}).String()
	case *S3:
		return "s3://" + st.bucket + "/" + key
	}
	return ""
}

// ListEvidence calls fn for every object under controls/, with its parsed
// name (ok false: the key is no evidence object name).
func (b *Bucket) ListEvidence(ctx context.Context, fn func(key string, n EvidenceName, ok bool) error) error {
	return b.st.List(ctx, b.lay.controlsPrefix(""), func(key string) error {
		n, err := b.lay.parseEvidence(key)
		return fn(key, n, err == nil)
	})
}

// EvidenceDir is the key prefix ListEvidence lists, for messages.
func (b *Bucket) EvidenceDir() string { return b.lay.controlsPrefix("") }

// Agents lists the agents that published anything under log/, sorted.
func (b *Bucket) Agents(ctx context.Context) ([]string, error) {
	seen := map[string]bool{}
	var out []string
	err := b.st.List(ctx, b.lay.logRoot(""), func(key string) error {
		if a := publog.AgentOf(b.lay.prefix, key); a != "" && !seen[a] {
			seen[a] = true
			out = append(out, a)
		}
		return nil
	})
	sort.Strings(out)
	return out, err
}

// Log reads agent's published log.
func (b *Bucket) Log(agent string) publog.Reader {
	return publog.InBucket(b.st, b.lay.logRoot(agent))
}

// PutLog writes data under name (a publog name: tile, checkpoint, token,
// key, announcement, state) in agent's log, once.
func (b *Bucket) PutLog(ctx context.Context, agent, name string, data []byte) error {
	return b.st.Put(ctx, b.lay.logRoot(agent)+name, bytes.NewReader(data), int64(len(data)), sha256.Sum256(data))
}
