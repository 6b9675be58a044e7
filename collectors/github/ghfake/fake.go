// Package ghfake is an in-process fake of the GitHub REST API (the subset
// the github collector reads), built from GitHub's published OpenAPI
// description. It reproduces the wire behaviour that matters to a
// collector: Link-header pagination (page numbers, and before/after cursors
// for Dependabot alerts) with per_page up to 100, the primary rate limit
// headers (X-RateLimit-Limit/Remaining/Reset/Used/Resource), the secondary
// rate limit on too many concurrent requests (403 or 429 with Retry-After),
// ETag / If-None-Match conditional requests answered with 304 that do not
// count against the rate limit, GitHub's error bodies (401 "Bad
// credentials", 403 with X-Accepted-OAuth-Scopes / X-OAuth-Scopes, 404
// "Branch not protected", Dependabot "alerts are disabled"), and GitHub App
// installation tokens minted from an RS256 JWT, which expire.
//
// It is a non-test package so that `tickmark demo` can serve a sample
// organisation from it.
package ghfake

import (
	"context"
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Token is a personal access token the fake accepts.
type Token struct {
	// Scopes are the classic OAuth scopes (sent back in X-OAuth-Scopes).
	Scopes []string
	// Expires is when the token stops working (zero: never).
	Expires time.Time
	// Owner: the token's user is an organisation owner (admin of every
	// repository). Only an owner sees what GitHub shows owners alone: the
	// 2fa_disabled member filter, the org's 2FA requirement and private
	// repository totals, and rulesets' bypass_actors (returned only to a
	// caller with write access to the ruleset).
	Owner bool
	// Repos limits the token to these repositories (a fine-grained token
	// or App installation with "selected repositories"); empty: all.
	Repos []string
	// Org limits the token to one organisation (an App installation's
	// token); "": any.
	Org string
}

// App is a GitHub App the fake knows.
type App struct {
	ID             int64
	InstallationID int64
	PublicKey      *rsa.PublicKey
	// TokenTTL is the life of an installation token (default 1h, as on GitHub).
	TokenTTL time.Duration
	// Owner and Repos are given to installation tokens (Token.Owner,
	// Token.Repos).
	Owner bool
	Repos []string
	// Installations are further installations of the App, by ID, each on
	// one organisation: their tokens see only that organisation.
	Installations map[int64]string
}

// Fault makes matching requests fail.
type Fault struct {
	// Path matches when the request path contains it ("" matches all).
	Path string
	// Status and Body are the response; Header adds headers.
	Status int
	Body   string
	Header map[string]string
	// Malformed answers 200 with a truncated JSON body.
	Malformed bool
	// Times is how many requests the fault answers (0: every one).
	Times int
	hits  int
}

// Hit is one request the fake answered, stamped with the fake's clock.
type Hit struct {
	At     time.Time
	Method string
	Path   string
	Query  string
	Status int
}

// Stats counts what the fake served.
type Stats struct {
	Requests    int
	NotModified int
	Secondary   int // secondary-rate-limit refusals
	ByStatus    map[int]int
	ByRoute     map[string]int
	MaxInFlight int
	AppTokens   int // installation tokens issued
}

// Server is the fake GitHub.
type Server struct {
	// URL is the server's base URL ("http://127.0.0.1:port").
	URL string
	srv *httptest.Server

	// ConcurrencyLimit is how many requests may be in flight before the
	// secondary rate limit refuses (default 10).
	ConcurrencyLimit int
	// SecondaryStatus is 403 (default) or 429.
	SecondaryStatus int
	// RateLimit is the primary limit per token per hour (default 5000).
	RateLimit int
	// Latency delays every response (default 0; see SetLatency).
	Latency time.Duration
	// Now is the fake's wall clock for token expiry and rate-limit resets.
	Now func() time.Time
	// OnRequest, when set, runs with the organisation locked before each
	// API request is answered (tests use it to change data mid-scan).
	OnRequest func(o *Org, r *http.Request)

	inFlight atomic.Int64

	mu       sync.Mutex
	org      *Org // the organisation the current request is about
	primary  *Org
	others   []*Org
	tokens   map[string]Token
	app      *App
	faults   []*Fault
	used     map[string]int
	resetAt  time.Time
	stats    Stats
	hits     []Hit
	tokenSeq int
}

// Hits returns every request answered since the last ResetStats, in order.
func (s *Server) Hits() []Hit {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Hit(nil), s.hits...)
}

// New starts a fake serving org on 127.0.0.1. tokens maps accepted
// personal access tokens to their scopes.
func New(org *Org, tokens map[string]Token) *Server {
	s := &Server{org: org, primary: org, tokens: map[string]Token{}, used: map[string]int{}}
	for k, v := range tokens {
		s.tokens[k] = v
	}
	s.stats.ByStatus, s.stats.ByRoute = map[int]int{}, map[string]int{}
	s.srv = httptest.NewServer(s.handler())
	s.URL = s.srv.URL
	return s
}

// AddToken makes the fake accept another personal access token.
func (s *Server) AddToken(tok string, t Token) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.tokens[tok] = t
}

// Close stops the server.
func (s *Server) Close() { s.srv.Close() }

// SetApp registers a GitHub App whose installation can mint tokens.
func (s *Server) SetApp(a App) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if a.TokenTTL == 0 {
		a.TokenTTL = time.Hour
	}
	s.app = &a
}

// Inject adds a fault and returns a function removing it.
func (s *Server) Inject(f Fault) (remove func()) {
	s.mu.Lock()
	fp := &f
	s.faults = append(s.faults, fp)
	s.mu.Unlock()
	return func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		for i, x := range s.faults {
			if x == fp {
				s.faults = append(s.faults[:i], s.faults[i+1:]...)
				return
			}
		}
	}
}

// Update runs fn with the organisation locked, to change the data.
func (s *Server) Update(fn func(o *Org)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	fn(s.primary)
}

// AddOrg serves another organisation (its login must differ).
func (s *Server) AddOrg(o *Org) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, x := range append([]*Org{s.primary}, s.others...) {
		if x.ID == o.ID {
			o.ID = s.primary.ID + int64(len(s.others)) + 1 // IDs name organisations in /organizations/{id} links
		}
	}
	s.others = append(s.others, o)
}

// selectOrg points s.org at the organisation a request names (under s.mu).
func (s *Server) selectOrg(r *http.Request) {
	s.org = s.primary
	name := r.PathValue("org")
	if name == "" {
		name = r.PathValue("owner")
	}
	for _, o := range s.others {
		if o.Login == name {
			s.org = o
		}
	}
}

// Stats returns a copy of the counters.
func (s *Server) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.stats
	st.ByStatus, st.ByRoute = map[int]int{}, map[string]int{}
	for k, v := range s.stats.ByStatus {
		st.ByStatus[k] = v
	}
	for k, v := range s.stats.ByRoute {
		st.ByRoute[k] = v
	}
	return st
}

// SetLimits sets the concurrency limit (secondary rate limit), the status
// it answers with (403 or 429) and the primary limit per token and hour;
// zero leaves a value unchanged.
func (s *Server) SetLimits(concurrency, secondaryStatus, rate int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if concurrency != 0 {
		s.ConcurrencyLimit = concurrency
	}
	if secondaryStatus != 0 {
		s.SecondaryStatus = secondaryStatus
	}
	if rate != 0 {
		s.RateLimit = rate
		s.used = map[string]int{}
	}
}

// SetLatency delays every response by d.
func (s *Server) SetLatency(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.Latency = d
}

// ResetStats zeroes the counters (not the rate-limit budget).
func (s *Server) ResetStats() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stats = Stats{ByStatus: map[int]int{}, ByRoute: map[string]int{}}
	s.hits = nil
}

func (s *Server) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

// route is one endpoint: its pattern, the classic scopes that grant it,
// and its handler, which returns the status and JSON value to send.
type route struct {
	pattern string
	scopes  []string
	h       func(r *http.Request) (int, any)
}

type apiError struct {
	Message          string `json:"message"`
	DocumentationURL string `json:"documentation_url"`
	Status           string `json:"status"`
}

func errBody(status int, msg, doc string) (int, any) {
	return status, apiError{Message: msg, DocumentationURL: "https://docs.github.com/rest" + doc, Status: strconv.Itoa(status)}
}

