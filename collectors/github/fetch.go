package github

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"regexp"
	"strings"
	"sync"
	"time"

	gh "github.com/google/go-github/v60/github"

	"github.com/tickmark-dev/tickmark/collectors"
	"github.com/tickmark-dev/tickmark/collectors/httpx"
)

// run is the state of one collection.
type run struct {
	cfg   *Config
	gh    *gh.Client
	req   collectors.Request
	log   *slog.Logger
	org   string
	keyRE *regexp.Regexp

	mu          sync.Mutex // guards state and status
	state       *cursorState
	status      map[string]*repoOutcome
	orgRulesets futures[rulesetInfo]
	perms       futures[*string]

	orgInfo           orgSettings
	visible, archived int  // repositories listed, archived among them
	multiOrg          bool // several organisations share the cursor
	app               bool // authenticated as a GitHub App installation
	instSelection     *string
	instTotal         *int
}

// ---- cursor ----

// cursorState is the collector's cursor: per-repository pull-request
// high-water marks and a small conditional-request cache. The cache keeps,
// per snapshot URL, the ETag, the next-page link and the *shaped* page
// (only the fields the evidence uses), so that a 304 answer can re-emit
// the same evidence without the body.
type cursorState struct {
	V     int                    `json:"v"`
	Pulls map[string]pullState   `json:"pulls,omitempty"`
	Cache map[string]*cacheEntry `json:"cache,omitempty"`
	// Audit is each organisation's audit log window (see auditState).
	Audit map[string]auditState `json:"audit,omitempty"`

	cacheBytes int
}

type pullState struct {
	Until time.Time `json:"until"` // end of the last window (the next one re-reads from Until minus the overlap)
	// Heads are the branch heads the last run read: the next run lists the
	// commits between them and the new heads, and an unchanged head means
	// nothing landed.
	Heads map[string]string `json:"heads,omitempty"`
	// Rescan marks branches where a pull request merged after the window
	// end was seen: their pull requests are read again next run even if
	// the head has not moved.
	Rescan map[string]bool `json:"rescan,omitempty"`
	// Seen are the pull requests ("pr:N") and commits ("sha:X") already
	// emitted inside the overlap of the next window, with their time.
	Seen map[string]time.Time `json:"seen,omitempty"`
}

type cacheEntry struct {
	ETag string          `json:"e"`
	Next string          `json:"n,omitempty"`
	Data json.RawMessage `json:"d"`
	used bool
}

// maxCacheBytes bounds the shaped data kept in the cursor (before gzip).
// Pages beyond it are simply fetched in full next time.
const maxCacheBytes = 4 << 20

const cursorPrefix = "gh1."

// shapeVersion changes whenever a shaped (cached) page changes form; a
// cursor with another version keeps its pull-request marks but drops its
// cache, so no artifact is ever rebuilt from an older shape.
const shapeVersion = 2

func decodeCursor(s string) (*cursorState, error) {
	st := &cursorState{V: shapeVersion, Pulls: map[string]pullState{}, Cache: map[string]*cacheEntry{}, Audit: map[string]auditState{}}
	if s == "" {
		return st, nil
	}
	b64, ok := strings.CutPrefix(s, cursorPrefix)
	if !ok {
		return nil, errors.New("cursor was not written by this collector version (unknown prefix)")
	}
	raw, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		return nil, fmt.Errorf("corrupt cursor: %w", err)
	}
	zr, err := gzip.NewReader(bytes.NewReader(raw))
	if err != nil {
		return nil, fmt.Errorf("corrupt cursor: %w", err)
	}
	if err := json.NewDecoder(io.LimitReader(zr, 64<<20)).Decode(st); err != nil {
		return nil, fmt.Errorf("corrupt cursor: %w", err)
	}
	if st.Pulls == nil {
		st.Pulls = map[string]pullState{}
	}
	if st.Audit == nil {
		st.Audit = map[string]auditState{}
	}
	if st.Cache == nil || st.V != shapeVersion {
		st.Cache = map[string]*cacheEntry{}
		st.V = shapeVersion
	}
	for _, e := range st.Cache {
		st.cacheBytes += len(e.Data)
	}
	return st, nil
}

