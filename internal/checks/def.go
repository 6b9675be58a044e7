// Package checks runs control tests: rules in CEL over the population
// items of evidence types (see collectors.ItemLayout). Each evaluation is
// itself evidence — an artifact of type check.<id> naming every input
// artifact by record sequence number and body SHA-256, the rule text and
// its parameters, and every exception by item key — so an auditor can
// re-run it from an auditor package and get the same answer
// (`tickmark verify-package`).
package checks

import (
	"bytes"
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strings"

	"github.com/google/cel-go/cel"
	"github.com/google/cel-go/common/ast"
	"go.yaml.in/yaml/v3"

	"github.com/tickmark-dev/tickmark/collectors"
	"github.com/tickmark-dev/tickmark/internal/evidence"
)

// Engine names the evaluator recorded in every result; a result is
// re-evaluated only by the same engine major version.
const Engine = "tickmark-checks/1 (cel-go v0.31.0)"

// ResultFormat is the "format" of a check.<id> body.
const ResultFormat = "tickmark-check-result/v1"

// TypePrefix is the evidence type prefix of check results.
const TypePrefix = "check."

// Def is one check as written in the checks file, and as recorded in each
// of its results.
type Def struct {
	ID          string `yaml:"id" json:"id"`
	Title       string `yaml:"title" json:"title"`
	Description string `yaml:"description" json:"description,omitempty"`
	// Controls are the organisation controls it tests (controls.yaml IDs).
	Controls []string `yaml:"controls" json:"controls"`
	// Input is the evidence type whose items are the population.
	Input string `yaml:"input" json:"input"`
	// Per is "item" (default: each population item of the input) or
	// "artifact" (each body of the input, decoded whole, keyed by subject).
	Per string `yaml:"per" json:"per,omitempty"`
	// Where selects the items the rule applies to (CEL bool; default all).
	Where string `yaml:"where" json:"where,omitempty"`
	// Rule is true when an item passes (CEL bool).
	Rule string `yaml:"rule" json:"rule"`
	// Message explains an exception (CEL string; default: "rule is false").
	Message string `yaml:"message" json:"message,omitempty"`
	// Params are the rule's parameters (`params.sla`).
	Params map[string]any `yaml:"params" json:"params,omitempty"`
	// Refs index other evidence types' items by key for cross-source rules
	// (`refs.<name>[key]`).
	Refs map[string]Ref `yaml:"refs" json:"refs,omitempty"`
}

// Ref is an index over another evidence type's items.
type Ref struct {
	Type string `yaml:"type" json:"type"`
	// Key is a CEL expression over `item` giving the key (a string) or
	// keys (a list of strings) the item is indexed under.
	Key string `yaml:"key" json:"key,omitempty"`
	// Value is a CEL expression over `item` giving what is stored
	// (default: the item).
	Value string `yaml:"value" json:"value,omitempty"`
	// Entries, instead of Key and Value, is a CEL expression giving a
	// list of [key, value] pairs.
	Entries string `yaml:"entries" json:"entries,omitempty"`
	// Keep says which of several values of one key is kept: "last"
	// (default: the latest collected), "max" or "min".
	Keep string `yaml:"keep" json:"keep,omitempty"`
}

// File is a checks file.
type File struct {
	Version int   `yaml:"version"`
	Checks  []Def `yaml:"checks"`
}

// Check is a compiled check.
type Check struct {
	Def
	// Line is where the check starts in its file (0: not from a file).
	Line    int
	layout  collectors.ItemLayout
	where   cel.Program
	rule    cel.Program
	message cel.Program
	refs    []*refIndex
	// usesPerson: the rule reads the identity map, which is then recorded
	// with each result.
	usesPerson bool
}

type refIndex struct {
	name string
	Ref
	layout  collectors.ItemLayout
	key     cel.Program
	value   cel.Program
	entries cel.Program
}

