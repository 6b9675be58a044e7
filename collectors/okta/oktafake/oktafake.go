// Package oktafake is a local fake of the Okta Management API, built from
// Okta's published API reference, for tests, benchmarks and `tickmark demo`.
//
// It reproduces the wire behaviour a collector must cope with:
//
//   - Link: <…>; rel="next" pagination with an opaque `after` cursor
//     (/api/v1/users, /groups, /groups/{id}/users, /policies, /logs) and the
//     body-embedded `_links.next` of /api/v1/iam/assignees/users;
//   - the System Log polling API: since/until/after/filter/limit, a next
//     link always present on polling requests (none once a bounded request
//     is exhausted), an empty page when caught up;
//   - org rate limits per endpoint family with X-Rate-Limit-Limit,
//     X-Rate-Limit-Remaining and X-Rate-Limit-Reset (epoch seconds), and a
//     429 with error E0000047 once a family's budget is spent;
//   - error bodies: 401 E0000011 for a bad token, 403 E0000006 for a missing
//     permission, 500 E0000009, 404 E0000007, 400 E0000031 for a bad filter;
//   - listUsers without a filter omitting DEPROVISIONED users;
//   - OAuth 2.0 for service apps: /oauth2/v1/token (client_credentials with a
//     private_key_jwt assertion, invalid_scope for scopes not granted), DPoP
//     (RFC 9449) required by default as for new API Services apps: proofs
//     checked (typ, alg, jwk, signature, htm, htu, iat, jti never reused,
//     ath, key bound to the token), use_dpop_nonce with DPoP-Nonce at the
//     token endpoint and the resources, nonces rotated with RotateNonce,
//     tokens expiring; 403 insufficient_scope where a scope is missing;
//   - eventual consistency (with a clock set by SetNow): a departure made
//     with DeprovisionLate is visible to users search and persisted in the
//     System Log only from its visibility time. Bounded System Log queries
//     filter on published; polling queries page in persistence order, so a
//     late event comes after the events persisted before it.
//
// Users are computed from their index, so a fake org of 100,000 users costs
// no memory. Failures are switched on with Fail for tests.
package oktafake

import (
	"crypto/rsa"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Options describe the fake org.
type Options struct {
	// Users is the number of users (default 60).
	Users int
	// LogEvents is the size of the initial System Log (default 300; at
	// least one event per deprovisioned or suspended user).
	LogEvents int
	// Token is the SSWS API token the fake accepts (default "test-okta-token").
	Token string
	// Base is the fake's "now" for generated data (default
	// 2026-11-30T11:00:00Z). Every generated timestamp is before it.
	Base time.Time
	// RateLimits per endpoint family (see Family); families not listed get
	// 10,000 requests a minute.
	RateLimits map[string]Limit
	// ClientID is the OAuth 2.0 service app that may get access tokens
	// from /oauth2/v1/token (default "0oafakeserviceapp001"), with
	// GrantedScopes (default ReadScopes). PublicKey, when set, verifies
	// the client assertion's signature.
	ClientID      string
	GrantedScopes []string
	PublicKey     *rsa.PublicKey
	// BearerOnly is an app created without "Require DPoP": plain Bearer
	// tokens, and a proof is refused. By default DPoP is required.
	BearerOnly bool
	// TokenLifetime of access tokens (default 1h).
	TokenLifetime time.Duration
	// Apps is the number of synthetic applications besides the four named
	// ones (default 0); each user is directly assigned to one in 30 of them.
	Apps int
	// Classic is a Classic Engine org: Identity Engine policy types and
	// /api/v1/authenticators are refused.
	Classic bool
	// RotateNonceEvery rotates the DPoP nonces after every so many API
	// requests (0: only when RotateNonce is called).
	RotateNonceEvery int
}

// Limit is a rate limit: Limit requests per Window.
type Limit struct {
	Limit  int
	Window time.Duration
}

// Failure is a failing state switched on with Fail.
type Failure struct {
	// Status is the HTTP status to answer with (401, 403, 500...). 200
	// with Malformed answers a truncated JSON body.
	Status int
	// Malformed answers 200 with a body that is not valid JSON.
	Malformed bool
	// PathPrefix limits the failure to paths starting with it ("" = all).
	PathPrefix string
	// Times limits the failure to the first Times matching requests (0 = all).
	Times int
	used  int
}

// Stats counts what the fake saw.
type Stats struct {
	Requests     int
	Throttled    int            // 429s sent
	ByFamily     map[string]int // requests per rate-limit family
	FactorCalls  int            // GET /api/v1/users/{id}/factors
	LogRequests  int            // GET /api/v1/logs
	MaxInFlight  int            // most concurrent requests seen
	UsersServed  int            // user objects returned by /api/v1/users
	EventsServed int            // events returned by /api/v1/logs
}

// Server is a fake Okta org.
type Server struct {
	opts Options

	mu       sync.Mutex
	events   []Event
	changes  map[int]Lifecycle
	failures []Failure
	buckets  map[string]*bucket
	stats    Stats
	inflight int
	tokens   map[string]accessToken
	jtis     map[string]bool // DPoP proof IDs seen
	nonceGen int
	rsProofs int
	oauth    OAuthStats
	now      time.Time // the clock for eventual consistency (zero: everything is visible)

	srv *httptest.Server
}

type bucket struct {
	limit, remaining int
	window           time.Duration
	end              time.Time
}

// New builds a fake org (not yet listening; see Start, or use it as an
// http.Handler).
func New(opts Options) *Server {
	if opts.Users <= 0 {
		opts.Users = 60
	}
	if opts.LogEvents <= 0 {
		opts.LogEvents = 300
	}
	if opts.Token == "" {
		opts.Token = "test-okta-token"
	}
	if opts.ClientID == "" {
		opts.ClientID = "0oafakeserviceapp001"
	}
	if opts.GrantedScopes == nil {
		opts.GrantedScopes = ReadScopes
	}
	if opts.Base.IsZero() {
		opts.Base = time.Date(2026, 11, 30, 11, 0, 0, 0, time.UTC)
	}
	s := &Server{opts: opts, changes: map[int]Lifecycle{}, buckets: map[string]*bucket{}, tokens: map[string]accessToken{}, jtis: map[string]bool{}}
	s.stats.ByFamily = map[string]int{}
	s.events = s.genEvents(opts.LogEvents)
	return s
}

// Start listens on 127.0.0.1 and returns the org URL.
func (s *Server) Start() string {
	s.srv = httptest.NewServer(s)
	return s.srv.URL
}

// URL is the org URL after Start.
func (s *Server) URL() string { return s.srv.URL }

// Close stops the listener.
func (s *Server) Close() {
	if s.srv != nil {
		s.srv.Close()
	}
}

// Token is the accepted API token.
func (s *Server) Token() string { return s.opts.Token }

// Base is the fake's reference time.
func (s *Server) Base() time.Time { return s.opts.Base }

// Users is the number of users.
func (s *Server) Users() int { return s.opts.Users }

// User returns user i as the API would describe it.
func (s *Server) User(i int) User {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.user(i)
}

// Factors returns the factors of user i.
func (s *Server) Factors(i int) []Factor {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.factors(i)
}

// Lifecycle returns the deprovisioning or suspension of user i, if any.
func (s *Server) Lifecycle(i int) (Lifecycle, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.lifecycle(i)
}

// Events returns a copy of the System Log.
func (s *Server) Events() []Event {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Event(nil), s.events...)
}

