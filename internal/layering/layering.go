// Package layering holds the rules of which tickmark packages may import
// which (docs/architecture.md draws them) and the check that enforces them
// over `go list -json` output. layering_test.go runs it on the module.
package layering

import (
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"
)

// Module is tickmark's module path.
const Module = "github.com/tickmark-dev/tickmark"

// Package is what the check needs of `go list -json`.
type Package struct {
	ImportPath string
	Name       string // "main" for a command
	Imports    []string
	Deps       []string // every package it depends on, transitively
}

// Rule forbids packages matching From to depend, directly or not, on
// packages matching To.
type Rule struct {
	From func(Package) bool
	To   func(path string) bool
	Why  string
}

func from(match func(string) bool) func(Package) bool {
	return func(p Package) bool { return match(p.ImportPath) }
}

func under(dir string) func(string) bool {
	return func(p string) bool { p = rel(p); return p == dir || strings.HasPrefix(p, dir+"/") }
}

func rel(p string) string { return strings.TrimPrefix(strings.TrimPrefix(p, Module), "/") }

// isFake is a vendor fake (collectors/okta/oktafake, ...): test servers
// that may use internal helpers.
func isFake(p string) bool { return strings.HasSuffix(rel(p), "fake") }

// Rules are tickmark's layering.
var Rules = []Rule{
	{
		From: from(func(p string) bool { return under("collectors")(p) && !isFake(p) }),
		To:   under("internal"),
		Why:  "collectors and the public SDK import nothing from internal/ (collectors emit; the engine attests)",
	},
	{
		From: from(under("internal/ledger")),
		To:   under("internal/store"),
		Why:  "the ledger knows no storage",
	},
	{
		// A command may: a binary with its own collectors built around
		// cli.Main (docs/examples/backup-collector).
		From: func(p Package) bool { return p.Name != "main" && !under("cmd")(p.ImportPath) },
		To:   under("cmd"),
		Why:  "nothing imports the CLI",
	},
	{
		From: from(under("internal/publog")),
		To:   func(p string) bool { return strings.HasPrefix(p, Module+"/") },
		Why:  "the published log's names and codec are a leaf: every reader and writer can use them",
	},
	{
		From: from(under("internal/evidence")),
		To:   func(p string) bool { return under("internal")(p) && !under("internal/evidence")(p) },
		Why:  "records and their encoding depend on no other internal package",
	},
}

// Load decodes the stream of JSON objects `go list -json` prints.
func Load(r io.Reader) ([]Package, error) {
	var out []Package
	dec := json.NewDecoder(r)
	for dec.More() {
		var p Package
		if err := dec.Decode(&p); err != nil {
			return nil, fmt.Errorf("go list output: %w", err)
		}
		out = append(out, p)
	}
	return out, nil
}

// Violation is one forbidden arrow.
type Violation struct {
	From, To string
	Direct   bool // From imports To itself (else through its dependencies)
	Why      string
}

func (v Violation) String() string {
	how := "depends on"
	if v.Direct {
		how = "imports"
	}
	return fmt.Sprintf("%s %s %s: %s", rel(v.From), how, rel(v.To), v.Why)
}

// Check returns every forbidden arrow among pkgs, sorted.
func Check(pkgs []Package, rules []Rule) []Violation {
	var out []Violation
	for _, p := range pkgs {
		direct := map[string]bool{}
		for _, i := range p.Imports {
			direct[i] = true
		}
		for _, r := range rules {
			if !r.From(p) {
				continue
			}
			for _, d := range p.Deps {
				if d != p.ImportPath && strings.HasPrefix(d, Module+"/") && r.To(d) {
					out = append(out, Violation{From: p.ImportPath, To: d, Direct: direct[d], Why: r.Why})
				}
			}
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].String() < out[j].String() })
	return out
}