// Type is the evidence type of the check's results.
func (c *Check) Type() string { return TypePrefix + c.ID }

// Layout is the item layout of the check's input.
func (c *Check) Layout() collectors.ItemLayout { return c.layout }

// InputTypes lists the evidence types the check reads: its input, then
// its refs' types.
func (c *Check) InputTypes() []string {
	out := []string{c.Input}
	for _, r := range c.refs {
		if !containsStr(out, r.Type) {
			out = append(out, r.Type)
		}
	}
	return out
}

var idRE = regexp.MustCompile(`^[a-z0-9][a-z0-9_]*(\.[a-z0-9][a-z0-9_]*)*$`)

// Set is a compiled set of checks with the identity map they use.
type Set struct {
	Checks     []*Check
	Identities *Identities
	// Source names where the set came from (a path, or "shipped").
	Source string
}

// Find returns a check by ID.
func (s *Set) Find(id string) (*Check, bool) {
	for _, c := range s.Checks {
		if c.ID == id {
			return c, true
		}
	}
	return nil, false
}

// Options for Load.
type Options struct {
	// Identities is the identity map person() uses.
	Identities *Identities
	// Params override check parameters: check ID -> name -> value.
	Params map[string]map[string]any
	// Disabled check IDs are dropped.
	Disabled []string
}

// Load parses and compiles a checks file. Every error names the file and
// line: an unknown key, a duplicate or invalid ID, a rule that does not
// compile, a field of an item that its evidence type does not have, a
// parameter or ref the check does not define.
func Load(data []byte, name string, o Options) (*Set, error) {
	var f File
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&f); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if f.Version != 1 {
		return nil, fmt.Errorf("%s: version must be 1", name)
	}
	nodes := checkNodes(&doc)
	set := &Set{Identities: o.Identities, Source: name}
	if set.Identities == nil {
		set.Identities = &Identities{}
	}
	seen := map[string]int{}
	disabled := map[string]bool{}
	for _, id := range o.Disabled {
		disabled[id] = true
	}
	for i, d := range f.Checks {
		var node *yaml.Node
		if i < len(nodes) {
			node = nodes[i]
		}
		line := 0
		if node != nil {
			line = node.Line
		}
		if prev, dup := seen[d.ID]; dup {
			return nil, fmt.Errorf("%s:%d: check %q is defined twice (first at line %d)", name, line, d.ID, prev)
		}
		seen[d.ID] = line
		if over, ok := o.Params[d.ID]; ok {
			p := map[string]any{}
			for k, v := range d.Params {
				p[k] = v
			}
			for k, v := range over {
				if _, known := d.Params[k]; !known {
					return nil, fmt.Errorf("check %s has no parameter %q (it has: %s)", d.ID, k, strings.Join(sortedKeys(d.Params), ", "))
				}
				p[k] = v
			}
			d.Params = p
		}
		c, err := Compile(d, set.Identities)
		if err != nil {
			var fe *FieldError
			if errors.As(err, &fe) && node != nil {
				if l := fieldLine(node, fe.Field); l > 0 {
					line = l
				}
			}
			return nil, fmt.Errorf("%s:%d: %w", name, line, err)
		}
		c.Line = line
		if !disabled[d.ID] {
			set.Checks = append(set.Checks, c)
		}
	}
	for id := range disabled {
		if _, ok := seen[id]; !ok {
			return nil, fmt.Errorf("checks.disabled: no check %q in %s", id, name)
		}
	}
	for id := range o.Params {
		if _, ok := seen[id]; !ok {
			return nil, fmt.Errorf("checks.params: no check %q in %s", id, name)
		}
	}
	return set, nil
}

// FieldError is a compile error in one field of a check (rule, where...).
type FieldError struct {
	Field string
	Err   error
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Err.Error() }
func (e *FieldError) Unwrap() error { return e.Err }