// Stats returns a copy of the counters.
func (s *Server) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.stats
	st.ByFamily = maps.Clone(s.stats.ByFamily)
	return st
}

// ResetStats zeroes the counters.
func (s *Server) ResetStats() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stats = Stats{ByFamily: map[string]int{}}
}

// Fail switches a failure on; the returned function switches it off.
func (s *Server) Fail(f Failure) (restore func()) {
	s.mu.Lock()
	s.failures = append(s.failures, f)
	n := len(s.failures) - 1
	s.mu.Unlock()
	return func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		if n < len(s.failures) {
			s.failures = append(s.failures[:n], s.failures[n+1:]...)
		}
	}
}

// Deprovision changes user i's status (DEPROVISIONED or SUSPENDED) at `at`,
// by admin user actor, and appends the System Log event.
func (s *Server) Deprovision(i int, status string, at time.Time, actor int) {
	s.DeprovisionLate(i, status, at, actor, at)
}

// DeprovisionLate is Deprovision made visible only at visibleAt, as Okta's
// eventually consistent stores do: until the clock (SetNow) reaches it,
// users search still returns the old status and the System Log event is
// not persisted (neither bounded nor polling queries return it); GET
// /api/v1/users/{id} and filter listings are consistent at once.
func (s *Server) DeprovisionLate(i int, status string, at time.Time, actor int, visibleAt time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	l := Lifecycle{Status: status, At: at, ActorID: UserID(actor), VisibleAt: visibleAt}
	s.changes[i] = l
	e := lifecycleEvent(i, l, len(s.events))
	e.Persisted = visibleAt
	s.insertEvent(e)
}

// SetNow sets the fake's clock, which decides what eventually consistent
// data is visible (zero: everything).
func (s *Server) SetNow(t time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.now = t
}

func (s *Server) visible(t time.Time) bool { return s.now.IsZero() || !t.After(s.now) }

// insertEvent adds e in persistence order.
func (s *Server) insertEvent(e Event) {
	k := logKey(e)
	i, _ := slices.BinarySearchFunc(s.events, k, func(x Event, k string) int { return strings.Compare(logKey(x), k) })
	s.events = slices.Insert(s.events, i, e)
}

// AddEvents appends n security-relevant events (factor activations)
// published from `at` on, one second apart, and returns their UUIDs.
func (s *Server) AddEvents(n int, at time.Time) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var ids []string
	for k := 0; k < n; k++ {
		e := Event{UUID: fmt.Sprintf("eva%011d%018d", len(s.events), k), Published: at.Add(time.Duration(k) * time.Second),
			EventType: "user.mfa.factor.activate", Actor: UserID(k % s.opts.Users), Target: UserID(k % s.opts.Users), Outcome: "SUCCESS", Display: "Activate factor or authenticator"}
		s.insertEvent(e)
		ids = append(ids, e.UUID)
	}
	return ids
}

