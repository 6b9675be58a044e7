// Package controls holds the framework catalog (SOC 2 Trust Services
// Criteria and crosswalks), the organisation's controls, the mapping from
// evidence types to controls, and coverage: for each control and each
// period its frequency requires in an observation window, whether evidence
// was collected, and if not, why.
package controls

import (
	"fmt"
	"os"
	"sort"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/tickmark-dev/tickmark/collectors"
	shipped "github.com/tickmark-dev/tickmark/config"
	"github.com/tickmark-dev/tickmark/internal/evidence"
)

// Criterion is one framework criterion ("CC6.1").
type Criterion struct {
	ID       string `yaml:"id" json:"id"`
	Category string `yaml:"category" json:"category"`
	Title    string `yaml:"title" json:"title"`
}

// Catalog is a framework's criteria.
type Catalog struct {
	Framework string      `yaml:"framework" json:"framework"`
	Name      string      `yaml:"name" json:"name"`
	Version   string      `yaml:"version" json:"version"`
	Criteria  []Criterion `yaml:"criteria" json:"criteria"`

	byID map[string]*Criterion
}

// Criterion returns the criterion with id.
func (c *Catalog) Criterion(id string) (*Criterion, bool) {
	cr, ok := c.byID[id]
	return cr, ok
}

// Mapping maps one criterion to other frameworks' controls.
type Mapping struct {
	Criterion string            `yaml:"criterion" json:"criterion"`
	ISO27001  []string          `yaml:"iso27001-2022" json:"iso27001_2022,omitempty"`
	CSF       []string          `yaml:"nist-csf-2.0" json:"nist_csf_2_0,omitempty"`
	Source    map[string]string `yaml:"source" json:"source"`
}

// Crosswalk maps criteria to ISO/IEC 27001:2022 Annex A and NIST CSF 2.0.
type Crosswalk struct {
	Frameworks map[string]string `yaml:"frameworks" json:"frameworks"`
	Mappings   []Mapping         `yaml:"mappings" json:"mappings"`

	byCriterion map[string]*Mapping
}

// For returns the mapping of a criterion, if any.
func (x *Crosswalk) For(id string) (*Mapping, bool) {
	m, ok := x.byCriterion[id]
	return m, ok
}

// Frequency is how often a control must produce evidence.
type Frequency string

// Frequencies.
const (
	Continuous Frequency = "continuous"
	Daily      Frequency = "daily"
	Weekly     Frequency = "weekly"
	Monthly    Frequency = "monthly"
	Quarterly  Frequency = "quarterly"
	Annual     Frequency = "annual"
)

// Valid reports whether f is a known frequency.
func (f Frequency) Valid() bool {
	switch f {
	case Continuous, Daily, Weekly, Monthly, Quarterly, Annual:
		return true
	}
	return false
}

// Control is one organisation control.
type Control struct {
	ID        string    `yaml:"id" json:"id"`
	Title     string    `yaml:"title" json:"title"`
	Owner     string    `yaml:"owner" json:"owner"`
	Criteria  []string  `yaml:"criteria" json:"criteria"`
	Frequency Frequency `yaml:"frequency" json:"frequency"`
	Evidence  []string  `yaml:"evidence" json:"evidence"`
}

// Set is the organisation's control set with the framework it maps to.
type Set struct {
	Version  int       `yaml:"version" json:"version"`
	Controls []Control `yaml:"controls" json:"controls"`

	// Source is the file the set came from ("built-in" for the default).
	Source    string     `yaml:"-" json:"source"`
	Catalog   *Catalog   `yaml:"-" json:"-"`
	Crosswalk *Crosswalk `yaml:"-" json:"-"`

	byID   map[string]*Control
	byType map[string][]*Control
}

// Control returns the control with id.
func (s *Set) Control(id string) (*Control, bool) {
	c, ok := s.byID[id]
	return c, ok
}

// ForType returns the controls an evidence type satisfies, in set order.
func (s *Set) ForType(evidenceType string) []*Control { return s.byType[evidenceType] }