func (s *Server) handler() http.Handler {
	orgScopes := []string{"admin:org", "read:org", "write:org"}
	repoScopes := []string{"repo"}
	auditScopes := []string{"admin:org", "read:audit_log"}
	routes := []route{
		{"GET /orgs/{org}", orgScopes, s.getOrg},
		{"GET /orgs/{org}/members", orgScopes, s.listMembers},
		{"GET /orgs/{org}/outside_collaborators", orgScopes, s.listOutside},
		{"GET /orgs/{org}/repos", repoScopes, s.listRepos},
		{"GET /orgs/{org}/rulesets/{id}", orgScopes, s.getOrgRuleset},
		{"GET /repos/{owner}/{repo}", repoScopes, s.getRepo},
		{"GET /repos/{owner}/{repo}/branches/{branch}/protection", repoScopes, s.getProtection},
		{"GET /repos/{owner}/{repo}/rules/branches/{branch}", repoScopes, s.getBranchRules},
		{"GET /repos/{owner}/{repo}/rulesets/{id}", repoScopes, s.getRepoRuleset},
		{"GET /repos/{owner}/{repo}/pulls", repoScopes, s.listPulls},
		{"GET /repos/{owner}/{repo}/pulls/{number}", repoScopes, s.getPull},
		{"GET /repos/{owner}/{repo}/pulls/{number}/reviews", repoScopes, s.listReviews},
		{"GET /repos/{owner}/{repo}/commits/{ref}/check-runs", repoScopes, s.listCheckRuns},
		{"GET /repos/{owner}/{repo}/commits/{ref}/status", repoScopes, s.combinedStatus},
		{"GET /repos/{owner}/{repo}/dependabot/alerts", []string{"security_events", "repo"}, s.listAlerts},
		{"GET /repos/{owner}/{repo}/branches", repoScopes, s.listBranches},
		{"GET /repos/{owner}/{repo}/teams", repoScopes, s.listRepoTeams},
		{"GET /repos/{owner}/{repo}/collaborators", repoScopes, s.listCollaborators},
		{"GET /repos/{owner}/{repo}/code-scanning/alerts", []string{"security_events", "repo"}, s.listCodeAlerts},
		{"GET /repos/{owner}/{repo}/secret-scanning/alerts", []string{"security_events", "repo"}, s.listSecretAlerts},
		{"GET /orgs/{org}/invitations", orgScopes, s.listInvitations},
		{"GET /repos/{owner}/{repo}/rulesets/rule-suites", repoScopes, s.listRuleSuites},
		{"GET /repos/{owner}/{repo}/commits", repoScopes, s.listCommits},
		{"GET /repos/{owner}/{repo}/commits/{ref}/pulls", repoScopes, s.commitPulls},
		{"GET /repos/{owner}/{repo}/compare/{basehead}", repoScopes, s.compare},
		{"GET /repos/{owner}/{repo}/pulls/{number}/commits", repoScopes, s.listPullCommits},
		{"GET /repos/{owner}/{repo}/collaborators/{username}/permission", repoScopes, s.permission},
		{"GET /orgs/{org}/audit-log", auditScopes, s.getAuditLog},
		{"GET /organizations/{id}/audit-log", auditScopes, s.getAuditLog}, // the targets of its Link header
	}
	mux := http.NewServeMux()
	for _, rt := range routes {
		rt := rt
		mux.HandleFunc(rt.pattern, func(w http.ResponseWriter, r *http.Request) { s.serve(w, r, rt) })
	}
	mux.HandleFunc("POST /app/installations/{id}/access_tokens", s.createInstallationToken)
	mux.HandleFunc("GET /installation/repositories", func(w http.ResponseWriter, r *http.Request) {
		s.serve(w, r, route{"GET /installation/repositories", nil, s.installationRepos})
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		s.count(r.URL.Path, http.StatusNotFound)
		writeJSON(w, http.StatusNotFound, apiError{Message: "Not Found", DocumentationURL: "https://docs.github.com/rest", Status: "404"})
	})
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// GitHub Enterprise Server serves the API under /api/v3.
		if p, ok := strings.CutPrefix(r.URL.Path, "/api/v3"); ok {
			r.URL.Path = p
			r.URL.RawPath = ""
		}
		n := s.inFlight.Add(1)
		defer s.inFlight.Add(-1)
		s.mu.Lock()
		if int(n) > s.stats.MaxInFlight {
			s.stats.MaxInFlight = int(n)
		}
		s.mu.Unlock()
		s.mu.Lock()
		limit, st, latency := s.ConcurrencyLimit, s.SecondaryStatus, s.Latency
		s.mu.Unlock()
		if latency > 0 {
			time.Sleep(latency)
		}
		if limit == 0 {
			limit = 10
		}
		if st == 0 {
			st = http.StatusForbidden
		}
		if int(n) > limit {
			s.mu.Lock()
			s.stats.Secondary++
			s.mu.Unlock()
			s.countReq(r, r.URL.Path, st)
			w.Header().Set("Retry-After", "1")
			writeJSON(w, st, apiError{Message: "You have exceeded a secondary rate limit. Please wait a few minutes before you try again. If you reach out to GitHub Support for help, please include the request ID.",
				DocumentationURL: "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api#about-secondary-rate-limits", Status: strconv.Itoa(st)})
			return
		}
		mux.ServeHTTP(w, r)
	})
}

func (s *Server) count(path string, status int) { s.countReq(nil, path, status) }

func (s *Server) countReq(r *http.Request, path string, status int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	h := Hit{At: s.now(), Path: path, Status: status}
	if r != nil {
		h.Method, h.Query = r.Method, r.URL.RawQuery
	}
	s.hits = append(s.hits, h)
	s.stats.Requests++
	s.stats.ByStatus[status]++
	s.stats.ByRoute[routeName(path)]++
	if status == http.StatusNotModified {
		s.stats.NotModified++
	}
}

// routeName reduces a path to its endpoint family for Stats.ByRoute.
func routeName(p string) string {
	parts := strings.Split(strings.Trim(p, "/"), "/")
	switch {
	case len(parts) >= 2 && parts[0] == "orgs":
		if len(parts) == 2 {
			return "org"
		}
		return "org/" + parts[2]
	case len(parts) >= 3 && parts[0] == "repos":
		if len(parts) == 3 {
			return "repo"
		}
		switch parts[3] {
		case "pulls":
			switch len(parts) {
			case 4:
				return "pulls"
			case 5:
				return "pull"
			default:
				return "pull/" + parts[5]
			}
		case "commits":
			if len(parts) == 4 {
				return "commits"
			}
			return "commit/" + parts[len(parts)-1]
		case "branches":
			return "protection"
		case "rules":
			return "rules/branches"
		}
		return parts[3]
	}
	return p
}

