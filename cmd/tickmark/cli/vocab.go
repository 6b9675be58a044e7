package cli

import (
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/agnivade/levenshtein"

	"github.com/tickmark-dev/tickmark/collectors"
	"github.com/tickmark-dev/tickmark/internal/config"
	"github.com/tickmark-dev/tickmark/internal/controls"
	"github.com/tickmark-dev/tickmark/internal/evidence"
	"github.com/tickmark-dev/tickmark/internal/readmodel"
)

// vocab is the one vocabulary of the read commands: every --control takes an
// organisation control ID (AC-02) or a SOC 2 criterion (CC6.1), every
// --type an evidence type and every --collector an instance name. An ID that
// nothing knows is a usage error with suggestions, never an empty answer.
type vocab struct {
	set *controls.Set
	cfg *config.Config
	// any reports whether at least one record matches q (the source's own
	// IDs: custom types, other agents' collectors).
	any func(q readmodel.Query) (bool, error)
}

func newVocab(set *controls.Set, cfg *config.Config, src readmodel.Source) *vocab {
	return &vocab{set: set, cfg: cfg, any: func(q readmodel.Query) (bool, error) {
		q.Limit = 1
		found := false
		err := src.Find(q, func(*evidence.Record, []byte) error { found = true; return nil })
		return found, err
	}}
}

// controlMatch is what a --control resolves to.
type controlMatch struct {
	// Controls are the organisation controls it names (a criterion: every
	// control mapped to it).
	Controls []*controls.Control
	// Criterion is set when the ID is a criterion (or a custom control ID
	// carried by records): records match when they name it.
	Criterion string
	// Types are the evidence types of an organisation control: records
	// match when they are of one of these types.
	Types map[string]bool
}

// matches reports whether a record belongs to the control.
func (m *controlMatch) matches(r *evidence.Record) bool {
	if m.Criterion != "" {
		for _, c := range r.Controls {
			if c == m.Criterion {
				return true
			}
		}
		return false
	}
	return m.Types[r.Type]
}

// control resolves an organisation control or criterion ID.
func (v *vocab) control(id string) (*controlMatch, error) {
	if c, ok := v.set.Control(id); ok {
		m := &controlMatch{Controls: []*controls.Control{c}, Types: map[string]bool{}}
		for _, t := range c.Evidence {
			m.Types[t] = true
		}
		return m, nil
	}
	m := &controlMatch{Criterion: id}
	for i := range v.set.Controls {
		c := &v.set.Controls[i]
		for _, cr := range c.Criteria {
			if cr == id {
				m.Controls = append(m.Controls, c)
				break
			}
		}
	}
	if _, ok := v.set.Catalog.Criterion(id); ok {
		return m, nil
	}
	for _, cc := range v.cfg.Collectors {
		for _, ids := range cc.Controls {
			for _, x := range ids {
				if x == id {
					return m, nil
				}
			}
		}
	}
	if v.any != nil {
		if ok, err := v.any(readmodel.Query{Control: id}); err != nil {
			return nil, failErr(err, "")
		} else if ok {
			return m, nil
		}
	}
	return nil, unknownID("control or criterion", id, v.controlIDs(), "run `tickmark controls list` for the organisation's controls and their criteria")
}

func (v *vocab) controlIDs() []string {
	var ids []string
	for _, c := range v.set.Controls {
		ids = append(ids, c.ID)
	}
	for _, c := range v.set.Catalog.Criteria {
		ids = append(ids, c.ID)
	}
	return ids
}

// evidenceType checks that an evidence type is declared (by a collector
// type, the control set or the configuration) or present in the evidence.
func (v *vocab) evidenceType(typ string) error {
	known := v.types()
	for _, t := range known {
		if t == typ {
			return nil
		}
	}
	if v.any != nil {
		if ok, err := v.any(readmodel.Query{Type: typ}); err != nil {
			return failErr(err, "")
		} else if ok {
			return nil
		}
	}
	return unknownID("evidence type", typ, known, "run `tickmark collectors list` for the types each collector emits")
}

func (v *vocab) types() []string {
	seen := map[string]bool{}
	for _, d := range collectors.Registered() {
		for _, et := range d.EvidenceTypes {
			seen[et.Name] = true
		}
	}
	for _, t := range v.set.Types() {
		seen[t] = true
	}
	for _, cc := range v.cfg.Collectors {
		for t := range cc.Controls {
			seen[t] = true
		}
	}
	out := make([]string, 0, len(seen))
	for t := range seen {
		out = append(out, t)
	}
	sort.Strings(out)
	return out
}

