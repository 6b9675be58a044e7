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

	"github.com/tickmark-dev/tickmark/collectors/collectortest"
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

// page is the JSON of page n; the page after the last is empty.
func (f *fakeAPI) page(n int) []byte {
	if n > f.pages {
		return []byte(`{"items":[],"next":0}`)
	}
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
		if err != nil || n < 1 || n > f.pages+1 {
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

// httpCollector is the real http collector's entry for the same API.
func httpCollector(url, timeout string) string {
	return fmt.Sprintf(`  - name: api
    type: http
    timeout: %s
    controls: {vendor.items: [CC6.1]}
    http:
      requests:
        - evidence_type: vendor.items
          url: %s/items
          auth: {bearer: env:FAULTAPI_TOKEN}
          pagination: {style: page, page_param: page}
          select: items
`, timeout, url)
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
// the same run, with two clients: faultapi (testdata/faultbin), which
// checkpoints every page, and the real binary's http collector, which
// commits a request's pages together once its pagination ends. Each time:
// the run exits 1 naming the failed collector; its error names the
// endpoint and the cause and is classified; the healthy collector
// succeeds; what was checkpointed before the fault stays committed with
// its cursor; verify passes. Then the API recovers and the next run
// resumes (faultapi at page 3, http with the whole listing) and commits
// every page exactly once.
func TestVendorFaults(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name      string
		fault     func(w http.ResponseWriter, r *http.Request)
		timeout   string
		err       map[string][]string // the error says each ("": any client; else by client)
		retryable bool
		tries     int           // requests the run made for page 3
		atLeast   time.Duration // the run took at least this long
		atMost    time.Duration // and at most this
		maxRSS    map[string]int64
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
			err:       map[string][]string{"": {"GET", "/items", "HTTP 50"}},
			retryable: true, tries: 5, atMost: 20 * time.Second,
		},
		{
			name: "429 storm",
			fault: func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Retry-After", "1")
				http.Error(w, `{"error":"slow down"}`, http.StatusTooManyRequests)
			},
			err:       map[string][]string{"": {"GET", "/items", "HTTP 429"}},
			retryable: true, tries: 5, atLeast: 4 * time.Second, atMost: 20 * time.Second,
		},
		{
			name: "429 asking for an hour",
			fault: func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Retry-After", "3600")
				http.Error(w, `{"error":"slow down"}`, http.StatusTooManyRequests)
			},
			err:       map[string][]string{"": {"rate limited", "/items asks to wait 1h0m0s, more than the 5m0s limit"}},
			retryable: true, tries: 1, atMost: 10 * time.Second,
		},
		{
			name: "401 mid-run (credential revoked)",
			fault: func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token"`)
				http.Error(w, `{"error":"invalid_token","error_description":"token revoked"}`, http.StatusUnauthorized)
			},
			err: map[string][]string{"": {"/items", "HTTP 401"},
				"http": {"env:FAULTAPI_TOKEN"}}, // names the credential's reference, never its value
			retryable: false, tries: 1, atMost: 10 * time.Second,
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
			err:       map[string][]string{"": {"collector timed out after 2s (collectors[].timeout)"}},
			retryable: true, tries: 1, atLeast: 2 * time.Second, atMost: 10 * time.Second,
		},
		{
			name: "truncated JSON",
			fault: func(w http.ResponseWriter, r *http.Request) {
				page := []byte(`{"items":[{"id":"3-1","user":"alice"},{"id":"3-2","us`)
				w.Header().Set("Content-Type", "application/json")
				w.Write(page)
			},
			err: map[string][]string{"": {"/items?page=3"},
				"faultapi": {"malformed JSON response", "unexpected end of JSON input"},
				"http":     {"page 3: the response is not JSON"}},
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
			err:       map[string][]string{"": {"GET", "/items?page=3", "unexpected EOF"}},
			retryable: true, tries: 1, atMost: 10 * time.Second,
		},
		{
			name:  "100 MiB response",
			fault: func(w http.ResponseWriter, r *http.Request) { bigJSON(w, 100<<20) },
			err: map[string][]string{"": {"/items?page=3"},
				"faultapi": {"response larger than 8 MiB"},
				"http":     {"page 3 is larger than 64 MiB"}},
			retryable: false, tries: 1, atMost: 10 * time.Second,
			// the bounds are well under the 100 MiB served: a held body cannot pass
			// (the binary alone is ~31 MiB resident since the console, checks and
			// organisation-scale AWS came in; it was ~21 MiB when the bound was 64)
			maxRSS: map[string]int64{"faultapi": 80 << 20, "http": 256 << 20},
		},
	}
	type client struct {
		name    string
		bin     func(*testing.T) string
		entry   func(url, timeout string) string
		typ     string // evidence type of the pages
		outcome string // of the failed run
		before  int    // pages the failed run commits
		cursor  string // after the failed run
		resume  []int  // pages the recovery run asks for
	}
	clients := []client{
		{name: "faultapi", bin: faultBin, entry: func(u, to string) string { return apiCollector(u, to, false) }, typ: "faultapi.page",
			outcome: "partial", before: 2, cursor: "3", resume: []int{3, 4, 5}},
		{name: "http", bin: tickmarkBin, entry: httpCollector, typ: "vendor.items",
			outcome: "failed", before: 0, cursor: "", resume: []int{1, 2, 3, 4, 5, 6}},
	}
	for _, tc := range cases {
		for _, cl := range clients {
			t.Run(tc.name+"/"+cl.name, func(t *testing.T) {
				t.Parallel()
				vendorFault(t, cl.name, cl.bin(t), cl.entry, cl.typ, cl.outcome, cl.before, cl.cursor, cl.resume,
					tc.fault, tc.timeout, append(tc.err[""], tc.err[cl.name]...), tc.retryable, tc.tries, tc.atLeast, tc.atMost, tc.maxRSS[cl.name])
			})
		}
	}
}