// Family names the rate-limit bucket of a path, after Okta's org-wide
// rate limits: the collection and the single-object endpoints of users
// and groups are separate buckets.
func Family(path string) string {
	p := strings.TrimPrefix(path, "/api/v1/")
	seg := strings.Split(p, "/")
	switch {
	case p == path:
		return "other"
	case seg[0] == "users" && len(seg) == 1:
		return "users"
	case seg[0] == "users":
		return "users/{id}"
	case seg[0] == "groups" && len(seg) == 1:
		return "groups"
	case seg[0] == "groups":
		return "groups/{id}"
	case seg[0] == "apps" && len(seg) == 1:
		return "apps"
	case seg[0] == "apps":
		return "apps/{id}"
	case seg[0] == "logs", seg[0] == "policies", seg[0] == "iam", seg[0] == "authenticators", seg[0] == "api-tokens":
		return seg[0]
	}
	return "other"
}

// ServeHTTP answers one API request.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	s.inflight++
	s.stats.MaxInFlight = max(s.stats.MaxInFlight, s.inflight)
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		s.inflight--
		s.mu.Unlock()
	}()
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("X-Okta-Request-Id", fmt.Sprintf("fake-%d", time.Now().UnixNano()))
	fam := Family(r.URL.Path)

	s.mu.Lock()
	s.stats.Requests++
	s.stats.ByFamily[fam]++
	ok := s.spend(fam, h)
	if !ok {
		s.stats.Throttled++
	}
	var fail *Failure
	for i := range s.failures {
		if f := &s.failures[i]; strings.HasPrefix(r.URL.Path, f.PathPrefix) {
			if f.Times > 0 {
				if f.used >= f.Times {
					continue
				}
				f.used++
			}
			c := *f
			fail = &c
		}
	}
	s.mu.Unlock()

	if !ok {
		writeError(w, http.StatusTooManyRequests, "E0000047", "API call exceeded rate limit due to too many requests.")
		return
	}
	if r.URL.Path == "/oauth2/v1/token" {
		s.token(w, r)
		return
	}
	if !s.authorize(w, r) {
		return
	}
	if fail != nil {
		switch {
		case fail.Malformed:
			w.WriteHeader(http.StatusOK)
			_, _ = w.Write([]byte(`[{"id":"00u00000000000000000","status":"ACT`))
		case fail.Status == http.StatusUnauthorized:
			writeError(w, fail.Status, "E0000011", "Invalid token provided")
		case fail.Status == http.StatusForbidden:
			writeError(w, fail.Status, "E0000006", "You do not have permission to perform the requested action")
		case fail.Status == http.StatusTooManyRequests:
			writeError(w, fail.Status, "E0000047", "API call exceeded rate limit due to too many requests.")
		default:
			writeError(w, fail.Status, "E0000009", "Internal Server Error")
		}
		return
	}
	if r.Method != http.MethodGet {
		writeError(w, http.StatusMethodNotAllowed, "E0000022", "The endpoint does not support the provided HTTP method")
		return
	}
	s.route(w, r)
}

// Exhaust spends the whole current budget of a rate-limit family, as
// another integration sharing the org would: its next request draws a 429.
func (s *Server) Exhaust(family string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.spend(family, http.Header{})
	s.buckets[family].remaining = 0
}

// spend takes one request from fam's budget and sets the rate-limit
// headers; false means the budget is spent (answer 429).
func (s *Server) spend(fam string, h http.Header) bool {
	now := time.Now()
	b, ok := s.buckets[fam]
	if !ok {
		l, ok := s.opts.RateLimits[fam]
		if !ok || l.Limit <= 0 {
			l = Limit{Limit: 10000, Window: time.Minute}
		}
		if l.Window <= 0 {
			l.Window = time.Minute
		}
		b = &bucket{limit: l.Limit, window: l.Window}
		s.buckets[fam] = b
	}
	if !now.Before(b.end) {
		b.remaining = b.limit
		// windows end on whole seconds: the reset header is epoch seconds
		b.end = now.Add(b.window).Truncate(time.Second).Add(time.Second)
	}
	h.Set("X-Rate-Limit-Limit", strconv.Itoa(b.limit))
	h.Set("X-Rate-Limit-Reset", strconv.FormatInt(b.end.Unix(), 10))
	if b.remaining <= 0 {
		h.Set("X-Rate-Limit-Remaining", "0")
		return false
	}
	b.remaining--
	h.Set("X-Rate-Limit-Remaining", strconv.Itoa(b.remaining))
	return true
}

type apiError struct {
	ErrorCode    string   `json:"errorCode"`
	ErrorSummary string   `json:"errorSummary"`
	ErrorLink    string   `json:"errorLink"`
	ErrorID      string   `json:"errorId"`
	ErrorCauses  []string `json:"errorCauses"`
}

func writeError(w http.ResponseWriter, status int, code, summary string) {
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(apiError{ErrorCode: code, ErrorSummary: summary, ErrorLink: code, ErrorID: "oaefake" + code, ErrorCauses: []string{}})
}

func writeJSON(w http.ResponseWriter, v any) {
	w.WriteHeader(http.StatusOK)
	_ = json.NewEncoder(w).Encode(v)
}

// link sets the Link headers: self, and next when q is non-nil.
func link(w http.ResponseWriter, r *http.Request, next url.Values) {
	self := "http://" + r.Host + r.URL.RequestURI()
	w.Header().Add("Link", "<"+self+`>; rel="self"`)
	if next != nil {
		w.Header().Add("Link", "<http://"+r.Host+r.URL.Path+"?"+next.Encode()+`>; rel="next"`)
	}
}

