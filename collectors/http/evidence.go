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
// itself is stored unchanged.
func shape(r *Request, p *page) (pageInfo, error) {
	var info pageInfo
	if !isJSON(p.contentType) && !needsJSON(r) {
		return info, nil // any content: stored raw
	}
	v, err := decodeJSON(p.body)
	if err != nil {
		if needsJSON(r) {
			return info, fmt.Errorf("the response is not JSON (%s): %v", p.contentType, err)
		}
		return info, nil
	}
	items := v
	if r.Select != "" {
		var ok bool
		items, ok = lookup(v, r.Select)
		if !ok {
			return info, fmt.Errorf("select %q: the response has no such field (its top-level keys: %s)", r.Select, keys(v))
		}
	}
	switch x := items.(type) {
	case []any:
		info.items = len(x)
	case nil:
	default:
		if r.Select != "" {
			return info, fmt.Errorf("select %q: is a %s, not a list of items", r.Select, kind(x))
		}
	}
	if r.Pagination != nil && r.Pagination.Style == StyleCursor {
		c, ok := lookup(v, r.Pagination.CursorField)
		if ok {
			switch x := c.(type) {
			case string:
				info.cursor = x
			case json.Number:
				info.cursor = x.String()
			case nil:
			case bool:
				if x {
					return info, fmt.Errorf("cursor_field %q is true, not a cursor", r.Pagination.CursorField)
				}
			default:
				return info, fmt.Errorf("cursor_field %q is a %s, not a string or number", r.Pagination.CursorField, kind(x))
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

// lookup follows a dotted path ("data.items", "pages.0.rows") through
// objects and arrays.
func lookup(v any, path string) (any, bool) {
	for _, k := range strings.Split(path, ".") {
		switch x := v.(type) {
		case map[string]any:
			var ok bool
			if v, ok = x[k]; !ok {
				return nil, false
			}
		case []any:
			i, err := strconv.Atoi(k)
			if err != nil || i < 0 || i >= len(x) {
				return nil, false
			}
			v = x[i]
		default:
			return nil, false
		}
	}
	return v, true
}

func keys(v any) string {
	m, ok := v.(map[string]any)
	if !ok {
		return "none: the response is a " + kind(v)
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

func kind(v any) string {
	switch v.(type) {
	case map[string]any:
		return "object"
	case []any:
		return "list"
	case string:
		return "string"
	case json.Number:
		return "number"
	case bool:
		return "boolean"
	case nil:
		return "null"
	}
	return fmt.Sprintf("%T", v)
}
