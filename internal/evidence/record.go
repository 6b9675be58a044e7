// Package evidence defines the evidence record: the canonical, hashed
// description of one artifact that the ledger stores as a Merkle leaf.
package evidence

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"strconv"
	"strings"
	"time"

	"github.com/tickmark-dev/tickmark/collectors"
)

// Version is the record format version.
const Version = 1

// MaxRecordSize bounds a record's canonical encoding: tlog-tiles entry
// bundles length-prefix entries with a uint16.
const MaxRecordSize = 65535

// Record is one artifact's entry in the ledger. Its canonical bytes (see
// Encode) are what the Merkle tree commits to.
type Record struct {
	V             int               `json:"v"`
	Seq           uint64            `json:"seq"`
	Agent         string            `json:"agent"`
	Collector     string            `json:"collector"`
	CollectorType string            `json:"collector_type"`
	RunID         string            `json:"run_id"`
	Type          string            `json:"type"`
	Subject       string            `json:"subject,omitempty"`
	Controls      []string          `json:"controls"`
	CollectedAt   time.Time         `json:"collected_at"`
	ObservedAt    *time.Time        `json:"observed_at,omitempty"`
	WindowStart   *time.Time        `json:"window_start,omitempty"`
	WindowEnd     *time.Time        `json:"window_end,omitempty"`
	Source        collectors.Source `json:"source"`
	ContentType   string            `json:"content_type"`
	Size          int64             `json:"size"`
	SHA256        string            `json:"sha256"`
}

// Encode returns the record's canonical bytes: compact JSON, fields in
// declaration order, times in UTC RFC 3339 with nanoseconds, no HTML
// escaping, no trailing newline.
func (r *Record) Encode() ([]byte, error) {
	c := *r
	c.CollectedAt = c.CollectedAt.UTC()
	c.ObservedAt = utcPtr(c.ObservedAt)
	c.WindowStart = utcPtr(c.WindowStart)
	c.WindowEnd = utcPtr(c.WindowEnd)
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(&c); err != nil {
		return nil, err
	}
	b := bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
	if len(b) > MaxRecordSize {
		return nil, fmt.Errorf("record for %s %q is %d bytes, over the %d-byte limit (shorten the subject or source)", r.Type, r.Subject, len(b), MaxRecordSize)
	}
	return b, nil
}

// Split is a record encoded without its sequence number, so the expensive
// part of encoding can happen before the ledger assigns one: the canonical
// bytes are `{"v":1,"seq":` + the number + Tail.
type Split struct {
	Tail []byte
}

// EncodeSplit encodes r with its sequence number left out (see Split).
func (r *Record) EncodeSplit() (Split, error) {
	c := *r
	c.Seq = 0
	b, err := c.Encode()
	if err != nil {
		return Split{}, err
	}
	head := fmt.Appendf(nil, `{"v":%d,"seq":0`, c.V)
	if !bytes.HasPrefix(b, head) {
		return Split{}, errors.New("evidence: unexpected canonical prefix")
	}
	return Split{Tail: b[len(head):]}, nil
}

// Join returns the canonical bytes of the split record with seq filled in.
func (s Split) Join(version int, seq uint64) []byte {
	out := make([]byte, 0, 24+len(s.Tail))
	out = append(out, `{"v":`...)
	out = strconv.AppendInt(out, int64(version), 10)
	out = append(out, `,"seq":`...)
	out = strconv.AppendUint(out, seq, 10)
	return append(out, s.Tail...)
}

func utcPtr(t *time.Time) *time.Time {
	if t == nil || t.IsZero() {
		return nil
	}
	u := t.UTC()
	return &u
}

// Decode parses canonical record bytes. It refuses unknown fields and
// bytes that are not in canonical form, so a record cannot carry hidden data.
func Decode(b []byte) (*Record, error) {
	var r Record
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&r); err != nil {
		return nil, fmt.Errorf("decoding record: %w", err)
	}
	if dec.More() {
		return nil, errors.New("decoding record: trailing data")
	}
	if r.V != Version {
		return nil, fmt.Errorf("decoding record: unsupported version %d", r.V)
	}
	if _, err := hex.DecodeString(r.SHA256); err != nil || len(r.SHA256) != 64 {
		return nil, errors.New("decoding record: sha256 is not 64 hex digits")
	}
	return &r, nil
}

// DecodeCanonical is Decode plus a check that b is the canonical encoding.
func DecodeCanonical(b []byte) (*Record, error) {
	r, err := Decode(b)
	if err != nil {
		return nil, err
	}
	enc, err := r.Encode()
	if err != nil {
		return nil, err
	}
	if !bytes.Equal(enc, b) {
		return nil, errors.New("decoding record: not in canonical form")
	}
	return r, nil
}

// ValidType reports whether t is a valid evidence type ("okta.users"); the
// rule is collectors.ValidEvidenceType.
func ValidType(t string) bool { return collectors.ValidEvidenceType(t) == nil }

// ValidControl reports whether id is a valid control ID ("CC6.1"); the rule
// is collectors.ValidControlID.
func ValidControl(id string) bool { return collectors.ValidControlID(id) == nil }

// Ext returns the file extension for a content type.
func Ext(contentType string) string {
	mt, _, err := mime.ParseMediaType(contentType)
	if err != nil {
		mt = strings.ToLower(strings.TrimSpace(contentType))
	}
	switch mt {
	case "application/json":
		return "json"
	case "application/x-ndjson", "application/jsonl":
		return "ndjson"
	case "text/csv":
		return "csv"
	case "text/plain":
		return "txt"
	case "text/html":
		return "html"
	case "application/pdf":
		return "pdf"
	case "application/xml", "text/xml":
		return "xml"
	case "application/gzip", "application/x-gzip":
		return "gz"
	case "application/zip":
		return "zip"
	case "image/png":
		return "png"
	case "text/yaml", "application/yaml":
		return "yaml"
	}
	return "bin"
}