func (s *Server) route(w http.ResponseWriter, r *http.Request) {
	p := strings.TrimPrefix(r.URL.Path, "/api/v1/")
	seg := strings.Split(p, "/")
	q := r.URL.Query()
	if s.adminRoute(w, r, q) {
		return
	}
	switch {
	case p == "users":
		s.listUsers(w, r, q)
	case len(seg) == 2 && seg[0] == "users":
		if i, ok := s.lookupUser(w, seg[1]); ok {
			s.mu.Lock()
			u := s.userJSON(r.Host, s.user(i))
			s.mu.Unlock()
			writeJSON(w, u)
		}
	case len(seg) == 3 && seg[0] == "users" && seg[2] == "factors":
		s.listFactors(w, seg[1])
	case len(seg) == 3 && seg[0] == "users" && seg[2] == "roles":
		s.listUserRoles(w, seg[1])
	case p == "groups":
		s.listGroups(w, r, q)
	case len(seg) == 3 && seg[0] == "groups":
		s.groupSub(w, r, q, seg[1], seg[2])
	case p == "iam/assignees/users":
		s.listRoleAssignees(w, r, q)
	case p == "policies":
		s.listPolicies(w, r, q)
	case len(seg) == 3 && seg[0] == "policies" && seg[2] == "rules":
		s.listRules(w, r, q, seg[1])
	case p == "apps":
		s.listApps(w, r, q)
	case len(seg) == 3 && seg[0] == "apps":
		s.appSub(w, r, q, seg[1], seg[2])
	case p == "authenticators":
		s.listAuthenticators(w)
	case p == "logs":
		s.listLogs(w, r, q)
	default:
		writeError(w, http.StatusNotFound, "E0000007", "Not found: Resource not found: "+r.URL.Path+" (Path)")
	}
}

func limitParam(q url.Values, def, maxv int) int {
	n, err := strconv.Atoi(q.Get("limit"))
	if err != nil || n <= 0 {
		return def
	}
	return min(n, maxv)
}

var userAttrs = map[string]bool{"status": true, "statusChanged": true, "lastUpdated": true, "created": true, "id": true, "profile.login": true, "profile.email": true, "profile.firstName": true, "profile.lastName": true}

func (u User) attr(a string) (string, bool) {
	switch a {
	case "status":
		return u.Status, true
	case "statusChanged":
		return ts(u.StatusChanged), true
	case "lastUpdated":
		return ts(u.LastUpdated), true
	case "created":
		return ts(u.Created), true
	case "id":
		return u.ID, true
	case "profile.login", "profile.email":
		return u.Login, true
	case "profile.firstName":
		return u.FirstName, true
	case "profile.lastName":
		return u.LastName, true
	}
	return "", false
}

func optTS(t time.Time) *string {
	if t.IsZero() {
		return nil
	}
	s := ts(t)
	return &s
}

func (s *Server) userJSON(host string, u User) map[string]any {
	return map[string]any{
		"id": u.ID, "status": u.Status, "created": ts(u.Created), "activated": optTS(u.Activated),
		"statusChanged": optTS(u.StatusChanged), "lastLogin": optTS(u.LastLogin), "lastUpdated": ts(u.LastUpdated),
		"passwordChanged": optTS(u.PasswordChanged), "type": map[string]string{"id": "oty00000000000000000"},
		"profile":     map[string]any{"firstName": u.FirstName, "lastName": u.LastName, "email": u.Login, "login": u.Login, "mobilePhone": nil, "secondEmail": nil},
		"credentials": map[string]any{"provider": map[string]string{"type": "OKTA", "name": "OKTA"}},
		"_links":      map[string]any{"self": map[string]string{"href": "http://" + host + "/api/v1/users/" + u.ID}},
	}
}

func (s *Server) listUsers(w http.ResponseWriter, r *http.Request, q url.Values) {
	var ex expr
	for _, k := range []string{"search", "filter"} {
		if v := q.Get(k); v != "" {
			e, err := parseFilter(v, userAttrs)
			if err != nil {
				writeError(w, http.StatusBadRequest, "E0000031", "Invalid search criteria. "+err.Error())
				return
			}
			ex = e
		}
	}
	view := s.user
	if q.Get("search") != "" {
		view = s.searchUser
	}
	s.pageUsers(w, r, q, 200, view, func(u User) bool {
		if ex == nil {
			return u.Status != "DEPROVISIONED"
		}
		return ex.eval(u.attr)
	})
}

// afterUser reads the after cursor of user listings (the last user's ID).
func afterUser(w http.ResponseWriter, q url.Values) (int, bool) {
	a := q.Get("after")
	if a == "" {
		return 0, true
	}
	i, ok := userIndex(a)
	if !ok {
		writeError(w, http.StatusBadRequest, "E0000031", "Invalid after cursor")
		return 0, false
	}
	return i + 1, true
}

// pageUsers writes one Link-paginated page of the users that match, in ID
// order, at most maxLimit per page.
func (s *Server) pageUsers(w http.ResponseWriter, r *http.Request, q url.Values, maxLimit int, view func(int) User, match func(User) bool) {
	s.pageByUser(w, r, q, maxLimit, maxLimit, func(i int) (map[string]any, bool) {
		if u := view(i); match(u) {
			s.stats.UsersServed++
			return s.userJSON(r.Host, u), true
		}
		return nil, false
	})
}

