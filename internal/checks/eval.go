package checks

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"runtime"
	"sort"
	"strings"
	"time"

	"github.com/google/cel-go/common/types"
	"github.com/google/cel-go/common/types/ref"
	"github.com/google/cel-go/interpreter"
	"golang.org/x/sync/errgroup"

	"github.com/tickmark-dev/tickmark/collectors"
	"github.com/tickmark-dev/tickmark/internal/evidence"
	"github.com/tickmark-dev/tickmark/internal/ledger"
)

// Source is what checks read: records by type in a window, and bodies.
// Every readmodel.Source (the agent's ledger, one agent's published log in
// the bucket) implements it; verify-package gives the auditor package's
// own files.
type Source interface {
	// Find calls fn for matching records in collected_at order.
	Find(q ledger.Query, fn func(r *evidence.Record, data []byte) error) error
	// Body opens a record's body.
	Body(ctx context.Context, r *evidence.Record) (io.ReadCloser, error)
}

// Opener opens a record's body.
type Opener func(ctx context.Context, r *evidence.Record) (io.ReadCloser, error)

// Plan is one evaluation: the time the rules see as `now`, the window and
// the input records of every type, in collected_at order.
type Plan struct {
	Now      time.Time
	From, To time.Time
	Inputs   map[string][]*evidence.Record
	// Layouts override the registered item layouts (re-evaluation uses
	// the layouts recorded in the result).
	Layouts map[string]collectors.ItemLayout
}

