package faults_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// apiToken is the fake credential of the vendor API; no log line or
// summary may contain it.
const apiToken = "fx-vendor-token-9c1e57d2b8"

// fakeAPI is a paginated JSON API (GET /items?page=N, GET /export) whose
// answers a test can replace with faults.
type fakeAPI struct {
	*httptest.Server
	pages int

	mu       sync.Mutex
	fault    func(w http.ResponseWriter, r *http.Request, page int) bool
	requests []int // pages requested, in order
	export   int64 // size of GET /export
}

func newFakeAPI(t *testing.T, pages int) *fakeAPI {
	f := &fakeAPI{pages: pages}
	f.Server = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.Close)
	return f
}

func (f *fakeAPI) setFault(fn func(w http.ResponseWriter, r *http.Request, page int) bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.fault = fn
	f.requests = nil
}

func (f *fakeAPI) requested() []int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]int(nil), f.requests...)
}

// page is the JSON of page n.
func (f *fakeAPI) page(n int) []byte {
	next := n + 1
	if n >= f.pages {
		next = 0
	}
	return fmt.Appendf(nil, `{"items":[{"id":"%[1]d-1","user":"alice"},{"id":"%[1]d-2","user":"bob"},{"id":"%[1]d-3","user":"carol"}],"next":%[2]d}`, n, next)
}

func (f *fakeAPI) serve(w http.ResponseWriter, r *http.Request) {
	if r.Header.Get("Authorization") != "Bearer "+apiToken {
		http.Error(w, `{"error":"unauthorized"}`, http.StatusUnauthorized)
		return
	}
	switch r.URL.Path {
	case "/items":
		n, err := strconv.Atoi(r.URL.Query().Get("page"))
		if err != nil || n < 1 || n > f.pages {
			http.Error(w, `{"error":"no such page"}`, http.StatusNotFound)
			return
		}
		f.mu.Lock()
		f.requests = append(f.requests, n)
		fault := f.fault
		f.mu.Unlock()
		if fault != nil && fault(w, r, n) {
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Write(f.page(n))
	case "/export":
		f.mu.Lock()
		size := f.export
		f.mu.Unlock()
		w.Header().Set("Content-Type", "application/octet-stream")
		w.Header().Set("Content-Length", strconv.FormatInt(size, 10))
		io.Copy(w, io.LimitReader(&pattern{}, size))
	default:
		http.NotFound(w, r)
	}
}

// pattern is an endless, deterministic byte stream: the byte at offset i
// is "0123456789abcdef\n"[i%17].
type pattern struct{ off int64 }

func (p *pattern) Read(b []byte) (int, error) {
	for i := range b {
		b[i] = "0123456789abcdef\n"[(p.off+int64(i))%17]
	}
	p.off += int64(len(b))
	return len(b), nil
}

// patternSum is the SHA-256 of the first n bytes of a pattern.
func patternSum(n int64) string {
	h := sha256.New()
	io.Copy(h, io.LimitReader(&pattern{}, n))
	return hex.EncodeToString(h.Sum(nil))
}

// fromPage applies fault to pages >= first.
func fromPage(first int, fault func(w http.ResponseWriter, r *http.Request)) func(http.ResponseWriter, *http.Request, int) bool {
	return func(w http.ResponseWriter, r *http.Request, page int) bool {
		if page < first {
			return false
		}
		fault(w, r)
		return true
	}
}

// bigJSON streams a syntactically valid start of a JSON page of size
// bytes, stopping when the client goes away.
func bigJSON(w http.ResponseWriter, size int64) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.FormatInt(size, 10))
	head := []byte(`{"items":["`)
	w.Write(head)
	chunk := bytes.Repeat([]byte("x"), 64<<10)
	for sent := int64(len(head)); sent < size; {
		m := min(int64(len(chunk)), size-sent)
		if _, err := w.Write(chunk[:m]); err != nil {
			return
		}
		sent += m
	}
}

func apiCollector(url, timeout string, export bool) string {
	return fmt.Sprintf(`  - name: api
    type: faultapi
    timeout: %s
    faultapi:
      base_url: %s
      token: env:FAULTAPI_TOKEN
      export: %v
`, timeout, url, export)
}

