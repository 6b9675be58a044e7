package export

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"mime"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/tickmark-dev/tickmark/internal/csvsafe"
	"github.com/tickmark-dev/tickmark/internal/evidence"
	"github.com/tickmark-dev/tickmark/internal/ledger"
	"github.com/tickmark-dev/tickmark/internal/readmodel"
)

// ItemSpec says how the items of an evidence type's bodies are found.
type ItemSpec struct {
	// Path is the top-level JSON field holding the array of items ("" =
	// the body is the array, or found by the generic rule).
	Path string
	// Key lists fields (dotted paths) identifying an item; the first
	// present is used. The generic candidates follow.
	Key []string
	// WithSubject prefixes the key with the artifact's subject (pull
	// request numbers are unique only within a repository).
	WithSubject bool
	// Fields are shown in the population (dotted paths).
	Fields []string
	// ContentType, if set, is the only body type that holds items (other
	// artifacts of the type, e.g. summaries, are skipped and counted).
	ContentType string
	// PerArtifact: each body (a JSON object) is one item, keyed by all the
	// Key fields joined with "@" (a repository's branch: "org/repo@main").
	PerArtifact bool
}

// ItemSpecs are the built-in evidence types' item locations. Types not
// listed use the generic rule: a JSON array body is a list of items; a JSON
// object's first array field named items, data, results, records, tickets,
// users, events, alerts, members, pull_requests, trails, groups or values
// (else its first array field) holds them; a CSV body has one item per row
// keyed by its first column; anything else is one item per artifact.
var ItemSpecs = map[string]ItemSpec{
	"okta.users":               {Path: "users", Key: []string{"id"}, Fields: []string{"login", "status", "created", "lastLogin", "mfa_enrolled"}},
	"okta.deprovisioned_users": {Path: "users", Key: []string{"id"}, Fields: []string{"login", "status", "statusChanged", "event_type", "actor.alternateId"}},
	"okta.groups":              {Path: "members", Key: []string{"id"}, WithSubject: true, Fields: []string{"login", "status"}},
	"okta.admins":              {Path: "users", Key: []string{"id"}, Fields: []string{"login", "status", "roles"}},
	"okta.policies":            {Path: "policies", Key: []string{"policy.id"}, Fields: []string{"policy.name", "policy.type", "policy.status", "policy.priority"}},
	"okta.system_log":          {Key: []string{"uuid"}, Fields: []string{"published", "eventType", "actor.alternateId", "outcome.result"}},
	"github.org_members":       {Path: "members", Key: []string{"login", "id"}, Fields: []string{"login", "role", "two_factor_disabled"}},
	"github.branch_protection": {PerArtifact: true, Key: []string{"repository", "branch"}, Fields: []string{"classic_protection_status", "effective.pull_request_required", "effective.required_approvals", "effective.force_push_blocked"}},
	"github.pull_requests":     {Path: "pull_requests", Key: []string{"number"}, WithSubject: true, Fields: []string{"title", "author", "merged_at", "merged_by", "approved_by", "independent_approval"}},
	"github.dependabot_alerts": {Path: "alerts", Key: []string{"number"}, WithSubject: true, Fields: []string{"state", "severity", "package", "ghsa_id", "created_at", "fixed_at", "dismissed_at"}},
	"jira.change_tickets":      jiraSpec,
	"jira.incidents":           jiraSpec,
	"jira.access_requests":     jiraSpec,
	"jira.offboarding":         jiraSpec,
	"jira.vulnerabilities":     jiraSpec,
	"jira.tickets":             jiraSpec,
	"aws.cloudtrail.events":    {Path: "events", Key: []string{"EventId"}, Fields: []string{"EventTime", "EventName", "Username", "EventSource"}},
	"aws.cloudtrail.trails":    {Path: "trails", Key: []string{"trail_arn", "name"}, Fields: []string{"name", "home_region", "log_file_validation_enabled"}},
	"aws.iam.credential_report": {Key: []string{"arn"}, Fields: []string{"user", "password_enabled", "mfa_active", "access_key_1_active"},
		ContentType: "text/csv"},
}

// maxObject bounds a per-artifact body decoded whole.
const maxObject = 64 << 20

var jiraSpec = ItemSpec{Path: "tickets", Key: []string{"key"}, Fields: []string{"summary", "type", "status", "created", "resolved"}}

