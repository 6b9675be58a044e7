// Package oscal writes NIST OSCAL 1.1.3 assessment results: one
// observation per evidence artifact (with its SHA-256 and collection
// time) and one finding per check result, tied to the SOC 2 criteria its
// controls map to. docs/checks.md describes the mapping.
package oscal

import (
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/tickmark-dev/tickmark/internal/checks"
	"github.com/tickmark-dev/tickmark/internal/evidence"
)

// Version is the OSCAL version written.
const Version = "1.1.3"

// Input is what an assessment-results document describes.
type Input struct {
	Agent     string
	From, To  time.Time
	Generated time.Time
	// Tool names the producer ("tickmark v1.2.3").
	Tool string
	// Records are the artifacts, in sequence order; check results
	// (check.<id>) become findings as well as observations.
	Records []Evidence
}

// Evidence is one artifact and where its body is.
type Evidence struct {
	Record *evidence.Record
	// Href is where the body is: a path inside the auditor package, or
	// an object key.
	Href string
}

// criterionRE matches a SOC 2 Trust Services Criterion (CC6.1, A1.2, PI1.3).
var criterionRE = regexp.MustCompile(`^(CC|A|C|PI|P)[0-9]+\.[0-9]+$`)

type doc struct {
	AR ar `json:"assessment-results"`
}

type ar struct {
	UUID     string   `json:"uuid"`
	Metadata metadata `json:"metadata"`
	ImportAP href     `json:"import-ap"`
	Results  []result `json:"results"`
}

type href struct {
	Href    string `json:"href"`
	Remarks string `json:"remarks,omitempty"`
}

type metadata struct {
	Title        string `json:"title"`
	LastModified string `json:"last-modified"`
	Version      string `json:"version"`
	OSCALVersion string `json:"oscal-version"`
	Props        []prop `json:"props,omitempty"`
}

type prop struct {
	Name  string `json:"name"`
	Value string `json:"value"`
	NS    string `json:"ns,omitempty"`
	Class string `json:"class,omitempty"`
}

type result struct {
	UUID             string        `json:"uuid"`
	Title            string        `json:"title"`
	Description      string        `json:"description"`
	Start            string        `json:"start"`
	End              string        `json:"end"`
	ReviewedControls reviewed      `json:"reviewed-controls"`
	Observations     []observation `json:"observations,omitempty"`
	Findings         []finding     `json:"findings,omitempty"`
	Remarks          string        `json:"remarks,omitempty"`
}

type reviewed struct {
	ControlSelections []selection `json:"control-selections"`
}

type selection struct {
	IncludeControls []controlID `json:"include-controls,omitempty"`
	IncludeAll      *struct{}   `json:"include-all,omitempty"`
}

type controlID struct {
	ControlID string `json:"control-id"`
}

type observation struct {
	UUID             string     `json:"uuid"`
	Title            string     `json:"title"`
	Description      string     `json:"description"`
	Props            []prop     `json:"props,omitempty"`
	Methods          []string   `json:"methods"`
	RelevantEvidence []relevant `json:"relevant-evidence,omitempty"`
	Collected        string     `json:"collected"`
}

type relevant struct {
	Href        string `json:"href,omitempty"`
	Description string `json:"description"`
	Props       []prop `json:"props,omitempty"`
}

type finding struct {
	UUID                string    `json:"uuid"`
	Title               string    `json:"title"`
	Description         string    `json:"description"`
	Props               []prop    `json:"props,omitempty"`
	Target              target    `json:"target"`
	RelatedObservations []related `json:"related-observations,omitempty"`
}

type target struct {
	Type     string `json:"type"`
	TargetID string `json:"target-id"`
	Title    string `json:"title,omitempty"`
	Status   status `json:"status"`
}

type status struct {
	State  string `json:"state"`
	Reason string `json:"reason,omitempty"`
}

type related struct {
	ObservationUUID string `json:"observation-uuid"`
}

// ns is the namespace of tickmark's own OSCAL properties.
const ns = "https://tickmark.dev/ns/oscal"

