package http_test

import (
	"context"
	"encoding/json"
	"fmt"
	nethttp "net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tickmark-dev/tickmark/collectors"
	"github.com/tickmark-dev/tickmark/collectors/collectortest"
	httpc "github.com/tickmark-dev/tickmark/collectors/http"
	"github.com/tickmark-dev/tickmark/collectors/http/httpfake"
	"github.com/tickmark-dev/tickmark/collectors/httpx"
)

var creds = httpfake.Credentials{Token: "tok-3f9a77c2e1", Username: "auditor", Password: "pw-b81d0c44aa", APIKey: "key-5e2f9d1c70"}

func setup(t *testing.T, jobs int) *httpfake.Server {
	t.Helper()
	t.Setenv("HTTP_TEST_TOKEN", creds.Token)
	t.Setenv("HTTP_TEST_PASSWORD", creds.Password)
	t.Setenv("HTTP_TEST_KEY", creds.APIKey)
	srv := httpfake.New(creds, jobs)
	t.Cleanup(srv.Close)
	return srv
}

// config has one request per pagination style and auth scheme.
func config(base string) string {
	return fmt.Sprintf(`requests:
  - evidence_type: custom.backup_jobs
    url: %[1]s/api/v1/jobs?per_page=3
    auth: {bearer: env:HTTP_TEST_TOKEN}
    pagination: {style: link}
    select: data
  - evidence_type: custom.restore_tests
    url: %[1]s/api/v1/restore-tests?limit=4
    auth: {basic: {username: auditor, password: env:HTTP_TEST_PASSWORD}}
    pagination: {style: cursor, cursor_field: meta.next_cursor, cursor_param: cursor}
    select: items
  - evidence_type: custom.succeeded_jobs
    url: %[1]s/api/v1/reports/search
    method: POST
    body: '{"status": "succeeded"}'
    headers: {X-Request-Source: tickmark-test}
    auth: {header: {name: X-API-Key, value: env:HTTP_TEST_KEY}}
    pagination: {style: page, page_param: page}
    select: results
`, base)
}

// sleeps records the waits the retrying transport asks for and advances a
// fake clock instead of waiting.
type sleeps struct {
	mu  sync.Mutex
	d   []time.Duration
	now time.Time
}

func (s *sleeps) client() *nethttp.Client {
	s.now = time.Now()
	tr := httpx.New(nil, nil)
	tr.Now = func() time.Time { s.mu.Lock(); defer s.mu.Unlock(); return s.now }
	tr.Sleep = func(ctx context.Context, d time.Duration) error {
		s.mu.Lock()
		s.d = append(s.d, d)
		s.now = s.now.Add(d)
		s.mu.Unlock()
		return ctx.Err()
	}
	return tr.Client(time.Minute)
}

func run(t *testing.T, cfg string) (collectortest.Result, *sleeps) {
	t.Helper()
	sl := &sleeps{}
	return collectortest.Run(t, collectortest.Build(t, "http", cfg), collectortest.Options{HTTPClient: sl.client()}), sl
}

func TestConformance(t *testing.T) {
	srv := setup(t, 10)
	t.Setenv("HTTP_TEST_BAD_TOKEN", "tok-expired-000")
	bad := strings.Replace(config(srv.URL), "env:HTTP_TEST_TOKEN", "env:HTTP_TEST_BAD_TOKEN", 1)
	collectortest.Suite{
		Type:    "http",
		Config:  config(srv.URL),
		Secrets: []string{creds.Token, creds.Password, creds.APIKey, "tok-expired-000"},
		Failures: []collectortest.Failure{
			{
				Name:            "expired token (401)",
				Config:          bad,
				MessageContains: []string{"http: requests[0] (custom.backup_jobs)", "GET " + srv.URL + "/api/v1/jobs", "HTTP 401 unauthorized: invalid or missing credentials", "bearer token from env:HTTP_TEST_BAD_TOKEN"},
			},
			{
				Name:            "permission removed (403)",
				Setup:           func() func() { srv.Fail("/api/v1/restore-tests", 403, "", 1); return srv.Reset },
				MessageContains: []string{"requests[1] (custom.restore_tests)", "/api/v1/restore-tests", "HTTP 403", "may not read /api/v1/restore-tests"},
			},
			{
				Name:            "API unavailable (503)",
				Setup:           func() func() { srv.Fail("/api/v1/reports/search", 503, "", 100); return srv.Reset },
				Retryable:       true,
				MessageContains: []string{"requests[2] (custom.succeeded_jobs)", "POST " + srv.URL + "/api/v1/reports/search", "HTTP 503"},
			},
		},
	}.Run(t)
}

