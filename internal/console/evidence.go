package console

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sort"
	"sync"
	"time"

	"golang.org/x/mod/sumdb/tlog"

	"github.com/tickmark-dev/tickmark/internal/controls"
	"github.com/tickmark-dev/tickmark/internal/evidence"
	"github.com/tickmark-dev/tickmark/internal/ledger"
	"github.com/tickmark-dev/tickmark/internal/readmodel"
)

// AgentSource is one agent's evidence as the console reads it: the read
// model shared with coverage, populations and export (the local ledger or
// one agent's published log in the bucket).
type AgentSource = readmodel.Source

// Retention is an evidence object's Object Lock retention as the store
// reports it.
type Retention struct {
	Key   string
	Mode  string    // COMPLIANCE, GOVERNANCE; "" when the object has none
	Until time.Time // zero when the object has none
}

// RetentionReader is implemented by stores that can report an object's
// Object Lock retention (S3). Without it the console shows retention as
// unknown.
type RetentionReader interface {
	Retention(ctx context.Context, key string) (mode string, until time.Time, err error)
}

// Fleet is the evidence the console shows: one source per agent (every
// agent in the bucket, or the one local ledger), opened together and
// replaced as a whole when the console refreshes.
type Fleet struct {
	// Where names the evidence for pages ("bucket s3://evidence/soc2/").
	Where string
	// Agents are the agents whose log opened and verified, by name.
	Agents map[string]AgentSource
	// Problems are agents whose log could not be opened or does not verify
	// (one broken agent is a finding; the others are still shown).
	Problems map[string]string
	// ObjectKey returns the store key of a record's evidence object under
	// a control (for retention); nil when unknown.
	ObjectKey func(control string, r *evidence.Record) string
	// Retention reads an object's retention; nil when the store cannot.
	Retention RetentionReader
	// Opened is when the fleet was read.
	Opened time.Time
	// Close releases the sources.
	Close func()

	names    []string
	activity []Activity
	runs     [][]*ledger.Run // per agent (Names order), read once at open
	refs     sync.WaitGroup  // requests reading this fleet
	recMu    sync.Mutex
	recs     map[recKey]*evidence.Record // decoded records (immutable), bounded
}

type recKey struct {
	agent int
	seq   uint64
}

// maxCachedRecords bounds the decoded-record cache (about 1 KiB each).
const maxCachedRecords = 30000

// Activity is when an agent's collector last produced evidence.
type Activity struct {
	Agent     string
	Collector string
	Types     []string
	Records   int
	Last      time.Time
}

// Names returns the agent names, sorted.
func (f *Fleet) Names() []string {
	if f.names == nil {
		for n := range f.Agents {
			f.names = append(f.names, n)
		}
		sort.Strings(f.names)
	}
	return f.names
}

