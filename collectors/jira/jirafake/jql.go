package jirafake

import (
	"fmt"
	"strings"
	"time"
	"unicode"
)

// The fake understands a small subset of JQL, enough for tickmark's queries:
//
//	clause   := term (("AND" | "OR") term)*
//	term     := "(" clause ")" | field op value
//	field    := project | issuetype | status | priority | labels | key | updated | created | resolved
//	op       := "=" | "!=" | ">=" | "<=" | ">" | "<"   (order operators on dates only)
//	value    := word | "quoted string"                 (dates: yyyy-MM-dd HH:mm, yyyy/MM/dd HH:mm, yyyy-MM-dd)
//	query    := [clause] ["ORDER BY" ("updated" | "created" | "key") ["ASC" | "DESC"]]
//
// Anything else is refused with a 400 and Jira's own wording.

type jqlError struct{ msg string }

func (e *jqlError) Error() string { return e.msg }

type token struct {
	kind   string // word, string, op, lparen, rparen, eof
	text   string
	pos    int // 1-based character position
	quoted bool
}

func lex(s string) ([]token, error) {
	var out []token
	rs := []rune(s)
	for i := 0; i < len(rs); {
		r := rs[i]
		switch {
		case unicode.IsSpace(r):
			i++
		case r == '(':
			out = append(out, token{kind: "lparen", text: "(", pos: i + 1})
			i++
		case r == ')':
			out = append(out, token{kind: "rparen", text: ")", pos: i + 1})
			i++
		case r == '"' || r == '\'':
			j := i + 1
			for j < len(rs) && rs[j] != r {
				j++
			}
			if j >= len(rs) {
				return nil, &jqlError{fmt.Sprintf("Error in the JQL Query: The quoted string '%s' has not been completed. (line 1, character %d)", string(rs[i+1:]), i+1)}
			}
			out = append(out, token{kind: "string", text: string(rs[i+1 : j]), pos: i + 1, quoted: true})
			i = j + 1
		case strings.ContainsRune("=!<>", r):
			j := i + 1
			if j < len(rs) && rs[j] == '=' {
				j++
			}
			op := string(rs[i:j])
			if op == "!" {
				return nil, &jqlError{fmt.Sprintf("Error in the JQL Query: The character '!' is a reserved JQL character. You must enclose it in a string or use the escape '\\u0021' instead. (line 1, character %d)", i+1)}
			}
			out = append(out, token{kind: "op", text: op, pos: i + 1})
			i = j
		case r == ',':
			out = append(out, token{kind: "comma", text: ",", pos: i + 1})
			i++
		case unicode.IsLetter(r) || unicode.IsDigit(r) || r == '_' || r == '-' || r == '.':
			j := i
			for j < len(rs) && (unicode.IsLetter(rs[j]) || unicode.IsDigit(rs[j]) || rs[j] == '_' || rs[j] == '-' || rs[j] == '.') {
				j++
			}
			out = append(out, token{kind: "word", text: string(rs[i:j]), pos: i + 1})
			i = j
		default:
			return nil, &jqlError{fmt.Sprintf("Error in the JQL Query: The character '%c' is a reserved JQL character. You must enclose it in a string or use the escape '\\u%04x' instead. (line 1, character %d)", r, r, i+1)}
		}
	}
	out = append(out, token{kind: "eof", pos: len(rs) + 1})
	return out, nil
}

// query is a parsed JQL query.
type query struct {
	where   node // nil: unbounded
	orderBy string
	desc    bool
}

type node interface {
	match(is *Issue) bool
}

type andNode struct{ l, r node }
type orNode struct{ l, r node }

func (n andNode) match(is *Issue) bool { return n.l.match(is) && n.r.match(is) }
func (n orNode) match(is *Issue) bool  { return n.l.match(is) || n.r.match(is) }

