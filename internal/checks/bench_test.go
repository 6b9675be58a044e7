package checks_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/tickmark-dev/tickmark/internal/checks"
	"github.com/tickmark-dev/tickmark/internal/evidence"
	"github.com/tickmark-dev/tickmark/internal/ledger"
)

// yearSource is one year of evidence in the collectors' shapes, its
// bodies in files (one artifact in memory at a time when read).
type yearSource struct {
	recs    []*evidence.Record // collected_at order
	dir     string
	itemsOf map[uint64]int
	items   int
	largest int64
}

func (s *yearSource) Find(q ledger.Query, fn func(r *evidence.Record, data []byte) error) error {
	for _, r := range s.recs {
		if (q.Type == "" || r.Type == q.Type) && !r.CollectedAt.Before(q.From) && r.CollectedAt.Before(q.To) {
			if err := fn(r, nil); err != nil {
				return err
			}
		}
	}
	return nil
}

// Body reads the body from its file, as the filesystem store serves it.
func (s *yearSource) Body(_ context.Context, r *evidence.Record) (io.ReadCloser, error) {
	return os.Open(filepath.Join(s.dir, fmt.Sprintf("%012d", r.Seq)))
}

func (s *yearSource) add(typ, subject, run string, at time.Time, ctype string, items int, gen func() []byte) {
	b := gen()
	sum := sha256.Sum256(b)
	seq := uint64(len(s.recs))
	if err := os.WriteFile(filepath.Join(s.dir, fmt.Sprintf("%012d", seq)), b, 0o600); err != nil {
		panic(err)
	}
	s.recs = append(s.recs, &evidence.Record{V: 1, Seq: seq, Agent: "bench", Collector: strings.SplitN(typ, ".", 2)[0], RunID: run, Type: typ,
		Subject: subject, Controls: []string{"CC8.1"}, CollectedAt: at, ContentType: ctype, Size: int64(len(b)), SHA256: hex.EncodeToString(sum[:])})
	s.itemsOf[seq] = items
	s.items += items
	s.largest = max(s.largest, int64(len(b)))
}

func ts(t time.Time) string { return t.UTC().Format(time.RFC3339) }