// index reads every record's collector and time once (when the fleet is
// opened, not per page) for the "stopped reporting" table.
func (f *Fleet) index(ctx context.Context) error {
	type key struct{ agent, coll string }
	acc := map[key]*Activity{}
	// The latest record of each evidence type and UTC day: the latest
	// record of any period is one of them, so the first report of any
	// window finds the records it shows already decoded.
	type dayKey struct {
		agent int
		typ   string
		day   int64
	}
	latest := map[dayKey]*evidence.Record{}
	for ai, name := range f.Names() {
		err := f.Agents[name].Find(ledger.Query{}, func(r *evidence.Record, _ []byte) error {
			if err := ctx.Err(); err != nil {
				return err
			}
			dk := dayKey{ai, r.Type, r.CollectedAt.Unix() / 86400}
			if l := latest[dk]; l == nil || !r.CollectedAt.Before(l.CollectedAt) && (r.CollectedAt.After(l.CollectedAt) || r.Seq > l.Seq) {
				latest[dk] = r
			}
			k := key{name, r.Collector}
			a := acc[k]
			if a == nil {
				a = &Activity{Agent: name, Collector: r.Collector}
				acc[k] = a
			}
			a.Records++
			if r.CollectedAt.After(a.Last) {
				a.Last = r.CollectedAt
			}
			for _, t := range a.Types {
				if t == r.Type {
					return nil
				}
			}
			a.Types = append(a.Types, r.Type)
			return nil
		})
		if err != nil {
			return fmt.Errorf("reading agent %s: %w", name, err)
		}
		// Run history is read once per refresh, not per page: coverage
		// reads all of it for every report.
		var runs []*ledger.Run
		if err := f.Agents[name].Runs(time.Time{}, time.Time{}, func(r *ledger.Run) error {
			rr := *r
			runs = append(runs, &rr)
			return nil
		}); err != nil {
			return fmt.Errorf("reading agent %s's runs: %w", name, err)
		}
		f.runs = append(f.runs, runs)
	}
	keep := make([]*evidence.Record, 0, len(latest))
	idx := map[*evidence.Record]int{}
	for dk, r := range latest {
		keep = append(keep, r)
		idx[r] = dk.agent
	}
	if len(keep) > maxCachedRecords { // the most recent days
		sort.Slice(keep, func(i, j int) bool { return keep[i].CollectedAt.After(keep[j].CollectedAt) })
		keep = keep[:maxCachedRecords]
	}
	f.recs = make(map[recKey]*evidence.Record, len(keep))
	for _, r := range keep {
		f.recs[recKey{idx[r], r.Seq}] = r
	}
	for _, a := range acc {
		sort.Strings(a.Types)
		f.activity = append(f.activity, *a)
	}
	sort.Slice(f.activity, func(i, j int) bool {
		a, b := f.activity[i], f.activity[j]
		return a.Agent < b.Agent || a.Agent == b.Agent && a.Collector < b.Collector
	})
	return nil
}

// seqBits is how many bits of a fleet-wide sequence number hold the
// agent's own sequence number; the agent's index is above them.
const seqBits = 40

// fleetSource is every agent's evidence as one source for coverage, so
// that coverage is computed over the fleet: a record's sequence number
// carries its agent's index in its top bits. Coverage reads only
// ScanType, Runs and Record; the rest of the read model, which is one
// agent's signed log, is refused.
type fleetSource struct {
	f     *Fleet
	names []string
	srcs  []AgentSource
}

var errFleetWide = errors.New("console: not available across agents")

func (s *fleetSource) Agent() string { return "fleet" }

func (s *fleetSource) Find(readmodel.Query, func(*evidence.Record, []byte) error) error {
	return errFleetWide
}

func (s *fleetSource) Body(context.Context, *evidence.Record) (io.ReadCloser, error) {
	return nil, errFleetWide
}

func (s *fleetSource) Location(*evidence.Record) string { return "" }

func (s *fleetSource) RunsVisible() bool {
	for _, src := range s.srcs {
		if !src.RunsVisible() {
			return false
		}
	}
	return true
}

func (s *fleetSource) Checkpoints() ([]*readmodel.Checkpoint, error)  { return nil, errFleetWide }
func (s *fleetSource) Keys() (map[string]string, error)               { return nil, errFleetWide }
func (s *fleetSource) Tokens() (map[int64][]byte, error)              { return nil, errFleetWide }
func (s *fleetSource) Prove(uint64, int64) (tlog.RecordProof, error)  { return nil, errFleetWide }
func (s *fleetSource) ProveTree(int64, int64) (tlog.TreeProof, error) { return nil, errFleetWide }

func (f *Fleet) coverageSource() *fleetSource {
	fs := &fleetSource{f: f}
	for _, n := range f.Names() {
		fs.names = append(fs.names, n)
		fs.srcs = append(fs.srcs, f.Agents[n])
	}
	return fs
}

func (s *fleetSource) ScanType(typ string, from, to time.Time, fn func(ns int64, seq uint64) error) error {
	for i, src := range s.srcs {
		hi := uint64(i) << seqBits
		if err := src.ScanType(typ, from, to, func(ns int64, seq uint64) error { return fn(ns, hi|seq) }); err != nil {
			return fmt.Errorf("agent %s: %w", s.names[i], err)
		}
	}
	return nil
}

func (s *fleetSource) Runs(from, to time.Time, fn func(*ledger.Run) error) error {
	if s.f.runs == nil { // not indexed (a fleet used without index)
		for _, src := range s.srcs {
			if err := src.Runs(from, to, fn); err != nil {
				return err
			}
		}
		return nil
	}
	for _, runs := range s.f.runs {
		for _, r := range runs {
			if !from.IsZero() && r.Started.Before(from) || !to.IsZero() && !r.Started.Before(to) {
				continue
			}
			if err := fn(r); err != nil {
				return err
			}
		}
	}
	return nil
}

