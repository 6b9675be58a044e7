package console

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"sort"
	"strings"
)

const (
	previewMax  = 512 << 10 // bodies larger than this are not previewed
	previewRows = 200
	previewCols = 12
)

// Preview is a readable view of a body: pretty JSON, and a table when the
// body is (or holds) a list of items — a population — or is CSV.
type Preview struct {
	Kind      string // "json", "csv", "text", "none"
	Note      string // why there is no (or only a partial) preview
	Text      string
	TableName string // where the table's rows are ("items", "the top-level list", "CSV")
	Header    []string
	Rows      [][]string
	TotalRows int
}

func makePreview(contentType string, size int64, body io.Reader) *Preview {
	if size > previewMax {
		return &Preview{Kind: "none", Note: fmt.Sprintf("%d bytes: too large to preview; download the exact bytes", size)}
	}
	b, err := io.ReadAll(io.LimitReader(body, previewMax+1))
	if err != nil {
		return &Preview{Kind: "none", Note: "the body could not be read: " + err.Error()}
	}
	mt, _, _ := mime.ParseMediaType(contentType)
	switch {
	case mt == "application/json" || strings.HasSuffix(mt, "+json") || mt == "application/x-ndjson":
		return jsonPreview(b)
	case mt == "text/csv":
		return csvPreview(b)
	case strings.HasPrefix(mt, "text/"):
		return &Preview{Kind: "text", Text: string(b)}
	}
	return &Preview{Kind: "none", Note: "binary content (" + contentType + "): download the exact bytes"}
}

func jsonPreview(b []byte) *Preview {
	var v any
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	if err := dec.Decode(&v); err != nil {
		return &Preview{Kind: "text", Note: "not valid JSON: " + err.Error(), Text: string(b)}
	}
	var out bytes.Buffer
	if err := json.Indent(&out, b, "", "  "); err != nil {
		out.Reset()
		out.Write(b)
	}
	p := &Preview{Kind: "json", Text: out.String()}
	items, name := itemList(v)
	if len(items) > 0 {
		p.TableName = name
		tableOf(p, items)
	}
	return p
}

// itemList finds the body's list of objects: the body itself, or the
// first array of objects among its top-level fields.
func itemList(v any) ([]map[string]any, string) {
	objs := func(xs []any) []map[string]any {
		var out []map[string]any
		for _, x := range xs {
			m, ok := x.(map[string]any)
			if !ok {
				return nil
			}
			out = append(out, m)
		}
		return out
	}
	switch t := v.(type) {
	case []any:
		return objs(t), "the top-level list"
	case map[string]any:
		keys := make([]string, 0, len(t))
		for k := range t {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			if xs, ok := t[k].([]any); ok {
				if o := objs(xs); len(o) > 0 {
					return o, fmt.Sprintf("%q", k)
				}
			}
		}
	}
	return nil, ""
}

func tableOf(p *Preview, items []map[string]any) {
	seen := map[string]bool{}
	for _, it := range items {
		for k, v := range it {
			if !seen[k] && scalar(v) {
				seen[k] = true
				p.Header = append(p.Header, k)
			}
		}
	}
	sort.SliceStable(p.Header, func(i, j int) bool {
		return rank(p.Header[i]) < rank(p.Header[j]) || rank(p.Header[i]) == rank(p.Header[j]) && p.Header[i] < p.Header[j]
	})
	if len(p.Header) > previewCols {
		p.Header = p.Header[:previewCols]
	}
	p.TotalRows = len(items)
	for i, it := range items {
		if i >= previewRows {
			break
		}
		row := make([]string, len(p.Header))
		for j, h := range p.Header {
			if v, ok := it[h]; ok && v != nil {
				row[j] = fmt.Sprint(v)
			}
		}
		p.Rows = append(p.Rows, row)
	}
}

// rank puts identifying columns first.
func rank(k string) int {
	switch strings.ToLower(k) {
	case "id", "key", "number", "login", "name", "email":
		return 0
	}
	return 1
}

func scalar(v any) bool {
	switch v.(type) {
	case string, json.Number, bool, nil:
		return true
	}
	return false
}

func csvPreview(b []byte) *Preview {
	r := csv.NewReader(bytes.NewReader(b))
	r.FieldsPerRecord = -1
	recs, err := r.ReadAll()
	if err != nil || len(recs) == 0 {
		return &Preview{Kind: "text", Note: "not valid CSV", Text: string(b)}
	}
	p := &Preview{Kind: "csv", TableName: "CSV", Header: recs[0], TotalRows: len(recs) - 1}
	for i, rec := range recs[1:] {
		if i >= previewRows {
			break
		}
		p.Rows = append(p.Rows, rec)
	}
	return p
}