// pageByUser writes one Link-paginated page of the objects item returns
// for users in index order (limit def by default, at most maxLimit; the
// after cursor is the last user's ID). item is called with s.mu held.
func (s *Server) pageByUser(w http.ResponseWriter, r *http.Request, q url.Values, def, maxLimit int, item func(i int) (map[string]any, bool)) {
	limit := limitParam(q, def, maxLimit)
	start, ok := afterUser(w, q)
	if !ok {
		return
	}
	out := make([]map[string]any, 0, min(limit, 256))
	s.mu.Lock()
	last := -1
	for i := start; i < s.opts.Users && len(out) < limit; i++ {
		if v, ok := item(i); ok {
			out = append(out, v)
			last = i
		}
	}
	users := s.opts.Users
	s.mu.Unlock()
	var next url.Values
	if len(out) == limit && last < users-1 {
		next = cloneValues(q)
		next.Set("after", UserID(last))
		next.Set("limit", strconv.Itoa(limit))
	}
	link(w, r, next)
	writeJSON(w, out)
}

func cloneValues(q url.Values) url.Values {
	n := url.Values{}
	for k, v := range q {
		n[k] = append([]string(nil), v...)
	}
	return n
}

func (s *Server) lookupUser(w http.ResponseWriter, id string) (int, bool) {
	i, ok := userIndex(id)
	if !ok || i >= s.opts.Users {
		writeError(w, http.StatusNotFound, "E0000007", "Not found: Resource not found: "+id+" (User)")
		return 0, false
	}
	return i, true
}

func (s *Server) listFactors(w http.ResponseWriter, id string) {
	i, ok := s.lookupUser(w, id)
	if !ok {
		return
	}
	s.mu.Lock()
	s.stats.FactorCalls++
	fs := s.factors(i)
	s.mu.Unlock()
	out := make([]map[string]any, 0, len(fs))
	for _, f := range fs {
		out = append(out, map[string]any{
			"id": f.ID, "factorType": f.FactorType, "provider": f.Provider, "vendorName": f.VendorName, "status": f.Status,
			"created": ts(f.Created), "lastUpdated": ts(f.Created), "profile": map[string]any{"credentialId": id},
		})
	}
	writeJSON(w, out)
}

func roleJSON(rl role, assignment string) map[string]any {
	return map[string]any{"id": rl.ID, "label": rl.Label, "type": rl.Type, "status": "ACTIVE", "assignmentType": assignment,
		"created": "2025-01-10T09:00:00.000Z", "lastUpdated": "2025-01-10T09:00:00.000Z"}
}

func (s *Server) listUserRoles(w http.ResponseWriter, id string) {
	i, ok := s.lookupUser(w, id)
	if !ok {
		return
	}
	out := []map[string]any{}
	for _, rl := range userRoles(i) {
		out = append(out, roleWithTargets(rl, "USER"))
	}
	for _, g := range s.groupList() {
		if g.Member(i) {
			for _, rl := range g.Roles {
				out = append(out, roleJSON(rl, "GROUP"))
			}
		}
	}
	writeJSON(w, out)
}

func groupJSON(host string, g group) map[string]any {
	return map[string]any{"id": g.ID, "type": g.Type, "created": "2024-01-01T00:00:00.000Z", "lastUpdated": "2025-06-01T00:00:00.000Z",
		"lastMembershipUpdated": "2026-11-01T00:00:00.000Z", "objectClass": []string{"okta:user_group"},
		"profile": map[string]string{"name": g.Name, "description": g.Description},
		"_links":  map[string]any{"self": map[string]string{"href": "http://" + host + "/api/v1/groups/" + g.ID}}}
}

func (s *Server) listGroups(w http.ResponseWriter, r *http.Request, q url.Values) {
	limit := limitParam(q, 10000, 10000)
	gs := s.groupList()
	start := 0
	if a := q.Get("after"); a != "" {
		for k, g := range gs {
			if g.ID == a {
				start = k + 1
			}
		}
	}
	end := min(start+limit, len(gs))
	out := []map[string]any{}
	for _, g := range gs[start:end] {
		out = append(out, groupJSON(r.Host, g))
	}
	var next url.Values
	if end < len(gs) {
		next = cloneValues(q)
		next.Set("after", gs[end-1].ID)
	}
	link(w, r, next)
	writeJSON(w, out)
}

func (s *Server) groupSub(w http.ResponseWriter, r *http.Request, q url.Values, id, sub string) {
	var g *group
	for _, x := range s.groupList() {
		if x.ID == id {
			x := x
			g = &x
		}
	}
	if g == nil {
		writeError(w, http.StatusNotFound, "E0000007", "Not found: Resource not found: "+id+" (UserGroup)")
		return
	}
	switch sub {
	case "users":
		s.pageUsers(w, r, q, 1000, s.user, func(u User) bool { return g.Member(u.Index) })
	case "apps":
		out := []map[string]any{}
		for _, a := range g.Apps {
			out = append(out, map[string]any{"id": a.ID, "name": a.Name, "label": a.Label, "status": "ACTIVE", "signOnMode": "SAML_2_0"})
		}
		link(w, r, nil)
		writeJSON(w, out)
	case "roles":
		out := []map[string]any{}
		for _, rl := range g.Roles {
			out = append(out, roleJSON(rl, "GROUP"))
		}
		writeJSON(w, out)
	default:
		writeError(w, http.StatusNotFound, "E0000007", "Not found: Resource not found: "+r.URL.Path+" (Path)")
	}
}