// TestVendorFaults runs a collector against a vendor API that fails in
// each way below from its third page on, next to a healthy collector in
// the same run. Each time: the run exits 1 naming the failed collector;
// its error names the endpoint and the cause and is classified; the
// healthy collector succeeds; the two pages before the fault stay
// committed with their cursor; verify passes. Then the API recovers and
// the next run resumes at page 3 and commits every page exactly once.
func TestVendorFaults(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name      string
		fault     func(w http.ResponseWriter, r *http.Request)
		timeout   string
		err       []string // the collector's error says each
		retryable bool
		tries     int           // requests the run made for page 3
		atLeast   time.Duration // the run took at least this long
		atMost    time.Duration // and at most this
		maxRSS    int64
	}{
		{
			name: "5xx storm",
			fault: func() func(http.ResponseWriter, *http.Request) {
				var n int
				var mu sync.Mutex
				codes := []int{500, 502, 503, 504}
				return func(w http.ResponseWriter, r *http.Request) {
					mu.Lock()
					c := codes[n%len(codes)]
					n++
					mu.Unlock()
					http.Error(w, `{"error":"upstream trouble"}`, c)
				}
			}(),
			err:       []string{"GET", "/items", "HTTP 50"},
			retryable: true, tries: 5, atMost: 20 * time.Second,
		},
		{
			name: "429 storm",
			fault: func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Retry-After", "1")
				http.Error(w, `{"error":"slow down"}`, http.StatusTooManyRequests)
			},
			err:       []string{"GET", "/items", "HTTP 429"},
			retryable: true, tries: 5, atLeast: 4 * time.Second, atMost: 20 * time.Second,
		},
		{
			name: "429 asking for an hour",
			fault: func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Retry-After", "3600")
				http.Error(w, `{"error":"slow down"}`, http.StatusTooManyRequests)
			},
			err:       []string{"rate limited", "/items asks to wait 1h0m0s, more than the 5m0s limit"},
			retryable: true, tries: 1, atMost: 10 * time.Second,
		},
		{
			name: "slow body past the timeout",
			fault: func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "application/json")
				w.Write([]byte(`{"items":[`))
				for {
					w.(http.Flusher).Flush()
					select {
					case <-r.Context().Done():
						return
					case <-time.After(100 * time.Millisecond):
						w.Write([]byte(" "))
					}
				}
			},
			timeout:   "2s",
			err:       []string{"collector timed out after 2s (collectors[].timeout)"},
			retryable: true, tries: 1, atLeast: 2 * time.Second, atMost: 10 * time.Second,
		},
		{
			name: "truncated JSON",
			fault: func(w http.ResponseWriter, r *http.Request) {
				page := []byte(`{"items":[{"id":"3-1","user":"alice"},{"id":"3-2","us`)
				w.Header().Set("Content-Type", "application/json")
				w.Write(page)
			},
			err:       []string{"GET /items?page=3", "malformed JSON response", "unexpected end of JSON input"},
			retryable: false, tries: 1, atMost: 10 * time.Second,
		},
		{
			name: "connection cut mid-body",
			fault: func(w http.ResponseWriter, r *http.Request) {
				conn, buf, err := w.(http.Hijacker).Hijack()
				if err != nil {
					return
				}
				buf.WriteString("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 4096\r\n\r\n{\"items\":[{\"id\":\"3-1\"")
				buf.Flush()
				conn.Close()
			},
			err:       []string{"GET /items?page=3", "reading response", "unexpected EOF"},
			retryable: true, tries: 1, atMost: 10 * time.Second,
		},
		{
			name:      "100 MiB response",
			fault:     func(w http.ResponseWriter, r *http.Request) { bigJSON(w, 100<<20) },
			err:       []string{"GET /items?page=3", "response larger than 8 MiB"},
			retryable: false, tries: 1, atMost: 10 * time.Second,
			maxRSS: 80 << 20,
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			api := newFakeAPI(t, 5)
			api.setFault(fromPage(3, tc.fault))
			timeout := tc.timeout
			if timeout == "" {
				timeout = "1m"
			}
			a := newAgent(t, faultBin(t), apiCollector(api.URL, timeout, false)+items("healthy", 20, 10))
			a.env = []string{"FAULTAPI_TOKEN=" + apiToken}

			sum, r := a.runOnce()
			noSecret(t, r, apiToken)
			if r.code != 1 {
				t.Fatalf("want exit 1\n%s", r)
			}
			wantErr(t, "stderr", r.stderr, "tickmark: error: 1 of 2 collectors failed: api")
			c := collectorOf(t, sum, "api")
			if c.Outcome != "partial" || c.Artifacts != 2 {
				t.Fatalf("api: %s with %d artifacts (%s); want partial with the 2 pages before the fault", c.Outcome, c.Artifacts, c.Error)
			}
			t.Logf("api's error: %s", c.Error)
			wantErr(t, "api's error", c.Error, tc.err...)
			if c.Retryable != tc.retryable {
				t.Fatalf("api's error %q: retryable %v, want %v", c.Error, c.Retryable, tc.retryable)
			}
			if h := collectorOf(t, sum, "healthy"); h.Outcome != "success" || h.Artifacts != 20 {
				t.Fatalf("healthy: %s with %d artifacts (%s); only the collector facing the fault may fail", h.Outcome, h.Artifacts, h.Error)
			}
			tries := 0
			for _, p := range api.requested() {
				if p == 3 {
					tries++
				}
			}
			if tries != tc.tries {
				t.Fatalf("the run asked for page 3 %d times, want %d (requests: %v)", tries, tc.tries, api.requested())
			}
			if r.elapsed < tc.atLeast || r.elapsed > tc.atMost {
				t.Fatalf("the run took %s, want between %s and %s", r.elapsed, tc.atLeast, tc.atMost)
			}
			if tc.maxRSS > 0 && r.maxRSS > tc.maxRSS {
				t.Fatalf("the run's peak RSS was %d MiB, want under %d MiB", r.maxRSS>>20, tc.maxRSS>>20)
			}
			if sum.Push == nil || sum.Push.Error != "" || sum.Push.Backlog != 0 {
				t.Fatalf("push: %+v; the committed evidence must still be pushed", sum.Push)
			}
			first := a.snapshot()
			if a.cursor("api") != "3" {
				t.Fatalf("api's cursor %q, want \"3\" (the page after the last committed)", a.cursor("api"))
			}
			a.verify()

			// The API recovers.
			api.setFault(nil)
			sum, r = a.runOnce()
			noSecret(t, r, apiToken)
			if r.code != 0 {
				t.Fatalf("run after recovery: want exit 0\n%s", r)
			}
			if got := api.requested(); len(got) != 3 || got[0] != 3 {
				t.Fatalf("pages requested after recovery: %v; want [3 4 5] (resume from the cursor)", got)
			}
			if c := collectorOf(t, sum, "api"); c.Artifacts != 3 {
				t.Fatalf("api committed %d pages after recovery, want 3", c.Artifacts)
			}
			final := a.snapshot()
			keepsAll(t, first, final, "after recovery")
			noDuplicates(t, final)
			if len(final.hashes) != 25 || final.outbox != 0 {
				t.Fatalf("final ledger: %d records, %d queued; want 25 (5 pages, 20 items) and 0", len(final.hashes), final.outbox)
			}
			for _, rec := range final.records {
				if rec.Type == "faultapi.page" {
					n, _ := strconv.Atoi(strings.TrimPrefix(rec.Subject, "page-"))
					if sum := sha256.Sum256(api.page(n)); hex.EncodeToString(sum[:]) != rec.SHA256 {
						t.Fatalf("%s: body differs from what the API served", rec.Subject)
					}
				}
			}
			a.storeState(final)
			a.verify()
		})
	}
}