// collector checks that a collector instance is configured or present.
func (v *vocab) collector(name string) error {
	var names []string
	for _, cc := range v.cfg.Collectors {
		if cc.Name == name {
			return nil
		}
		names = append(names, cc.Name)
	}
	if v.any != nil {
		if ok, err := v.any(readmodel.Query{Collector: name}); err != nil {
			return failErr(err, "")
		} else if ok {
			return nil
		}
	}
	return unknownID("collector", name, names, "run `tickmark collectors list --config ...` for the configured instances")
}

// unknownID is the usage error for an ID nothing knows, with the nearest
// known IDs.
func unknownID(kind, id string, known []string, hint string) error {
	msg := fmt.Sprintf("unknown %s %q", kind, id)
	if s := suggest(id, known); len(s) > 0 {
		msg += "; did you mean " + strings.Join(s, " or ") + "?"
	}
	return usageErr(errors.New(msg), hint)
}

// suggest returns the known IDs nearest to id (edit distance, case folded,
// or a shared prefix), at most three.
func suggest(id string, known []string) []string {
	type cand struct {
		s string
		d int
	}
	var cs []cand
	lid := strings.ToLower(id)
	limit := max(2, len(id)/5)
	seen := map[string]bool{}
	for _, k := range known {
		if seen[k] {
			continue
		}
		seen[k] = true
		lk := strings.ToLower(k)
		d := levenshtein.ComputeDistance(lid, lk)
		if d <= limit || (len(lid) >= 3 && strings.HasPrefix(lk, lid)) {
			cs = append(cs, cand{k, d})
		}
	}
	sort.Slice(cs, func(i, j int) bool { return cs[i].d < cs[j].d || cs[i].d == cs[j].d && cs[i].s < cs[j].s })
	var out []string // the nearest ones only
	for i := 0; i < len(cs) && i < 3 && cs[i].d == cs[0].d; i++ {
		out = append(out, cs[i].s)
	}
	return out
}

// expandControls turns --control values (organisation controls or criteria)
// into organisation control IDs, for the commands that report per control.
func expandControls(v *vocab, ids []string) ([]string, error) {
	var out []string
	seen := map[string]bool{}
	for _, id := range ids {
		m, err := v.control(id)
		if err != nil {
			return nil, err
		}
		if len(m.Controls) == 0 {
			return nil, usageErr(fmt.Errorf("no control in the control set (%s) maps to %q", v.set.Source, id),
				"run `tickmark controls list` to see each control's criteria")
		}
		for _, c := range m.Controls {
			if !seen[c.ID] {
				seen[c.ID] = true
				out = append(out, c.ID)
			}
		}
	}
	return out, nil
}

// errStop ends a listing early (a limit reached).
var errStop = errors.New("stop")

// query validates a record query's type, collector and control, and
// resolves its control: a criterion stays in the query (the ledger's control
// index answers it); an organisation control becomes a filter on its
// evidence types, returned as keep.
func (v *vocab) query(q *readmodel.Query) (keep func(*evidence.Record) bool, err error) {
	keep = func(*evidence.Record) bool { return true }
	if q.Type != "" {
		if err := v.evidenceType(q.Type); err != nil {
			return nil, err
		}
	}
	if q.Collector != "" {
		if err := v.collector(q.Collector); err != nil {
			return nil, err
		}
	}
	if q.Control != "" {
		m, err := v.control(q.Control)
		if err != nil {
			return nil, err
		}
		if m.Criterion == "" {
			q.Control = ""
			keep = m.matches
		}
	}
	return keep, nil
}

// byWindow applies --by to a listing: by observation time, the query reads
// every record collected from the window's start on (evidence is collected
// when or after it is observed) and keep also requires that the record
// observed something in the window.
func byWindow(by string, q *readmodel.Query, keep func(*evidence.Record) bool) (func(*evidence.Record) bool, error) {
	b, err := readmodel.ParseBy(by)
	if err != nil {
		return nil, usageErr(err, "")
	}
	if b != readmodel.ByObserved {
		return keep, nil
	}
	from, to := q.From, q.To
	q.To = time.Time{}
	return func(r *evidence.Record) bool { return keep(r) && readmodel.ObservedIn(r, from, to) }, nil
}
