package collectors

import (
	"bytes"
	"crypto/sha256"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// ItemLayout says where the population items of an evidence type's bodies
// are, what identifies one, and which fields it has. `tickmark population`,
// `tickmark sample`, and the control tests of `tickmark checks` read
// evidence through it, so a collector declares it once, next to its
// evidence types:
//
//	func init() {
//		collectors.RegisterItems("backupdb.restore_tests", collectors.ItemLayout{
//			Path: "tests", Key: []string{"id"}, Fields: []string{"database", "restored"},
//			Known: []string{"id", "database", "restored", "started_at", "finished_at"},
//		})
//	}
//
// Evidence types without a layout are read by the generic rule (see ReadItems).
type ItemLayout struct {
	// Path is the top-level JSON field holding the array of items ("" =
	// the body is the array, or the generic rule finds it).
	Path string
	// Key lists fields (dotted paths) identifying an item; the first
	// present is used, then the generic candidates (id, key, uuid, number,
	// login, EventId, name), else a hash of the item.
	Key []string
	// WithSubject prefixes the key with the artifact's subject and "#"
	// (pull request numbers are unique only within a repository).
	WithSubject bool
	// Fields are the columns shown in a population (dotted paths).
	Fields []string
	// ContentType, if set, is the only body type that holds items (other
	// artifacts of the type, e.g. summaries, are skipped and counted).
	ContentType string
	// PerArtifact: each body (a JSON object) is one item, keyed by all the
	// Key fields joined with "@" (a repository's branch: "org/repo@main").
	PerArtifact bool
	// Known lists every top-level field an item may have. A check rule
	// that names another field of the item is a configuration error. Empty:
	// field names are not checked. Adding a field to the evidence later is
	// compatible; removing one that a check uses is not.
	Known []string
	// Snapshot: each collection run describes the whole current state
	// (users, members, settings), so the population a check tests is the
	// latest run's items. Otherwise the items are events (pull requests,
	// tickets) and the population is every item collected in the window.
	Snapshot bool
	// Time lists fields (dotted paths, RFC 3339 values) saying when an
	// event item happened (merged_at, published, EventTime); the first
	// present is used. `--by observed` windows select items by it. Snapshot
	// items (and items without these fields) are observed when collected,
	// or, in an event stream, within their artifact's window.
	Time []string
}

// ItemTime returns when an item happened, from the layout's Time fields.
func ItemTime(v any, l ItemLayout) (time.Time, bool) {
	obj, ok := v.(map[string]any)
	if !ok {
		return time.Time{}, false
	}
	for _, f := range l.Time {
		if s := ItemField(obj, f); s != "" {
			if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
				return t, true
			}
		}
	}
	return time.Time{}, false
}

var (
	itemsMu sync.RWMutex
	layouts = map[string]ItemLayout{}
)

// RegisterItems declares the item layout of an evidence type. It panics
// on a duplicate declaration: two layouts for one type is a build error.
func RegisterItems(evidenceType string, l ItemLayout) {
	itemsMu.Lock()
	defer itemsMu.Unlock()
	if _, dup := layouts[evidenceType]; dup {
		panic(fmt.Sprintf("collectors: item layout of %q registered twice", evidenceType))
	}
	layouts[evidenceType] = l
}

// Items returns the declared item layout of an evidence type.
func Items(evidenceType string) (ItemLayout, bool) {
	itemsMu.RLock()
	defer itemsMu.RUnlock()
	l, ok := layouts[evidenceType]
	return l, ok
}

// ItemTypes lists the evidence types with a declared layout, sorted.
func ItemTypes() []string {
	itemsMu.RLock()
	defer itemsMu.RUnlock()
	out := make([]string, 0, len(layouts))
	for t := range layouts {
		out = append(out, t)
	}
	sort.Strings(out)
	return out
}

// IsKnown reports whether field is a declared top-level field of the
// layout's items (always true when the layout declares none).
func (l ItemLayout) IsKnown(field string) bool {
	if len(l.Known) == 0 {
		return true
	}
	for _, k := range l.Known {
		if k == field {
			return true
		}
	}
	return false
}

// Holds reports whether a body of this content type holds the layout's
// items (see ContentType).
func (l ItemLayout) Holds(contentType string) bool {
	if l.ContentType == "" {
		return true
	}
	mt, _, _ := mime.ParseMediaType(contentType)
	return mt == l.ContentType
}

// MaxItemObject bounds a per-artifact body decoded whole.
const MaxItemObject = 64 << 20

// GenericArrays are the top-level fields the generic rule looks for items
// in, in order; GenericKeys the fields it takes an item's key from.
var (
	GenericArrays = []string{"items", "data", "results", "records", "tickets", "users", "events", "alerts", "members", "pull_requests", "trails", "groups", "values"}
	GenericKeys   = []string{"id", "key", "uuid", "number", "login", "EventId", "name"}
)

// Item is one population item read from a body.
type Item struct {
	// Key identifies the item (see ItemLayout.Key).
	Key string
	// Value is the item: a JSON object decoded with json.Number numbers
	// (map[string]any), a JSON scalar, or, for a CSV body, the row as a
	// map from column name to string.
	Value any
}

