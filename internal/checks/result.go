package checks

import (
	"encoding/json"
	"fmt"
	"regexp"
	"strconv"
	"time"

	"github.com/tickmark-dev/tickmark/collectors"
)

// Statuses of a result.
const (
	StatusPass   = "pass"
	StatusFail   = "fail"
	StatusNoData = "no_data" // an input type had no evidence in the window: nothing was tested
	StatusError  = "error"   // an input could not be read: nothing is claimed
)

// Result is the body of a check.<id> artifact: everything needed to
// re-run the check and compare.
type Result struct {
	Format string `json:"format"`
	Engine string `json:"engine"`
	Check  Def    `json:"check"`
	// Identities is the identity map the rule read (cross-source checks).
	Identities []Identity `json:"identities,omitempty"`
	// Layouts are the item layouts the inputs were read with.
	Layouts map[string]Layout `json:"layouts"`
	// EvaluatedAt is `now` in the rules.
	EvaluatedAt time.Time `json:"evaluated_at"`
	Window      Window    `json:"window"`
	Status      string    `json:"status"`
	// Population is the number of distinct items the rule applied to.
	Population int `json:"population"`
	// Evaluated counts item versions read (an item re-read in an
	// overlapping artifact counts once per artifact; the latest decides).
	Evaluated      int         `json:"evaluated"`
	ExceptionCount int         `json:"exception_count"`
	Exceptions     []Exception `json:"exceptions"`
	Inputs         []InputRef  `json:"inputs"`
	Note           string      `json:"note,omitempty"`
}

// Window is the evidence a result read: records collected in [From, To);
// snapshot types (users, settings) only from each collector's latest run.
type Window struct {
	From time.Time `json:"from"`
	To   time.Time `json:"to"`
}

// Exception is one item that failed the rule (or could not be evaluated).
type Exception struct {
	Key     string `json:"key"`
	Message string `json:"message"`
	// EvalError: the rule could not be evaluated on the item (a field
	// missing, a value of another type); it is not a pass.
	EvalError bool `json:"evaluation_error,omitempty"`
	// Seq and SHA256 name the artifact holding the item's latest version.
	Seq     uint64 `json:"seq"`
	SHA256  string `json:"sha256"`
	Subject string `json:"subject,omitempty"`
}

// InputRef names an input artifact.
type InputRef struct {
	// Role is "input" or "ref:<name>".
	Role        string    `json:"role"`
	Type        string    `json:"type"`
	Seq         uint64    `json:"seq"`
	SHA256      string    `json:"sha256"`
	CollectedAt time.Time `json:"collected_at"`
	Subject     string    `json:"subject,omitempty"`
	// Items read from it (-1: not a list; one item per artifact).
	Items int `json:"items"`
}

// Layout is collectors.ItemLayout as recorded in a result.
type Layout struct {
	Path        string   `json:"path,omitempty"`
	Key         []string `json:"key,omitempty"`
	WithSubject bool     `json:"with_subject,omitempty"`
	ContentType string   `json:"content_type,omitempty"`
	PerArtifact bool     `json:"per_artifact,omitempty"`
	Snapshot    bool     `json:"snapshot,omitempty"`
}

func layoutOf(l collectors.ItemLayout) Layout {
	return Layout{Path: l.Path, Key: l.Key, WithSubject: l.WithSubject, ContentType: l.ContentType, PerArtifact: l.PerArtifact, Snapshot: l.Snapshot}
}

func (l Layout) items() collectors.ItemLayout {
	return collectors.ItemLayout{Path: l.Path, Key: l.Key, WithSubject: l.WithSubject, ContentType: l.ContentType, PerArtifact: l.PerArtifact, Snapshot: l.Snapshot}
}

// Encode is the result's body bytes.
func (r *Result) Encode() []byte {
	b, err := json.MarshalIndent(r, "", " ")
	if err != nil {
		panic(err) // only plain data
	}
	return append(b, '\n')
}

// DecodeResult parses a check.<id> body.
func DecodeResult(b []byte) (*Result, error) {
	var r Result
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("not a check result: %w", err)
	}
	if r.Format != ResultFormat {
		return nil, fmt.Errorf("not a check result (format %q, want %q)", r.Format, ResultFormat)
	}
	return &r, nil
}

// Subject is the record subject of a result: the check ID, its status and
// counts, readable from the ledger's index without the body (coverage
// reads it).
func (r *Result) Subject() string {
	return fmt.Sprintf("%s: %s, %d exception%s in %d item%s", r.Check.ID, r.Status, r.ExceptionCount, plural(r.ExceptionCount), r.Population, plural(r.Population))
}

var subjectRE = regexp.MustCompile(`^(\S+): ([a-z_]+), (\d+) exceptions? in (\d+) items?$`)

// ParseSubject reads a result's check ID, status and exception count from
// its record subject.
func ParseSubject(s string) (id, status string, exceptions int, ok bool) {
	m := subjectRE.FindStringSubmatch(s)
	if m == nil {
		return "", "", 0, false
	}
	n, _ := strconv.Atoi(m[3])
	return m[1], m[2], n, true
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}