type jobsPage struct {
	Data    []httpfake.Job `json:"data"`
	Items   []httpfake.RestoreTest
	Results []httpfake.Job `json:"results"`
}

func TestAllThreePaginationStyles(t *testing.T) {
	srv := setup(t, 10)
	res, _ := run(t, config(srv.URL))
	if res.Err != nil {
		t.Fatal(res.Err)
	}
	host := strings.TrimPrefix(srv.URL, "http://")
	for _, tc := range []struct {
		typ, path, sel string
		endpoints      []string
		items          []int
		ids            int
	}{
		{"custom.backup_jobs", "/api/v1/jobs", "data", []string{
			"GET " + srv.URL + "/api/v1/jobs?per_page=3",
			"GET " + srv.URL + "/api/v1/jobs?page=2&per_page=3",
			"GET " + srv.URL + "/api/v1/jobs?page=3&per_page=3",
			"GET " + srv.URL + "/api/v1/jobs?page=4&per_page=3",
		}, []int{3, 3, 3, 1}, 10},
		{"custom.restore_tests", "/api/v1/restore-tests", "items", []string{
			"GET " + srv.URL + "/api/v1/restore-tests?limit=4",
			"GET " + srv.URL + "/api/v1/restore-tests?cursor=after_4&limit=4",
			"GET " + srv.URL + "/api/v1/restore-tests?cursor=after_8&limit=4",
		}, []int{4, 4, 2}, 10},
		// 8 of the 10 jobs succeeded; 2 a page, then the empty page that ends it.
		{"custom.succeeded_jobs", "/api/v1/reports/search", "results", []string{
			"POST " + srv.URL + "/api/v1/reports/search?page=1",
			"POST " + srv.URL + "/api/v1/reports/search?page=2",
			"POST " + srv.URL + "/api/v1/reports/search?page=3",
			"POST " + srv.URL + "/api/v1/reports/search?page=4",
			"POST " + srv.URL + "/api/v1/reports/search?page=5",
		}, []int{2, 2, 2, 2, 0}, 8},
	} {
		t.Run(tc.typ, func(t *testing.T) {
			as := collectortest.OfType(res.Committed, tc.typ)
			if len(as) != len(tc.endpoints) {
				t.Fatalf("%d artifacts, want %d (one per page)", len(as), len(tc.endpoints))
			}
			seen := map[string]bool{}
			for i, a := range as {
				s := a.Source
				want := collectors.Source{System: "http", Endpoint: tc.endpoints[i], Query: fmt.Sprintf("page %d; items at %s", i+1, tc.sel),
					Account: host, CollectorVersion: httpc.Version, Pages: 1, Complete: i == len(as)-1, Items: tc.items[i]}
				if s != want {
					t.Errorf("page %d source:\n got %+v\nwant %+v", i+1, s, want)
				}
				if a.Subject != host+tc.path || a.ContentType != "application/json; charset=utf-8" {
					t.Errorf("page %d subject %q content type %q", i+1, a.Subject, a.ContentType)
				}
				var p jobsPage
				if err := json.Unmarshal(a.Body, &p); err != nil {
					t.Fatalf("page %d body is not the raw JSON response: %v", i+1, err)
				}
				for _, j := range p.Data {
					seen[j.ID] = true
				}
				for _, r := range p.Items {
					seen[r.ID] = true
				}
				for _, j := range p.Results {
					if j.Status != "succeeded" {
						t.Errorf("search returned %s with status %s: the POST body was not sent", j.ID, j.Status)
					}
					seen[j.ID] = true
				}
			}
			if len(seen) != tc.ids {
				t.Errorf("collected %d distinct items, want %d", len(seen), tc.ids)
			}
		})
	}
	for _, l := range srv.Requests() {
		if !l.Authorized {
			t.Errorf("%s %s?%s was sent without valid credentials", l.Method, l.Path, l.RawQuery)
		}
	}
	if res.Checkpoints != 3 {
		t.Errorf("%d checkpoints, want one per request (3)", res.Checkpoints)
	}
}

func TestRetryAfterIsHonouredOn429(t *testing.T) {
	srv := setup(t, 4)
	srv.Fail("/api/v1/jobs", 429, "7", 1)
	res, sl := run(t, config(srv.URL))
	if res.Err != nil {
		t.Fatal(res.Err)
	}
	if len(sl.d) != 1 || sl.d[0] != 7*time.Second {
		t.Errorf("waits %v, want one of 7s (Retry-After: 7)", sl.d)
	}
	if n := len(collectortest.OfType(res.Committed, "custom.backup_jobs")); n != 2 {
		t.Errorf("%d job pages after the retried 429, want 2", n)
	}
	if reqs := srv.Requests(); reqs[0].Path != "/api/v1/jobs" || reqs[1].Path != "/api/v1/jobs" || reqs[1].RawQuery != "per_page=3" {
		t.Errorf("the throttled request was not retried first: %+v", reqs[:2])
	}
}

