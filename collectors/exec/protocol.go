package exec

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/tickmark-dev/tickmark/collectors"
)

// Line is one parsed line of the exec protocol: either an artifact or a
// cursor checkpoint. The protocol is documented in docs/exec-protocol.md and
// config/exec-protocol.schema.json.
type Line struct {
	Artifact *collectors.Artifact
	Cursor   *string
}

type wireLine struct {
	Type        *string            `json:"type"`
	Subject     string             `json:"subject"`
	Controls    []string           `json:"controls"`
	ObservedAt  string             `json:"observed_at"`
	WindowStart string             `json:"window_start"`
	WindowEnd   string             `json:"window_end"`
	ContentType string             `json:"content_type"`
	Body        json.RawMessage    `json:"body"`
	BodyBase64  *string            `json:"body_base64"`
	Source      *collectors.Source `json:"source"`
	Cursor      *json.RawMessage   `json:"cursor"`
}

// ParseLine parses one protocol line.
func ParseLine(b []byte) (Line, error) {
	b = bytes.TrimSpace(b)
	if len(b) == 0 {
		return Line{}, errors.New("empty line")
	}
	var w wireLine
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&w); err != nil {
		return Line{}, fmt.Errorf("not a JSON object of the exec protocol: %v", err)
	}
	if dec.More() {
		return Line{}, errors.New("more than one JSON value on the line")
	}
	if w.Cursor != nil {
		if w.Type != nil || w.Body != nil || w.BodyBase64 != nil {
			return Line{}, errors.New(`a cursor line carries only "cursor"`)
		}
		var s string
		if err := json.Unmarshal(*w.Cursor, &s); err != nil {
			// any JSON value is accepted as a cursor; keep its compact form
			var buf bytes.Buffer
			if err := json.Compact(&buf, *w.Cursor); err != nil {
				return Line{}, fmt.Errorf("cursor: %v", err)
			}
			s = buf.String()
		}
		return Line{Cursor: &s}, nil
	}
	if w.Type == nil || *w.Type == "" {
		return Line{}, errors.New(`missing "type" (or "cursor")`)
	}
	a := &collectors.Artifact{Type: *w.Type, Subject: w.Subject, Controls: w.Controls, ContentType: w.ContentType}
	if w.Source != nil {
		a.Source = *w.Source
	}
	var err error
	if a.ObservedAt, err = parseTime("observed_at", w.ObservedAt); err != nil {
		return Line{}, err
	}
	if a.WindowStart, err = parseTime("window_start", w.WindowStart); err != nil {
		return Line{}, err
	}
	if a.WindowEnd, err = parseTime("window_end", w.WindowEnd); err != nil {
		return Line{}, err
	}
	if !a.WindowStart.IsZero() && !a.WindowEnd.IsZero() && a.WindowEnd.Before(a.WindowStart) {
		return Line{}, errors.New("window_end is before window_start")
	}
	switch {
	case w.Body != nil && w.BodyBase64 != nil:
		return Line{}, errors.New(`give "body" or "body_base64", not both`)
	case w.BodyBase64 != nil:
		a.Body, err = base64.StdEncoding.DecodeString(*w.BodyBase64)
		if err != nil {
			return Line{}, fmt.Errorf("body_base64: %v", err)
		}
		if a.ContentType == "" {
			a.ContentType = "application/octet-stream"
		}
	case w.Body != nil:
		var buf bytes.Buffer
		if err := json.Compact(&buf, w.Body); err != nil {
			return Line{}, fmt.Errorf("body: %v", err)
		}
		a.Body = buf.Bytes()
		if a.ContentType == "" {
			a.ContentType = "application/json"
		}
	default:
		return Line{}, errors.New(`missing "body" or "body_base64"`)
	}
	return Line{Artifact: a}, nil
}

func parseTime(field, s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("%s: %q is not an RFC 3339 time (2026-11-30T10:00:00Z)", field, s)
	}
	return t.UTC(), nil
}
