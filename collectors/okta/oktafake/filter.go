package oktafake

import (
	"fmt"
	"strings"
)

// expr is a parsed Okta filter/search expression (the SCIM subset Okta
// documents): attr op "value", attr pr, and, or, parentheses.
type expr interface {
	eval(get func(attr string) (string, bool)) bool
}

type cmpExpr struct{ attr, op, value string }
type boolExpr struct {
	and  bool
	l, r expr
}

func (c cmpExpr) eval(get func(string) (string, bool)) bool {
	v, ok := get(c.attr)
	if c.op == "pr" {
		return ok && v != ""
	}
	if !ok {
		return false
	}
	lv, lc := strings.ToLower(v), strings.ToLower(c.value)
	switch c.op {
	case "eq":
		return lv == lc
	case "sw":
		return strings.HasPrefix(lv, lc)
	case "co":
		return strings.Contains(lv, lc)
	case "gt":
		return v > c.value
	case "ge":
		return v >= c.value
	case "lt":
		return v < c.value
	case "le":
		return v <= c.value
	}
	return false
}

func (b boolExpr) eval(get func(string) (string, bool)) bool {
	if b.and {
		return b.l.eval(get) && b.r.eval(get)
	}
	return b.l.eval(get) || b.r.eval(get)
}

type parser struct {
	toks []string
	pos  int
}

// parseFilter parses an expression; allowed limits the attributes (nil: any).
func parseFilter(s string, allowed map[string]bool) (expr, error) {
	toks, err := tokenize(s)
	if err != nil {
		return nil, err
	}
	p := &parser{toks: toks}
	e, err := p.or(allowed)
	if err != nil {
		return nil, err
	}
	if p.pos != len(p.toks) {
		return nil, fmt.Errorf("unexpected %q", p.toks[p.pos])
	}
	return e, nil
}

func (p *parser) peek() string {
	if p.pos < len(p.toks) {
		return p.toks[p.pos]
	}
	return ""
}

func (p *parser) or(allowed map[string]bool) (expr, error) {
	l, err := p.and(allowed)
	if err != nil {
		return nil, err
	}
	for strings.EqualFold(p.peek(), "or") {
		p.pos++
		r, err := p.and(allowed)
		if err != nil {
			return nil, err
		}
		l = boolExpr{l: l, r: r}
	}
	return l, nil
}

func (p *parser) and(allowed map[string]bool) (expr, error) {
	l, err := p.term(allowed)
	if err != nil {
		return nil, err
	}
	for strings.EqualFold(p.peek(), "and") {
		p.pos++
		r, err := p.term(allowed)
		if err != nil {
			return nil, err
		}
		l = boolExpr{and: true, l: l, r: r}
	}
	return l, nil
}

func (p *parser) term(allowed map[string]bool) (expr, error) {
	if p.peek() == "(" {
		p.pos++
		e, err := p.or(allowed)
		if err != nil {
			return nil, err
		}
		if p.peek() != ")" {
			return nil, fmt.Errorf("missing )")
		}
		p.pos++
		return e, nil
	}
	if p.pos+1 >= len(p.toks) {
		return nil, fmt.Errorf("incomplete expression")
	}
	attr, op := p.toks[p.pos], strings.ToLower(p.toks[p.pos+1])
	if allowed != nil && !allowed[attr] {
		return nil, fmt.Errorf("attribute %s is not supported", attr)
	}
	p.pos += 2
	if op == "pr" {
		return cmpExpr{attr: attr, op: op}, nil
	}
	switch op {
	case "eq", "sw", "co", "gt", "ge", "lt", "le":
	default:
		return nil, fmt.Errorf("operator %s is not supported", op)
	}
	v := p.peek()
	if !strings.HasPrefix(v, `"`) {
		return nil, fmt.Errorf("value for %s must be quoted", attr)
	}
	p.pos++
	return cmpExpr{attr: attr, op: op, value: strings.Trim(v, `"`)}, nil
}

func tokenize(s string) ([]string, error) {
	var out []string
	for i := 0; i < len(s); {
		switch c := s[i]; {
		case c == ' ' || c == '\t' || c == '\n':
			i++
		case c == '(' || c == ')':
			out = append(out, string(c))
			i++
		case c == '"':
			j := strings.IndexByte(s[i+1:], '"')
			if j < 0 {
				return nil, fmt.Errorf("unterminated string")
			}
			out = append(out, s[i:i+j+2])
			i += j + 2
		default:
			j := i
			for j < len(s) && !strings.ContainsRune(" \t\n()\"", rune(s[j])) {
				j++
			}
			out = append(out, s[i:j])
			i = j
		}
	}
	return out, nil
}
