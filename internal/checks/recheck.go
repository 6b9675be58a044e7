package checks

import (
	"context"
	"fmt"
	"strings"

	"github.com/tickmark-dev/tickmark/collectors"
	"github.com/tickmark-dev/tickmark/internal/evidence"
)

// Recheck re-evaluates a recorded result from the evidence it names —
// the same rule text, parameters, identity map, item layouts and `now` —
// and returns every difference from what was recorded (none: the result
// is reproduced). lookup finds an input record and opens its body (an
// auditor package's own files). rec is the result's own record.
func Recheck(ctx context.Context, rec *evidence.Record, res *Result, lookup func(seq uint64) (*evidence.Record, bool), open Opener) []string {
	var diffs []string
	if id := strings.TrimPrefix(rec.Type, TypePrefix); id != res.Check.ID {
		diffs = append(diffs, fmt.Sprintf("its record says check %s, its body check %s", id, res.Check.ID))
	}
	if rec.Subject != res.Subject() {
		diffs = append(diffs, fmt.Sprintf("its record says %q, its body %q", rec.Subject, res.Subject()))
	}
	if res.Engine != Engine {
		return append(diffs, fmt.Sprintf("evaluated by %s; this tickmark evaluates with %s and cannot re-run it", res.Engine, Engine))
	}
	ids, err := NewIdentities(res.Identities)
	if err != nil {
		return append(diffs, "its identity map: "+err.Error())
	}
	c, err := Compile(res.Check, ids)
	if err != nil {
		return append(diffs, "its rule does not compile: "+err.Error())
	}
	p := Plan{Now: res.EvaluatedAt, From: res.Window.From, To: res.Window.To, Inputs: map[string][]*evidence.Record{}, Layouts: map[string]collectors.ItemLayout{}}
	for t, l := range res.Layouts {
		p.Layouts[t] = l.items()
	}
	seen := map[uint64]bool{}
	for _, in := range res.Inputs {
		r, ok := lookup(in.Seq)
		switch {
		case !ok:
			diffs = append(diffs, fmt.Sprintf("input record %d (%s) is missing from the package or its evidence file does not match its record", in.Seq, in.Type))
			continue
		case r.SHA256 != in.SHA256 || r.Type != in.Type:
			diffs = append(diffs, fmt.Sprintf("input record %d is %s sha256 %s, the result read %s sha256 %s", in.Seq, r.Type, r.SHA256, in.Type, in.SHA256))
			continue
		}
		if !seen[in.Seq] {
			seen[in.Seq] = true
			p.Inputs[r.Type] = append(p.Inputs[r.Type], r)
		}
	}
	if len(diffs) > 0 {
		return diffs
	}
	got, err := Evaluate(ctx, []*Check{c}, ids, p, open)
	if err != nil {
		return append(diffs, "re-evaluation failed: "+err.Error())
	}
	return compareResults(res, got[0])
}

func compareResults(want, got *Result) []string {
	var diffs []string
	if got.Status != want.Status || got.Population != want.Population || got.ExceptionCount != want.ExceptionCount {
		diffs = append(diffs, fmt.Sprintf("re-evaluated from the package: %s, %d exceptions in %d items; recorded: %s, %d exceptions in %d items",
			got.Status, got.ExceptionCount, got.Population, want.Status, want.ExceptionCount, want.Population))
	}
	if got.Status == StatusError {
		diffs = append(diffs, "re-evaluation could not read its inputs: "+got.Note)
	}
	wx := map[string]Exception{}
	for _, e := range want.Exceptions {
		wx[e.Key] = e
	}
	gx := map[string]Exception{}
	for _, e := range got.Exceptions {
		gx[e.Key] = e
	}
	var missing, extra, changed []string
	for k, e := range wx {
		g, ok := gx[k]
		switch {
		case !ok:
			missing = append(missing, k)
		case g != e:
			changed = append(changed, k)
		}
	}
	for k := range gx {
		if _, ok := wx[k]; !ok {
			extra = append(extra, k)
		}
	}
	for _, d := range []struct {
		what string
		keys []string
	}{{"recorded exceptions the rule does not find", missing}, {"exceptions the rule finds that were not recorded", extra}, {"exceptions recorded differently", changed}} {
		if len(d.keys) > 0 {
			sortStrings(d.keys)
			if len(d.keys) > 5 {
				d.keys = append(d.keys[:5], fmt.Sprintf("and %d more", len(d.keys)-5))
			}
			diffs = append(diffs, d.what+": "+strings.Join(d.keys, ", "))
		}
	}
	if len(got.Inputs) != len(want.Inputs) {
		diffs = append(diffs, fmt.Sprintf("read %d inputs; recorded %d", len(got.Inputs), len(want.Inputs)))
	} else {
		for i := range got.Inputs {
			g, w := got.Inputs[i], want.Inputs[i]
			if g.Role != w.Role || g.Type != w.Type || g.Seq != w.Seq || g.SHA256 != w.SHA256 || g.Items != w.Items || g.Subject != w.Subject || !g.CollectedAt.Equal(w.CollectedAt) {
				diffs = append(diffs, fmt.Sprintf("input %d (record %d) read differently: %+v, recorded %+v", i, want.Inputs[i].Seq, got.Inputs[i], want.Inputs[i]))
				break
			}
		}
	}
	if got.Evaluated != want.Evaluated {
		diffs = append(diffs, fmt.Sprintf("evaluated %d item versions; recorded %d", got.Evaluated, want.Evaluated))
	}
	return diffs
}
