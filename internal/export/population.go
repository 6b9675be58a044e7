package export

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"mime"
	"sort"
	"strconv"
	"time"

	"github.com/tickmark-dev/tickmark/collectors"
	"github.com/tickmark-dev/tickmark/internal/csvsafe"
	"github.com/tickmark-dev/tickmark/internal/evidence"
	"github.com/tickmark-dev/tickmark/internal/ledger"
	"github.com/tickmark-dev/tickmark/internal/readmodel"
)

// Item layouts are declared with each evidence type in the collector SDK
// (collectors.RegisterItems); types without one use the generic rule of
// collectors.ReadItems.

// Row is one item of a population, deduplicated across artifacts: the
// latest artifact's version of it.
type Row struct {
	Key       string
	Kind      string // "item" or "artifact"
	Fields    []string
	First     time.Time
	Last      time.Time
	Artifacts int
	Seq       uint64 // latest record
	SHA256    string // latest body
	Subject   string
}

// Population is every item of an evidence type in a window.
type Population struct {
	Type      string
	Fields    []string
	Rows      []Row // sorted by key
	Artifacts int
	Skipped   int // artifacts of another content type than the spec's
}

// BuildPopulation reads every artifact of typ collected in [from, to) and
// extracts its items, streaming each body.
func BuildPopulation(ctx context.Context, src readmodel.Source, typ string, from, to time.Time) (*Population, error) {
	return BuildPopulationBy(ctx, src, typ, from, to, readmodel.ByCollected)
}

// BuildPopulationBy is BuildPopulation with the window applied by
// collection or by observation time. By observation, artifacts are those
// that observed something in the window (readmodel.FindBy), and an event
// item whose layout declares its time (ItemLayout.Time: merged_at,
// published, ...) is in the population only if that time is in the window:
// a backfill collected in December of pull requests merged in September
// does not put them in a December population.
func BuildPopulationBy(ctx context.Context, src readmodel.Source, typ string, from, to time.Time, by readmodel.By) (*Population, error) {
	spec, known := collectors.Items(typ)
	pop := &Population{Type: typ, Fields: spec.Fields}
	rows := map[string]*Row{}
	inWindow := func(v any) bool {
		if by != readmodel.ByObserved {
			return true
		}
		t, ok := collectors.ItemTime(v, spec)
		return !ok || (from.IsZero() || !t.Before(from)) && (to.IsZero() || t.Before(to))
	}
	err := readmodel.FindBy(src, ledger.Query{Type: typ, From: from, To: to}, by, func(r *evidence.Record, _ []byte) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		pop.Artifacts++
		mt, _, _ := mime.ParseMediaType(r.ContentType)
		if known && spec.ContentType != "" && mt != spec.ContentType {
			pop.Skipped++
			return nil
		}
		add := func(key, kind string, fields []string) {
			row := rows[key]
			if row == nil {
				row = &Row{Key: key, Kind: kind, First: r.CollectedAt}
				rows[key] = row
			}
			row.Artifacts++
			if !r.CollectedAt.Before(row.Last) {
				row.Last, row.Seq, row.SHA256, row.Subject, row.Fields = r.CollectedAt, r.Seq, r.SHA256, r.Subject, fields
			}
		}
		body, err := src.Body(ctx, r)
		if err != nil {
			return fmt.Errorf("record %d (%s): %w", r.Seq, r.Type, err)
		}
		defer body.Close()
		n, err := collectors.ReadItems(body, r.ContentType, r.Subject, spec, func(it collectors.Item) error {
			if inWindow(it.Value) {
				add(it.Key, "item", fields(it.Value, spec.Fields))
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("record %d (%s): reading items: %w", r.Seq, r.Type, err)
		}
		if n < 0 { // not a list: one row per artifact
			add(fmt.Sprintf("%s-%012d", r.Agent, r.Seq), "artifact", nil)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	for _, r := range rows {
		pop.Rows = append(pop.Rows, *r)
	}
	sort.Slice(pop.Rows, func(i, j int) bool { return pop.Rows[i].Key < pop.Rows[j].Key })
	return pop, nil
}

// fields are an item's shown fields as text.
func fields(v any, paths []string) []string {
	out := make([]string, len(paths))
	obj, ok := v.(map[string]any)
	if !ok {
		return out
	}
	for i, f := range paths {
		out[i] = collectors.ItemField(obj, f)
	}
	return out
}

// Header is the population CSV header.
func (p *Population) Header() []string {
	h := []string{"key", "kind"}
	h = append(h, p.Fields...)
	return append(h, "first_collected", "last_collected", "artifacts", "latest_seq", "latest_sha256", "subject")
}

// Record returns a row as CSV fields.
func (p *Population) Record(r Row) []string {
	out := []string{r.Key, r.Kind}
	for i := range p.Fields {
		v := ""
		if i < len(r.Fields) {
			v = r.Fields[i]
		}
		out = append(out, v)
	}
	return append(out, r.First.UTC().Format(time.RFC3339), r.Last.UTC().Format(time.RFC3339), strconv.Itoa(r.Artifacts), strconv.FormatUint(r.Seq, 10), r.SHA256, r.Subject)
}

// WriteCSV writes the population as CSV.
func (p *Population) WriteCSV(w io.Writer) error {
	cw := csvsafe.NewWriter(w)
	if err := cw.Write(p.Header()); err != nil {
		return err
	}
	for _, r := range p.Rows {
		if err := cw.Write(p.Record(r)); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}

// Digest is the SHA-256 of the population's CSV: an auditor can check a
// sample was drawn from the population they were given.
func (p *Population) Digest() string {
	h := sha256.New()
	_ = p.WriteCSV(h)
	return fmt.Sprintf("%x", h.Sum(nil))
}

// Sample draws n rows without replacement, reproducibly: the population
// is sorted by key and shuffled with a PCG generator seeded from
// SHA-256(seed). The same population and seed give the same sample.
func (p *Population) Sample(n int, seed string) ([]Row, error) {
	if seed == "" {
		return nil, errors.New("a seed is required (the auditor supplies it)")
	}
	if n <= 0 {
		return nil, errors.New("the sample size must be positive")
	}
	s := sha256.Sum256([]byte(seed))
	rng := rand.New(rand.NewPCG(binary.BigEndian.Uint64(s[:8]), binary.BigEndian.Uint64(s[8:16])))
	idx := make([]int, len(p.Rows))
	for i := range idx {
		idx[i] = i
	}
	n = min(n, len(idx))
	for i := 0; i < n; i++ { // partial Fisher-Yates
		j := i + rng.IntN(len(idx)-i)
		idx[i], idx[j] = idx[j], idx[i]
	}
	out := make([]Row, n)
	for i := range out {
		out[i] = p.Rows[idx[i]]
	}
	return out, nil
}