func (st *cursorState) encode() (string, error) {
	var buf bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	if err := json.NewEncoder(zw).Encode(st); err != nil {
		return "", err
	}
	if err := zw.Close(); err != nil {
		return "", err
	}
	return cursorPrefix + base64.StdEncoding.EncodeToString(buf.Bytes()), nil
}

func (st *cursorState) get(key string) (*cacheEntry, bool) {
	e, ok := st.Cache[key]
	if ok {
		e.used = true
	}
	return e, ok
}

func (st *cursorState) put(key string, e *cacheEntry) {
	if old, ok := st.Cache[key]; ok {
		st.cacheBytes -= len(old.Data)
		delete(st.Cache, key)
	}
	if e.ETag == "" || st.cacheBytes+len(e.Data) > maxCacheBytes {
		return
	}
	e.used = true
	st.Cache[key] = e
	st.cacheBytes += len(e.Data)
}

// prune drops cache entries this run did not use and the change windows of
// repositories no longer collected (keep holds the keys to keep).
func (st *cursorState) prune(keep map[string]bool) {
	for k, e := range st.Cache {
		if !e.used {
			st.cacheBytes -= len(e.Data)
			delete(st.Cache, k)
		}
	}
	for k := range st.Pulls {
		if !keep[k] {
			delete(st.Pulls, k)
		}
	}
}

// ---- requests ----

// relURL makes u relative to the client's base URL (cache keys and Link
// targets are stored that way).
func (r *run) relURL(u string) string {
	if rest, ok := strings.CutPrefix(u, r.gh.BaseURL.String()); ok {
		return rest
	}
	return u
}

// endpoint is "/path" without the query, for messages and sources.
func endpoint(u string) string {
	p, _, _ := strings.Cut(u, "?")
	return "/" + strings.TrimPrefix(p, "/")
}

// do sends GET u with an optional If-None-Match and returns the open
// response. A 304 returns errNotModified with the response; any other
// non-2xx returns a classified error naming the endpoint.
func (r *run) do(ctx context.Context, u, etag string) (*gh.Response, error) {
	req, err := r.gh.NewRequest(http.MethodGet, u, nil)
	if err != nil {
		return nil, collectors.Permanent(fmt.Errorf("github: GET %s: %w", endpoint(u), err))
	}
	req.Header.Set("Accept", "application/vnd.github+json")
	if etag != "" {
		req.Header.Set("If-None-Match", etag)
	}
	resp, err := r.gh.BareDo(ctx, req)
	if resp != nil && resp.StatusCode == http.StatusNotModified {
		return resp, errNotModified
	}
	if err != nil {
		return resp, apiError(http.MethodGet, r.relURL(req.URL.String()), resp, err)
	}
	return resp, nil
}

// decodeBody reads and decodes a JSON body, closing it.
func decodeBody(resp *gh.Response, u string, v any) error {
	defer resp.Body.Close()
	dec := json.NewDecoder(bufio.NewReader(io.LimitReader(resp.Body, 256<<20)))
	if err := dec.Decode(v); err != nil {
		return collectors.Permanent(fmt.Errorf("github: GET %s: malformed JSON response (HTTP %d): %v", endpoint(u), resp.StatusCode, err))
	}
	return nil
}

// nextLink returns the rel="next" target of a Link header, relative to the base URL.
func (r *run) nextLink(h http.Header) string {
	for _, l := range strings.Split(h.Get("Link"), ",") {
		segs := strings.Split(l, ";")
		if len(segs) < 2 {
			continue
		}
		for _, s := range segs[1:] {
			if strings.TrimSpace(s) == `rel="next"` {
				return r.relURL(strings.Trim(strings.TrimSpace(segs[0]), "<>"))
			}
		}
	}
	return ""
}