// updatedFloor is a time no match of n was updated before, if n has one
// (an updated >= or > comparison that every match must satisfy).
func updatedFloor(n node) (time.Time, bool) {
	switch n := n.(type) {
	case cmpNode:
		if n.field == "updated" && (n.op == ">=" || n.op == ">") {
			return n.at, true
		}
	case andNode:
		l, lok := updatedFloor(n.l)
		r, rok := updatedFloor(n.r)
		switch {
		case lok && rok:
			return maxTime(l, r), true
		case lok:
			return l, true
		case rok:
			return r, true
		}
	}
	return time.Time{}, false
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

type cmpNode struct {
	field, op, value string
	at               time.Time
}

func (n cmpNode) match(is *Issue) bool {
	switch n.field {
	case "updated", "created", "resolved":
		var t time.Time
		switch n.field {
		case "updated":
			t = is.Updated
		case "created":
			t = is.Created
		case "resolved":
			if is.Resolved == nil {
				return false
			}
			t = *is.Resolved
		}
		switch n.op {
		case ">=":
			return !t.Before(n.at)
		case "<=":
			return !t.After(n.at)
		case ">":
			return t.After(n.at)
		case "<":
			return t.Before(n.at)
		case "=":
			return t.Equal(n.at)
		case "!=":
			return !t.Equal(n.at)
		}
		return false
	}
	var vals []string
	switch n.field {
	case "project":
		vals = []string{is.Project}
	case "issuetype", "type":
		vals = []string{is.Type}
	case "status":
		vals = []string{is.Status}
	case "priority":
		vals = []string{is.Priority}
	case "key", "issuekey":
		vals = []string{is.Key}
	case "labels":
		vals = is.Labels
	}
	found := false
	for _, v := range vals {
		if strings.EqualFold(v, n.value) {
			found = true
		}
	}
	if n.op == "!=" {
		return !found
	}
	return found
}

type parser struct {
	toks []token
	i    int
	f    *Fake
}

func (p *parser) peek() token { return p.toks[p.i] }
func (p *parser) next() token { t := p.toks[p.i]; p.i++; return t }

func isWord(t token, w string) bool { return t.kind == "word" && strings.EqualFold(t.text, w) }

func (f *Fake) parseJQL(s string) (*query, error) {
	toks, err := lex(s)
	if err != nil {
		return nil, err
	}
	p := &parser{toks: toks, f: f}
	q := &query{}
	if !isWord(p.peek(), "order") && p.peek().kind != "eof" {
		q.where, err = p.clause()
		if err != nil {
			return nil, err
		}
	}
	if isWord(p.peek(), "order") {
		p.next()
		if t := p.next(); !isWord(t, "by") {
			return nil, &jqlError{fmt.Sprintf("Error in the JQL Query: Expecting 'BY' but got '%s'. (line 1, character %d)", t.text, t.pos)}
		}
		t := p.next()
		switch strings.ToLower(t.text) {
		case "updated", "created", "key":
			q.orderBy = strings.ToLower(t.text)
		default:
			if t.kind == "eof" {
				return nil, &jqlError{fmt.Sprintf("Error in the JQL Query: Expecting a field name but reached the end of the query. (line 1, character %d)", t.pos)}
			}
			return nil, &jqlError{fmt.Sprintf("Not able to sort using field '%s'.", t.text)}
		}
		if isWord(p.peek(), "asc") {
			p.next()
		} else if isWord(p.peek(), "desc") {
			p.next()
			q.desc = true
		}
	}
	if t := p.peek(); t.kind != "eof" {
		return nil, &jqlError{fmt.Sprintf("Error in the JQL Query: Expecting either 'OR' or 'AND' but got '%s'. (line 1, character %d)", t.text, t.pos)}
	}
	return q, nil
}

func (p *parser) clause() (node, error) {
	l, err := p.term()
	if err != nil {
		return nil, err
	}
	for {
		t := p.peek()
		switch {
		case isWord(t, "and"):
			p.next()
			r, err := p.term()
			if err != nil {
				return nil, err
			}
			l = andNode{l, r}
		case isWord(t, "or"):
			p.next()
			r, err := p.term()
			if err != nil {
				return nil, err
			}
			l = orNode{l, r}
		default:
			return l, nil
		}
	}
}

var knownFields = map[string]bool{
	"project": true, "issuetype": true, "type": true, "status": true, "priority": true,
	"labels": true, "key": true, "issuekey": true, "updated": true, "created": true, "resolved": true,
}

func (p *parser) term() (node, error) {
	t := p.next()
	if t.kind == "lparen" {
		n, err := p.clause()
		if err != nil {
			return nil, err
		}
		if c := p.next(); c.kind != "rparen" {
			return nil, &jqlError{fmt.Sprintf("Error in the JQL Query: Expecting ')' but got '%s'. (line 1, character %d)", c.text, c.pos)}
		}
		return n, nil
	}
	if t.kind == "eof" {
		return nil, &jqlError{fmt.Sprintf("Error in the JQL Query: Expecting a field name but reached the end of the query. (line 1, character %d)", t.pos)}
	}
	if t.kind != "word" && t.kind != "string" {
		return nil, &jqlError{fmt.Sprintf("Error in the JQL Query: Expecting a field name but got '%s'. (line 1, character %d)", t.text, t.pos)}
	}
	field := strings.ToLower(t.text)
	if !knownFields[field] {
		return nil, &jqlError{fmt.Sprintf("Field '%s' does not exist or you do not have permission to view it.", t.text)}
	}
	op := p.next()
	if op.kind != "op" {
		got := op.text
		if op.kind == "eof" {
			return nil, &jqlError{fmt.Sprintf("Error in the JQL Query: Expecting operator but reached the end of the query. (line 1, character %d)", op.pos)}
		}
		return nil, &jqlError{fmt.Sprintf("Error in the JQL Query: Expecting operator but got '%s'. The valid operators are '=', '!=', '<', '>', '<=', '>=', '~', '!~', 'IN', 'NOT IN', 'IS' and 'IS NOT'. (line 1, character %d)", got, op.pos)}
	}
	v := p.next()
	if v.kind != "word" && v.kind != "string" {
		if v.kind == "eof" {
			return nil, &jqlError{fmt.Sprintf("Error in the JQL Query: Expecting either a value, list or function but reached the end of the query. (line 1, character %d)", v.pos)}
		}
		return nil, &jqlError{fmt.Sprintf("Error in the JQL Query: Expecting either a value, list or function but got '%s'. (line 1, character %d)", v.text, v.pos)}
	}
	n := cmpNode{field: field, op: op.text, value: v.text}
	switch field {
	case "updated", "created", "resolved":
		at, ok := p.f.parseDate(v.text)
		if !ok {
			return nil, &jqlError{fmt.Sprintf("Date value '%s' for field '%s' is invalid. Valid formats include: 'yyyy/MM/dd HH:mm', 'yyyy-MM-dd HH:mm', 'yyyy/MM/dd', 'yyyy-MM-dd', or a period format e.g. '-5d', '4w 2d'.", v.text, field)}
		}
		n.at = at
	default:
		if op.text != "=" && op.text != "!=" {
			return nil, &jqlError{fmt.Sprintf("The operator '%s' is not supported by the '%s' field.", op.text, field)}
		}
		if field == "project" && !p.f.hasProject(v.text) {
			return nil, &jqlError{fmt.Sprintf("The value '%s' does not exist for the field 'project'.", v.text)}
		}
		if (field == "issuetype" || field == "type") && !p.f.hasType(v.text) {
			return nil, &jqlError{fmt.Sprintf("The value '%s' does not exist for the field 'issuetype'.", v.text)}
		}
	}
	return n, nil
}

// parseDate reads a JQL date in the searching user's time zone. A wall
// time that occurs twice (the hour repeated when daylight-saving time ends)
// is read as its earlier instant and one skipped by a spring-forward gap is
// moved forward by the gap, as java.time's ZonedDateTime.of does in Jira.
func (f *Fake) parseDate(s string) (time.Time, bool) {
	for _, layout := range []string{"2006-01-02 15:04", "2006/01/02 15:04", "2006-01-02", "2006/01/02"} {
		if w, err := time.Parse(layout, s); err == nil {
			return resolveWall(w, f.loc), true
		}
	}
	return time.Time{}, false
}

// resolveWall maps a wall-clock time (given in UTC fields) to an instant in loc.
func resolveWall(w time.Time, loc *time.Location) time.Time {
	var hits []time.Time
	seen := map[int]bool{}
	for _, probe := range []time.Duration{-36 * time.Hour, 0, 36 * time.Hour} {
		_, off := w.Add(probe).In(loc).Zone()
		if seen[off] {
			continue
		}
		seen[off] = true
		t := w.Add(-time.Duration(off) * time.Second)
		if t.In(loc).Format("2006-01-02 15:04:05") == w.Format("2006-01-02 15:04:05") {
			hits = append(hits, t)
		}
	}
	if len(hits) == 0 { // in a gap: the offset before the gap, which lands after it
		_, off := w.Add(-36 * time.Hour).In(loc).Zone()
		return w.Add(-time.Duration(off) * time.Second).In(loc)
	}
	earliest := hits[0]
	for _, t := range hits[1:] {
		if t.Before(earliest) {
			earliest = t
		}
	}
	return earliest.In(loc)
}