// buildYear lays out 2026 as the collectors would have filed it: daily pull
// requests of 10 repositories and Jira pages, hourly CloudTrail digests,
// and daily snapshots (users, members, alerts, branch settings, trails,
// credential report) of which the checks read the latest run.
func buildYear(b *testing.B, days int) *yearSource {
	s := &yearSource{dir: b.TempDir(), itemsOf: map[uint64]int{}}
	start := time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC).AddDate(0, 0, -days)
	for d := 0; d < days; d++ {
		day := start.AddDate(0, 0, d)
		run := fmt.Sprintf("run-%03d", d)
		last := d == days-1
		for repo := 0; repo < 10; repo++ {
			repo, day := repo, day
			s.add("github.pull_requests", fmt.Sprintf("acme/svc-%02d", repo), run, day.Add(time.Hour), "application/json", 100, func() []byte {
				var buf bytes.Buffer
				fmt.Fprintf(&buf, `{"repository":"acme/svc-%02d","base_branch":"main","pull_requests":[`, repo)
				for i := 0; i < 100; i++ {
					n := d*100 + i
					indep := n%97 != 0
					approvers := `["rev"]`
					if !indep {
						approvers = `[]`
					}
					if i > 0 {
						buf.WriteByte(',')
					}
					fmt.Fprintf(&buf, `{"number":%d,"title":"CHG-%d: change %d","html_url":"https://github.com/acme/svc-%02d/pull/%d","author":"dev%d","head_branch":"feature/x","base_branch":"main","created_at":"%s","merged_at":"%s","merged_by":"dev%d","merge_commit_sha":"%040d","head_sha":"%040d","reviews":[{"reviewer":"rev","state":"APPROVED","submitted_at":"%s","commit_id":"%040d"}],"approved_by":%s,"independent_approval":%v,"merged_by_author":false,"checks_at_merge":{"commit":"%040d","state":"success","required":["ci/build"],"required_known":true,"required_passed":%v,"required_missing":[],"required_failed":[],"results":[]},"issue_keys":["CHG-%d"]}`,
						n, n, n, repo, n, n%50, ts(day), ts(day.Add(time.Hour)), (n+1)%50, n, n, ts(day), n, approvers, indep, n, n%89 != 0, n)
				}
				buf.WriteString(`],"count":100}`)
				return buf.Bytes()
			})
		}
		for _, q := range []struct {
			typ   string
			pages int
			per   int
		}{{"jira.change_tickets", 2, 250}, {"jira.incidents", 1, 100}, {"jira.vulnerabilities", 1, 150}, {"jira.access_requests", 1, 50}} {
			for p := 0; p < q.pages; p++ {
				q, p, day := q, p, day
				s.add(q.typ, fmt.Sprintf("%s page %d", q.typ, p+1), run, day.Add(2*time.Hour), "application/json", q.per, func() []byte {
					var buf bytes.Buffer
					buf.WriteString(`{"collector":"jira","page":1,"tickets":[`)
					for i := 0; i < q.per; i++ {
						n := (d*q.pages+p)*q.per + i
						if i > 0 {
							buf.WriteByte(',')
						}
						resolved := ts(day.Add(10 * time.Hour))
						if n%53 == 0 {
							resolved = ts(day.Add(400 * time.Hour))
						}
						fmt.Fprintf(&buf, `{"key":"T-%d","id":"%d","project":"T","summary":"ticket %d","type":"Change","status":"Done","status_category":"done","priority":"High","created":"%s","updated":"%s","resolved":"%s","reporter":{"account_id":"a1","email":"rep@example.com"},"assignee":{"account_id":"a2","email":"dev@example.com"},"approvers":[{"account_id":"a3","email":"boss@example.com"}],"labels":["postmortem"],"links":[],"remote_links":[],"transitions":[{"field":"status","from":"Open","to":"Approved","author":{"account_id":"a3","email":"boss@example.com"},"at":"%s"},{"field":"status","from":"Approved","to":"In Progress","author":{"account_id":"a2","email":"dev@example.com"},"at":"%s"},{"field":"status","from":"In Progress","to":"Done","author":{"account_id":"a2","email":"dev@example.com"},"at":"%s"}],"changelog_entries":3}`,
							n, n, n, ts(day), ts(day), resolved, ts(day.Add(time.Hour)), ts(day.Add(2*time.Hour)), resolved)
					}
					buf.WriteString(`]}`)
					return buf.Bytes()
				})
			}
		}
		for tr := 0; tr < 10; tr++ {
			tr, day := tr, day
			s.add("aws.cloudtrail.digests", fmt.Sprintf("123/trail-%d/us-east-1/%s", tr, day.Format(time.DateOnly)), run, day.Add(3*time.Hour), "application/json", 24, func() []byte {
				var buf bytes.Buffer
				buf.WriteString(`{"account":"123","region":"us-east-1","digests":[`)
				for h := 0; h < 24; h++ {
					if h > 0 {
						buf.WriteByte(',')
					}
					chain := "linked"
					if d == 100 && h == 5 && tr == 3 {
						chain = "broken"
					}
					fmt.Fprintf(&buf, `{"s3_key":"AWSLogs/123/CloudTrail-Digest/trail-%d/%s/%02d.json.gz","digest_end_time":"%s","signature":"ab","signature_algorithm":"SHA256withRSA","sha256_uncompressed":"00","log_files":3,"signature_valid":true,"chain":%q,"valid":true,"failures":[]}`,
						tr, day.Format(time.DateOnly), h, ts(day.Add(time.Duration(h)*time.Hour)), chain)
				}
				buf.WriteString(`],"public_keys":[]}`)
				return buf.Bytes()
			})
		}
		// Daily snapshots: small ones every day, the big ones' latest run
		// only matters (earlier runs are in the ledger, not read).
		users, alertsPerRepo, members, iam := 1000, 200, 20000, 20000
		if !last {
			users, alertsPerRepo, members, iam = 10, 2, 10, 10
		}
		for p := 0; p < 100; p++ {
			p, day, users := p, day, users
			s.add("okta.users", fmt.Sprintf("acme users page %04d", p+1), run, day.Add(4*time.Hour), "application/json", users, func() []byte {
				var buf bytes.Buffer
				buf.WriteString(`{"org":"https://acme.okta.com","users":[`)
				for i := 0; i < users; i++ {
					n := p*users + i
					if i > 0 {
						buf.WriteByte(',')
					}
					fmt.Fprintf(&buf, `{"id":"00u%d","login":"u%d@example.com","status":"ACTIVE","created":"2025-01-01T00:00:00Z","lastLogin":"%s","mfa_enrolled":%v,"phishing_resistant":false,"factors":[{"id":"f%d","factorType":"push","provider":"OKTA","status":"ACTIVE"}]}`,
						n, n, ts(day), n%101 != 0, n)
				}
				buf.WriteString(`]}`)
				return buf.Bytes()
			})
			if p >= 1 && !last {
				break
			}
		}
		for repo := 0; repo < 500; repo++ {
			repo, day, alertsPerRepo := repo, day, alertsPerRepo
			s.add("github.dependabot_alerts", fmt.Sprintf("acme/r%03d", repo), run, day.Add(5*time.Hour), "application/json", alertsPerRepo, func() []byte {
				var buf bytes.Buffer
				fmt.Fprintf(&buf, `{"repository":"acme/r%03d","alerts_enabled":true,"alerts":[`, repo)
				for i := 0; i < alertsPerRepo; i++ {
					if i > 0 {
						buf.WriteByte(',')
					}
					sev := []string{"critical", "high", "medium", "low"}[i%4]
					fmt.Fprintf(&buf, `{"number":%d,"state":"fixed","severity":%q,"package":"p%d","ecosystem":"npm","ghsa_id":"GHSA-%d","summary":"s","html_url":"u","created_at":"%s","fixed_at":"%s"}`,
						i, sev, i, i, ts(day.AddDate(0, 0, -3)), ts(day.AddDate(0, 0, -2)))
				}
				buf.WriteString(`]}`)
				return buf.Bytes()
			})
			if repo >= 4 && !last {
				break
			}
			s.add("github.branch_protection", fmt.Sprintf("acme/r%03d@main", repo), run, day.Add(5*time.Hour), "application/json", 1, func() []byte {
				return []byte(fmt.Sprintf(`{"repository":"acme/r%03d","branch":"main","classic_protection_status":"protected","rulesets":[],"effective":{"pull_request_required":true,"required_approvals":1,"dismiss_stale_reviews":true,"required_status_checks":["ci"],"force_push_blocked":true,"deletion_blocked":true,"protected":true}}`, repo))
			})
		}
		s.add("github.org_members", "acme", run, day.Add(6*time.Hour), "application/json", members, func() []byte {
			var buf bytes.Buffer
			buf.WriteString(`{"organization":"acme","members":[`)
			for i := 0; i < members; i++ {
				if i > 0 {
					buf.WriteByte(',')
				}
				fmt.Fprintf(&buf, `{"login":"m%d","id":%d,"role":"member","two_factor_disabled":%v}`, i, i, i%503 == 0)
			}
			buf.WriteString(`]}`)
			return buf.Bytes()
		})
		s.add("aws.iam.credential_report", "123/credential-report.csv", run, day.Add(7*time.Hour), "text/csv", iam, func() []byte {
			var buf bytes.Buffer
			buf.WriteString(credHeader)
			buf.WriteString(rootRow("true", "false"))
			for i := 0; i < iam; i++ {
				rot := ts(day.AddDate(0, 0, -10))
				if i%211 == 0 {
					rot = ts(day.AddDate(0, 0, -200))
				}
				buf.WriteString(iamRow(fmt.Sprintf("svc%d", i), "true", ts(day), "true", "true", rot, ts(day)))
			}
			return buf.Bytes()
		})
		s.add("aws.cloudtrail.trails", "123/us-east-1", run, day.Add(7*time.Hour), "application/json", 1, func() []byte {
			return trailsArt("us-east-1", nil, trail("main", true, true)).body
		})
	}
	sort.SliceStable(s.recs, func(i, j int) bool { return s.recs[i].CollectedAt.Before(s.recs[j].CollectedAt) })
	return s
}