func (s *Server) listRoleAssignees(w http.ResponseWriter, r *http.Request, q url.Values) {
	limit := limitParam(q, 100, 100)
	start, ok := afterUser(w, q)
	if !ok {
		return
	}
	val := []map[string]any{}
	last := -1
	for i := start; i < s.opts.Users && len(val) < limit; i++ {
		if len(userRoles(i)) > 0 {
			id := UserID(i)
			val = append(val, map[string]any{"id": id, "orn": "orn:okta:00ofake:users:" + id,
				"_links": map[string]any{"self": map[string]string{"href": "http://" + r.Host + "/api/v1/users/" + id},
					"roles": map[string]string{"href": "http://" + r.Host + "/api/v1/users/" + id + "/roles"}}})
			last = i
		}
	}
	body := map[string]any{"value": val, "_links": map[string]any{}}
	if len(val) == limit && last < s.opts.Users-1 {
		n := cloneValues(q)
		n.Set("after", UserID(last))
		n.Set("limit", strconv.Itoa(limit))
		body["_links"] = map[string]any{"next": map[string]string{"href": "http://" + r.Host + r.URL.Path + "?" + n.Encode()}}
	}
	writeJSON(w, body)
}

type policy struct {
	ID, Type, Name string
	Settings       map[string]any
	Rules          []map[string]any
}

func policies() []policy {
	// an app sign-in policy with 25 rules: more than one page of rules
	many := make([]map[string]any, 25)
	for k := range many {
		many[k] = map[string]any{"id": fmt.Sprintf("rul00000000000app%03d", k), "name": fmt.Sprintf("Rule %d", k), "type": "ACCESS_POLICY", "status": "ACTIVE", "priority": k,
			"actions": map[string]any{"appSignOn": map[string]any{"access": "ALLOW", "verificationMethod": map[string]any{"factorMode": "2FA", "type": "ASSURANCE"}}}}
	}
	return []policy{
		{"rst00000000000appsso", "ACCESS_POLICY", "Any two factors", map[string]any{}, many},
		{"00p000000000profile", "PROFILE_ENROLLMENT", "Default Policy", map[string]any{},
			[]map[string]any{{"id": "0pr000000000profile", "name": "Catch-all Rule", "type": "PROFILE_ENROLLMENT", "status": "ACTIVE", "priority": 99, "actions": map[string]any{"profileEnrollment": map[string]any{"access": "DENY"}}}}},
		{"00p000000000idpdisc", "IDP_DISCOVERY", "Idp Discovery Policy", map[string]any{},
			[]map[string]any{{"id": "0pr000000000idpdisc", "name": "Default Rule", "type": "IDP_DISCOVERY", "status": "ACTIVE", "priority": 1, "actions": map[string]any{"idp": map[string]any{"providers": []map[string]string{{"type": "OKTA"}}}}}}},
		{"00p0000000password1", "PASSWORD", "Default Policy", map[string]any{"password": map[string]any{"complexity": map[string]any{"minLength": 12, "minLowerCase": 1, "minUpperCase": 1, "minNumber": 1, "minSymbol": 0}, "age": map[string]any{"maxAgeDays": 0, "historyCount": 4}, "lockout": map[string]any{"maxAttempts": 10, "autoUnlockMinutes": 0}}},
			[]map[string]any{{"id": "0pr0000000password1", "name": "Default Rule", "type": "PASSWORD", "status": "ACTIVE", "priority": 1, "actions": map[string]any{"passwordChange": map[string]string{"access": "ALLOW"}, "selfServicePasswordReset": map[string]string{"access": "ALLOW"}}}}},
		{"00p000000mfaenroll1", "MFA_ENROLL", "Require MFA enrollment", map[string]any{"type": "AUTHENTICATORS", "authenticators": []map[string]any{{"key": "okta_verify", "enroll": map[string]string{"self": "REQUIRED"}}, {"key": "webauthn", "enroll": map[string]string{"self": "OPTIONAL"}}}},
			[]map[string]any{{"id": "0pr000000mfaenroll1", "name": "Everyone must enroll", "type": "MFA_ENROLL", "status": "ACTIVE", "priority": 1, "actions": map[string]any{"enroll": map[string]string{"self": "CHALLENGE"}}}}},
		{"00p0000000000signon", "OKTA_SIGN_ON", "Default Global Session Policy", map[string]any{},
			[]map[string]any{{"id": "0pr0000000000signon", "name": "MFA for everyone", "type": "SIGN_ON", "status": "ACTIVE", "priority": 1, "actions": map[string]any{"signon": map[string]any{"access": "ALLOW", "requireFactor": true, "factorPromptMode": "ALWAYS", "session": map[string]any{"maxSessionIdleMinutes": 120, "maxSessionLifetimeMinutes": 720}}}}}},
		{"rst0000000000access", "ACCESS_POLICY", "Okta Admin Console", map[string]any{},
			[]map[string]any{{"id": "rul0000000000access", "name": "Admins need phishing-resistant MFA", "type": "ACCESS_POLICY", "status": "ACTIVE", "priority": 0, "actions": map[string]any{"appSignOn": map[string]any{"access": "ALLOW", "verificationMethod": map[string]any{"factorMode": "2FA", "type": "ASSURANCE", "reauthenticateIn": "PT2H"}}}}}},
	}
}

