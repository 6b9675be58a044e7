// Package httpfake is a small backup-system API for testing and demonstrating
// the http collector: SAMPLE DATA served on 127.0.0.1, one endpoint per
// pagination style and per authentication scheme, with injectable 429s
// (with Retry-After), 5xx and 401 responses.
//
//	GET  /api/v1/jobs?page=N&per_page=K        bearer token;  Link: <...>; rel="next"  {"data": [...]}
//	GET  /api/v1/restore-tests?cursor=C&limit=K basic auth;   {"items": [...], "meta": {"next_cursor": "..."|null}}
//	POST /api/v1/reports/search?page=N          X-API-Key;    {"results": [...]} (empty past the last page)
//
// Errors use the shape {"error": {"code": "...", "message": "..."}}.
package httpfake

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Credentials the fake accepts.
type Credentials struct {
	Token    string // bearer token for /jobs
	Username string // basic auth for /restore-tests
	Password string
	APIKey   string // X-API-Key for /reports/search
}

// Job is one backup job (SAMPLE DATA).
type Job struct {
	ID          string    `json:"id"`
	Database    string    `json:"database"`
	Schedule    string    `json:"schedule"`
	LastRun     time.Time `json:"last_run"`
	Status      string    `json:"status"`
	Owner       string    `json:"owner"`
	RetainDays  int       `json:"retain_days"`
	Encrypted   bool      `json:"encrypted"`
	SampleData  bool      `json:"sample_data"`
	RestoreTest string    `json:"last_restore_test"`
}

// Logged is one request the fake received.
type Logged struct {
	Method, Path, RawQuery string
	Authorized             bool
}

type fault struct {
	skip       int // requests to let through first
	status     int
	retryAfter string
	times      int
}

// Server is the fake API.
type Server struct {
	*httptest.Server
	creds Credentials

	mu     sync.Mutex
	jobs   []Job
	faults map[string][]*fault
	log    []Logged
}

var dbs = []string{"orders-db", "billing-db", "users-db", "events-db", "audit-db"}

// New starts the fake on 127.0.0.1 with n jobs.
func New(creds Credentials, n int) *Server {
	s := &Server{creds: creds, faults: map[string][]*fault{}}
	s.Add(n)
	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/v1/jobs", s.jobsHandler)
	mux.HandleFunc("GET /api/v1/restore-tests", s.restoreTests)
	mux.HandleFunc("POST /api/v1/reports/search", s.search)
	s.Server = httptest.NewServer(s.middleware(mux))
	return s
}

// Add appends n jobs (new source data).
func (s *Server) Add(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := 0; i < n; i++ {
		k := len(s.jobs) + 1
		s.jobs = append(s.jobs, Job{
			ID:          fmt.Sprintf("job-%04d", k),
			Database:    dbs[k%len(dbs)],
			Schedule:    "0 2 * * *",
			LastRun:     time.Date(2026, 11, 29, 2, 0, 0, 0, time.UTC).Add(time.Duration(k) * time.Minute),
			Status:      []string{"succeeded", "succeeded", "succeeded", "failed"}[k%4],
			Owner:       "backup-operator@example.com",
			RetainDays:  35,
			Encrypted:   k%7 != 0,
			SampleData:  true,
			RestoreTest: []string{"passed", "passed", "not run"}[k%3],
		})
	}
}

// Fail makes the next times responses on path fail with status (and a
// Retry-After header if retryAfter is not empty).
func (s *Server) Fail(path string, status int, retryAfter string, times int) {
	s.FailAfter(path, 0, status, retryAfter, times)
}

// FailAfter is Fail after skip more requests on path have been served.
func (s *Server) FailAfter(path string, skip, status int, retryAfter string, times int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults[path] = append(s.faults[path], &fault{skip: skip, status: status, retryAfter: retryAfter, times: times})
}

// Requests returns the requests received so far.
func (s *Server) Requests() []Logged {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Logged(nil), s.log...)
}

// Reset forgets the request log and pending faults.
func (s *Server) Reset() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.log, s.faults = nil, map[string][]*fault{}
}

func (s *Server) authorized(r *http.Request) bool {
	switch r.URL.Path {
	case "/api/v1/jobs":
		return s.creds.Token != "" && r.Header.Get("Authorization") == "Bearer "+s.creds.Token
	case "/api/v1/restore-tests":
		u, p, ok := r.BasicAuth()
		return ok && s.creds.Username != "" && u == s.creds.Username && p == s.creds.Password
	case "/api/v1/reports/search":
		return s.creds.APIKey != "" && r.Header.Get("X-API-Key") == s.creds.APIKey
	}
	return false
}