func TestServerErrorsAreRetried(t *testing.T) {
	srv := setup(t, 4)
	srv.Fail("/api/v1/restore-tests", 503, "", 2)
	res, sl := run(t, config(srv.URL))
	if res.Err != nil {
		t.Fatal(res.Err)
	}
	if len(sl.d) != 2 {
		t.Errorf("%d backoff waits, want 2 (two 503s)", len(sl.d))
	}
	if n := len(collectortest.OfType(res.Committed, "custom.restore_tests")); n != 1 {
		t.Errorf("%d restore-test pages, want 1", n)
	}
}

func TestAFailingRequestStopsTheRunAndARetryResumesAtIt(t *testing.T) {
	srv := setup(t, 10)
	srv.FailAfter("/api/v1/restore-tests", 1, 500, "", 5) // page 2 fails every retry
	now := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	sl := &sleeps{}
	c := collectortest.Build(t, "http", config(srv.URL))
	res := collectortest.Run(t, c, collectortest.Options{HTTPClient: sl.client(), Now: now})
	if res.Err == nil {
		t.Fatal("a failing page did not fail the run")
	}
	want := "http: requests[1] (custom.restore_tests): GET " + srv.URL + "/api/v1/restore-tests?cursor=after_4&limit=4: HTTP 500 internal: Internal Server Error"
	if res.Err.Error() != want {
		t.Errorf("error:\n got %s\nwant %s", res.Err, want)
	}
	if !collectors.IsRetryable(res.Err) {
		t.Errorf("a 500 after retries is retryable")
	}
	if len(sl.d) != 4 {
		t.Errorf("%d retries, want the transport's 4", len(sl.d))
	}
	if len(collectortest.OfType(res.Committed, "custom.backup_jobs")) != 4 || len(res.Committed) != 4 {
		t.Errorf("committed %d artifacts, want only the 4 pages of the request before the failing one", len(res.Committed))
	}
	if len(collectortest.OfType(res.Emitted, "custom.restore_tests")) != 1 {
		t.Errorf("page 1 of the failing request was not emitted (and so not discarded)")
	}
	// The engine retries the same run (same Now) from the cursor: the
	// failing request and the ones after it, nothing twice.
	retry := collectortest.Run(t, c, collectortest.Options{HTTPClient: sl.client(), Now: now, Cursor: res.Cursor})
	if retry.Err != nil {
		t.Fatal(retry.Err)
	}
	if len(collectortest.OfType(retry.Committed, "custom.backup_jobs")) != 0 || len(collectortest.OfType(retry.Committed, "custom.restore_tests")) != 3 || len(collectortest.OfType(retry.Committed, "custom.succeeded_jobs")) != 5 {
		t.Errorf("retry committed %d artifacts, want 3 restore-test and 5 search pages", len(retry.Committed))
	}
	// The next scheduled run (a later Now) takes every snapshot again.
	next := collectortest.Run(t, c, collectortest.Options{HTTPClient: sl.client(), Now: now.Add(24 * time.Hour), Cursor: retry.Cursor})
	if next.Err != nil || len(next.Committed) != 12 {
		t.Errorf("next run: err %v, %d artifacts, want 12", next.Err, len(next.Committed))
	}
}

func TestUnauthorizedNamesTheRequestAndTheCredential(t *testing.T) {
	srv := setup(t, 4)
	t.Setenv("HTTP_TEST_PASSWORD", "wrong-password")
	t.Setenv("HTTP_TEST_KEY", "wrong-key")
	res, _ := run(t, config(srv.URL))
	if res.Err == nil {
		t.Fatal("401s did not fail the run")
	}
	msg := res.Err.Error()
	want := `http: requests[1] (custom.restore_tests): GET ` + srv.URL + `/api/v1/restore-tests?limit=4: HTTP 401 unauthorized: invalid or missing credentials (hint: the server refused user "auditor" with the password from env:HTTP_TEST_PASSWORD; check it is valid and not expired)`
	if msg != want {
		t.Errorf("error:\n got %s\nwant %s", msg, want)
	}
	if len(collectortest.OfType(res.Committed, "custom.backup_jobs")) != 2 || len(res.Committed) != 2 {
		t.Error("the request before the refused one was not committed, or more was")
	}
	// The header scheme names its header.
	t.Setenv("HTTP_TEST_PASSWORD", creds.Password)
	res, _ = run(t, config(srv.URL))
	want = `http: requests[2] (custom.succeeded_jobs): POST ` + srv.URL + `/api/v1/reports/search?page=1: HTTP 401 unauthorized: invalid or missing credentials (hint: the server refused the X-API-Key header from env:HTTP_TEST_KEY; check it is valid and not expired)`
	if res.Err == nil || res.Err.Error() != want {
		t.Errorf("error:\n got %v\nwant %s", res.Err, want)
	}
	if collectors.IsRetryable(res.Err) {
		t.Error("a 401 is permanent")
	}
	if strings.Contains(msg, "wrong-password") || strings.Contains(msg, "wrong-key") {
		t.Error("the error repeats a credential")
	}
}