// TestHugeExportStreamed: a vendor export of 100 MiB is collected as one
// artifact with the process's memory bounded (the body streams through the
// spool and is hashed on the way), pushed, and re-hashed by verify.
func TestHugeExportStreamed(t *testing.T) {
	t.Parallel()
	const size = 100 << 20
	api := newFakeAPI(t, 1)
	api.export = size
	a := newAgent(t, faultBin(t), apiCollector(api.URL, "1m", true))
	a.env = []string{"FAULTAPI_TOKEN=" + apiToken}
	sum, r := a.runOnce()
	noSecret(t, r, apiToken)
	if r.code != 0 {
		t.Fatalf("want exit 0\n%s", r)
	}
	if c := collectorOf(t, sum, "api"); c.Artifacts != 2 || c.Bytes < size {
		t.Fatalf("api: %d artifacts, %d bytes; want the page and the %d-byte export", c.Artifacts, c.Bytes, size)
	}
	if r.maxRSS > 64<<20 {
		t.Fatalf("peak RSS %d MiB while collecting a 100 MiB body; want under 64 MiB", r.maxRSS>>20)
	}
	t.Logf("peak RSS %d MiB for a %d MiB body", r.maxRSS>>20, size>>20)
	st := a.snapshot()
	var found bool
	for _, rec := range st.records {
		if rec.Type == "faultapi.export" {
			found = true
			if rec.Size != size || rec.SHA256 != patternSum(size) {
				t.Fatalf("export record: %d bytes, sha256 %s; want %d bytes, %s", rec.Size, rec.SHA256, size, patternSum(size))
			}
		}
	}
	if !found {
		t.Fatal("no export record")
	}
	a.storeState(st)
	a.verify()
}

// noSecret fails the test if a credential appears in a run's output.
func noSecret(t *testing.T, r result, secret string) {
	t.Helper()
	if strings.Contains(r.stdout, secret) || strings.Contains(r.stderr, secret) {
		t.Fatalf("the credential appears in the run's output:\n%s", r)
	}
}