func (s *Server) middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ok := s.authorized(r)
		s.mu.Lock()
		s.log = append(s.log, Logged{Method: r.Method, Path: r.URL.Path, RawQuery: r.URL.RawQuery, Authorized: ok})
		var f *fault
		for _, x := range s.faults[r.URL.Path] {
			if x.skip > 0 {
				x.skip--
				break
			}
			if x.times > 0 {
				x.times--
				f = x
				break
			}
		}
		s.mu.Unlock()
		if f != nil {
			if f.retryAfter != "" {
				w.Header().Set("Retry-After", f.retryAfter)
			}
			code := map[int]string{403: "forbidden", 404: "not_found", 429: "rate_limited", 500: "internal", 502: "bad_gateway", 503: "unavailable"}[f.status]
			writeError(w, f.status, code, http.StatusText(f.status))
			return
		}
		if !ok {
			w.Header().Set("WWW-Authenticate", `Bearer realm="backup-api"`)
			writeError(w, http.StatusUnauthorized, "unauthorized", "invalid or missing credentials")
			return
		}
		next.ServeHTTP(w, r)
	})
}

func writeError(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{"error": map[string]string{"code": code, "message": msg}})
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	_ = json.NewEncoder(w).Encode(v)
}

func intParam(r *http.Request, name string, def, max int) (int, error) {
	v := r.URL.Query().Get(name)
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > max {
		return 0, fmt.Errorf("%s must be between 1 and %d", name, max)
	}
	return n, nil
}

func (s *Server) snapshot() []Job {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Job(nil), s.jobs...)
}

// jobsHandler pages with ?page and ?per_page and a Link header (GitHub style).
func (s *Server) jobsHandler(w http.ResponseWriter, r *http.Request) {
	page, err := intParam(r, "page", 1, 1<<20)
	if err == nil {
		var per int
		per, err = intParam(r, "per_page", 3, 100)
		if err == nil {
			jobs := s.snapshot()
			from := min((page-1)*per, len(jobs))
			to := min(from+per, len(jobs))
			last := max(1, (len(jobs)+per-1)/per)
			base := "http://" + r.Host + r.URL.Path
			var links []string
			if page < last {
				links = append(links, fmt.Sprintf(`<%s?page=%d&per_page=%d>; rel="next"`, base, page+1, per))
			}
			links = append(links, fmt.Sprintf(`<%s?page=%d&per_page=%d>; rel="last"`, base, last, per))
			w.Header().Set("Link", strings.Join(links, ", "))
			writeJSON(w, map[string]any{"data": jobs[from:to], "total": len(jobs)})
			return
		}
	}
	writeError(w, http.StatusBadRequest, "invalid_parameter", err.Error())
}

// RestoreTest is one restore test (SAMPLE DATA).
type RestoreTest struct {
	ID          string    `json:"id"`
	Job         string    `json:"job_id"`
	Database    string    `json:"database"`
	StartedAt   time.Time `json:"started_at"`
	Restored    bool      `json:"restored"`
	RowsChecked int       `json:"rows_checked"`
	PerformedBy string    `json:"performed_by"`
}

func restoreTest(j Job, k int) RestoreTest {
	return RestoreTest{ID: fmt.Sprintf("rt_%04d", k), Job: j.ID, Database: j.Database, StartedAt: j.LastRun.Add(3 * time.Hour),
		Restored: j.RestoreTest != "not run", RowsChecked: 1000*k + 17, PerformedBy: j.Owner}
}

// restoreTests pages with an opaque cursor in meta.next_cursor (null at the end).
func (s *Server) restoreTests(w http.ResponseWriter, r *http.Request) {
	limit, err := intParam(r, "limit", 4, 100)
	if err != nil {
		writeError(w, http.StatusBadRequest, "invalid_parameter", err.Error())
		return
	}
	from := 0
	if c := r.URL.Query().Get("cursor"); c != "" {
		n, err := strconv.Atoi(strings.TrimPrefix(c, "after_"))
		if err != nil || !strings.HasPrefix(c, "after_") {
			writeError(w, http.StatusBadRequest, "invalid_cursor", "cursor is not one this API issued")
			return
		}
		from = n
	}
	jobs := s.snapshot()
	from = min(from, len(jobs))
	to := min(from+limit, len(jobs))
	items := make([]RestoreTest, 0, to-from)
	for k := from; k < to; k++ {
		items = append(items, restoreTest(jobs[k], k+1))
	}
	var next any
	if to < len(jobs) {
		next = fmt.Sprintf("after_%d", to)
	}
	writeJSON(w, map[string]any{"items": items, "meta": map[string]any{"next_cursor": next, "limit": limit}})
}

// search takes a JSON query and pages with ?page until a page is empty.
func (s *Server) search(w http.ResponseWriter, r *http.Request) {
	var q struct {
		Status string `json:"status"`
	}
	if err := json.NewDecoder(r.Body).Decode(&q); err != nil {
		writeError(w, http.StatusBadRequest, "invalid_body", "the body must be a JSON object like {\"status\": \"failed\"}")
		return
	}
	page, err := intParam(r, "page", 1, 1<<20)
	if err != nil {
		writeError(w, http.StatusBadRequest, "invalid_parameter", err.Error())
		return
	}
	var hits []Job
	for _, j := range s.snapshot() {
		if q.Status == "" || j.Status == q.Status {
			hits = append(hits, j)
		}
	}
	const per = 2
	from := min((page-1)*per, len(hits))
	to := min(from+per, len(hits))
	writeJSON(w, map[string]any{"results": append([]Job{}, hits[from:to]...), "page": page})
}