func TestMaxPagesRecordsAnIncompleteListing(t *testing.T) {
	srv := setup(t, 10)
	cfg := strings.Replace(config(srv.URL), "    select: data\n", "    select: data\n    max_pages: 2\n", 1)
	res, _ := run(t, cfg)
	if res.Err != nil {
		t.Fatal(res.Err)
	}
	as := collectortest.OfType(res.Committed, "custom.backup_jobs")
	if len(as) != 2 || as[0].Source.Complete || as[1].Source.Complete {
		t.Fatalf("got %d pages (complete: %v), want 2 incomplete", len(as), len(as) > 1 && as[1].Source.Complete)
	}
	if !strings.Contains(res.Logs, "stopped at max_pages") {
		t.Errorf("no warning logged:\n%s", res.Logs)
	}
}

// single builds a one-request config against url.
func single(url, extra string) string {
	return "requests:\n  - evidence_type: custom.thing\n    url: " + url + "\n" + extra
}

func TestSafety(t *testing.T) {
	t.Setenv("HTTP_TEST_TOKEN", creds.Token)
	other := httptest.NewServer(nethttp.HandlerFunc(func(w nethttp.ResponseWriter, r *nethttp.Request) {
		if r.Header.Get("Authorization") != "" {
			t.Errorf("credentials were sent to another host")
		}
		w.Write([]byte("[]"))
	}))
	defer other.Close()
	srv := httptest.NewServer(nethttp.HandlerFunc(func(w nethttp.ResponseWriter, r *nethttp.Request) {
		switch r.URL.Path {
		case "/redirect":
			w.Header().Set("Link", `<`+other.URL+`/steal>; rel="next"`)
			w.Write([]byte("[1]"))
		case "/echo":
			w.Header().Set("Content-Type", "application/json")
			fmt.Fprintf(w, `{"you_sent": %q}`, r.Header.Get("Authorization"))
		case "/signed":
			w.Header().Set("Content-Type", "application/json")
			w.Header().Set("Link", `</signed2?sig=abc123&X-Amz-Credential=AKIAEXAMPLE&page=2>; rel="next"`)
			w.Write([]byte(`{"data":[1]}`))
		case "/signed2":
			w.Write([]byte(`{"data":[]}`))
		case "/loop":
			w.Header().Set("Link", `<`+srv2URL(r)+`/loop>; rel="next"`)
			w.Write([]byte("[1]"))
		case "/object":
			w.Write([]byte(`{"data":{"a":1},"meta":{}}`))
		default:
			w.Write([]byte(`not json`))
		}
	}))
	defer srv.Close()
	auth := "    auth: {bearer: env:HTTP_TEST_TOKEN}\n"
	for _, tc := range []struct{ name, cfg, want string }{
		{"next link to another host", single(srv.URL+"/redirect", auth+"    pagination: {style: link}\n"), "the next page is on another host"},
		{"response echoes the token", single(srv.URL+"/echo", auth), "the response contains the credential from env:HTTP_TEST_TOKEN; refusing to store it as evidence"},
		{"select on non-JSON", single(srv.URL+"/text", auth+"    select: data\n"), "the response is not JSON"},
		{"Link loop", single(srv.URL+"/loop", auth+"    pagination: {style: link}\n"), "the Link header points at a page already fetched"},
		{"select missing", single(srv.URL+"/object", auth+"    select: items\n"), `select "items": the response has no such field (its top-level keys: data, meta)`},
		{"select not a list", single(srv.URL+"/object", auth+"    select: data\n"), `select "data": is a object, not a list of items`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res, _ := run(t, tc.cfg)
			if res.Err == nil || !strings.Contains(res.Err.Error(), tc.want) {
				t.Fatalf("error = %v, want %q", res.Err, tc.want)
			}
			if collectors.IsRetryable(res.Err) || len(res.Committed) != 0 {
				t.Errorf("retryable=%v committed=%d; want permanent, nothing committed", collectors.IsRetryable(res.Err), len(res.Committed))
			}
			if strings.Contains(res.Err.Error(), creds.Token) {
				t.Error("the error repeats the token")
			}
		})
	}
	t.Run("signed next URL redacted", func(t *testing.T) {
		res, _ := run(t, single(srv.URL+"/signed?api_key=literal-in-url", auth+"    pagination: {style: link}\n    select: data\n"))
		if res.Err != nil {
			t.Fatal(res.Err)
		}
		got := []string{res.Committed[0].Source.Endpoint, res.Committed[1].Source.Endpoint}
		want := []string{"GET " + srv.URL + "/signed?api_key=REDACTED", "GET " + srv.URL + "/signed2?X-Amz-Credential=REDACTED&page=2&sig=REDACTED"}
		if got[0] != want[0] || got[1] != want[1] {
			t.Errorf("endpoints %q, want %q", got, want)
		}
	})
	t.Run("plain text stored raw", func(t *testing.T) {
		res, _ := run(t, single(srv.URL+"/text", auth))
		if res.Err != nil || len(res.Committed) != 1 || string(res.Committed[0].Body) != "not json" || !res.Committed[0].Source.Complete {
			t.Fatalf("err %v, artifacts %+v", res.Err, res.Committed)
		}
	})
}