// The 25 default checks that need no cross-source index.
func benchChecks(b *testing.B, set *checks.Set) []*checks.Check {
	var cs []*checks.Check
	for _, c := range set.Checks {
		if strings.HasPrefix(c.ID, "cross.") || c.ID == "okta.admins_mfa" || c.ID == "okta.offboarding_within_sla" {
			continue
		}
		cs = append(cs, c)
	}
	if len(cs) != 25 {
		b.Fatalf("%d checks", len(cs))
	}
	return cs
}

// peakHeap samples the live heap while fn runs.
func peakHeap(fn func()) (peak uint64) {
	var stop atomic.Bool
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		var ms runtime.MemStats
		for !stop.Load() {
			runtime.ReadMemStats(&ms)
			peak = max(peak, ms.HeapInuse)
			time.Sleep(20 * time.Millisecond)
		}
	}()
	fn()
	stop.Store(true)
	wg.Wait()
	return peak
}

// BenchmarkYear: 25 checks over one year of evidence, 1,000,000 items read
// in all (docs/benchmarks/checks.md); a quarter of it for comparison: the
// peak heap follows the largest artifact, not the population.
func BenchmarkYear(b *testing.B) {
	for _, days := range []int{91, 365} {
		b.Run(fmt.Sprintf("days=%d", days), func(b *testing.B) { benchDays(b, days) })
	}
}