func checkNodes(doc *yaml.Node) []*yaml.Node {
	if doc.Kind != yaml.DocumentNode || len(doc.Content) == 0 {
		return nil
	}
	m := doc.Content[0]
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == "checks" && m.Content[i+1].Kind == yaml.SequenceNode {
			return m.Content[i+1].Content
		}
	}
	return nil
}

// fieldLine finds the line of a field ("rule", "refs.github.key") in a
// check's node.
func fieldLine(n *yaml.Node, path string) int {
	cur := n
	for _, p := range strings.Split(path, ".") {
		if cur.Kind != yaml.MappingNode {
			return 0
		}
		var next *yaml.Node
		for i := 0; i+1 < len(cur.Content); i += 2 {
			if cur.Content[i].Value == p {
				next = cur.Content[i+1]
				break
			}
		}
		if next == nil {
			return 0
		}
		cur = next
	}
	return cur.Line
}

// Compile validates and compiles one check definition.
func Compile(d Def, ids *Identities) (*Check, error) {
	if !idRE.MatchString(d.ID) || !evidence.ValidType(TypePrefix+d.ID) {
		return nil, fmt.Errorf("check id %q: lowercase letters, digits and '_', in dotted parts (e.g. okta.active_users_mfa)", d.ID)
	}
	if d.Title == "" {
		return nil, fmt.Errorf("check %s: title is required", d.ID)
	}
	if len(d.Controls) == 0 {
		return nil, fmt.Errorf("check %s: controls are required (the organisation controls it tests)", d.ID)
	}
	for _, c := range d.Controls {
		if !evidence.ValidControl(c) {
			return nil, fmt.Errorf("check %s: invalid control ID %q", d.ID, c)
		}
	}
	if !evidence.ValidType(d.Input) || strings.HasPrefix(d.Input, TypePrefix) {
		return nil, fmt.Errorf("check %s: input %q is not an evidence type", d.ID, d.Input)
	}
	switch d.Per {
	case "", "item", "artifact":
	default:
		return nil, &FieldError{"per", fmt.Errorf("must be item or artifact, not %q", d.Per)}
	}
	if strings.TrimSpace(d.Rule) == "" {
		return nil, &FieldError{"rule", errors.New("a rule is required")}
	}
	if ids == nil {
		ids = &Identities{}
	}
	c := &Check{Def: d}
	c.layout, _ = collectors.Items(d.Input)
	if d.Per == "artifact" {
		c.layout = collectors.ItemLayout{Snapshot: c.layout.Snapshot} // the whole body: fields not declared
	}
	env, err := newEnv(ids)
	if err != nil {
		return nil, err
	}
	refNames := sortedKeys(d.Refs)
	for _, name := range refNames {
		rd := d.Refs[name]
		if !evidence.ValidType(rd.Type) || strings.HasPrefix(rd.Type, TypePrefix) {
			return nil, &FieldError{"refs." + name + ".type", fmt.Errorf("%q is not an evidence type", rd.Type)}
		}
		r := &refIndex{name: name, Ref: rd}
		r.layout, _ = collectors.Items(rd.Type)
		switch rd.Keep {
		case "", "last", "max", "min":
		default:
			return nil, &FieldError{"refs." + name + ".keep", fmt.Errorf("must be last, max or min, not %q", rd.Keep)}
		}
		chk := fieldChecker{layout: r.layout, params: d.Params, ref: true}
		switch {
		case rd.Entries != "" && (rd.Key != "" || rd.Value != ""):
			return nil, &FieldError{"refs." + name, errors.New("give entries, or key (and value), not both")}
		case rd.Entries != "":
			if r.entries, err = compile(env, rd.Entries, cel.ListType(cel.DynType), chk, &c.usesPerson); err != nil {
				return nil, &FieldError{"refs." + name + ".entries", err}
			}
		case rd.Key != "":
			if r.key, err = compile(env, rd.Key, cel.DynType, chk, &c.usesPerson); err != nil {
				return nil, &FieldError{"refs." + name + ".key", err}
			}
			if rd.Value != "" {
				if r.value, err = compile(env, rd.Value, cel.DynType, chk, &c.usesPerson); err != nil {
					return nil, &FieldError{"refs." + name + ".value", err}
				}
			}
		default:
			return nil, &FieldError{"refs." + name, errors.New("a ref needs key or entries")}
		}
		c.refs = append(c.refs, r)
	}
	chk := fieldChecker{layout: c.layout, params: d.Params, refs: d.Refs}
	if d.Where != "" {
		if c.where, err = compile(env, d.Where, cel.BoolType, chk, &c.usesPerson); err != nil {
			return nil, &FieldError{"where", err}
		}
	}
	if c.rule, err = compile(env, d.Rule, cel.BoolType, chk, &c.usesPerson); err != nil {
		return nil, &FieldError{"rule", err}
	}
	if d.Message != "" {
		if c.message, err = compile(env, d.Message, cel.StringType, chk, &c.usesPerson); err != nil {
			return nil, &FieldError{"message", err}
		}
	}
	return c, nil
}