// getPage fetches one page, decodes it as G and shapes it to S. With
// cached, the page is a snapshot page: it is sent with If-None-Match when
// the cursor holds it, and a 304 returns the shaped page from the cursor.
func getPage[G, S any](ctx context.Context, r *run, u string, cached bool, shape func(G) S) (S, string, error) {
	var zero S
	var ent *cacheEntry
	etag := ""
	if cached {
		r.mu.Lock()
		if e, ok := r.state.get(u); ok {
			ent, etag = e, e.ETag
		}
		r.mu.Unlock()
	}
	resp, err := r.do(ctx, u, etag)
	if errors.Is(err, errNotModified) {
		resp.Body.Close()
		if ent == nil {
			return zero, "", collectors.Permanent(fmt.Errorf("github: GET %s: unexpected 304 Not Modified", endpoint(u)))
		}
		var s S
		if err := json.Unmarshal(ent.Data, &s); err != nil {
			return zero, "", collectors.Permanent(fmt.Errorf("github: cached page of %s is corrupt: %w", endpoint(u), err))
		}
		return s, ent.Next, nil
	}
	if err != nil {
		return zero, "", err
	}
	var g G
	if err := decodeBody(resp, u, &g); err != nil {
		return zero, "", err
	}
	s := shape(g)
	next := r.nextLink(resp.Header)
	if cached {
		data, err := json.Marshal(s)
		if err != nil {
			return zero, "", collectors.Permanent(fmt.Errorf("github: GET %s: %w", endpoint(u), err))
		}
		r.mu.Lock()
		r.state.put(u, &cacheEntry{ETag: resp.Header.Get("ETag"), Next: next, Data: data})
		r.mu.Unlock()
	}
	return s, next, nil
}

// eachPage walks a Link-paginated list, calling fn per shaped page, and
// returns the number of pages.
func eachPage[G, S any](ctx context.Context, r *run, first string, cached bool, shape func(G) S, fn func(S) error) (int, error) {
	pages := 0
	for u := first; u != ""; {
		s, next, err := getPage(ctx, r, u, cached, shape)
		if err != nil {
			return pages, err
		}
		pages++
		if err := fn(s); err != nil {
			return pages, err
		}
		if next == u {
			return pages, collectors.Permanent(fmt.Errorf("github: GET %s: Link header points to the same page", endpoint(u)))
		}
		u = next
	}
	return pages, nil
}

// apiError turns a failed response into a classified error that names the
// collector, the endpoint and, for 401/403, what the credential needs.
func apiError(method, u string, resp *gh.Response, err error) error {
	var hr *http.Response
	if resp != nil {
		hr = resp.Response
	}
	if hr == nil {
		var rle *gh.RateLimitError
		if errors.As(err, &rle) {
			return collectors.Retryable(fmt.Errorf("github: %s %s: primary rate limit exhausted until %s", method, endpoint(u), rle.Rate.Reset.UTC().Format(time.RFC3339)))
		}
		var are *gh.AbuseRateLimitError
		if errors.As(err, &are) {
			return collectors.Retryable(fmt.Errorf("github: %s %s: secondary rate limit", method, endpoint(u)))
		}
		if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
			return err
		}
		if collectors.IsClassified(err) {
			return fmt.Errorf("github: %s %s: %w", method, endpoint(u), err)
		}
		return collectors.Retryable(fmt.Errorf("github: %s %s: %w", method, endpoint(u), err))
	}
	se := &httpx.StatusError{Method: method, URL: endpoint(u), Status: hr.StatusCode}
	var er *gh.ErrorResponse
	var rle *gh.RateLimitError
	var are *gh.AbuseRateLimitError
	switch {
	case errors.As(err, &rle):
		se.Message = rle.Message
	case errors.As(err, &are):
		se.Message = are.Message
	case errors.As(err, &er):
		se.Message = er.Message
	}
	se.Hint = permissionHint(se.URL, hr)
	if (hr.StatusCode == http.StatusForbidden || hr.StatusCode == http.StatusTooManyRequests) &&
		(hr.Header.Get("Retry-After") != "" || hr.Header.Get("X-RateLimit-Remaining") == "0" || strings.Contains(strings.ToLower(se.Message), "rate limit")) {
		se.Hint = "rate limited by GitHub; the next run resumes from the last checkpoint"
		return collectors.Retryable(fmt.Errorf("github: %w", se))
	}
	return fmt.Errorf("github: %w", httpx.Classify(se))
}