func benchDays(b *testing.B, days int) {
	src := buildYear(b, days)
	set := defaults(b, checks.Options{})
	cs := benchChecks(b, set)
	now := time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)
	inputs, err := checks.Resolve(context.Background(), src, checks.Types(cs), now.AddDate(-1, 0, 0), now)
	if err != nil {
		b.Fatal(err)
	}
	read, arts := 0, 0
	b.Logf("building took place; %d items in the year", src.items)
	for _, rs := range inputs {
		arts += len(rs)
	}
	runtime.GC()
	var base runtime.MemStats
	runtime.ReadMemStats(&base)
	b.ResetTimer()
	var res []*checks.Result
	for i := 0; i < b.N; i++ {
		cpu0 := cpuTime()
		peak := peakHeap(func() {
			res, err = checks.Run(context.Background(), set, cs, src, now, checks.RunOptions{Window: now.Sub(now.AddDate(-1, 0, 0))})
		})
		if err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(float64(peak-min(peak, base.HeapInuse))/(1<<20), "peak-heap-MiB")
		b.ReportMetric((cpuTime() - cpu0).Seconds(), "cpu-s")
	}
	b.StopTimer()
	for _, r := range res {
		if r.Status != checks.StatusPass && r.Status != checks.StatusFail {
			b.Fatalf("%s: %s %s", r.Check.ID, r.Status, r.Note)
		}
		for _, in := range r.Inputs {
			if in.Role == "input" && in.Items > 0 {
				read += in.Items
			}
		}
	}
	b.ReportMetric(float64(src.largest)/(1<<20), "largest-artifact-MiB")
	b.ReportMetric(float64(arts), "artifacts")
	b.Logf("%d records in the ledger, %d input artifacts, %d items in the evaluated artifacts (%d item evaluations over 25 checks); largest artifact %d bytes",
		len(src.recs), arts, itemsIn(inputs, src), read, src.largest)
	for _, r := range res {
		b.Logf("%-40s %-5s population %7d exceptions %6d", r.Check.ID, r.Status, r.Population, r.ExceptionCount)
	}
}

func itemsIn(inputs map[string][]*evidence.Record, src *yearSource) int {
	n := 0
	for _, rs := range inputs {
		for _, r := range rs {
			n += src.itemsOf[r.Seq]
		}
	}
	return n
}

// cpuTime is the process's user+system CPU time: on a shared machine the
// wall time says more about the neighbours than about the checks.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