func (s *Server) listPolicies(w http.ResponseWriter, r *http.Request, q url.Values) {
	typ := q.Get("type")
	if !policyTypes[typ] || (s.opts.Classic && identityEngineOnly[typ]) {
		writeError(w, http.StatusBadRequest, "E0000001", "Api validation failed: type: Invalid policy type "+typ)
		return
	}
	out := []map[string]any{}
	for _, p := range policies() {
		if p.Type == typ {
			out = append(out, map[string]any{"id": p.ID, "type": p.Type, "name": p.Name, "status": "ACTIVE", "priority": 1, "system": p.Type != "MFA_ENROLL",
				"conditions": map[string]any{"people": map[string]any{"groups": map[string]any{"include": []string{"00g00000000everyone"}}}},
				"settings":   p.Settings, "created": "2024-01-01T00:00:00.000Z", "lastUpdated": "2026-10-01T00:00:00.000Z"})
		}
	}
	link(w, r, nil)
	writeJSON(w, out)
}

// listRules pages a policy's rules: 20 by default (limit up to 200), Link
// header to the next page.
func (s *Server) listRules(w http.ResponseWriter, r *http.Request, q url.Values, id string) {
	for _, p := range policies() {
		if p.ID != id {
			continue
		}
		limit := limitParam(q, 20, 200)
		start := 0
		if a := q.Get("after"); a != "" {
			for k, rl := range p.Rules {
				if rl["id"] == a {
					start = k + 1
				}
			}
		}
		end := min(start+limit, len(p.Rules))
		var next url.Values
		if end < len(p.Rules) {
			next = cloneValues(q)
			next.Set("after", p.Rules[end-1]["id"].(string))
		}
		link(w, r, next)
		writeJSON(w, p.Rules[start:end])
		return
	}
	writeError(w, http.StatusNotFound, "E0000007", "Not found: Resource not found: "+id+" (Policy)")
}

// identityEngineOnly are the policy types a Classic Engine org refuses.
var identityEngineOnly = map[string]bool{"ACCESS_POLICY": true, "PROFILE_ENROLLMENT": true, "POST_AUTH_SESSION": true, "ENTITY_RISK": true, "DEVICE_SIGNAL_COLLECTION": true}

// policyTypes are the types listPolicies accepts.
var policyTypes = map[string]bool{"OKTA_SIGN_ON": true, "PASSWORD": true, "MFA_ENROLL": true, "IDP_DISCOVERY": true, "ACCESS_POLICY": true,
	"PROFILE_ENROLLMENT": true, "POST_AUTH_SESSION": true, "ENTITY_RISK": true, "DEVICE_SIGNAL_COLLECTION": true}

// listAuthenticators answers GET /api/v1/authenticators (Identity Engine;
// a Classic org has factors only and answers 404).
func (s *Server) listAuthenticators(w http.ResponseWriter) {
	if s.opts.Classic {
		writeError(w, http.StatusNotFound, "E0000007", "Not found: Resource not found: authenticators (Path)")
		return
	}
	out := []map[string]any{}
	for _, a := range []struct{ id, key, typ, name, status string }{
		{"aut0000000okta_verify", "okta_verify", "app", "Okta Verify", "ACTIVE"},
		{"aut00000000000webauthn", "webauthn", "security_key", "Security Key or Biometric", "ACTIVE"},
		{"aut0000000okta_password", "okta_password", "password", "Password", "ACTIVE"},
		{"aut000000phone_number", "phone_number", "phone", "Phone", "ACTIVE"},
		{"aut00000security_question", "security_question", "security_question", "Security Question", "INACTIVE"},
		{"aut00000000okta_email", "okta_email", "email", "Email", "ACTIVE"},
	} {
		out = append(out, map[string]any{"id": a.id, "key": a.key, "type": a.typ, "name": a.name, "status": a.status,
			"created": "2024-01-01T00:00:00.000Z", "lastUpdated": "2026-10-01T00:00:00.000Z", "settings": map[string]any{}})
	}
	writeJSON(w, out)
}

func (e Event) attr(a string) (string, bool) {
	switch a {
	case "eventType":
		return e.EventType, true
	case "actor.id":
		return e.Actor, true
	case "target.id":
		return e.Target, true
	case "outcome.result":
		return e.Outcome, true
	case "uuid":
		return e.UUID, true
	case "published":
		return ts(e.Published), true
	}
	return "", false
}