// Types returns every evidence type the set names, sorted.
func (s *Set) Types() []string {
	out := make([]string, 0, len(s.byType))
	for t := range s.byType {
		out = append(out, t)
	}
	sort.Strings(out)
	return out
}

// BuiltIn names the shipped control set.
const BuiltIn = "built-in"

// DefaultCatalog parses the shipped SOC 2 catalog.
func DefaultCatalog() (*Catalog, error) { return ParseCatalog(shipped.TSC, "tsc2017.yaml") }

// ParseCatalog decodes and checks a framework catalog.
func ParseCatalog(data []byte, name string) (*Catalog, error) {
	var c Catalog
	if err := decode(data, name, &c); err != nil {
		return nil, err
	}
	c.byID = map[string]*Criterion{}
	var errs collectors.ConfigErrors
	for i := range c.Criteria {
		cr := &c.Criteria[i]
		if !evidence.ValidControl(cr.ID) || cr.Title == "" {
			errs = append(errs, &collectors.ConfigError{Key: fmt.Sprintf("%s: criteria[%d]", name, i), Msg: "needs a valid id and a title"})
			continue
		}
		if _, dup := c.byID[cr.ID]; dup {
			errs = append(errs, &collectors.ConfigError{Key: fmt.Sprintf("%s: criteria[%d]", name, i), Msg: "duplicate criterion " + cr.ID})
		}
		c.byID[cr.ID] = cr
	}
	if len(errs) > 0 {
		return nil, errs
	}
	return &c, nil
}

// DefaultCrosswalk parses the shipped crosswalks, checked against cat.
func DefaultCrosswalk(cat *Catalog) (*Crosswalk, error) {
	return ParseCrosswalk(shipped.Crosswalks, "crosswalks.yaml", cat)
}

// ParseCrosswalk decodes and checks crosswalks: every criterion must be in
// cat and every mapping must name its source for each framework it maps to.
func ParseCrosswalk(data []byte, name string, cat *Catalog) (*Crosswalk, error) {
	var x Crosswalk
	if err := decode(data, name, &x); err != nil {
		return nil, err
	}
	x.byCriterion = map[string]*Mapping{}
	var errs collectors.ConfigErrors
	for i := range x.Mappings {
		m := &x.Mappings[i]
		key := fmt.Sprintf("%s: mappings[%d]", name, i)
		if _, ok := cat.Criterion(m.Criterion); !ok {
			errs = append(errs, &collectors.ConfigError{Key: key, Msg: fmt.Sprintf("unknown criterion %q", m.Criterion)})
		}
		if len(m.ISO27001) > 0 && m.Source["iso27001-2022"] == "" || len(m.CSF) > 0 && m.Source["nist-csf-2.0"] == "" {
			errs = append(errs, &collectors.ConfigError{Key: key, Msg: "every mapping must name its source per framework"})
		}
		x.byCriterion[m.Criterion] = m
	}
	if len(errs) > 0 {
		return nil, errs
	}
	return &x, nil
}

// Load loads the control set at path ("" for the shipped default) with
// the shipped catalog and crosswalks.
func Load(path string) (*Set, error) {
	cat, err := DefaultCatalog()
	if err != nil {
		return nil, err
	}
	x, err := DefaultCrosswalk(cat)
	if err != nil {
		return nil, err
	}
	data, name := shipped.Controls, BuiltIn
	if path != "" {
		if data, err = os.ReadFile(path); err != nil {
			return nil, fmt.Errorf("reading control set: %w", err)
		}
		name = path
	}
	s, err := ParseSet(data, name, cat)
	if err != nil {
		return nil, err
	}
	s.Crosswalk = x
	return s, nil
}