func (s *Server) authenticate(r *http.Request) (key string, scopes []string, app bool, tk Token, ok bool) {
	h := r.Header.Get("Authorization")
	tok := ""
	if v, found := strings.CutPrefix(h, "Bearer "); found {
		tok = v
	} else if v, found := strings.CutPrefix(h, "token "); found {
		tok = v
	}
	if tok == "" {
		return "", nil, false, Token{}, false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	t, found := s.tokens[tok]
	if !found || (!t.Expires.IsZero() && !s.now().Before(t.Expires)) {
		return "", nil, false, Token{}, false
	}
	return tok, t.Scopes, strings.HasPrefix(tok, "ghs_"), t, true
}

// rateHeaders sets the primary rate-limit headers; spend counts this request.
func (s *Server) rateHeaders(w http.ResponseWriter, key string, spend bool) (exhausted bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	if s.resetAt.IsZero() || !now.Before(s.resetAt) {
		s.resetAt = now.Add(time.Hour).Truncate(time.Second)
		s.used = map[string]int{}
	}
	limit := s.RateLimit
	if limit == 0 {
		limit = 5000
	}
	if key == "" {
		limit = 60
	}
	used := s.used[key]
	if used >= limit {
		exhausted = true
	} else if spend {
		used++
		s.used[key] = used
	}
	h := w.Header()
	h.Set("X-RateLimit-Limit", strconv.Itoa(limit))
	h.Set("X-RateLimit-Remaining", strconv.Itoa(limit-used))
	h.Set("X-RateLimit-Reset", strconv.FormatInt(s.resetAt.Unix(), 10))
	h.Set("X-RateLimit-Used", strconv.Itoa(used))
	h.Set("X-RateLimit-Resource", "core")
	return exhausted
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request, rt route) {
	w.Header().Set("X-GitHub-Media-Type", "github.v3; format=json")
	key, scopes, app, tk, ok := s.authenticate(r)
	if !ok {
		s.rateHeaders(w, "", true)
		s.countReq(r, r.URL.Path, http.StatusUnauthorized)
		st, v := errBody(http.StatusUnauthorized, "Bad credentials", "")
		writeJSON(w, st, v)
		return
	}
	s.mu.Lock()
	var fault *Fault
	for _, f := range s.faults {
		if (f.Path == "" || strings.Contains(r.URL.Path, f.Path)) && (f.Times == 0 || f.hits < f.Times) {
			f.hits++
			fault = f
			break
		}
	}
	s.mu.Unlock()
	if f := fault; f != nil {
		s.rateHeaders(w, key, true)
		for k, v := range f.Header {
			w.Header().Set(k, v)
		}
		if f.Malformed {
			s.countReq(r, r.URL.Path, http.StatusOK)
			w.Header().Set("Content-Type", "application/json; charset=utf-8")
			w.WriteHeader(http.StatusOK)
			_, _ = w.Write([]byte(`{"login": "acme", "id": 10`))
			return
		}
		s.countReq(r, r.URL.Path, f.Status)
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		w.WriteHeader(f.Status)
		_, _ = w.Write([]byte(f.Body))
		return
	}
	if org := r.PathValue("org") + r.PathValue("owner"); tk.Org != "" && org != "" && org != tk.Org {
		// an installation token sees its own organisation only
		s.rateHeaders(w, key, true)
		s.countReq(r, r.URL.Path, http.StatusNotFound)
		st, v := errBody(http.StatusNotFound, "Not Found", "")
		writeJSON(w, st, v)
		return
	}
	if rt.scopes == nil && !app {
		// an installation-only endpoint
		s.rateHeaders(w, key, true)
		s.countReq(r, r.URL.Path, http.StatusForbidden)
		st, v := errBody(http.StatusForbidden, "You must authenticate with an installation access token in order to list repositories for an installation.", "/apps/installations#list-repositories-accessible-to-the-app-installation")
		writeJSON(w, st, v)
		return
	}
	if !app {
		w.Header().Set("X-OAuth-Scopes", strings.Join(scopes, ", "))
		w.Header().Set("X-Accepted-OAuth-Scopes", strings.Join(rt.scopes, ", "))
		if !hasAny(scopes, rt.scopes) {
			s.rateHeaders(w, key, true)
			s.countReq(r, r.URL.Path, http.StatusForbidden)
			st, v := errBody(http.StatusForbidden, "Resource not accessible by personal access token", "")
			writeJSON(w, st, v)
			return
		}
	}
	if s.rateHeaders(w, key, false) {
		s.countReq(r, r.URL.Path, http.StatusForbidden)
		w.Header().Set("X-RateLimit-Remaining", "0")
		st, v := errBody(http.StatusForbidden, "API rate limit exceeded for user. (But here's the good news: Authenticated requests get a higher rate limit. Check out the documentation for more details.)", "/overview/rate-limits-for-the-rest-api")
		writeJSON(w, st, v)
		return
	}
	r = r.WithContext(context.WithValue(context.WithValue(r.Context(), writerKey{}, w), tokenKey{}, tk))
	s.mu.Lock()
	s.selectOrg(r)
	if s.OnRequest != nil {
		s.OnRequest(s.org, r)
	}
	status, v := rt.h(r)
	var body []byte
	if status != 0 {
		var err error
		body, err = json.Marshal(v)
		if err != nil {
			s.mu.Unlock()
			panic(err)
		}
	}
	s.mu.Unlock()
	if status == http.StatusOK {
		sum := sha256.Sum256(append([]byte(w.Header().Get("Link")+"\n"), body...))
		etag := `W/"` + hex.EncodeToString(sum[:16]) + `"`
		w.Header().Set("ETag", etag)
		w.Header().Set("Cache-Control", "private, max-age=60, s-maxage=60")
		w.Header().Set("Vary", "Accept, Authorization, Cookie, X-GitHub-OTP")
		if inm := r.Header.Get("If-None-Match"); inm != "" && etagMatch(inm, etag) {
			s.rateHeaders(w, key, false) // a 304 costs no rate limit
			s.countReq(r, r.URL.Path, http.StatusNotModified)
			w.WriteHeader(http.StatusNotModified)
			return
		}
	}
	s.rateHeaders(w, key, true)
	s.countReq(r, r.URL.Path, status)
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

type tokenKey struct{}

// isOwner reports whether the request's credentials are an organisation owner's.
func isOwner(r *http.Request) bool { v, _ := r.Context().Value(tokenKey{}).(Token); return v.Owner }

// canSee reports whether the request's credentials reach repository name.
func canSee(r *http.Request, name string) bool {
	v, _ := r.Context().Value(tokenKey{}).(Token)
	return len(v.Repos) == 0 || contains(v.Repos, name)
}

func etagMatch(header, etag string) bool {
	for _, e := range strings.Split(header, ",") {
		e = strings.TrimSpace(e)
		if e == etag || strings.TrimPrefix(e, "W/") == strings.TrimPrefix(etag, "W/") {
			return true
		}
	}
	return false
}

func hasAny(have, want []string) bool {
	for _, h := range have {
		for _, w := range want {
			if h == w {
				return true
			}
		}
	}
	return false
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, _ := json.Marshal(v)
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// ---- GitHub App installation tokens ----

func (s *Server) createInstallationToken(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	app := s.app
	s.mu.Unlock()
	fail := func(status int, msg string) {
		s.count(r.URL.Path, status)
		st, v := errBody(status, msg, "/apps/apps#create-an-installation-access-token-for-an-app")
		writeJSON(w, st, v)
	}
	if app == nil {
		fail(http.StatusNotFound, "Not Found")
		return
	}
	jwt, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok {
		fail(http.StatusUnauthorized, "A JSON web token could not be decoded")
		return
	}
	if msg := verifyJWT(jwt, app, s.now()); msg != "" {
		fail(http.StatusUnauthorized, msg)
		return
	}
	instOrg, known := "", r.PathValue("id") == strconv.FormatInt(app.InstallationID, 10)
	for id, org := range app.Installations {
		if r.PathValue("id") == strconv.FormatInt(id, 10) {
			instOrg, known = org, true
		}
	}
	if !known {
		fail(http.StatusNotFound, "Not Found")
		return
	}
	s.mu.Lock()
	s.tokenSeq++
	tok := fmt.Sprintf("ghs_fake%032d", s.tokenSeq)
	exp := s.now().Add(app.TokenTTL).Truncate(time.Second)
	s.tokens[tok] = Token{Expires: exp, Owner: app.Owner, Repos: app.Repos, Org: instOrg}
	s.stats.AppTokens++
	s.mu.Unlock()
	s.count(r.URL.Path, http.StatusCreated)
	writeJSON(w, http.StatusCreated, map[string]any{
		"token": tok, "expires_at": exp.UTC().Format(time.RFC3339),
		"permissions":          map[string]string{"members": "read", "administration": "read", "pull_requests": "read", "checks": "read", "statuses": "read", "dependabot_alerts": "read", "metadata": "read"},
		"repository_selection": "all",
	})
}

func verifyJWT(tok string, app *App, now time.Time) string {
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		return "A JSON web token could not be decoded"
	}
	var hdr struct {
		Alg string `json:"alg"`
	}
	var claims struct {
		Iss json.RawMessage `json:"iss"`
		Iat int64           `json:"iat"`
		Exp int64           `json:"exp"`
	}
	hb, err1 := base64.RawURLEncoding.DecodeString(parts[0])
	cb, err2 := base64.RawURLEncoding.DecodeString(parts[1])
	sig, err3 := base64.RawURLEncoding.DecodeString(parts[2])
	if err1 != nil || err2 != nil || err3 != nil || json.Unmarshal(hb, &hdr) != nil || json.Unmarshal(cb, &claims) != nil {
		return "A JSON web token could not be decoded"
	}
	if hdr.Alg != "RS256" {
		return "'Expiration time' claim ('exp') must be a numeric value representing the future time at which the assertion expires"
	}
	sum := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
	if rsa.VerifyPKCS1v15(app.PublicKey, crypto.SHA256, sum[:], sig) != nil {
		return "A JSON web token could not be decoded"
	}
	iss := strings.Trim(string(claims.Iss), `"`)
	if iss != strconv.FormatInt(app.ID, 10) {
		return "Integration not found"
	}
	if claims.Exp <= now.Unix() || claims.Exp-claims.Iat > 600+60 {
		return "'Expiration time' claim ('exp') is too far in the future"
	}
	if claims.Iat > now.Unix()+60 {
		return "'Issued at' claim ('iat') must be an Integer representing the time that the assertion was issued"
	}
	return ""
}

// ---- pagination ----

func perPage(r *http.Request) int {
	n, err := strconv.Atoi(r.URL.Query().Get("per_page"))
	if err != nil || n <= 0 {
		return 30
	}
	return min(n, 100)
}

// page slices items by ?page= and writes the Link header (GitHub's format:
// next, last, first, prev).
func page[T any](w http.ResponseWriter, r *http.Request, items []T) []T {
	pp := perPage(r)
	p, err := strconv.Atoi(r.URL.Query().Get("page"))
	if err != nil || p < 1 {
		p = 1
	}
	last := max(1, (len(items)+pp-1)/pp)
	link := func(n int) string {
		u := *r.URL
		q := u.Query()
		q.Set("page", strconv.Itoa(n))
		u.RawQuery = q.Encode()
		return fmt.Sprintf(`<%s%s>`, baseURL(r), u.RequestURI())
	}
	var links []string
	if p < last {
		links = append(links, link(p+1)+`; rel="next"`, link(last)+`; rel="last"`)
	}
	if p > 1 {
		links = append(links, link(1)+`; rel="first"`, link(p-1)+`; rel="prev"`)
	}
	if len(links) > 0 {
		w.Header().Set("Link", strings.Join(links, ", "))
	}
	lo := min((p-1)*pp, len(items))
	hi := min(lo+pp, len(items))
	return items[lo:hi]
}

func baseURL(r *http.Request) string {
	prefix := ""
	if strings.HasPrefix(r.RequestURI, "/api/v3/") {
		prefix = "/api/v3"
	}
	return "http://" + r.Host + prefix
}

// ---- resources ----

func (s *Server) userJSON(login string, id int64) map[string]any {
	return map[string]any{"login": login, "id": id, "node_id": "U_" + strconv.FormatInt(id, 36), "type": "User", "site_admin": false,
		"url": "https://api.github.com/users/" + login, "html_url": "https://github.com/" + login}
}

func (s *Server) userByLogin(login string) map[string]any {
	for _, u := range append(append([]*User(nil), s.org.Members...), s.org.Outside...) {
		if u.Login == login {
			return s.userJSON(u.Login, u.ID)
		}
	}
	return s.userJSON(login, 1)
}

func (s *Server) checkOrg(r *http.Request) (int, any) {
	if r.PathValue("org") != s.org.Login {
		return errBody(http.StatusNotFound, "Not Found", "")
	}
	return 0, nil
}

func (s *Server) getOrg(r *http.Request) (int, any) {
	if st, v := s.checkOrg(r); st != 0 {
		return st, v
	}
	o := s.org
	public, private := 0, 0
	for _, rp := range o.Repos {
		if rp.Private {
			private++
		} else {
			public++
		}
	}
	m := map[string]any{
		"login": o.Login, "id": o.ID, "node_id": "O_1", "url": "https://api.github.com/orgs/" + o.Login, "type": "Organization",
		"public_repos": public, "web_commit_signoff_required": false,
	}
	// Owner-only properties of organization-full (GitHub returns them to
	// organisation owners only).
	if isOwner(r) {
		m["two_factor_requirement_enabled"] = o.TwoFactorRequirementEnabled
		m["default_repository_permission"] = o.DefaultRepositoryPermission
		m["members_can_create_repositories"] = o.MembersCanCreateRepos
		m["members_can_create_public_repositories"] = false
		m["total_private_repos"], m["owned_private_repos"] = private, private
		m["plan"] = map[string]any{"name": "enterprise", "seats": 1000, "filled_seats": len(o.Members)}
	}
	return http.StatusOK, m
}

func (s *Server) listMembers(r *http.Request) (int, any) {
	if st, v := s.checkOrg(r); st != 0 {
		return st, v
	}
	q := r.URL.Query()
	if q.Get("filter") == "2fa_disabled" && !isOwner(r) {
		return errBody(http.StatusUnprocessableEntity, "Only owners can use this filter.", "/orgs/members#list-organization-members")
	}
	var out []map[string]any
	for _, u := range s.org.Members {
		if q.Get("filter") == "2fa_disabled" && u.TwoFactor {
			continue
		}
		switch q.Get("role") {
		case "admin":
			if !u.Admin {
				continue
			}
		case "member":
			if u.Admin {
				continue
			}
		}
		out = append(out, s.userJSON(u.Login, u.ID))
	}
	return http.StatusOK, orEmpty(page(w(r), r, out))
}

func (s *Server) listOutside(r *http.Request) (int, any) {
	if st, v := s.checkOrg(r); st != 0 {
		return st, v
	}
	if r.URL.Query().Get("filter") == "2fa_disabled" && !isOwner(r) {
		return errBody(http.StatusUnprocessableEntity, "Only owners can use this filter.", "/orgs/outside-collaborators#list-outside-collaborators-for-an-organization")
	}
	var out []map[string]any
	for _, u := range s.org.Outside {
		if r.URL.Query().Get("filter") == "2fa_disabled" && u.TwoFactor {
			continue
		}
		out = append(out, s.userJSON(u.Login, u.ID))
	}
	return http.StatusOK, orEmpty(page(w(r), r, out))
}

func (s *Server) repoJSON(rp *Repo) map[string]any {
	full := s.org.Login + "/" + rp.Name
	vis := "private"
	if !rp.Private {
		vis = "public"
	}
	return map[string]any{"id": rp.ID, "node_id": "R_" + strconv.FormatInt(rp.ID, 36), "name": rp.Name, "full_name": full,
		"private": rp.Private, "visibility": vis, "archived": rp.Archived, "disabled": false, "fork": false,
		"default_branch": rp.DefaultBranch, "owner": map[string]any{"login": s.org.Login, "id": s.org.ID, "type": "Organization"},
		"html_url": "https://github.com/" + full, "url": "https://api.github.com/repos/" + full,
		"pushed_at": rp.PushedAt.UTC().Format(time.RFC3339)}
}

func (s *Server) listRepos(r *http.Request) (int, any) {
	if st, v := s.checkOrg(r); st != 0 {
		return st, v
	}
	out := make([]map[string]any, 0, len(s.org.Repos))
	for _, rp := range s.org.Repos {
		if canSee(r, rp.Name) {
			out = append(out, s.repoJSON(rp))
		}
	}
	return http.StatusOK, orEmpty(page(w(r), r, out))
}

func (s *Server) repo(r *http.Request) (*Repo, int, any) {
	if r.PathValue("owner") != s.org.Login {
		st, v := errBody(http.StatusNotFound, "Not Found", "")
		return nil, st, v
	}
	for _, rp := range s.org.Repos {
		if rp.Name == r.PathValue("repo") && canSee(r, rp.Name) {
			switch rp.Blocked {
			case 0:
				return rp, 0, nil
			case http.StatusUnavailableForLegalReasons:
				st, v := errBody(rp.Blocked, "Repository access blocked", "")
				return nil, st, v
			case http.StatusForbidden:
				st, v := errBody(rp.Blocked, "Resource not accessible by integration", "")
				return nil, st, v
			default:
				st, v := errBody(rp.Blocked, "Not Found", "")
				return nil, st, v
			}
		}
	}
	st, v := errBody(http.StatusNotFound, "Not Found", "")
	return nil, st, v
}

func (s *Server) getRepo(r *http.Request) (int, any) {
	rp, st, v := s.repo(r)
	if rp == nil {
		return st, v
	}
	return http.StatusOK, s.repoJSON(rp)
}

func (s *Server) getProtection(r *http.Request) (int, any) {
	rp, st, v := s.repo(r)
	if rp == nil {
		return st, v
	}
	br := r.PathValue("branch")
	if br != rp.DefaultBranch || rp.Empty {
		return errBody(http.StatusNotFound, "Branch not found", "/branches/branch-protection#get-branch-protection")
	}
	p := rp.Protection
	if p == nil {
		return errBody(http.StatusNotFound, "Branch not protected", "/branches/branch-protection#get-branch-protection")
	}
	base := "https://api.github.com/repos/" + s.org.Login + "/" + rp.Name + "/branches/" + br + "/protection"
	en := func(b bool) map[string]any { return map[string]any{"enabled": b} }
	out := map[string]any{
		"url":                              base,
		"enforce_admins":                   map[string]any{"url": base + "/enforce_admins", "enabled": p.EnforceAdmins},
		"required_linear_history":          en(p.LinearHistory),
		"allow_force_pushes":               en(p.AllowForcePushes),
		"allow_deletions":                  en(p.AllowDeletions),
		"block_creations":                  en(false),
		"required_conversation_resolution": en(p.ConversationResolution),
		"lock_branch":                      en(false),
		"allow_fork_syncing":               en(false),
		"required_signatures":              map[string]any{"url": base + "/required_signatures", "enabled": p.RequiredSignatures},
	}
	if len(p.StatusChecks) > 0 {
		var checks []map[string]any
		for _, c := range p.StatusChecks {
			checks = append(checks, map[string]any{"context": c, "app_id": nil})
		}
		out["required_status_checks"] = map[string]any{"url": base + "/required_status_checks", "strict": p.Strict,
			"contexts": p.StatusChecks, "checks": checks, "contexts_url": base + "/required_status_checks/contexts"}
	}
	if p.ReviewsRequired {
		out["required_pull_request_reviews"] = map[string]any{"url": base + "/required_pull_request_reviews",
			"dismiss_stale_reviews": p.DismissStale, "require_code_owner_reviews": p.CodeOwners,
			"required_approving_review_count": p.RequiredReviews, "require_last_push_approval": p.RequireLastPushApproval}
	}
	return http.StatusOK, out
}

func rulesetApplies(rs *Ruleset) bool { return rs.Enforcement == "active" }

func (s *Server) getBranchRules(r *http.Request) (int, any) {
	rp, st, v := s.repo(r)
	if rp == nil {
		return st, v
	}
	var out []map[string]any
	if r.PathValue("branch") == rp.DefaultBranch {
		for _, rs := range append(append([]*Ruleset(nil), s.org.Rulesets...), rp.Rulesets...) {
			if !rulesetApplies(rs) {
				continue
			}
			for _, rule := range rs.Rules {
				m := map[string]any{"type": rule.Type, "ruleset_source_type": rs.SourceType, "ruleset_source": rs.Source, "ruleset_id": rs.ID}
				if rule.Params != nil {
					m["parameters"] = rule.Params
				}
				out = append(out, m)
			}
		}
	}
	return http.StatusOK, orEmpty(page(w(r), r, out))
}

func (s *Server) rulesetJSON(r *http.Request, rs *Ruleset, repoLevel bool) map[string]any {
	var actors []map[string]any
	for _, a := range rs.BypassActors {
		actors = append(actors, map[string]any{"actor_id": a.ActorID, "actor_type": a.ActorType, "bypass_mode": a.BypassMode})
	}
	var rules []map[string]any
	for _, rule := range rs.Rules {
		m := map[string]any{"type": rule.Type}
		if rule.Params != nil {
			m["parameters"] = rule.Params
		}
		rules = append(rules, m)
	}
	m := map[string]any{"id": rs.ID, "name": rs.Name, "target": "branch", "source_type": rs.SourceType, "source": rs.Source,
		"enforcement": rs.Enforcement, "rules": orEmpty(rules), "node_id": "RRS_" + strconv.FormatInt(rs.ID, 36),
		"conditions": map[string]any{"ref_name": map[string]any{"include": []string{"~DEFAULT_BRANCH"}, "exclude": []string{}}},
		"created_at": rs.UpdatedAt.UTC().Format(time.RFC3339), "updated_at": rs.UpdatedAt.UTC().Format(time.RFC3339)}
	// "the bypass_actors property is only returned if the user making the
	// API request has write access to the ruleset"
	owner := isOwner(r)
	if owner {
		m["bypass_actors"] = orEmpty(actors)
	}
	// current_user_can_bypass: "only returned when querying the
	// repository-level endpoint"
	if repoLevel {
		can := "never"
		for _, a := range rs.BypassActors {
			if owner && (a.ActorType == "OrganizationAdmin" || a.ActorType == "RepositoryRole") {
				can = map[string]string{"always": "always", "pull_request": "pull_requests_only"}[a.BypassMode]
			}
		}
		m["current_user_can_bypass"] = can
	}
	return m
}

func (s *Server) getOrgRuleset(r *http.Request) (int, any) {
	if st, v := s.checkOrg(r); st != 0 {
		return st, v
	}
	for _, rs := range s.org.Rulesets {
		if strconv.FormatInt(rs.ID, 10) == r.PathValue("id") {
			return http.StatusOK, s.rulesetJSON(r, rs, false)
		}
	}
	return errBody(http.StatusNotFound, "Not Found", "")
}

func (s *Server) getRepoRuleset(r *http.Request) (int, any) {
	rp, st, v := s.repo(r)
	if rp == nil {
		return st, v
	}
	for _, rs := range rp.Rulesets {
		if strconv.FormatInt(rs.ID, 10) == r.PathValue("id") {
			return http.StatusOK, s.rulesetJSON(r, rs, true)
		}
	}
	return errBody(http.StatusNotFound, "Not Found", "")
}

func ts(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.UTC().Format(time.RFC3339)
}

func (s *Server) pullJSON(rp *Repo, p *Pull, full bool) map[string]any {
	fullName := s.org.Login + "/" + rp.Name
	m := map[string]any{
		"url": fmt.Sprintf("https://api.github.com/repos/%s/pulls/%d", fullName, p.Number),
		"id":  int64(rp.ID*1000 + int64(p.Number)), "node_id": fmt.Sprintf("PR_%d_%d", rp.ID, p.Number),
		"html_url": fmt.Sprintf("https://github.com/%s/pull/%d", fullName, p.Number), "number": p.Number,
		"state": p.State, "locked": false, "title": p.Title, "user": s.userByLogin(p.Author), "body": nilIfEmpty(p.Body),
		"created_at": ts(p.CreatedAt), "updated_at": ts(p.UpdatedAt), "closed_at": ts(p.ClosedAt), "merged_at": ts(p.MergedAt),
		"merge_commit_sha": nilIfEmpty(p.MergeSHA), "draft": false, "author_association": "MEMBER",
		"head": map[string]any{"label": s.org.Login + ":" + p.HeadRef, "ref": p.HeadRef, "sha": p.HeadSHA},
		"base": map[string]any{"label": s.org.Login + ":" + p.BaseRef, "ref": p.BaseRef, "sha": "base" + p.HeadSHA[4:]},
	}
	if full {
		m["merged"] = !p.MergedAt.IsZero()
		m["merged_by"] = nil
		if p.MergedBy != "" {
			m["merged_by"] = s.userByLogin(p.MergedBy)
		}
		m["comments"], m["review_comments"], m["commits"], m["additions"], m["deletions"], m["changed_files"] = 0, 0, len(p.Commits), 10, 2, 1
		m["mergeable"], m["rebaseable"], m["mergeable_state"] = nil, nil, "unknown"
	}
	return m
}

func nilIfEmpty(s string) any {
	if s == "" {
		return nil
	}
	return s
}

func (s *Server) listPulls(r *http.Request) (int, any) {
	rp, st, v := s.repo(r)
	if rp == nil {
		return st, v
	}
	q := r.URL.Query()
	state := q.Get("state")
	if state == "" {
		state = "open"
	}
	var ps []*Pull
	for _, p := range rp.Pulls {
		if state != "all" && p.State != state {
			continue
		}
		if b := q.Get("base"); b != "" && p.BaseRef != b {
			continue
		}
		ps = append(ps, p)
	}
	sortKey := func(p *Pull) time.Time {
		if q.Get("sort") == "updated" {
			return p.UpdatedAt
		}
		return p.CreatedAt
	}
	desc := q.Get("direction") != "asc"
	if q.Get("direction") == "" && q.Get("sort") != "updated" && q.Get("sort") != "" {
		desc = true
	}
	sort.SliceStable(ps, func(i, j int) bool {
		a, b := sortKey(ps[i]), sortKey(ps[j])
		if a.Equal(b) {
			if desc {
				return ps[i].Number > ps[j].Number
			}
			return ps[i].Number < ps[j].Number
		}
		if desc {
			return a.After(b)
		}
		return a.Before(b)
	})
	out := make([]map[string]any, 0, len(ps))
	for _, p := range page(w(r), r, ps) {
		out = append(out, s.pullJSON(rp, p, false))
	}
	return http.StatusOK, out
}

func (s *Server) pull(r *http.Request) (*Repo, *Pull, int, any) {
	rp, st, v := s.repo(r)
	if rp == nil {
		return nil, nil, st, v
	}
	n, _ := strconv.Atoi(r.PathValue("number"))
	for _, p := range rp.Pulls {
		if p.Number == n {
			return rp, p, 0, nil
		}
	}
	st, v = errBody(http.StatusNotFound, "Not Found", "")
	return nil, nil, st, v
}

func (s *Server) getPull(r *http.Request) (int, any) {
	rp, p, st, v := s.pull(r)
	if p == nil {
		return st, v
	}
	return http.StatusOK, s.pullJSON(rp, p, true)
}

func (s *Server) listReviews(r *http.Request) (int, any) {
	_, p, st, v := s.pull(r)
	if p == nil {
		return st, v
	}
	out := make([]map[string]any, 0, len(p.Reviews))
	for _, rv := range p.Reviews {
		out = append(out, map[string]any{"id": rv.ID, "node_id": fmt.Sprintf("PRR_%d", rv.ID), "user": s.userByLogin(rv.User),
			"body": "", "state": rv.State, "submitted_at": ts(rv.SubmittedAt), "commit_id": rv.CommitID, "author_association": s.association(rv)})
	}
	return http.StatusOK, page(w(r), r, out)
}

func (s *Server) commit(r *http.Request) (*Pull, int, any) {
	rp, st, v := s.repo(r)
	if rp == nil {
		return nil, st, v
	}
	ref := r.PathValue("ref")
	for _, p := range rp.Pulls {
		if p.HeadSHA == ref || p.MergeSHA == ref {
			return p, 0, nil
		}
	}
	st, v = errBody(http.StatusNotFound, "No commit found for SHA: "+ref, "")
	return nil, st, v
}

func (s *Server) listCheckRuns(r *http.Request) (int, any) {
	p, st, v := s.commit(r)
	if p == nil {
		return st, v
	}
	var runs []map[string]any
	if r.PathValue("ref") == p.HeadSHA {
		for _, c := range p.CheckRuns {
			runs = append(runs, map[string]any{"id": c.ID, "head_sha": p.HeadSHA, "name": c.Name, "status": c.Status, "conclusion": c.Conclusion,
				"started_at": ts(c.CompletedAt.Add(-5 * time.Minute)), "completed_at": ts(c.CompletedAt),
				"app": map[string]any{"id": 15368, "slug": c.AppSlug, "name": "GitHub Actions"}})
		}
	}
	return http.StatusOK, map[string]any{"total_count": len(runs), "check_runs": orEmpty(page(w(r), r, runs))}
}

func (s *Server) combinedStatus(r *http.Request) (int, any) {
	p, st, v := s.commit(r)
	if p == nil {
		return st, v
	}
	state := "pending" // GitHub reports pending when there are no statuses
	var out []map[string]any
	if r.PathValue("ref") == p.HeadSHA && len(p.Statuses) > 0 {
		state = "success"
		for _, c := range p.Statuses {
			if c.State != "success" {
				state = c.State
			}
			out = append(out, map[string]any{"id": c.ID, "context": c.Context, "state": c.State, "description": "",
				"created_at": ts(c.UpdatedAt), "updated_at": ts(c.UpdatedAt)})
		}
	}
	return http.StatusOK, map[string]any{"state": state, "sha": r.PathValue("ref"), "total_count": len(out), "statuses": orEmpty(page(w(r), r, out))}
}

func (s *Server) listAlerts(r *http.Request) (int, any) {
	rp, st, v := s.repo(r)
	if rp == nil {
		return st, v
	}
	if rp.AlertsDisabled != 0 {
		return errBody(rp.AlertsDisabled, "Dependabot alerts are disabled for this repository.", "/dependabot/alerts#list-dependabot-alerts-for-a-repository")
	}
	q := r.URL.Query()
	if q.Get("page") != "" {
		return errBody(http.StatusBadRequest, "Pagination using the `page` parameter is not supported. Use `before`/`after` cursors instead.", "/dependabot/alerts#list-dependabot-alerts-for-a-repository")
	}
	var as []*Alert
	states := q.Get("state")
	for _, a := range rp.Alerts {
		if states != "" && !strings.Contains(","+states+",", ","+a.State+",") {
			continue
		}
		as = append(as, a)
	}
	// default sort: created, descending
	sort.SliceStable(as, func(i, j int) bool { return as[i].CreatedAt.After(as[j].CreatedAt) })
	// cursor pagination: the cursor is the alert number, base64-encoded
	start := 0
	if after := q.Get("after"); after != "" {
		b, err := base64.RawURLEncoding.DecodeString(after)
		n, err2 := strconv.Atoi(string(b))
		if err != nil || err2 != nil {
			return errBody(http.StatusBadRequest, "Invalid cursor", "")
		}
		for i, a := range as {
			if a.Number == n {
				start = i + 1
			}
		}
	}
	pp := perPage(r)
	end := min(start+pp, len(as))
	pageItems := as[start:end]
	if end < len(as) {
		u := *r.URL
		qq := u.Query()
		qq.Set("after", base64.RawURLEncoding.EncodeToString([]byte(strconv.Itoa(as[end-1].Number))))
		qq.Del("before")
		u.RawQuery = qq.Encode()
		w(r).Header().Set("Link", fmt.Sprintf(`<%s%s>; rel="next"`, baseURL(r), u.RequestURI()))
	}
	full := s.org.Login + "/" + rp.Name
	out := make([]map[string]any, 0, len(pageItems))
	for _, a := range pageItems {
		m := map[string]any{"number": a.Number, "state": a.State,
			"dependency": map[string]any{"package": map[string]any{"ecosystem": a.Ecosystem, "name": a.Package}, "manifest_path": a.Manifest, "scope": "runtime"},
			"security_advisory": map[string]any{"ghsa_id": a.GHSA, "cve_id": a.CVE, "summary": a.Summary, "severity": a.Severity,
				"identifiers": []map[string]any{{"type": "GHSA", "value": a.GHSA}, {"type": "CVE", "value": a.CVE}}},
			"security_vulnerability": map[string]any{"package": map[string]any{"ecosystem": a.Ecosystem, "name": a.Package}, "severity": a.Severity,
				"vulnerable_version_range": "< 2.0.0", "first_patched_version": map[string]any{"identifier": "2.0.0"}},
			"url":        fmt.Sprintf("https://api.github.com/repos/%s/dependabot/alerts/%d", full, a.Number),
			"html_url":   fmt.Sprintf("https://github.com/%s/security/dependabot/%d", full, a.Number),
			"created_at": ts(a.CreatedAt), "updated_at": ts(a.UpdatedAt), "dismissed_at": ts(a.DismissedAt), "fixed_at": ts(a.FixedAt),
			"dismissed_by": nil, "dismissed_reason": nilIfEmpty(a.DismissedReason), "dismissed_comment": nil, "auto_dismissed_at": nil}
		if a.DismissedBy != "" {
			m["dismissed_by"] = s.userByLogin(a.DismissedBy)
		}
		out = append(out, m)
	}
	return http.StatusOK, out
}

func orEmpty[T any](xs []T) []T {
	if xs == nil {
		return []T{}
	}
	return xs
}

// w returns the ResponseWriter stashed for r (handlers set headers such as
// Link on it before the body is written).
func w(r *http.Request) http.ResponseWriter {
	return r.Context().Value(writerKey{}).(http.ResponseWriter)
}

type writerKey struct{}

// association is a review's author_association.
func (s *Server) association(rv Review) string {
	if rv.Association != "" {
		return rv.Association
	}
	for _, u := range s.org.Outside {
		if u.Login == rv.User {
			return "COLLABORATOR"
		}
	}
	return "MEMBER"
}

func (s *Server) listBranches(r *http.Request) (int, any) {
	rp, st, v := s.repo(r)
	if rp == nil {
		return st, v
	}
	names := make([]string, 0, len(rp.Heads))
	for b := range rp.Heads {
		names = append(names, b)
	}
	sort.Strings(names)
	full := s.org.Login + "/" + rp.Name
	out := make([]map[string]any, 0, len(names))
	for _, b := range names {
		out = append(out, map[string]any{"name": b, "protected": b == rp.DefaultBranch && rp.Protection != nil,
			"commit": map[string]any{"sha": rp.Heads[b], "url": "https://api.github.com/repos/" + full + "/commits/" + rp.Heads[b]}})
	}
	return http.StatusOK, orEmpty(page(w(r), r, out))
}

func (s *Server) commitJSON(rp *Repo, c *Commit) map[string]any {
	full := s.org.Login + "/" + rp.Name
	person := func(login string) map[string]any {
		name := login
		if name == "" {
			name = "Unlinked Person"
		}
		if login == "web-flow" {
			name = "GitHub"
		}
		return map[string]any{"name": name, "email": name + "@users.noreply.github.com", "date": ts(c.Date)}
	}
	user := func(login string) any {
		if login == "" {
			return nil
		}
		if login == "web-flow" {
			return s.userJSON("web-flow", 19864447)
		}
		return s.userByLogin(login)
	}
	parents := make([]map[string]any, 0, len(c.Parents))
	for _, p := range c.Parents {
		parents = append(parents, map[string]any{"sha": p, "url": "https://api.github.com/repos/" + full + "/commits/" + p})
	}
	return map[string]any{"sha": c.SHA, "node_id": "C_" + c.SHA[:12], "url": "https://api.github.com/repos/" + full + "/commits/" + c.SHA,
		"html_url": "https://github.com/" + full + "/commit/" + c.SHA,
		"commit": map[string]any{"author": person(c.Author), "committer": person(c.Committer), "message": c.Message, "comment_count": 0,
			"verification": map[string]any{"verified": c.Committer == "web-flow", "reason": map[bool]string{true: "valid", false: "unsigned"}[c.Committer == "web-flow"]}},
		"author": user(c.Author), "committer": user(c.Committer), "parents": parents}
}

// listCommits lists the commits reachable from ?sha= (default: the default
// branch) whose committer date is within since/until, newest first.
func (s *Server) listCommits(r *http.Request) (int, any) {
	rp, st, v := s.repo(r)
	if rp == nil {
		return st, v
	}
	if rp.Empty {
		return errBody(http.StatusConflict, "Git Repository is empty.", "/commits/commits#list-commits")
	}
	q := r.URL.Query()
	ref := q.Get("sha")
	if ref == "" {
		ref = rp.DefaultBranch
	}
	if _, ok := rp.Heads[ref]; !ok {
		return errBody(http.StatusNotFound, "No commit found for SHA: "+ref, "/commits/commits#list-commits")
	}
	parse := func(k string) (time.Time, bool) {
		if q.Get(k) == "" {
			return time.Time{}, true
		}
		t, err := time.Parse(time.RFC3339, q.Get(k))
		return t, err == nil
	}
	since, ok1 := parse("since")
	until, ok2 := parse("until")
	if !ok1 || !ok2 {
		return errBody(http.StatusBadRequest, "Invalid time", "")
	}
	var cs []*Commit
	for _, c := range rp.Commits {
		if !contains(c.Branches, ref) || (!since.IsZero() && c.Date.Before(since)) || (!until.IsZero() && c.Date.After(until)) {
			continue
		}
		cs = append(cs, c)
	}
	sort.SliceStable(cs, func(i, j int) bool {
		if cs[i].Date.Equal(cs[j].Date) {
			return cs[i].SHA > cs[j].SHA
		}
		return cs[i].Date.After(cs[j].Date)
	})
	out := make([]map[string]any, 0, len(cs))
	for _, c := range page(w(r), r, cs) {
		out = append(out, s.commitJSON(rp, c))
	}
	return http.StatusOK, out
}

func contains(xs []string, x string) bool {
	for _, y := range xs {
		if y == x {
			return true
		}
	}
	return false
}

// commitPulls: "the merged pull request that introduced the commit".
func (s *Server) commitPulls(r *http.Request) (int, any) {
	rp, st, v := s.repo(r)
	if rp == nil {
		return st, v
	}
	ref := r.PathValue("ref")
	var out []map[string]any
	for _, c := range rp.Commits {
		if c.SHA != ref {
			continue
		}
		if c.PR != 0 {
			for _, p := range rp.Pulls {
				if p.Number == c.PR {
					out = append(out, s.pullJSON(rp, p, false))
				}
			}
		}
		return http.StatusOK, orEmpty(page(w(r), r, out))
	}
	return errBody(http.StatusUnprocessableEntity, "No commit found for SHA: "+ref, "/commits/commits#list-pull-requests-associated-with-a-commit")
}

// listPullCommits lists a pull request's commits (at most 250, as GitHub).
func (s *Server) listPullCommits(r *http.Request) (int, any) {
	rp, p, st, v := s.pull(r)
	if p == nil {
		return st, v
	}
	cs := p.Commits
	if len(cs) > 250 {
		cs = cs[:250]
	}
	out := make([]map[string]any, 0, len(cs))
	for _, c := range page(w(r), r, cs) {
		out = append(out, s.commitJSON(rp, c))
	}
	return http.StatusOK, out
}

func (s *Server) permission(r *http.Request) (int, any) {
	if _, st, v := s.repo(r); st != 0 {
		return st, v
	}
	u := r.PathValue("username")
	perm := s.org.Permission(u)
	role := map[string]string{"admin": "admin", "write": "write", "read": "read", "none": "none"}[perm]
	return http.StatusOK, map[string]any{"permission": perm, "role_name": role, "user": s.userByLogin(u)}
}

// listRuleSuites lists rule evaluations of pushes (repository
// administrators only) within ?time_period= (hour, day, week, month;
// default day) of the server's clock, newest first.
func (s *Server) listRuleSuites(r *http.Request) (int, any) {
	rp, st, v := s.repo(r)
	if rp == nil {
		return st, v
	}
	if !isOwner(r) {
		return errBody(http.StatusForbidden, "Must have admin rights to Repository.", "/repos/rule-suites#list-repository-rule-suites")
	}
	q := r.URL.Query()
	period := map[string]time.Duration{"hour": time.Hour, "day": 24 * time.Hour, "week": 7 * 24 * time.Hour, "month": 30 * 24 * time.Hour}[q.Get("time_period")]
	if q.Get("time_period") == "" {
		period = 24 * time.Hour
	}
	if period == 0 {
		return errBody(http.StatusUnprocessableEntity, "Invalid time_period", "")
	}
	var out []map[string]any
	for i := len(rp.RuleSuites) - 1; i >= 0; i-- {
		rs := rp.RuleSuites[i]
		if ref := q.Get("ref"); ref != "" && ref != rs.Ref {
			continue
		}
		if rs.PushedAt.Before(s.now().Add(-period)) {
			continue
		}
		out = append(out, map[string]any{"id": rs.ID, "actor_id": 1, "actor_name": rs.Actor, "before_sha": rs.BeforeSHA, "after_sha": rs.AfterSHA,
			"ref": rs.Ref, "repository_id": rp.ID, "repository_name": rp.Name, "pushed_at": ts(rs.PushedAt), "result": rs.Result, "evaluation_result": rs.EvaluationResult})
	}
	return http.StatusOK, orEmpty(page(w(r), r, out))
}

func (s *Server) listRepoTeams(r *http.Request) (int, any) {
	rp, st, v := s.repo(r)
	if rp == nil {
		return st, v
	}
	out := make([]map[string]any, 0, len(rp.Teams))
	for i, t := range rp.Teams {
		out = append(out, map[string]any{"id": 300 + i, "slug": t.Slug, "name": t.Name, "permission": t.Permission, "privacy": "closed",
			"url": "https://api.github.com/orgs/" + s.org.Login + "/teams/" + t.Slug})
	}
	return http.StatusOK, page(w(r), r, out)
}

// listCollaborators answers ?affiliation=outside|direct|all. GitHub
// requires push access to the repository ("must have push access").
func (s *Server) listCollaborators(r *http.Request) (int, any) {
	rp, st, v := s.repo(r)
	if rp == nil {
		return st, v
	}
	if !isOwner(r) {
		return errBody(http.StatusForbidden, "Must have push access to view repository collaborators.", "/collaborators/collaborators#list-repository-collaborators")
	}
	outside := map[string]bool{}
	for _, u := range s.org.Outside {
		outside[u.Login] = true
	}
	aff := r.URL.Query().Get("affiliation")
	out := []map[string]any{}
	for _, c := range rp.Collaborators {
		if aff == "outside" && !outside[c.Login] {
			continue
		}
		m := s.userByLogin(c.Login)
		m["role_name"] = c.Permission
		m["permissions"] = map[string]bool{"admin": c.Permission == "admin", "maintain": c.Permission == "maintain" || c.Permission == "admin",
			"push": c.Permission != "pull" && c.Permission != "triage", "triage": c.Permission != "pull", "pull": true}
		out = append(out, m)
	}
	return http.StatusOK, page(w(r), r, out)
}

func (s *Server) listCodeAlerts(r *http.Request) (int, any) {
	rp, st, v := s.repo(r)
	if rp == nil {
		return st, v
	}
	if rp.CodeScanningOff {
		return errBody(http.StatusForbidden, "Advanced Security must be enabled for this repository to use code scanning.", "/code-scanning/code-scanning#list-code-scanning-alerts-for-a-repository")
	}
	full := s.org.Login + "/" + rp.Name
	out := []map[string]any{}
	for _, a := range rp.CodeAlerts {
		m := map[string]any{"number": a.Number, "state": a.State, "created_at": ts(a.CreatedAt), "updated_at": ts(a.CreatedAt),
			"url":      fmt.Sprintf("https://api.github.com/repos/%s/code-scanning/alerts/%d", full, a.Number),
			"html_url": fmt.Sprintf("https://github.com/%s/security/code-scanning/%d", full, a.Number),
			"fixed_at": nil, "dismissed_at": nil, "dismissed_by": nil, "dismissed_reason": nil, "dismissed_comment": nil,
			"rule": map[string]any{"id": a.Rule, "severity": a.Severity, "security_severity_level": map[string]string{"error": "high", "warning": "medium", "note": "low"}[a.Severity],
				"description": "Query " + a.Rule, "name": a.Rule, "tags": []string{"security"}},
			"tool":                 map[string]any{"name": a.Tool, "version": "2.19.0", "guid": nil},
			"most_recent_instance": map[string]any{"ref": "refs/heads/" + rp.DefaultBranch, "state": a.State, "location": map[string]any{"path": "main.go", "start_line": 10}}}
		if a.State == "dismissed" {
			m["dismissed_at"], m["dismissed_by"], m["dismissed_reason"] = ts(a.ClosedAt), s.userByLogin(a.ClosedBy), a.Reason
		}
		if a.State == "fixed" {
			m["fixed_at"] = ts(a.ClosedAt)
		}
		out = append(out, m)
	}
	return http.StatusOK, page(w(r), r, out)
}

func (s *Server) listSecretAlerts(r *http.Request) (int, any) {
	rp, st, v := s.repo(r)
	if rp == nil {
		return st, v
	}
	if rp.SecretScanningOff {
		return errBody(http.StatusNotFound, "Secret scanning is disabled on this repository.", "/secret-scanning/secret-scanning#list-secret-scanning-alerts-for-a-repository")
	}
	full := s.org.Login + "/" + rp.Name
	hide := r.URL.Query().Get("hide_secret") == "true"
	out := []map[string]any{}
	for _, a := range rp.SecretAlerts {
		m := map[string]any{"number": a.Number, "state": a.State, "created_at": ts(a.CreatedAt), "updated_at": ts(a.CreatedAt),
			"url":         fmt.Sprintf("https://api.github.com/repos/%s/secret-scanning/alerts/%d", full, a.Number),
			"html_url":    fmt.Sprintf("https://github.com/%s/security/secret-scanning/%d", full, a.Number),
			"secret_type": a.SecretType, "secret_type_display_name": a.SecretType, "validity": "unknown",
			"resolution": nil, "resolved_at": nil, "resolved_by": nil, "push_protection_bypassed": false, "publicly_leaked": false}
		if !hide {
			m["secret"] = a.Secret
		}
		if a.State == "resolved" {
			m["resolution"], m["resolved_at"], m["resolved_by"] = a.Reason, ts(a.ClosedAt), s.userByLogin(a.ClosedBy)
		}
		out = append(out, m)
	}
	return http.StatusOK, page(w(r), r, out)
}

// listInvitations: organisation owners only.
func (s *Server) listInvitations(r *http.Request) (int, any) {
	if st, v := s.checkOrg(r); st != 0 {
		return st, v
	}
	if !isOwner(r) {
		return errBody(http.StatusForbidden, "You must be an admin to view organization invitations.", "/orgs/members#list-pending-organization-invitations")
	}
	out := []map[string]any{}
	for _, in := range s.org.Invitations {
		out = append(out, map[string]any{"id": in.ID, "login": nilIfEmpty(in.Login), "email": nilIfEmpty(in.Email), "role": in.Role,
			"created_at": ts(in.CreatedAt), "inviter": s.userByLogin(in.Inviter), "team_count": 0, "invitation_source": "member",
			"node_id": fmt.Sprintf("OI_%d", in.ID), "failed_at": nil, "failed_reason": nil})
	}
	return http.StatusOK, page(w(r), r, out)
}

// reachable returns the commits reachable from sha through parents.
func reachable(byID map[string]*Commit, sha string) map[string]bool {
	seen := map[string]bool{}
	stack := []string{sha}
	for len(stack) > 0 {
		x := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if seen[x] || byID[x] == nil {
			continue
		}
		seen[x] = true
		stack = append(stack, byID[x].Parents...)
	}
	return seen
}

// compare answers GET compare/{base}...{head}: the commits reachable from
// head and not from base ("git log BASE..HEAD"), in chronological order,
// with status ahead, behind, diverged or identical; paged with
// page/per_page (without them: at most 250 commits).
func (s *Server) compare(r *http.Request) (int, any) {
	rp, st, v := s.repo(r)
	if rp == nil {
		return st, v
	}
	base, head, ok := strings.Cut(r.PathValue("basehead"), "...")
	byID := map[string]*Commit{}
	for _, c := range rp.Commits {
		byID[c.SHA] = c
	}
	resolve := func(ref string) string {
		if h, ok := rp.Heads[ref]; ok {
			return h
		}
		return ref
	}
	base, head = resolve(base), resolve(head)
	if !ok || byID[base] == nil || byID[head] == nil {
		return errBody(http.StatusNotFound, "Not Found", "/commits/commits#compare-two-commits")
	}
	fromHead, fromBase := reachable(byID, head), reachable(byID, base)
	var ahead []*Commit
	behind := 0
	for _, c := range rp.Commits {
		if fromHead[c.SHA] && !fromBase[c.SHA] {
			ahead = append(ahead, c)
		}
		if fromBase[c.SHA] && !fromHead[c.SHA] {
			behind++
		}
	}
	sort.SliceStable(ahead, func(i, j int) bool { return ahead[i].Date.Before(ahead[j].Date) })
	status := "identical"
	switch {
	case len(ahead) > 0 && behind > 0:
		status = "diverged"
	case len(ahead) > 0:
		status = "ahead"
	case behind > 0:
		status = "behind"
	}
	list := ahead
	q := r.URL.Query()
	if q.Get("page") != "" || q.Get("per_page") != "" {
		list = page(w(r), r, ahead)
	} else if len(list) > 250 {
		list = list[len(list)-250:]
	}
	out := make([]map[string]any, 0, len(list))
	for _, c := range list {
		out = append(out, s.commitJSON(rp, c))
	}
	return http.StatusOK, map[string]any{"status": status, "ahead_by": len(ahead), "behind_by": behind, "total_commits": len(ahead),
		"base_commit": s.commitJSON(rp, byID[base]), "commits": out, "files": []any{},
		"html_url": "https://github.com/" + s.org.Login + "/" + rp.Name + "/compare/" + r.PathValue("basehead")}
}

// installationRepos lists the repositories an installation token reaches,
// with the installation's repository_selection (all or selected).
func (s *Server) installationRepos(r *http.Request) (int, any) {
	tk, _ := r.Context().Value(tokenKey{}).(Token)
	org := s.primary
	for _, o := range s.others {
		if o.Login == tk.Org {
			org = o
		}
	}
	sel := "all"
	if len(tk.Repos) > 0 {
		sel = "selected"
	}
	var out []map[string]any
	for _, rp := range org.Repos {
		if canSee(r, rp.Name) {
			out = append(out, s.repoJSON(rp))
		}
	}
	n := len(out)
	return http.StatusOK, map[string]any{"total_count": n, "repository_selection": sel, "repositories": orEmpty(page(w(r), r, out))}
}
