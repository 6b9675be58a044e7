// Package redact scrubs secret values from text before it is logged,
// recorded or published: a collector's stderr, error messages, HTTP error
// bodies.
//
// A secret is found in the forms a careless script or API prints it: as is,
// JSON-escaped, URL-escaped (query and path), hex, and base64 (standard and
// URL alphabets, padded or not, and at any of the three byte alignments, so
// it is also found inside a longer encoded value such as an HTTP Basic
// credential "user:secret"). Each occurrence becomes [REDACTED].
package redact

import (
	"context"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"log/slog"
	"net/url"
	"sort"
	"strings"
)

// Mask replaces every occurrence of a secret.
const Mask = "[REDACTED]"

// MinLen is the shortest secret value that is scrubbed; shorter values
// (a flag, a port) would mask ordinary words. Encoded forms shorter than
// MinLen are not searched for either.
const MinLen = 6

// Redactor replaces known secret values. The zero value and nil replace
// nothing.
type Redactor struct {
	r *strings.Replacer
}

// New returns a Redactor for the given secret values.
func New(secrets ...string) *Redactor {
	seen := map[string]bool{}
	for _, s := range secrets {
		if len(s) < MinLen {
			continue
		}
		for _, v := range variants(s) {
			if len(v) >= MinLen {
				seen[v] = true
			}
		}
	}
	if len(seen) == 0 {
		return &Redactor{}
	}
	vs := make([]string, 0, len(seen))
	for v := range seen {
		vs = append(vs, v)
	}
	// Longest first: at one position the longer form wins.
	sort.Slice(vs, func(i, j int) bool {
		if len(vs[i]) != len(vs[j]) {
			return len(vs[i]) > len(vs[j])
		}
		return vs[i] < vs[j]
	})
	pairs := make([]string, 0, 2*len(vs))
	for _, v := range vs {
		pairs = append(pairs, v, Mask)
	}
	return &Redactor{r: strings.NewReplacer(pairs...)}
}

// variants are the forms of s searched for.
func variants(s string) []string {
	out := []string{s, url.QueryEscape(s), url.PathEscape(s), hex.EncodeToString([]byte(s)), strings.ToUpper(hex.EncodeToString([]byte(s)))}
	if j, err := json.Marshal(s); err == nil {
		out = append(out, string(j[1:len(j)-1]))
	}
	// base64 at each alignment: the characters that depend only on s.
	b := []byte(s)
	for k := 0; k < 3; k++ {
		enc := base64.RawStdEncoding.EncodeToString(append(make([]byte, k), b...))
		from := (8*k + 5) / 6      // first character with no bit of the k leading bytes
		to := 8 * (k + len(b)) / 6 // characters made only of bits of s (and the prefix)
		if k == 0 {
			out = append(out, base64.StdEncoding.EncodeToString(b), base64.URLEncoding.EncodeToString(b))
		}
		if to > from {
			core := enc[from:to]
			out = append(out, core, strings.NewReplacer("+", "-", "/", "_").Replace(core))
		}
	}
	return out
}

// String returns s with every secret replaced by Mask.
func (r *Redactor) String(s string) string {
	if r == nil || r.r == nil {
		return s
	}
	return r.r.Replace(s)
}

// Error returns err with a scrubbed message. The original stays reachable
// with errors.Is and errors.As (its classification, a deadline), but
// Error() never returns a secret.
func (r *Redactor) Error(err error) error {
	if err == nil || r == nil || r.r == nil {
		return err
	}
	msg := err.Error()
	if clean := r.String(msg); clean != msg {
		return &scrubbed{msg: clean, err: err}
	}
	return err
}

type scrubbed struct {
	msg string
	err error
}

func (s *scrubbed) Error() string { return s.msg }
func (s *scrubbed) Unwrap() error { return s.err }

// Bound cuts s to at most max bytes (on a UTF-8 boundary), marking the cut.
func Bound(s string, max int) string {
	if len(s) <= max {
		return s
	}
	const mark = " …[truncated]"
	n := max - len(mark)
	if n < 0 {
		n = 0
	}
	for n > 0 && n < len(s) && s[n]&0xC0 == 0x80 {
		n--
	}
	return s[:n] + mark
}

// Handler wraps h so that the message and every string, error and
// stringer attribute are scrubbed before h sees them.
func Handler(h slog.Handler, r *Redactor) slog.Handler {
	if r == nil || r.r == nil {
		return h
	}
	return &handler{h: h, r: r}
}

type handler struct {
	h slog.Handler
	r *Redactor
}

func (h *handler) Enabled(ctx context.Context, l slog.Level) bool { return h.h.Enabled(ctx, l) }

func (h *handler) Handle(ctx context.Context, rec slog.Record) error {
	out := slog.NewRecord(rec.Time, rec.Level, h.r.String(rec.Message), rec.PC)
	rec.Attrs(func(a slog.Attr) bool {
		out.AddAttrs(h.attr(a))
		return true
	})
	return h.h.Handle(ctx, out)
}

func (h *handler) attr(a slog.Attr) slog.Attr {
	v := a.Value.Resolve()
	switch v.Kind() {
	case slog.KindString:
		return slog.String(a.Key, h.r.String(v.String()))
	case slog.KindGroup:
		as := v.Group()
		out := make([]any, 0, len(as))
		for _, g := range as {
			out = append(out, h.attr(g))
		}
		return slog.Group(a.Key, out...)
	case slog.KindAny:
		switch x := v.Any().(type) {
		case error:
			return slog.String(a.Key, h.r.String(x.Error()))
		case interface{ String() string }:
			return slog.String(a.Key, h.r.String(x.String()))
		case []byte:
			return slog.String(a.Key, h.r.String(string(x)))
		}
	}
	return slog.Attr{Key: a.Key, Value: v}
}

func (h *handler) WithAttrs(as []slog.Attr) slog.Handler {
	out := make([]slog.Attr, len(as))
	for i, a := range as {
		out[i] = h.attr(a)
	}
	return &handler{h: h.h.WithAttrs(out), r: h.r}
}

func (h *handler) WithGroup(name string) slog.Handler {
	return &handler{h: h.h.WithGroup(name), r: h.r}
}