// permissionHint says what a credential needs for an endpoint (401/403 only).
func permissionHint(path string, resp *http.Response) string {
	switch resp.StatusCode {
	case http.StatusUnauthorized:
		return "the credential is invalid, expired or revoked: check the token reference, or the GitHub App's app_id, installation_id and private_key"
	case http.StatusForbidden:
	case http.StatusUnprocessableEntity:
		if strings.HasSuffix(path, "/members") || strings.HasSuffix(path, "/outside_collaborators") {
			return "the 2fa_disabled filter is only available to organization owners: use an owner's token, or an App with organization \"Members: read\""
		}
		return ""
	default:
		return ""
	}
	var need string
	switch {
	case strings.Contains(path, "/dependabot/"):
		need = "classic token: security_events (repo for private repositories); fine-grained token or GitHub App: repository permission \"Dependabot alerts: read\""
	case strings.Contains(path, "/protection") || strings.Contains(path, "/rules") || strings.Contains(path, "/rulesets"):
		need = "classic token: repo; fine-grained token or GitHub App: repository permission \"Administration: read\" (organization rulesets: organization \"Administration: read\")"
	case strings.Contains(path, "/check-runs"):
		need = "classic token: repo; fine-grained token or GitHub App: repository permission \"Checks: read\""
	case strings.HasSuffix(path, "/status"):
		need = "classic token: repo; fine-grained token or GitHub App: repository permission \"Commit statuses: read\""
	case strings.Contains(path, "/code-scanning/"):
		need = "classic token: security_events; fine-grained token or GitHub App: repository permission \"Code scanning alerts: read\""
	case strings.Contains(path, "/secret-scanning/"):
		need = "classic token: repo or security_events; fine-grained token or GitHub App: repository permission \"Secret scanning alerts: read\""
	case strings.HasSuffix(path, "/invitations"):
		need = "an organisation owner's credentials (classic token: admin:org or read:org as an owner; fine-grained token or GitHub App: organization permission \"Members: read\")"
	case strings.HasSuffix(path, "/audit-log"):
		need = "an organisation owner's credentials on GitHub Enterprise Cloud (classic token: read:audit_log or admin:org; fine-grained token or GitHub App: organization permission \"Administration: read\")"
	case strings.Contains(path, "/rule-suites"):
		need = "classic token: repo (repository administrators only); fine-grained token or GitHub App: repository permission \"Administration: read\""
	case strings.Contains(path, "/pulls"):
		need = "classic token: repo; fine-grained token or GitHub App: repository permission \"Pull requests: read\""
	case strings.HasSuffix(path, "/commits") || strings.HasSuffix(path, "/branches"):
		need = "classic token: repo; fine-grained token or GitHub App: repository permission \"Contents: read\""
	case strings.HasPrefix(path, "/orgs/") && strings.HasSuffix(path, "/repos"), strings.HasPrefix(path, "/repos/"):
		need = "classic token: repo; fine-grained token or GitHub App: repository permission \"Metadata: read\""
	case strings.HasPrefix(path, "/orgs/"):
		need = "classic token: read:org; fine-grained token or GitHub App: organization permission \"Members: read\" (the 2FA filter needs an organization owner's token)"
	case strings.HasPrefix(path, "/app/"):
		need = "the GitHub App must be installed on the organization (check installation_id)"
	default:
		need = "read access to the organization's repositories"
	}
	var extra []string
	if v := resp.Header.Get("X-Accepted-OAuth-Scopes"); v != "" {
		extra = append(extra, "endpoint accepts scopes: "+v)
	}
	if v, ok := resp.Header["X-Oauth-Scopes"]; ok {
		have := strings.Join(v, ", ")
		if have == "" {
			have = "(none)"
		}
		extra = append(extra, "token has scopes: "+have)
	}
	if v := resp.Header.Get("X-Accepted-GitHub-Permissions"); v != "" {
		extra = append(extra, "endpoint needs permissions: "+v)
	}
	if len(extra) > 0 {
		need += "; " + strings.Join(extra, "; ")
	}
	return "needs " + need
}