func vendorFault(t *testing.T, client, bin string, entry func(url, timeout string) string, typ, outcome string, before int, cursor string, resume []int,
	fault func(http.ResponseWriter, *http.Request), timeout string, errParts []string, retryable bool, tries int, atLeast, atMost time.Duration, maxRSS int64) {
	api := newFakeAPI(t, 5)
	api.setFault(fromPage(3, fault))
	if timeout == "" {
		timeout = "1m"
	}
	a := newAgent(t, bin, entry(api.URL, timeout)+items("healthy", 20, 10))
	a.env = []string{"FAULTAPI_TOKEN=" + apiToken}
	if maxRSS > 0 {
		a.env = append(a.env, softLimit(maxRSS))
	}

	sum, r := a.runOnce()
	noSecret(t, r, apiToken)
	if r.code != 1 {
		t.Fatalf("want exit 1\n%s", r)
	}
	wantErr(t, "stderr", r.stderr, "tickmark: error: 1 of 2 collectors failed: api")
	c := collectorOf(t, sum, "api")
	if c.Outcome != outcome || c.Artifacts != before {
		t.Fatalf("api: %s with %d artifacts (%s); want %s with %d", c.Outcome, c.Artifacts, c.Error, outcome, before)
	}
	t.Logf("%s's error: %s", client, c.Error)
	wantErr(t, "api's error", c.Error, errParts...)
	if c.Retryable != retryable {
		t.Fatalf("api's error %q: retryable %v, want %v", c.Error, c.Retryable, retryable)
	}
	if h := collectorOf(t, sum, "healthy"); h.Outcome != "success" || h.Artifacts != 20 {
		t.Fatalf("healthy: %s with %d artifacts (%s); only the collector facing the fault may fail", h.Outcome, h.Artifacts, h.Error)
	}
	n := 0
	for _, p := range api.requested() {
		if p == 3 {
			n++
		}
	}
	if n != tries {
		t.Fatalf("the run asked for page 3 %d times, want %d (requests: %v)", n, tries, api.requested())
	}
	if r.elapsed < atLeast || r.elapsed > atMost {
		t.Fatalf("the run took %s, want between %s and %s", r.elapsed, atLeast, atMost)
	}
	if maxRSS > 0 {
		t.Logf("peak RSS %d MiB", r.maxRSS>>20)
		if r.maxRSS > maxRSS {
			t.Fatalf("the run's peak RSS was %d MiB, want under %d MiB", r.maxRSS>>20, maxRSS>>20)
		}
	}
	if sum.Push == nil || sum.Push.Error != "" || sum.Push.Backlog != 0 {
		t.Fatalf("push: %+v; the committed evidence must still be pushed", sum.Push)
	}
	first := a.snapshot()
	if got := a.cursor("api"); got != cursor {
		t.Fatalf("api's cursor %q, want %q", got, cursor)
	}
	a.verify()

	// The API recovers.
	api.setFault(nil)
	sum, r = a.runOnce()
	noSecret(t, r, apiToken)
	if r.code != 0 {
		t.Fatalf("run after recovery: want exit 0\n%s", r)
	}
	if got := api.requested(); fmt.Sprint(got) != fmt.Sprint(resume) {
		t.Fatalf("pages requested after recovery: %v; want %v", got, resume)
	}
	if c := collectorOf(t, sum, "api"); c.Artifacts != len(resume) {
		t.Fatalf("api committed %d pages after recovery, want %d", c.Artifacts, len(resume))
	}
	final := a.snapshot()
	keepsAll(t, first, final, "after recovery")
	noDuplicates(t, final)
	if want := before + len(resume) + 20; len(final.hashes) != want || final.outbox != 0 {
		t.Fatalf("final ledger: %d records, %d queued; want %d and 0", len(final.hashes), final.outbox, want)
	}
	for _, rec := range final.records {
		if rec.Type != typ {
			continue
		}
		var n int
		if _, err := fmt.Sscanf(strings.TrimPrefix(rec.Source.Query, "page="), "%d", &n); err != nil {
			if _, err := fmt.Sscanf(rec.Source.Query, "page %d", &n); err != nil {
				t.Fatalf("record %d: no page in its query %q", rec.Seq, rec.Source.Query)
			}
		}
		if sum := sha256.Sum256(api.page(n)); hex.EncodeToString(sum[:]) != rec.SHA256 {
			t.Fatalf("page %d: the body committed differs from what the API served", n)
		}
	}
	a.storeState(final)
	a.verify()
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
	const bound = 80 << 20 // well under the body; see the 100 MiB response case
	a.env = []string{"FAULTAPI_TOKEN=" + apiToken, softLimit(bound)}
	sum, r := a.runOnce()
	noSecret(t, r, apiToken)
	if r.code != 0 {
		t.Fatalf("want exit 0\n%s", r)
	}
	if c := collectorOf(t, sum, "api"); c.Artifacts != 2 || c.Bytes < size {
		t.Fatalf("api: %d artifacts, %d bytes; want the page and the %d-byte export", c.Artifacts, c.Bytes, size)
	}
	if r.maxRSS > bound {
		t.Fatalf("peak RSS %d MiB while collecting a 100 MiB body; want under %d MiB", r.maxRSS>>20, bound>>20)
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

// noSecret fails the test if a credential appears, in any encoding, in a
// run's output (logs at debug level and the summary).
func noSecret(t *testing.T, r result, secret string) {
	t.Helper()
	if f, ok := collectortest.FindSecret([]byte(r.stdout+r.stderr), secret); ok {
		t.Fatalf("the credential appears (%s) in the run's output:\n%s", f.Name, r)
	}
}

// softLimit is the GOMEMLIMIT a memory-bounded run gets: half the RSS
// bound (docs/deploy-kubernetes.md advises a soft limit below a container's
// memory limit). What these tests bound is the live set (a body held in
// memory would exceed the bound whatever the limit); without a soft limit
// the garbage of a 100 MiB stream piles up whenever the garbage collector
// is starved of CPU (a loaded machine), and the RSS says more about the
// machine than about tickmark.
func softLimit(maxRSS int64) string { return fmt.Sprintf("GOMEMLIMIT=%dMiB", maxRSS/2>>20) }