func srv2URL(r *nethttp.Request) string { return "http://" + r.Host }

func TestConfigValidation(t *testing.T) {
	t.Setenv("HTTP_TEST_TOKEN", "x")
	u := "https://api.example.com/v1/things"
	for _, tc := range []struct{ cfg, want string }{
		{"requests: []\n", "collectors[0].http.requests: lists no requests"},
		{single(u, "    auth: {bearer: plain-token}\n"), "line 4: collectors[0].http.requests[0].auth.bearer: secret given as a literal value"},
		{single(u, "    auht: {bearer: env:HTTP_TEST_TOKEN}\n"), "line 4: collectors[0].http.requests[0].auht: unknown key"},
		{single(u, "    pagination: {style: link, cursor_field: x}\n"), "requests[0].pagination: style link takes no other keys"},
		{single(u, "    pagination: {style: cursor, cursor_field: next}\n"), "requests[0].pagination.cursor_param: is required for style cursor"},
		{single(u, "    pagination: {style: page}\n"), "requests[0].pagination.page_param: is required for style page"},
		{single(u, "    pagination: {style: offset}\n"), `requests[0].pagination.style: "offset" is not a pagination style`},
		{single(u, "    method: DELETE\n"), `requests[0].method: "DELETE" is not supported`},
		{single(u, "    body: '{}'\n"), "requests[0].body: is only sent with method: POST"},
		{single(u, "    headers: {Authorization: Bearer abc}\n"), "requests[0].headers.Authorization: would carry a credential as a literal"},
		{single("https://me:pw@api.example.com/", ""), "requests[0].url: carries credentials"},
		{single("ftp://api.example.com/", ""), `requests[0].url: "ftp://api.example.com/" is not an http(s) URL`},
		{single(u, "    auth: {bearer: env:HTTP_TEST_TOKEN, header: {name: X-Key, value: env:HTTP_TEST_TOKEN}}\n"), "requests[0].auth: must set exactly one of bearer, basic and header"},
		{single(u, "    auth: {basic: {password: env:HTTP_TEST_TOKEN}}\n"), "requests[0].auth.basic.username: is required"},
		{"requests:\n  - evidence_type: Backup Jobs\n    url: " + u + "\n", `requests[0].evidence_type: "Backup Jobs" is not an evidence type`},
	} {
		_, err := collectortest.BuildErr("http", tc.cfg)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("config:\n%s\nerror: %v\nwant:  %s", tc.cfg, err, tc.want)
		}
	}
	if _, err := collectortest.BuildErr("http", single(u, "    auth: {bearer: env:HTTP_TEST_TOKEN}\n    pagination: {style: page, page_param: p, start: 0}\n    max_pages: 5\n")); err != nil {
		t.Errorf("valid config refused: %v", err)
	}
}

func TestSampleConfigIsValid(t *testing.T) {
	t.Setenv("BACKUP_TOKEN", "x")
	section, err := collectortest.SampleSection("http")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := collectortest.BuildErr("http", section); err != nil {
		t.Fatalf("sample configuration:\n%s\n%v", section, err)
	}
}