// fieldChecker rejects names a rule cannot mean: a field of `item` its
// evidence type does not declare, a parameter or a ref the check does not
// define.
type fieldChecker struct {
	layout collectors.ItemLayout
	params map[string]any
	refs   map[string]Ref
	ref    bool // a ref's own expression: refs are not available
}

func (fc fieldChecker) check(a *cel.Ast) error {
	var errs []string
	ast.PostOrderVisit(a.NativeRep().Expr(), ast.NewExprVisitor(func(e ast.Expr) {
		if e.Kind() != ast.SelectKind {
			return
		}
		sel := e.AsSelect()
		op := sel.Operand()
		if op.Kind() != ast.IdentKind {
			return
		}
		f := sel.FieldName()
		switch op.AsIdent() {
		case "item":
			if !fc.layout.IsKnown(f) {
				errs = append(errs, fmt.Sprintf("item has no field %q (its fields: %s)", f, strings.Join(fc.layout.Known, ", ")))
			}
		case "params":
			if _, ok := fc.params[f]; !ok {
				errs = append(errs, fmt.Sprintf("no parameter %q (define it under params)", f))
			}
		case "refs":
			if fc.ref {
				errs = append(errs, "refs are not available in a ref's own expressions")
			} else if _, ok := fc.refs[f]; !ok {
				errs = append(errs, fmt.Sprintf("no ref %q (define it under refs)", f))
			}
		}
	}))
	if len(errs) > 0 {
		return errors.New(strings.Join(dedupe(errs), "; "))
	}
	return nil
}

func compile(env *cel.Env, expr string, want *cel.Type, fc fieldChecker, usesPerson *bool) (cel.Program, error) {
	a, iss := env.Compile(expr)
	if iss != nil && iss.Err() != nil {
		return nil, iss.Err()
	}
	if out := a.OutputType(); !want.IsAssignableType(out) && !out.IsExactType(cel.DynType) {
		return nil, fmt.Errorf("gives %s, want %s", a.OutputType(), want)
	}
	if err := fc.check(a); err != nil {
		return nil, err
	}
	ast.PostOrderVisit(a.NativeRep().Expr(), ast.NewExprVisitor(func(e ast.Expr) {
		if e.Kind() == ast.CallKind && e.AsCall().FunctionName() == "person" {
			*usesPerson = true
		}
	}))
	return env.Program(a, cel.EvalOptions(cel.OptOptimize))
}

func sortStrings(xs []string) { sort.Strings(xs) }

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func dedupe(xs []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, x := range xs {
		if !seen[x] {
			seen[x] = true
			out = append(out, x)
		}
	}
	return out
}

func containsStr(xs []string, x string) bool {
	for _, y := range xs {
		if y == x {
			return true
		}
	}
	return false
}
