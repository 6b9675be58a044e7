package jira_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"runtime"
	"syscall"
	"testing"
	"time"

	"github.com/tickmark-dev/tickmark/collectors"
	"github.com/tickmark-dev/tickmark/collectors/collectortest"
	"github.com/tickmark-dev/tickmark/collectors/httpx"
	"github.com/tickmark-dev/tickmark/collectors/jira"
	"github.com/tickmark-dev/tickmark/collectors/jira/jirafake"
)

// BenchmarkCollect measures a full first run (backfill) against the fake:
// search pages, per-ticket remote links, changelog pages for the long
// histories (every 50th ticket has 50+ transitions).
func BenchmarkCollect(b *testing.B) {
	for _, tc := range []struct {
		deployment string
		n          int
	}{{jirafake.Cloud, 1000}, {jirafake.Cloud, 5000}, {jirafake.DataCenter, 5000}} {
		b.Run(fmt.Sprintf("%s/tickets=%d", tc.deployment, tc.n), func(b *testing.B) {
			b.Setenv("JIRA_TEST_TOKEN", testToken)
			f := newFake(b, jirafake.Options{Deployment: tc.deployment})
			f.Generate(jirafake.GenOptions{N: tc.n, Start: now.Add(-90 * 24 * time.Hour), End: now.Add(-time.Hour), Seed: 1, LongHistoryEvery: 50})
			c := collectortest.Build(b, "jira", config(f.URL, "auto", allQueries))
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				res := collectortest.Run(b, c, collectortest.Options{Now: now})
				if res.Err != nil {
					b.Fatal(res.Err)
				}
				if got := len(tickets(b, res.Committed)); got != tc.n {
					b.Fatalf("collected %d tickets, want %d", got, tc.n)
				}
			}
			b.ReportMetric(float64(tc.n*b.N)/b.Elapsed().Seconds(), "tickets/s")
		})
	}
}

// BenchmarkIncremental measures a run from a cursor after 1% of 5,000
// tickets changed: the cost of the every-6h schedule.
func BenchmarkIncremental(b *testing.B) {
	b.Setenv("JIRA_TEST_TOKEN", testToken)
	f := newFake(b, jirafake.Options{})
	keys := f.Generate(jirafake.GenOptions{N: 5000, Start: now.Add(-90 * 24 * time.Hour), End: now.Add(-time.Hour), Seed: 1, LongHistoryEvery: 50})
	c := collectortest.Build(b, "jira", config(f.URL, "cloud", allQueries))
	first := collectortest.Run(b, c, collectortest.Options{Now: now})
	if first.Err != nil {
		b.Fatal(first.Err)
	}
	for i := 0; i < 50; i++ {
		if err := f.Transition(keys[i*100], "Done", jirafake.People[0], now.Add(time.Duration(i)*time.Second)); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		res := collectortest.Run(b, c, collectortest.Options{Now: now.Add(time.Hour), Cursor: first.Cursor})
		if res.Err != nil {
			b.Fatal(res.Err)
		}
		if got := len(tickets(b, res.Committed)); got != 50 {
			b.Fatalf("collected %d tickets, want 50", got)
		}
	}
}

// discard is an Emitter that keeps nothing and samples the live heap at
// each page, to show the collector's memory does not grow with the
// number of tickets.
type discard struct {
	peak  uint64
	items int
}

func (d *discard) Emit(_ context.Context, a collectors.Artifact) error {
	if a.Type == "jira.population" {
		return nil
	}
	d.items += a.Source.Items
	runtime.GC() // live heap only: the page being emitted is still referenced
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	d.peak = max(d.peak, ms.HeapAlloc)
	return nil
}

func (d *discard) Checkpoint(context.Context, string) error { return nil }