// Resolve selects the input records of the given evidence types: every
// record collected in [from, to) for event types, and only each collector
// instance's latest run in the window for snapshot types.
func Resolve(ctx context.Context, src Source, typesNeeded []string, from, to time.Time) (map[string][]*evidence.Record, error) {
	out := map[string][]*evidence.Record{}
	for _, t := range typesNeeded {
		if _, done := out[t]; done {
			continue
		}
		l, _ := collectors.Items(t)
		type run struct {
			id   string
			recs []*evidence.Record
		}
		latest := map[string]*run{} // collector instance -> its latest run
		var order []string
		var recs []*evidence.Record
		err := src.Find(ledger.Query{Type: t, From: from, To: to}, func(r *evidence.Record, _ []byte) error {
			if err := ctx.Err(); err != nil {
				return err
			}
			if !l.Snapshot {
				recs = append(recs, r)
				return nil
			}
			cur := latest[r.Collector]
			if cur == nil {
				order = append(order, r.Collector)
				cur = &run{}
				latest[r.Collector] = cur
			}
			if cur.id != r.RunID {
				cur.id, cur.recs = r.RunID, nil
			}
			cur.recs = append(cur.recs, r)
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("reading %s records: %w", t, err)
		}
		if l.Snapshot {
			for _, c := range order {
				recs = append(recs, latest[c].recs...)
			}
			sort.SliceStable(recs, func(i, j int) bool { return recs[i].Seq < recs[j].Seq })
		}
		out[t] = recs
	}
	return out, nil
}

// Types lists the evidence types the checks read.
func Types(cs []*Check) []string {
	var out []string
	for _, c := range cs {
		for _, t := range c.InputTypes() {
			if !containsStr(out, t) {
				out = append(out, t)
			}
		}
	}
	return out
}

// state is one check's evaluation in progress.
type state struct {
	c        *Check
	params   map[string]any
	refs     map[string]map[string]ref.Val
	keys     *keyCounter
	exc      map[string]*Exception
	res      *Result
	failed   error // an input could not be read
	evaluate int
}

// act is the activation of one evaluation (reused across items).
type act struct {
	item     any
	params   map[string]any
	refs     map[string]map[string]ref.Val
	now      time.Time
	artifact map[string]any
}

func (a *act) ResolveName(name string) (any, bool) {
	switch name {
	case "item":
		return a.item, true
	case "params":
		return a.params, true
	case "refs":
		return a.refs, true
	case "now":
		return types.Timestamp{Time: a.now}, true
	case "artifact":
		return a.artifact, true
	}
	return nil, false
}

func (a *act) Parent() interpreter.Activation { return nil }

// Evaluate runs the checks over the plan's inputs, reading each input
// artifact once for all the checks that use it and streaming its items:
// memory holds one item at a time (one whole body for per: artifact
// checks), the refs' indexes and the exceptions. Every body is checked
// against its record's SHA-256 as it is read.
func Evaluate(ctx context.Context, cs []*Check, ids *Identities, p Plan, open Opener) ([]*Result, error) {
	now := p.Now.UTC()
	states := make([]*state, len(cs))
	for i, c := range cs {
		st := &state{c: c, params: normParams(c.Params), refs: map[string]map[string]ref.Val{}, exc: map[string]*Exception{}}
		st.keys = newKeyCounter()
		st.res = &Result{Format: ResultFormat, Engine: Engine, Check: c.Def, Layouts: map[string]Layout{},
			EvaluatedAt: now, Window: Window{From: p.From.UTC(), To: p.To.UTC()}, Exceptions: []Exception{}, Inputs: []InputRef{}}
		if c.usesPerson {
			st.res.Identities = ids.sorted()
		}
		for _, t := range c.InputTypes() {
			st.res.Layouts[t] = layoutOf(p.layout(t, c))
		}
		for _, r := range c.refs {
			st.refs[r.name] = map[string]ref.Val{}
		}
		states[i] = st
	}
	defer func() {
		for _, st := range states {
			st.keys.close()
		}
	}()
	a := &act{now: now}

	// 1. Refs: every ref type read once for all the refs on it.
	refTypes := []string{}
	for _, st := range states {
		for _, r := range st.c.refs {
			if !containsStr(refTypes, r.Type) {
				refTypes = append(refTypes, r.Type)
			}
		}
	}
	for _, t := range refTypes {
		type use struct {
			st *state
			r  *refIndex
		}
		var uses []use
		for _, st := range states {
			for _, r := range st.c.refs {
				if r.Type == t {
					uses = append(uses, use{st, r})
				}
			}
		}
		l := p.layout(t, nil)
		for _, rec := range p.Inputs[t] {
			if !l.Holds(rec.ContentType) {
				continue // another kind of artifact of the type (a summary)
			}
			n, err := readArtifact(ctx, open, rec, l, false, func(it collectors.Item) error {
				a.item = celValue(it.Value)
				a.artifact = artifactVars(rec)
				for _, u := range uses {
					a.params = u.st.params
					a.refs = nil
					if err := u.r.add(a, u.st.refs[u.r.name]); err != nil {
						return fmt.Errorf("check %s: refs.%s on item %s of record %d: %w", u.st.c.ID, u.r.name, it.Key, rec.Seq, err)
					}
				}
				return nil
			})
			for _, u := range uses {
				if err != nil && u.st.failed == nil {
					u.st.failed = err
				}
				u.st.addInput("ref:"+u.r.name, rec, n)
			}
		}
	}

	// 2. Inputs: each input type read once for every check on it.
	byInput := map[string][]*state{}
	var inputOrder []string
	for _, st := range states {
		k := st.c.Input + "\x00" + st.c.Per
		if _, ok := byInput[k]; !ok {
			inputOrder = append(inputOrder, k)
		}
		byInput[k] = append(byInput[k], st)
	}
	// Groups read different artifacts and update different checks: they
	// run in parallel, one goroutine per core.
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(runtime.GOMAXPROCS(0))
	for _, k := range inputOrder {
		group := byInput[k]
		g.Go(func() error {
			c0 := group[0].c
			l := p.layout(c0.Input, c0)
			perArtifact := c0.Per == "artifact"
			a := &act{now: now}
			for _, rec := range p.Inputs[c0.Input] {
				if err := gctx.Err(); err != nil {
					return err
				}
				if !perArtifact && !l.Holds(rec.ContentType) {
					continue // another kind of artifact of the type (a summary)
				}
				a.artifact = artifactVars(rec)
				n, err := readArtifact(gctx, open, rec, l, perArtifact, func(it collectors.Item) error {
					a.item = celValue(it.Value)
					for _, st := range group {
						if st.failed != nil {
							continue
						}
						a.params, a.refs = st.params, st.refs
						st.eval(a, it.Key, rec)
					}
					return nil
				})
				for _, st := range group {
					if err != nil && st.failed == nil {
						st.failed = err
					}
					st.addInput("input", rec, n)
				}
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}

	// 3. Results.
	out := make([]*Result, len(states))
	for i, st := range states {
		res := st.res
		pop, err := st.keys.count()
		if err != nil {
			return nil, err
		}
		res.Population = pop
		res.Evaluated = st.evaluate
		keys := sortedKeys(st.exc)
		for _, k := range keys {
			res.Exceptions = append(res.Exceptions, *st.exc[k])
		}
		res.ExceptionCount = len(res.Exceptions)
		var missing []string
		for _, t := range st.c.InputTypes() {
			if len(p.Inputs[t]) == 0 {
				missing = append(missing, t)
			}
		}
		switch {
		case st.failed != nil:
			res.Status = StatusError
			res.Note = st.failed.Error()
			res.Exceptions, res.ExceptionCount, res.Population = []Exception{}, 0, 0
		case len(missing) > 0:
			res.Status = StatusNoData
			res.Note = "no " + strings.Join(missing, " or ") + " evidence in the window: nothing was tested"
			res.Exceptions, res.ExceptionCount = []Exception{}, 0
		case res.ExceptionCount > 0:
			res.Status = StatusFail
		default:
			res.Status = StatusPass
			if res.Population == 0 {
				res.Note = "no item of the inputs is in the rule's scope (where): nothing failed, nothing was tested"
			}
		}
		out[i] = res
	}
	return out, nil
}

func (p Plan) layout(t string, c *Check) collectors.ItemLayout {
	if l, ok := p.Layouts[t]; ok {
		return l
	}
	if c != nil && c.Input == t {
		return c.layout
	}
	l, _ := collectors.Items(t)
	return l
}

func (st *state) addInput(role string, r *evidence.Record, n int) {
	st.res.Inputs = append(st.res.Inputs, InputRef{Role: role, Type: r.Type, Seq: r.Seq, SHA256: r.SHA256, CollectedAt: r.CollectedAt.UTC(), Subject: r.Subject, Items: n})
}

// eval applies the check to one item version; the latest version of an
// item decides.
func (st *state) eval(a *act, key string, rec *evidence.Record) {
	c := st.c
	st.evaluate++
	exc := func(msg string, evalErr bool) {
		st.exc[key] = &Exception{Key: key, Message: msg, EvalError: evalErr, Seq: rec.Seq, SHA256: rec.SHA256, Subject: rec.Subject}
	}
	if c.where != nil {
		v, _, err := c.where.Eval(a)
		if err != nil {
			st.keys.add(key)
			exc("cannot evaluate where: "+err.Error(), true)
			return
		}
		if _, ok := v.(types.Bool); !ok {
			st.keys.add(key)
			exc(fmt.Sprintf("cannot evaluate where: it gives %s, not a bool", v.Type().TypeName()), true)
			return
		}
		if v != types.True {
			delete(st.exc, key)
			return
		}
	}
	st.keys.add(key)
	v, _, err := c.rule.Eval(a)
	if err != nil {
		exc("cannot evaluate rule: "+err.Error(), true)
		return
	}
	if _, ok := v.(types.Bool); !ok {
		exc(fmt.Sprintf("cannot evaluate rule: it gives %s, not a bool", v.Type().TypeName()), true)
		return
	}
	if v == types.True {
		delete(st.exc, key)
		return
	}
	msg := "rule is false"
	if c.message != nil {
		if m, _, err := c.message.Eval(a); err == nil {
			if s, ok := m.(types.String); ok {
				msg = string(s)
			}
		} else {
			msg = "rule is false (message: " + err.Error() + ")"
		}
	}
	exc(msg, false)
}

// add indexes one ref item.
func (r *refIndex) add(a *act, idx map[string]ref.Val) error {
	put := func(k ref.Val, v ref.Val) error {
		ks, ok := k.(types.String)
		if !ok {
			return fmt.Errorf("key is %s, not a string", k.Type())
		}
		if string(ks) == "" {
			return nil
		}
		if old, ok := idx[string(ks)]; ok && r.Keep != "" && r.Keep != "last" {
			cmp, ok := old.(interface{ Compare(ref.Val) ref.Val })
			if !ok {
				return fmt.Errorf("keep: %s: values of type %s are not ordered", r.Keep, old.Type())
			}
			c, isInt := cmp.Compare(v).(types.Int)
			if !isInt {
				return fmt.Errorf("keep: %s: cannot compare %s with %s", r.Keep, old.Type(), v.Type())
			}
			if r.Keep == "max" && c >= 0 || r.Keep == "min" && c <= 0 {
				return nil
			}
		}
		idx[string(ks)] = v
		return nil
	}
	if r.entries != nil {
		v, _, err := r.entries.Eval(a)
		if err != nil {
			return err
		}
		l, ok := v.(interface {
			Size() ref.Val
			Get(ref.Val) ref.Val
		})
		if !ok {
			return errors.New("entries is not a list")
		}
		n, _ := l.Size().(types.Int)
		for i := types.Int(0); i < n; i++ {
			e, ok := l.Get(i).(interface {
				Size() ref.Val
				Get(ref.Val) ref.Val
			})
			if !ok || e.Size() != types.Int(2) {
				return errors.New("each entry must be a [key, value] pair")
			}
			if err := put(e.Get(types.Int(0)), e.Get(types.Int(1))); err != nil {
				return err
			}
		}
		return nil
	}
	k, _, err := r.key.Eval(a)
	if err != nil {
		return err
	}
	var val ref.Val
	if r.value != nil {
		if val, _, err = r.value.Eval(a); err != nil {
			return err
		}
	} else {
		val = types.DefaultTypeAdapter.NativeToValue(a.item)
	}
	if l, ok := k.(interface {
		Size() ref.Val
		Get(ref.Val) ref.Val
	}); ok && k.Type() == types.ListType {
		n, _ := l.Size().(types.Int)
		for i := types.Int(0); i < n; i++ {
			if err := put(l.Get(i), val); err != nil {
				return err
			}
		}
		return nil
	}
	return put(k, val)
}

func artifactVars(r *evidence.Record) map[string]any {
	return map[string]any{"type": r.Type, "subject": r.Subject, "seq": int64(r.Seq), "sha256": r.SHA256,
		"collected_at": types.Timestamp{Time: r.CollectedAt.UTC()}, "collector": r.Collector}
}

// readArtifact streams one artifact's items to fn, checking the body
// against the record's hash. It returns the item count (-1: the body is
// not a list and was read as one item).
func readArtifact(ctx context.Context, open Opener, r *evidence.Record, l collectors.ItemLayout, whole bool, fn func(collectors.Item) error) (int, error) {
	read := func(consume func(io.Reader) (int, error)) (int, error) {
		body, err := open(ctx, r)
		if err != nil {
			return 0, fmt.Errorf("record %d (%s): %w", r.Seq, r.Type, err)
		}
		defer body.Close()
		h := sha256.New()
		tr := io.TeeReader(body, h)
		n, err := consume(tr)
		if err != nil {
			return n, fmt.Errorf("record %d (%s): reading items: %w", r.Seq, r.Type, err)
		}
		if _, err := io.Copy(io.Discard, tr); err != nil {
			return n, fmt.Errorf("record %d (%s): %w", r.Seq, r.Type, err)
		}
		if got := hex.EncodeToString(h.Sum(nil)); got != r.SHA256 {
			return n, fmt.Errorf("record %d (%s): its body's sha256 is %s, the record says %s: the input was altered", r.Seq, r.Type, got, r.SHA256)
		}
		return n, nil
	}
	wholeItem := func(rd io.Reader) (int, error) {
		var v any
		dec := json.NewDecoder(io.LimitReader(rd, collectors.MaxItemObject))
		dec.UseNumber()
		if err := dec.Decode(&v); err != nil {
			return -1, nil // not JSON: nothing to test
		}
		key := r.Subject
		if key == "" {
			key = fmt.Sprintf("%s-%012d", r.Agent, r.Seq)
		}
		return -1, fn(collectors.Item{Key: key, Value: v})
	}
	if whole {
		return read(wholeItem)
	}
	n, err := read(func(rd io.Reader) (int, error) {
		return collectors.ReadItems(rd, r.ContentType, r.Subject, l, fn)
	})
	if err != nil || n >= 0 {
		return n, err
	}
	return read(wholeItem) // not a list: the body is one item
}

// normParams gives parameters the types they have after a JSON round trip
// (integers stay integers), so a result re-evaluated from its recorded
// parameters sees the same values.
func normParams(p map[string]any) map[string]any {
	if len(p) == 0 {
		return map[string]any{}
	}
	b, err := json.Marshal(p)
	if err != nil {
		return p
	}
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.UseNumber()
	var out map[string]any
	if err := dec.Decode(&out); err != nil {
		return p
	}
	return celValue(out).(map[string]any)
}
