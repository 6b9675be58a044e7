package http

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"net/url"
	"sort"
	"strconv"
	"strings"

	"github.com/tickmark-dev/tickmark/collectors"
)

// pageInfo is what a page says about itself.
type pageInfo struct {
	items  int    // items at Select (0 when the page is not a list)
	cursor string // next cursor (style cursor), "" at the end
}

// needsJSON reports whether the request must parse its pages.
func needsJSON(r *Request) bool {
	return r.Select != "" || (r.Pagination != nil && r.Pagination.Style != StyleLink)
}

// shape reads a page: counts its items and finds the next cursor. The body
// itself is stored unchanged. Only the values on the select and cursor
// paths are decoded; items are counted, not built.
func shape(r *Request, p *page) (pageInfo, error) {
	var info pageInfo
	if !isJSON(p.contentType) && !needsJSON(r) {
		return info, nil // any content: stored raw
	}
	if !json.Valid(p.body) {
		if needsJSON(r) {
			return info, fmt.Errorf("the response is not JSON (%s)", p.contentType)
		}
		return info, nil
	}
	items := json.RawMessage(p.body)
	if r.Select != "" {
		var ok bool
		if items, ok = rawAt(p.body, r.Select); !ok {
			return info, fmt.Errorf("select %q: the response has no such field (its top-level keys: %s)", r.Select, keys(p.body))
		}
	}
	switch k := kind(items); k {
	case "list":
		var xs []json.RawMessage
		if err := json.Unmarshal(items, &xs); err != nil {
			return info, fmt.Errorf("select %q: %v", r.Select, err)
		}
		info.items = len(xs)
	case "null":
	default:
		if r.Select != "" {
			return info, fmt.Errorf("select %q: is a %s, not a list of items", r.Select, k)
		}
	}
	if r.Pagination != nil && r.Pagination.Style == StyleCursor {
		if c, ok := rawAt(p.body, r.Pagination.CursorField); ok {
			switch k := kind(c); k {
			case "string":
				if err := json.Unmarshal(c, &info.cursor); err != nil {
					return info, fmt.Errorf("cursor_field %q: %v", r.Pagination.CursorField, err)
				}
			case "number":
				info.cursor = string(bytes.TrimSpace(c))
			case "null":
			case "boolean":
				if bytes.HasPrefix(bytes.TrimSpace(c), []byte("true")) {
					return info, fmt.Errorf("cursor_field %q is true, not a cursor", r.Pagination.CursorField)
				}
			default:
				return info, fmt.Errorf("cursor_field %q is a %s, not a string or number", r.Pagination.CursorField, k)
			}
		}
	}
	return info, nil
}

// artifact builds the evidence for one page: the raw body, where it came
// from (the URL without credentials, the page number) and how complete
// the listing is.
func (c *Collector) artifact(r *Request, p *page, info pageInfo, last bool) collectors.Artifact {
	first, _ := url.Parse(r.URL)
	query := fmt.Sprintf("page %d", p.n)
	if r.Select != "" {
		query += "; items at " + r.Select
	}
	return collectors.Artifact{
		Type:        r.EvidenceType,
		Subject:     first.Host + first.Path,
		ContentType: p.contentType,
		Body:        p.body,
		Source: collectors.Source{
			System:           "http",
			Endpoint:         r.Method + " " + redactURL(p.url, c.secrets(r)),
			Query:            query,
			Account:          first.Host,
			CollectorVersion: Version,
			Pages:            1,
			Complete:         last,
			Items:            info.items,
		},
	}
}

// secretParams are query parameters whose values are replaced in stored
// URLs: signed or keyed URLs (a Link header can hand one out) must not put
// their keys into evidence.
var secretParams = []string{"token", "key", "secret", "password", "passwd", "signature", "sig", "auth", "credential", "session"}

// redactURL returns u without user info or fragment, with secret-looking
// query values and any configured credential replaced by REDACTED.
func redactURL(u *url.URL, secrets []string) string {
	c := *u
	c.User = nil
	c.Fragment = ""
	if c.RawQuery != "" {
		q := c.Query()
		for k := range q {
			lk := strings.ToLower(k)
			for _, s := range secretParams {
				if strings.Contains(lk, s) {
					q[k] = []string{"REDACTED"}
					break
				}
			}
		}
		c.RawQuery = q.Encode()
	}
	return scrub(c.String(), secrets)
}

func isJSON(ct string) bool {
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil {
		return false
	}
	return mt == "application/json" || strings.HasSuffix(mt, "+json")
}

func decodeJSON(b []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	if dec.More() {
		return nil, errors.New("more than one JSON value")
	}
	return v, nil
}

// rawAt follows a dotted path ("data.items", "pages.0.rows") through
// objects and arrays of a valid JSON document.
func rawAt(doc []byte, path string) (json.RawMessage, bool) {
	cur := json.RawMessage(doc)
	for _, k := range strings.Split(path, ".") {
		switch kind(cur) {
		case "object":
			var m map[string]json.RawMessage
			if json.Unmarshal(cur, &m) != nil {
				return nil, false
			}
			v, ok := m[k]
			if !ok {
				return nil, false
			}
			cur = v
		case "list":
			var a []json.RawMessage
			i, err := strconv.Atoi(k)
			if err != nil || json.Unmarshal(cur, &a) != nil || i < 0 || i >= len(a) {
				return nil, false
			}
			cur = a[i]
		default:
			return nil, false
		}
	}
	return cur, true
}

// keys lists a document's top-level keys, for error messages.
func keys(doc []byte) string {
	var m map[string]json.RawMessage
	if kind(doc) != "object" || json.Unmarshal(doc, &m) != nil {
		return "none: the response is a " + kind(doc)
	}
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	if len(ks) > 10 {
		ks = append(ks[:10], "...")
	}
	return strings.Join(ks, ", ")
}

// kind names the type of a valid JSON value from its first byte.
func kind(v []byte) string {
	v = bytes.TrimSpace(v)
	if len(v) == 0 {
		return "nothing"
	}
	switch v[0] {
	case '{':
		return "object"
	case '[':
		return "list"
	case '"':
		return "string"
	case 'n':
		return "null"
	case 't', 'f':
		return "boolean"
	}
	return "number"
}