// BenchmarkPeakHeap reports the peak live heap while collecting 1,000
// and 10,000 tickets with an emitter that keeps nothing: it should stay
// flat (one page in flight), apart from the fake's own ticket store.
func BenchmarkPeakHeap(b *testing.B) {
	for _, n := range []int{1000, 10000} {
		b.Run(fmt.Sprintf("tickets=%d", n), func(b *testing.B) {
			b.Setenv("JIRA_TEST_TOKEN", testToken)
			f := newFake(b, jirafake.Options{})
			f.Generate(jirafake.GenOptions{N: n, Start: now.Add(-90 * 24 * time.Hour), End: now.Add(-time.Hour), Seed: 1, LongHistoryEvery: 50})
			c := collectortest.Build(b, "jira", config(f.URL, "cloud", "remote_links: false\n"+allQueries))
			runtime.GC()
			var base runtime.MemStats
			runtime.ReadMemStats(&base)
			b.ResetTimer()
			var peak uint64
			for i := 0; i < b.N; i++ {
				d := &discard{}
				err := c.Collect(context.Background(), collectors.Request{
					Instance: "bench", Since: now.Add(-90 * 24 * time.Hour), Now: now,
					Logger: slog.New(slog.DiscardHandler), HTTPClient: httpx.New(nil, nil).Client(time.Minute),
				}, d)
				if err != nil {
					b.Fatal(err)
				}
				if d.items != n {
					b.Fatalf("collected %d tickets, want %d", d.items, n)
				}
				peak = max(peak, d.peak)
			}
			b.ReportMetric(float64(peak-min(peak, base.HeapAlloc))/(1<<20), "live-heap-MB-over-baseline")
		})
	}
}

// verifier is an Emitter that checks every page against the fake as it
// arrives and keeps nothing: every history entry (by ID, in order) and every
// JSM approval with its decisions must be in the evidence. It samples the
// live heap every tenth page. The benchmark's timer is stopped while it
// works (the collector waits for Emit and the fake is idle meanwhile), and
// the CPU it uses is counted apart.
type verifier struct {
	b                           *testing.B
	f                           *jirafake.Fake
	tickets, histories, long    int
	approvals, decisions, pages int
	populations                 []jira.PopulationBody
	peak                        uint64
	cpu                         time.Duration
}

func (v *verifier) Emit(_ context.Context, a collectors.Artifact) error {
	v.b.StopTimer()
	start := cpuTime()
	defer func() { v.cpu += cpuTime() - start; v.b.StartTimer() }()
	if a.Type == "jira.population" {
		var p jira.PopulationBody
		if err := json.Unmarshal(a.Body, &p); err != nil {
			return err
		}
		v.populations = append(v.populations, p)
		return nil
	}
	var p jira.PageBody
	if err := json.Unmarshal(a.Body, &p); err != nil {
		return err
	}
	for _, tk := range p.Tickets {
		want, ok := v.f.Issue(tk.Key)
		if !ok {
			return fmt.Errorf("%s: not in the fake", tk.Key)
		}
		if len(tk.History) != len(want.Histories) || tk.ChangelogEntries != len(want.Histories) || !tk.ChangelogComplete {
			return fmt.Errorf("%s: %d history entries, want %d", tk.Key, len(tk.History), len(want.Histories))
		}
		for i, h := range want.Histories {
			if tk.History[i].ID != h.ID || len(tk.History[i].Items) != len(h.Items) || tk.History[i].Author == nil || tk.History[i].Author.AccountID != h.Author.AccountID {
				return fmt.Errorf("%s: history entry %d is %s, want %s", tk.Key, i, tk.History[i].ID, h.ID)
			}
		}
		if len(want.Histories) > 100 {
			v.long++
		}
		if len(tk.JSMApprovals) != len(want.Approvals) {
			return fmt.Errorf("%s: %d JSM approvals, want %d", tk.Key, len(tk.JSMApprovals), len(want.Approvals))
		}
		for i, w := range want.Approvals {
			g := tk.JSMApprovals[i]
			if g.ID != w.ID || g.FinalDecision != w.FinalDecision || len(g.Approvers) != len(w.Approvers) {
				return fmt.Errorf("%s: approval %+v, want %+v", tk.Key, g, w)
			}
			for j, ap := range w.Approvers {
				if g.Approvers[j].Person.AccountID != ap.User.AccountID || g.Approvers[j].Decision != ap.Decision {
					return fmt.Errorf("%s: approver %+v, want %+v", tk.Key, g.Approvers[j], ap)
				}
				v.decisions++
			}
			v.approvals++
		}
		v.tickets++
		v.histories += len(tk.History)
	}
	v.pages++
	if v.pages%10 == 0 {
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		v.peak = max(v.peak, ms.HeapAlloc)
	}
	return nil
}