// ParseSet decodes and validates a control set against a catalog. Every
// problem is reported with its line.
func ParseSet(data []byte, name string, cat *Catalog) (*Set, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, collectors.ConfigErrors{{Key: name, Msg: "invalid YAML: " + strings.TrimPrefix(err.Error(), "yaml: ")}}
	}
	if len(doc.Content) == 0 {
		return nil, collectors.ConfigErrors{{Key: name, Msg: "control set is empty"}}
	}
	root := doc.Content[0]
	var s Set
	if err := collectors.DecodeStrict(root, &s, ""); err != nil {
		return nil, prefixErrs(err, name)
	}
	s.Source, s.Catalog = name, cat
	s.byID = map[string]*Control{}
	s.byType = map[string][]*Control{}
	var errs collectors.ConfigErrors
	items := child(root, "controls")
	if len(s.Controls) == 0 {
		errs = append(errs, &collectors.ConfigError{Line: collectors.FieldLine(root, "controls"), Key: name + ": controls", Msg: "lists no controls"})
	}
	for i := range s.Controls {
		c := &s.Controls[i]
		var n *yaml.Node
		if items != nil && i < len(items.Content) {
			n = items.Content[i]
		}
		key := fmt.Sprintf("%s: controls[%d]", name, i)
		add := func(field, msg, hint string) {
			errs = append(errs, &collectors.ConfigError{Line: collectors.FieldLine(n, field), Key: key + "." + field, Msg: msg, Hint: hint})
		}
		if !evidence.ValidControl(c.ID) {
			add("id", fmt.Sprintf("invalid control ID %q (letters, digits, '.', '_', '-')", c.ID), "")
		} else if _, dup := s.byID[c.ID]; dup {
			add("id", fmt.Sprintf("duplicate control ID %q", c.ID), "")
		}
		if c.Title == "" {
			add("title", "is required", "")
		}
		if c.Owner == "" {
			add("owner", "is required", "a role or team that answers for the control")
		}
		if !c.Frequency.Valid() {
			add("frequency", fmt.Sprintf("invalid frequency %q", c.Frequency), "continuous, daily, weekly, monthly, quarterly or annual")
		}
		if len(c.Criteria) == 0 {
			add("criteria", "lists no criteria", "the SOC 2 criteria the control supports, e.g. [CC6.1]")
		}
		for _, id := range c.Criteria {
			if _, ok := cat.Criterion(id); !ok {
				add("criteria", fmt.Sprintf("unknown criterion %q", id), "run `tickmark controls list --criteria` for the catalog")
			}
		}
		if len(c.Evidence) == 0 {
			add("evidence", "lists no evidence types", "e.g. [okta.users]; `tickmark collectors list` shows the types")
		}
		for _, t := range c.Evidence {
			if !evidence.ValidType(t) {
				add("evidence", fmt.Sprintf("invalid evidence type %q (lowercase, dotted: okta.users, custom.backup_test)", t), "")
			}
		}
		s.byID[c.ID] = c
		for _, t := range dedupe(c.Evidence) {
			s.byType[t] = append(s.byType[t], c)
		}
	}
	if len(errs) > 0 {
		return nil, errs
	}
	return &s, nil
}

func decode(data []byte, name string, v any) error {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	if len(doc.Content) == 0 {
		return fmt.Errorf("%s: empty", name)
	}
	if err := collectors.DecodeStrict(doc.Content[0], v, ""); err != nil {
		return prefixErrs(err, name)
	}
	return nil
}

func prefixErrs(err error, name string) error {
	ces, ok := collectors.AsConfigErrors(err)
	if !ok {
		return fmt.Errorf("%s: %w", name, err)
	}
	for _, ce := range ces {
		if ce.Key == "" {
			ce.Key = name
		} else {
			ce.Key = name + ": " + ce.Key
		}
	}
	return ces
}

func child(n *yaml.Node, key string) *yaml.Node {
	if n == nil || n.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return n.Content[i+1]
		}
	}
	return nil
}

func dedupe(xs []string) []string {
	seen := map[string]bool{}
	out := make([]string, 0, len(xs))
	for _, x := range xs {
		if !seen[x] {
			seen[x] = true
			out = append(out, x)
		}
	}
	return out
}