var (
	genericArrays = []string{"items", "data", "results", "records", "tickets", "users", "events", "alerts", "members", "pull_requests", "trails", "groups", "values"}
	genericKeys   = []string{"id", "key", "uuid", "number", "login", "EventId", "name"}
)

// Row is one item of a population, deduplicated across artifacts: the
// latest artifact's version of it.
type Row struct {
	Key       string
	Kind      string // "item" or "artifact"
	Fields    []string
	First     time.Time
	Last      time.Time
	Artifacts int
	Seq       uint64 // latest record
	SHA256    string // latest body
	Subject   string
}

// Population is every item of an evidence type in a window.
type Population struct {
	Type      string
	Fields    []string
	Rows      []Row // sorted by key
	Artifacts int
	Skipped   int // artifacts of another content type than the spec's
}

// BuildPopulation reads every artifact of typ collected in [from, to) and
// extracts its items, streaming each body.
func BuildPopulation(ctx context.Context, src readmodel.Source, typ string, from, to time.Time) (*Population, error) {
	spec, known := ItemSpecs[typ]
	pop := &Population{Type: typ, Fields: spec.Fields}
	rows := map[string]*Row{}
	err := src.Find(ledger.Query{Type: typ, From: from, To: to}, func(r *evidence.Record, _ []byte) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		pop.Artifacts++
		mt, _, _ := mime.ParseMediaType(r.ContentType)
		if known && spec.ContentType != "" && mt != spec.ContentType {
			pop.Skipped++
			return nil
		}
		add := func(key, kind string, fields []string) {
			if spec.WithSubject && kind == "item" {
				key = r.Subject + "#" + key
			}
			row := rows[key]
			if row == nil {
				row = &Row{Key: key, Kind: kind, First: r.CollectedAt}
				rows[key] = row
			}
			row.Artifacts++
			if !r.CollectedAt.Before(row.Last) {
				row.Last, row.Seq, row.SHA256, row.Subject, row.Fields = r.CollectedAt, r.Seq, r.SHA256, r.Subject, fields
			}
		}
		body, err := src.Body(ctx, r)
		if err != nil {
			return fmt.Errorf("record %d (%s): %w", r.Seq, r.Type, err)
		}
		defer body.Close()
		n, err := items(body, mt, spec, func(key string, fields []string) { add(key, "item", fields) })
		if err != nil {
			return fmt.Errorf("record %d (%s): reading items: %w", r.Seq, r.Type, err)
		}
		if n < 0 { // not a list: one row per artifact
			add(fmt.Sprintf("%s-%012d", r.Agent, r.Seq), "artifact", nil)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	for _, r := range rows {
		pop.Rows = append(pop.Rows, *r)
	}
	sort.Slice(pop.Rows, func(i, j int) bool { return pop.Rows[i].Key < pop.Rows[j].Key })
	return pop, nil
}

// items calls fn for each item of a body and returns how many, or -1 when
// the body is not a list of items.
func items(body io.Reader, mediaType string, spec ItemSpec, fn func(key string, fields []string)) (int, error) {
	switch mediaType {
	case "text/csv":
		cr := csv.NewReader(body)
		cr.FieldsPerRecord = -1
		head, err := cr.Read()
		if err != nil {
			return -1, nil
		}
		col := map[string]int{}
		for i, h := range head {
			col[h] = i
		}
		keyCol := 0
		for _, k := range spec.Key {
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
			fields := make([]string, len(spec.Fields))
			for i, f := range spec.Fields {
				if c, ok := col[f]; ok && c < len(rec) {
					fields[i] = rec[c]
				}
			}
			if keyCol < len(rec) {
				fn(rec[keyCol], fields)
				n++
			}
		}
	case "application/json", "application/x-ndjson", "":
	default:
		return -1, nil
	}
	if spec.PerArtifact {
		var obj map[string]any
		dec := json.NewDecoder(io.LimitReader(body, maxObject))
		dec.UseNumber()
		if err := dec.Decode(&obj); err != nil {
			return -1, nil
		}
		var parts []string
		for _, k := range spec.Key {
			if v := lookup(obj, k); v != "" {
				parts = append(parts, v)
			}
		}
		if len(parts) == 0 {
			return -1, nil
		}
		fields := make([]string, len(spec.Fields))
		for i, f := range spec.Fields {
			fields[i] = lookup(obj, f)
		}
		fn(strings.Join(parts, "@"), fields)
		return 1, nil
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
			var it json.RawMessage
			if err := d.Decode(&it); err != nil {
				return n, err
			}
			key, fields := itemKey(it, spec)
			fn(key, fields)
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
		preferred := spec.Path != "" && k == spec.Path || spec.Path == "" && contains(genericArrays, k)
		if preferred {
			t, err := dec.Token()
			if err != nil {
				return -1, err
			}
			if t == json.Delim('[') {
				return stream(dec)
			}
			if d, ok := t.(json.Delim); ok {
				if err := skipRest(dec, d); err != nil {
					return -1, err
				}
			}
			continue
		}
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return -1, err
		}
		if spec.Path == "" && fallback == nil && len(v) > 0 && v[0] == '[' {
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

func skipRest(dec *json.Decoder, open json.Delim) error {
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

func itemKey(it json.RawMessage, spec ItemSpec) (string, []string) {
	var obj map[string]any
	fields := make([]string, len(spec.Fields))
	if err := json.Unmarshal(it, &obj); err != nil {
		// a scalar item is its own key
		var s any
		_ = json.Unmarshal(it, &s)
		return fmt.Sprint(s), fields
	}
	for i, f := range spec.Fields {
		fields[i] = lookup(obj, f)
	}
	for _, k := range append(append([]string{}, spec.Key...), genericKeys...) {
		if v := lookup(obj, k); v != "" {
			return v, fields
		}
	}
	sum := sha256.Sum256(canonicalJSON(obj))
	return fmt.Sprintf("sha256:%x", sum[:8]), fields
}

func lookup(obj map[string]any, path string) string {
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

func canonicalJSON(v any) []byte {
	b, _ := json.Marshal(v) // map keys sorted
	return b
}

func contains(xs []string, x string) bool {
	for _, y := range xs {
		if y == x {
			return true
		}
	}
	return false
}

// Header is the population CSV header.
func (p *Population) Header() []string {
	h := []string{"key", "kind"}
	h = append(h, p.Fields...)
	return append(h, "first_collected", "last_collected", "artifacts", "latest_seq", "latest_sha256", "subject")
}

// Record returns a row as CSV fields.
func (p *Population) Record(r Row) []string {
	out := []string{r.Key, r.Kind}
	for i := range p.Fields {
		v := ""
		if i < len(r.Fields) {
			v = r.Fields[i]
		}
		out = append(out, v)
	}
	return append(out, r.First.UTC().Format(time.RFC3339), r.Last.UTC().Format(time.RFC3339), strconv.Itoa(r.Artifacts), strconv.FormatUint(r.Seq, 10), r.SHA256, r.Subject)
}

// WriteCSV writes the population as CSV.
func (p *Population) WriteCSV(w io.Writer) error {
	cw := csvsafe.NewWriter(w)
	if err := cw.Write(p.Header()); err != nil {
		return err
	}
	for _, r := range p.Rows {
		if err := cw.Write(p.Record(r)); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}

// Digest is the SHA-256 of the population's CSV: an auditor can check a
// sample was drawn from the population they were given.
func (p *Population) Digest() string {
	h := sha256.New()
	_ = p.WriteCSV(h)
	return fmt.Sprintf("%x", h.Sum(nil))
}

// Sample draws n rows without replacement, reproducibly: the population
// is sorted by key and shuffled with a PCG generator seeded from
// SHA-256(seed). The same population and seed give the same sample.
func (p *Population) Sample(n int, seed string) ([]Row, error) {
	if seed == "" {
		return nil, errors.New("a seed is required (the auditor supplies it)")
	}
	if n <= 0 {
		return nil, errors.New("the sample size must be positive")
	}
	s := sha256.Sum256([]byte(seed))
	rng := rand.New(rand.NewPCG(binary.BigEndian.Uint64(s[:8]), binary.BigEndian.Uint64(s[8:16])))
	idx := make([]int, len(p.Rows))
	for i := range idx {
		idx[i] = i
	}
	n = min(n, len(idx))
	for i := 0; i < n; i++ { // partial Fisher-Yates
		j := i + rng.IntN(len(idx)-i)
		idx[i], idx[j] = idx[j], idx[i]
	}
	out := make([]Row, n)
	for i := range out {
		out[i] = p.Rows[idx[i]]
	}
	return out, nil
}