func (v *verifier) Checkpoint(context.Context, string) error { return nil }

// BenchmarkChangeTickets is the acceptance run of issue 18: change tickets
// in a Jira Service Management project, 5% of them with more than 100
// history entries, each approved through JSM. Every history entry and
// every approval decision is checked in the evidence, and the population's
// collected count against Jira's count. tickets/s and cpu-µs/ticket leave
// out the checking.
func BenchmarkChangeTickets(b *testing.B) {
	for _, n := range []int{5000, 20000} {
		b.Run(fmt.Sprintf("tickets=%d", n), func(b *testing.B) {
			b.Setenv("JIRA_TEST_TOKEN", testToken)
			f := newFake(b, jirafake.Options{})
			f.Generate(jirafake.GenOptions{N: n, Start: now.Add(-90 * 24 * time.Hour), End: now.Add(-time.Hour), Seed: 18,
				LongHistoryEvery: 20, LongHistoryLen: 101, ServiceDesk: true, Kinds: jirafake.Kinds[:1]})
			c := collectortest.Build(b, "jira", config(f.URL, "cloud", "implementer_field: customfield_10060\n"+changesQuery))
			runtime.GC()
			var base runtime.MemStats
			runtime.ReadMemStats(&base)
			var checking time.Duration
			var peak uint64
			cpu0 := cpuTime()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				v := &verifier{b: b, f: f}
				err := c.Collect(context.Background(), collectors.Request{
					Instance: "bench", Since: now.Add(-90 * 24 * time.Hour), Now: now,
					Logger: slog.New(slog.DiscardHandler), HTTPClient: httpx.New(nil, nil).Client(time.Minute),
				}, v)
				if err != nil {
					b.Fatal(err)
				}
				if v.tickets != n || v.long != n/20 || v.approvals == 0 {
					b.Fatalf("checked %d tickets (%d with >100 entries, %d approvals), want %d (%d)", v.tickets, v.long, v.approvals, n, n/20)
				}
				if len(v.populations) != 1 {
					b.Fatalf("%d population artifacts", len(v.populations))
				}
				p := v.populations[0]
				if p.Collected != n || p.JiraCount == nil || *p.JiraCount != n || p.Reconciled == nil || !*p.Reconciled {
					b.Fatalf("population: collected %d, Jira %v, reconciled %v", p.Collected, p.JiraCount, p.Reconciled)
				}
				checking += v.cpu
				peak = max(peak, v.peak)
				if i == 0 {
					b.ReportMetric(float64(v.histories), "history-entries")
					b.ReportMetric(float64(v.decisions), "approval-decisions")
					b.ReportMetric(float64(p.Requests.Total)/float64(n), "requests/ticket")
				}
			}
			b.StopTimer()
			b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "tickets/s")
			// CPU of the whole process (collector, fake, GC), less the
			// checking: what a ticket costs whatever else runs on the machine.
			b.ReportMetric(float64((cpuTime()-cpu0-checking).Microseconds())/float64(n*b.N), "cpu-µs/ticket")
			b.ReportMetric(float64(peak-min(peak, base.HeapAlloc))/(1<<20), "live-heap-MB-over-baseline")
		})
	}
}

// cpuTime is the process's user + system CPU time.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