// ---- spooled bodies ----

// spool accumulates the items of one artifact in a temporary file, so a
// large population is never held in memory.
type spool struct {
	f   *os.File
	w   *bufio.Writer
	n   int
	err error
}

func (s *spool) add(v any) error {
	if s.err != nil {
		return s.err
	}
	if s.f == nil {
		f, err := os.CreateTemp("", "tickmark-github-*.json")
		if err != nil {
			s.err = collectors.Retryable(fmt.Errorf("github: spooling evidence: %w", err))
			return s.err
		}
		s.f, s.w = f, bufio.NewWriterSize(f, 64<<10)
	}
	b, err := json.Marshal(v)
	if err != nil {
		s.err = collectors.Permanent(fmt.Errorf("github: encoding evidence: %w", err))
		return s.err
	}
	if s.n > 0 {
		s.w.WriteByte(',')
	}
	s.w.Write(b)
	s.n++
	return nil
}

// body returns prefix, the items joined by commas, and suffix as one
// reader; closing it removes the file.
func (s *spool) body(prefix, suffix []byte) (io.ReadCloser, error) {
	if s.err != nil {
		s.discard()
		return nil, s.err
	}
	if s.f == nil {
		return io.NopCloser(io.MultiReader(bytes.NewReader(prefix), bytes.NewReader(suffix))), nil
	}
	if err := s.w.Flush(); err != nil {
		s.discard()
		return nil, collectors.Retryable(fmt.Errorf("github: spooling evidence: %w", err))
	}
	if _, err := s.f.Seek(0, io.SeekStart); err != nil {
		s.discard()
		return nil, collectors.Retryable(fmt.Errorf("github: spooling evidence: %w", err))
	}
	return &spoolReader{Reader: io.MultiReader(bytes.NewReader(prefix), s.f, bytes.NewReader(suffix)), s: s}, nil
}

func (s *spool) discard() {
	if s.f != nil {
		s.f.Close()
		os.Remove(s.f.Name())
		s.f = nil
	}
}

type spoolReader struct {
	io.Reader
	s    *spool
	once sync.Once
}

func (r *spoolReader) Close() error {
	r.once.Do(r.s.discard)
	return nil
}

// jsonObject renders the fields of v (a struct) as a JSON object without
// its closing brace, followed by `,"key":[` — the head of an artifact body
// whose list is streamed from a spool.
func jsonHead(v any, listKey string) []byte {
	b, _ := json.Marshal(v)
	b = bytes.TrimSuffix(b, []byte("}"))
	if len(b) > 1 {
		b = append(b, ',')
	}
	return append(b, []byte(`"`+listKey+`":[`)...)
}

// jsonTail closes the list and adds the fields of v (a struct).
func jsonTail(v any) []byte {
	b, _ := json.Marshal(v)
	b = bytes.TrimPrefix(b, []byte("{"))
	if len(b) > 1 {
		return append([]byte("],"), b...)
	}
	return []byte("]}")
}