func (s *fleetSource) Record(seq uint64) (*evidence.Record, error) {
	i := int(seq >> seqBits)
	if i >= len(s.srcs) {
		return nil, fmt.Errorf("no agent %d", i)
	}
	k := recKey{i, seq & (1<<seqBits - 1)}
	f := s.f
	f.recMu.Lock()
	r, ok := f.recs[k]
	f.recMu.Unlock()
	if ok {
		return r, nil
	}
	r, err := s.srcs[i].Record(k.seq)
	if err != nil {
		return nil, err
	}
	f.recMu.Lock()
	if f.recs == nil || len(f.recs) >= maxCachedRecords {
		f.recs = map[recKey]*evidence.Record{}
	}
	f.recs[k] = r
	f.recMu.Unlock()
	return r, nil
}

// Coverage computes coverage of set over the fleet. Each record's link is
// its artifact page.
func (f *Fleet) Coverage(set *controls.Set, o controls.Options) (*controls.Report, error) {
	fs := f.coverageSource()
	o.NoRunHistory = !fs.RunsVisible()
	// The collectors seen producing each type count as its producers
	// (the bucket has no configuration of the agents).
	prod := map[string][]string{}
	for inst, ts := range o.Producers {
		prod[inst] = ts
	}
	for _, a := range f.activity {
		if _, ok := prod[a.Collector]; !ok {
			prod[a.Collector] = a.Types
		}
	}
	o.Producers = prod
	o.Link = func(r *evidence.Record) string { return artifactPath(r.Agent, r.Seq) }
	return controls.Coverage(fs, set, o)
}

// Body opens a record's evidence object.
func (f *Fleet) Body(ctx context.Context, agent string, r *evidence.Record) (io.ReadCloser, error) {
	src, ok := f.Agents[agent]
	if !ok {
		return nil, fmt.Errorf("no agent %q", agent)
	}
	return src.Body(ctx, r)
}

// Cursor is a position in the fleet's records, in collection-time order.
type Cursor struct {
	NS    int64
	Agent string
	Seq   uint64
}

func (c Cursor) less(d Cursor) bool {
	if c.NS != d.NS {
		return c.NS < d.NS
	}
	if c.Agent != d.Agent {
		return c.Agent < d.Agent
	}
	return c.Seq < d.Seq
}

// ListQuery selects records for the artifact list.
type ListQuery struct {
	ledger.Query
	Agent string  // "" for every agent
	After *Cursor // the page starts after this record
}

// List returns up to n records matching q after q.After, in
// collection-time order, and whether more follow. Each agent's index is
// read from the cursor's time on, so a page costs the same at the start
// and at the end of millions of records.
func (f *Fleet) List(ctx context.Context, q ListQuery, n int) ([]*evidence.Record, bool, error) {
	var out []*evidence.Record
	stop := fmt.Errorf("page full")
	for _, name := range f.Names() {
		if q.Agent != "" && name != q.Agent {
			continue
		}
		lq := q.Query
		if q.After != nil && time.Unix(0, q.After.NS).After(lq.From) {
			lq.From = time.Unix(0, q.After.NS).UTC()
		}
		lq.Limit = 0
		got := 0
		err := f.Agents[name].Find(lq, func(r *evidence.Record, _ []byte) error {
			if err := ctx.Err(); err != nil {
				return err
			}
			if q.After != nil && !q.After.less(Cursor{r.CollectedAt.UnixNano(), name, r.Seq}) {
				return nil
			}
			out = append(out, r)
			if got++; got > n {
				return stop
			}
			return nil
		})
		if err != nil && err != stop {
			return nil, false, fmt.Errorf("agent %s: %w", name, err)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		return cursorOf(out[i]).less(cursorOf(out[j]))
	})
	more := len(out) > n
	if more {
		out = out[:n]
	}
	return out, more, nil
}

func cursorOf(r *evidence.Record) Cursor { return Cursor{r.CollectedAt.UnixNano(), r.Agent, r.Seq} }