func (s *Server) eventJSON(e Event) map[string]any {
	ai, _ := userIndex(e.Actor)
	ti, _ := userIndex(e.Target)
	au, tu := s.user(ai), s.user(ti)
	return map[string]any{
		"uuid": e.UUID, "published": ts(e.Published), "eventType": e.EventType, "version": "0", "severity": "INFO",
		"legacyEventType": nil, "displayMessage": e.Display,
		"actor":                 map[string]any{"id": au.ID, "type": "User", "alternateId": au.Login, "displayName": au.FirstName + " " + au.LastName, "detailEntry": nil},
		"client":                map[string]any{"ipAddress": "198.51.100.7", "userAgent": map[string]any{"rawUserAgent": "Mozilla/5.0", "os": "Mac OS X", "browser": "CHROME"}, "zone": "null", "device": "Computer"},
		"outcome":               map[string]any{"result": e.Outcome, "reason": nil},
		"target":                []map[string]any{{"id": tu.ID, "type": "User", "alternateId": tu.Login, "displayName": tu.FirstName + " " + tu.LastName, "detailEntry": nil}},
		"transaction":           map[string]any{"type": "WEB", "id": "tx" + e.UUID[3:], "detail": map[string]any{}},
		"debugContext":          map[string]any{"debugData": map[string]any{"requestId": "req" + e.UUID[3:]}},
		"authenticationContext": map[string]any{"authenticationStep": 0, "externalSessionId": "idxfake"},
		"securityContext":       map[string]any{},
		"request":               map[string]any{"ipChain": []any{}},
	}
}

// logKey orders the System Log by persistence: the after cursor of polling
// requests, opaque to clients.
func logKey(e Event) string {
	return fmt.Sprintf("%020d_%s", e.persisted().UnixNano(), e.UUID)
}

// listLogs implements the System Log. A polling request (no until) pages
// through events in persistence order (since is a persistence time) and
// always links to the next page, even when it is empty; a bounded request
// (until) selects on published, sorted by published, and stops linking once
// exhausted. Events persisted after the fake's clock are not visible yet.
// The after cursor is opaque to clients.
func (s *Server) listLogs(w http.ResponseWriter, r *http.Request, q url.Values) {
	limit := limitParam(q, 100, 1000)
	if so := q.Get("sortOrder"); so != "" && so != "ASCENDING" && so != "DESCENDING" {
		writeError(w, http.StatusBadRequest, "E0000001", "Api validation failed: sortOrder")
		return
	}
	var ex expr
	if f := q.Get("filter"); f != "" {
		e, err := parseFilter(f, nil)
		if err != nil {
			writeError(w, http.StatusBadRequest, "E0000031", "Invalid search criteria. "+err.Error())
			return
		}
		ex = e
	}
	parseT := func(k string) (time.Time, bool, error) {
		v := q.Get(k)
		if v == "" {
			return time.Time{}, false, nil
		}
		t, err := time.Parse(time.RFC3339, v)
		return t, true, err
	}
	until, bounded, err := parseT("until")
	if err != nil {
		writeError(w, http.StatusBadRequest, "E0000001", "Api validation failed: until")
		return
	}
	since, hasSince, err := parseT("since")
	if err != nil {
		writeError(w, http.StatusBadRequest, "E0000001", "Api validation failed: since")
		return
	}
	after := q.Get("after")
	if after != "" && !strings.HasPrefix(after, "1_") && !strings.HasPrefix(after, "2_") {
		writeError(w, http.StatusBadRequest, "E0000031", "Invalid after cursor")
		return
	}
	after = strings.TrimPrefix(strings.TrimPrefix(after, "1_"), "2_")
	s.mu.Lock()
	s.stats.LogRequests++
	if !hasSince {
		ref := s.opts.Base
		if bounded {
			ref = until
		}
		since = ref.Add(-7 * 24 * time.Hour)
	}
	out := make([]map[string]any, 0, min(limit, 128))
	exhausted := true
	var last string
	if bounded {
		var match []Event
		for _, e := range s.events {
			if !s.visible(e.persisted()) {
				break
			}
			if e.Published.Before(since) || !e.Published.Before(until) || (ex != nil && !ex.eval(e.attr)) {
				continue
			}
			match = append(match, e)
		}
		slices.SortFunc(match, func(a, b Event) int {
			if c := a.Published.Compare(b.Published); c != 0 {
				return c
			}
			return strings.Compare(a.UUID, b.UUID)
		})
		for _, e := range match {
			k := fmt.Sprintf("%020d_%s", e.Published.UnixNano(), e.UUID)
			if after != "" && k <= after {
				continue
			}
			if len(out) == limit {
				exhausted = false
				break
			}
			out = append(out, s.eventJSON(e))
			last = k
		}
	} else {
		last = after
		for _, e := range s.events {
			if !s.visible(e.persisted()) {
				break
			}
			k := logKey(e)
			if after != "" && k <= after {
				continue
			}
			if after == "" && e.persisted().Before(since) {
				continue
			}
			if ex != nil && !ex.eval(e.attr) {
				last = k
				continue
			}
			if len(out) == limit {
				break
			}
			out = append(out, s.eventJSON(e))
			last = k
		}
	}
	s.stats.EventsServed += len(out)
	s.mu.Unlock()
	var next url.Values
	switch {
	case bounded && !exhausted:
		next = url.Values{}
		for _, k := range []string{"filter", "limit", "sortOrder", "q", "since", "until"} {
			if v := q.Get(k); v != "" {
				next.Set(k, v)
			}
		}
		next.Set("after", "2_"+last)
	case !bounded:
		next = url.Values{}
		for _, k := range []string{"filter", "limit", "sortOrder", "q"} {
			if v := q.Get(k); v != "" {
				next.Set(k, v)
			}
		}
		if last == "" {
			// nothing persisted since `since` yet: keep polling from it
			next.Set("since", ts(since))
		} else {
			next.Set("after", "1_"+last)
		}
	}
	link(w, r, next)
	writeJSON(w, out)
}