// ReadItems streams the items of one body to fn and returns how many it
// read, or -1 when the body holds no list of items (a summary, a binary
// file): the artifact is then one item. Only one item is in memory at a
// time (a PerArtifact body is decoded whole, up to MaxItemObject).
//
// Without a declared layout the generic rule applies: a JSON array body is
// a list of items; a JSON object's first array field named in
// GenericArrays (else its first array field) holds them; a CSV body has one
// item per row keyed by its first column.
func ReadItems(body io.Reader, contentType, subject string, l ItemLayout, fn func(Item) error) (int, error) {
	mt, _, _ := mime.ParseMediaType(contentType)
	emit := func(key string, v any) error {
		if l.WithSubject {
			key = subject + "#" + key
		}
		return fn(Item{Key: key, Value: v})
	}
	switch mt {
	case "text/csv":
		return readCSV(body, l, emit)
	case "application/json", "application/x-ndjson", "":
	default:
		return -1, nil
	}
	if l.PerArtifact {
		var obj map[string]any
		dec := json.NewDecoder(io.LimitReader(body, MaxItemObject))
		dec.UseNumber()
		if err := dec.Decode(&obj); err != nil {
			return -1, nil
		}
		var parts []string
		for _, k := range l.Key {
			if v := ItemField(obj, k); v != "" {
				parts = append(parts, v)
			}
		}
		if len(parts) == 0 {
			return -1, nil
		}
		return 1, fn(Item{Key: strings.Join(parts, "@"), Value: obj})
	}
	dec := json.NewDecoder(body)
	dec.UseNumber()
	tok, err := dec.Token()
	if err != nil {
		return -1, nil
	}
	stream := func(d *json.Decoder) (int, error) {
		n := 0
		for d.More() {
			var it any
			if err := d.Decode(&it); err != nil {
				return n, err
			}
			if err := emit(itemKey(it, l), it); err != nil {
				return n, err
			}
			n++
		}
		return n, nil
	}
	if tok == json.Delim('[') {
		return stream(dec)
	}
	if tok != json.Delim('{') {
		return -1, nil
	}
	var fallback json.RawMessage
	for dec.More() {
		kt, err := dec.Token()
		if err != nil {
			return -1, err
		}
		k, _ := kt.(string)
		preferred := l.Path != "" && k == l.Path || l.Path == "" && contains(GenericArrays, k)
		if preferred {
			t, err := dec.Token()
			if err != nil {
				return -1, err
			}
			if t == json.Delim('[') {
				return stream(dec)
			}
			if _, ok := t.(json.Delim); ok {
				if err := skipRest(dec); err != nil {
					return -1, err
				}
			}
			continue
		}
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return -1, err
		}
		if l.Path == "" && fallback == nil && len(v) > 0 && v[0] == '[' {
			fallback = v
		}
	}
	if fallback != nil {
		d := json.NewDecoder(bytes.NewReader(fallback))
		d.UseNumber()
		if _, err := d.Token(); err != nil {
			return -1, err
		}
		return stream(d)
	}
	return -1, nil
}

func readCSV(body io.Reader, l ItemLayout, emit func(string, any) error) (int, error) {
	cr := csv.NewReader(body)
	cr.FieldsPerRecord = -1
	cr.ReuseRecord = true
	head, err := cr.Read()
	if err != nil {
		return -1, nil
	}
	head = append([]string(nil), head...)
	col := map[string]int{}
	for i, h := range head {
		col[h] = i
	}
	keyCol := 0
	for _, k := range l.Key {
		if i, ok := col[k]; ok {
			keyCol = i
			break
		}
	}
	n := 0
	for {
		rec, err := cr.Read()
		if err == io.EOF {
			return n, nil
		}
		if err != nil {
			return n, err
		}
		if keyCol >= len(rec) {
			continue
		}
		row := make(map[string]any, len(head))
		for i, h := range head {
			if i < len(rec) {
				row[h] = rec[i]
			}
		}
		if err := emit(rec[keyCol], row); err != nil {
			return n, err
		}
		n++
	}
}

func skipRest(dec *json.Decoder) error {
	depth := 1
	for depth > 0 {
		t, err := dec.Token()
		if err != nil {
			return err
		}
		if d, ok := t.(json.Delim); ok {
			if d == '[' || d == '{' {
				depth++
			} else {
				depth--
			}
		}
	}
	return nil
}

func itemKey(it any, l ItemLayout) string {
	obj, ok := it.(map[string]any)
	if !ok {
		return fmt.Sprint(it) // a scalar item is its own key
	}
	for _, k := range l.Key {
		if v := ItemField(obj, k); v != "" {
			return v
		}
	}
	for _, k := range GenericKeys {
		if v := ItemField(obj, k); v != "" {
			return v
		}
	}
	b, _ := json.Marshal(obj) // map keys sorted
	sum := sha256.Sum256(b)
	return fmt.Sprintf("sha256:%x", sum[:8])
}

// ItemField returns the field at a dotted path of a decoded item as text
// ("" when absent or null; objects and arrays as JSON).
func ItemField(obj map[string]any, path string) string {
	var cur any = obj
	for _, p := range strings.Split(path, ".") {
		m, ok := cur.(map[string]any)
		if !ok {
			return ""
		}
		cur = m[p]
	}
	switch v := cur.(type) {
	case nil:
		return ""
	case string:
		return v
	case json.Number:
		return v.String()
	case float64:
		return strconv.FormatFloat(v, 'f', -1, 64)
	case bool:
		return strconv.FormatBool(v)
	default:
		b, _ := json.Marshal(v)
		return string(b)
	}
}

func contains(xs []string, x string) bool {
	for _, y := range xs {
		if y == x {
			return true
		}
	}
	return false
}