// UUID is a name-based (version 5 layout, SHA-256) UUID: the same input
// gives the same document.
func UUID(parts ...string) string {
	h := sha256.Sum256([]byte(strings.Join(parts, "\x00")))
	h[6] = h[6]&0x0f | 0x50
	h[8] = h[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", h[0:4], h[4:6], h[6:8], h[8:10], h[10:16])
}

func ts(t time.Time) string { return t.UTC().Format(time.RFC3339) }

// Marshal builds the assessment-results document.
func Marshal(in Input) ([]byte, error) {
	if in.Tool == "" {
		in.Tool = "tickmark"
	}
	res := result{
		UUID:        UUID("result", in.Agent, ts(in.From), ts(in.To)),
		Title:       fmt.Sprintf("tickmark evidence and control tests of agent %s", in.Agent),
		Description: "Evidence collected by tickmark in the window (observations: each artifact with its SHA-256 and collection time, proven in the agent's signed Merkle log) and the results of its control tests (findings: a check that passed satisfies, one with exceptions does not satisfy, the SOC 2 criteria its controls support).",
		Start:       ts(in.From),
		End:         ts(in.To),
	}
	criteria := map[string]bool{}
	obsOf := map[uint64]string{}
	notTested := 0
	for _, e := range in.Records {
		r := e.Record
		u := UUID("observation", in.Agent, fmt.Sprint(r.Seq), r.SHA256)
		obsOf[r.Seq] = u
		method := "EXAMINE"
		if strings.HasPrefix(r.Type, checks.TypePrefix) {
			method = "TEST"
		}
		desc := fmt.Sprintf("%s artifact %q collected by %s (record %d of agent %s)", r.Type, r.Subject, r.Collector, r.Seq, in.Agent)
		title := r.Type
		if s := strings.TrimSpace(r.Subject); s != "" {
			title += ": " + s
		}
		o := observation{UUID: u, Title: title, Description: desc, Methods: []string{method}, Collected: ts(r.CollectedAt),
			Props: []prop{{Name: "evidence-type", Value: r.Type, NS: ns}, {Name: "record-seq", Value: fmt.Sprint(r.Seq), NS: ns}, {Name: "sha256", Value: r.SHA256, NS: ns}},
			RelevantEvidence: []relevant{{Href: e.Href, Description: fmt.Sprintf("the artifact's body (%s, %d bytes, SHA-256 %s)", r.ContentType, r.Size, r.SHA256),
				Props: []prop{{Name: "sha256", Value: r.SHA256, NS: ns}}}}}
		for _, c := range r.Controls {
			o.Props = append(o.Props, prop{Name: "control", Value: c, NS: ns})
			if criterionRE.MatchString(c) {
				criteria[c] = true
			}
		}
		res.Observations = append(res.Observations, o)
	}
	for _, e := range in.Records {
		r := e.Record
		if !strings.HasPrefix(r.Type, checks.TypePrefix) {
			continue
		}
		id, st, n, ok := checks.ParseSubject(r.Subject)
		if !ok {
			continue
		}
		if st != checks.StatusPass && st != checks.StatusFail {
			notTested++
			continue
		}
		state, reason := "satisfied", "pass"
		if st == checks.StatusFail {
			state, reason = "not-satisfied", "fail"
		}
		for _, c := range r.Controls {
			if !criterionRE.MatchString(c) {
				continue
			}
			res.Findings = append(res.Findings, finding{
				UUID:        UUID("finding", in.Agent, fmt.Sprint(r.Seq), c),
				Title:       fmt.Sprintf("Check %s for %s", id, c),
				Description: fmt.Sprintf("Control test %s evaluated at %s: %s, %d exception%s (%s). Its result artifact (record %d) lists every exception and input; `tickmark verify-package` re-evaluates it.", id, ts(r.CollectedAt), st, n, plural(n), r.Subject, r.Seq),
				Props:       []prop{{Name: "check", Value: id, NS: ns}, {Name: "exceptions", Value: fmt.Sprint(n), NS: ns}, {Name: "result-sha256", Value: r.SHA256, NS: ns}},
				Target: target{Type: "objective-id", TargetID: c, Title: "SOC 2 " + c,
					Status: status{State: state, Reason: reason}},
				RelatedObservations: []related{{ObservationUUID: obsOf[r.Seq]}},
			})
		}
	}
	ids := make([]string, 0, len(criteria))
	for c := range criteria {
		ids = append(ids, c)
	}
	sort.Strings(ids)
	sel := selection{}
	for _, c := range ids {
		sel.IncludeControls = append(sel.IncludeControls, controlID{ControlID: c})
	}
	if len(sel.IncludeControls) == 0 {
		sel.IncludeAll = &struct{}{}
	}
	res.ReviewedControls = reviewed{ControlSelections: []selection{sel}}
	if notTested > 0 {
		res.Remarks = fmt.Sprintf("%d check result%s in the window tested nothing (no evidence of an input type, or an input could not be read): no finding is claimed for them.", notTested, plural(notTested))
	}
	d := doc{AR: ar{
		UUID: UUID("assessment-results", in.Agent, ts(in.From), ts(in.To), ts(in.Generated)),
		Metadata: metadata{Title: fmt.Sprintf("tickmark assessment results: agent %s, %s to %s", in.Agent, in.From.UTC().Format(time.DateOnly), in.To.UTC().Add(-time.Nanosecond).Format(time.DateOnly)),
			LastModified: ts(in.Generated), Version: "1", OSCALVersion: Version,
			Props: []prop{{Name: "tool", Value: in.Tool, NS: ns}, {Name: "agent", Value: in.Agent, NS: ns}}},
		ImportAP: href{Href: "#assessment-plan", Remarks: "tickmark has no separate assessment plan: the plan is its configured collectors and checks (config/checks.yaml), recorded with each result."},
		Results:  []result{res},
	}}
	return json.MarshalIndent(d, "", " ")
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}
