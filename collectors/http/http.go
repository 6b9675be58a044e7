// Package http is the no-code collector for JSON APIs: it sends configured
// GET or POST requests with credentials from secret references, follows
// pagination (Link header, a cursor field or page numbers), and stores each
// raw response page as evidence.
//
// Configuration (the `http:` section of a collectors[] entry):
//
//	http:
//	  requests:
//	    - evidence_type: custom.backup_jobs
//	      url: https://backup.internal/api/v1/jobs
//	      method: GET                          # or POST (with body)
//	      auth: {bearer: env:BACKUP_TOKEN}     # or basic: {username, password}, or header: {name, value}
//	      pagination: {style: link}            # link | cursor (cursor_field, cursor_param) | page (page_param, start)
//	      select: data                         # dotted path of the items in each page
//	      max_pages: 1000
//
// See README.md in this folder for every key.
package http

import (
	"bytes"
	"context"
	_ "embed"
	"fmt"
	"io"
	"log/slog"
	nethttp "net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/tickmark-dev/tickmark/collectors"
	"github.com/tickmark-dev/tickmark/collectors/httpx"
)

//go:embed sample.yaml
var sampleConfig string

// Version of this collector, recorded in every artifact's source.
const Version = "http/1"

// MaxPageBytes bounds one response page; a larger page fails the request
// (each page is parsed to count its items and find the next page).
const MaxPageBytes = 64 << 20

// DefaultMaxPages is the page limit of a request without max_pages.
const DefaultMaxPages = 1000

func init() {
	collectors.Register(collectors.Definition{
		Type:          "http",
		Summary:       "GETs or POSTs JSON APIs (bearer, basic or header auth; Link, cursor or page pagination) and stores each raw response page",
		SampleConfig:  sampleConfig,
		EvidenceTypes: nil, // each request names its evidence type; map it with collectors[].controls
		NewConfig:     func() any { return &Config{} },
		New: func(cfg any) (collectors.Collector, error) {
			return &Collector{cfg: *cfg.(*Config)}, nil
		},
	})
}

// Config is the `http:` section.
type Config struct {
	Requests []Request `yaml:"requests"`
}

// Request is one requests[] entry: one API listing, fetched page by page.
type Request struct {
	// EvidenceType of the artifacts, e.g. custom.backup_jobs (lowercase, dotted).
	EvidenceType string `yaml:"evidence_type"`
	// URL of the first page (https://...). Credentials never go here.
	URL string `yaml:"url"`
	// Method is GET (default) or POST.
	Method string `yaml:"method"`
	// Body is sent with POST (as application/json unless headers say otherwise).
	Body string `yaml:"body"`
	// Headers are extra, non-secret request headers.
	Headers map[string]string `yaml:"headers"`
	// Auth names the credentials, as secret references.
	Auth *Auth `yaml:"auth"`
	// Pagination says how to reach the next page (none: one page).
	Pagination *Pagination `yaml:"pagination"`
	// Select is the dotted path of the items array in each page, e.g.
	// "data" or "result.items" (empty: the page itself, if it is an array).
	Select string `yaml:"select"`
	// MaxPages bounds the pages fetched (default 1000). A listing cut off
	// by it is recorded as incomplete.
	MaxPages int `yaml:"max_pages"`
}

// Auth holds exactly one credential.
type Auth struct {
	// Bearer is sent as "Authorization: Bearer <token>".
	Bearer collectors.Secret `yaml:"bearer"`
	// Basic is HTTP basic authentication.
	Basic *BasicAuth `yaml:"basic"`
	// Header is a custom header, e.g. X-API-Key.
	Header *HeaderAuth `yaml:"header"`
}

// BasicAuth is a username and a password reference.
type BasicAuth struct {
	Username string            `yaml:"username"`
	Password collectors.Secret `yaml:"password"`
}

// HeaderAuth is a header name and a value reference.
type HeaderAuth struct {
	Name  string            `yaml:"name"`
	Value collectors.Secret `yaml:"value"`
}

// Pagination styles.
const (
	StyleLink   = "link"   // follow the Link header's rel="next" URL
	StyleCursor = "cursor" // read cursor_field from the page, send it as cursor_param
	StylePage   = "page"   // send page_param = start, start+1, ... until a page has no items
)

// Pagination configures how the next page is found.
type Pagination struct {
	Style string `yaml:"style"`
	// CursorField is the dotted path of the next cursor in a page (style cursor).
	CursorField string `yaml:"cursor_field"`
	// CursorParam is the query parameter that carries it (style cursor).
	CursorParam string `yaml:"cursor_param"`
	// PageParam is the query parameter of the page number (style page).
	PageParam string `yaml:"page_param"`
	// Start is the first page number (style page; default 1).
	Start *int `yaml:"start"`
}

// Validate checks the section and fills in defaults.
func (c *Config) Validate() error {
	var errs collectors.ConfigErrors
	add := func(i int, key, msg, hint string) {
		errs = append(errs, &collectors.ConfigError{Key: fmt.Sprintf("requests[%d].%s", i, key), Msg: msg, Hint: hint})
	}
	if len(c.Requests) == 0 {
		errs = append(errs, &collectors.ConfigError{Key: "requests", Msg: "lists no requests",
			Hint: "add at least one entry with evidence_type and url"})
	}
	for i := range c.Requests {
		r := &c.Requests[i]
		if collectors.ValidEvidenceType(r.EvidenceType) != nil {
			add(i, "evidence_type", fmt.Sprintf("%q is not an evidence type", r.EvidenceType), "lowercase and dotted, e.g. custom.backup_jobs")
		}
		u, err := url.Parse(r.URL)
		switch {
		case r.URL == "":
			add(i, "url", "is required", "")
		case err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "":
			add(i, "url", fmt.Sprintf("%q is not an http(s) URL", r.URL), "")
		case u.User != nil:
			add(i, "url", "carries credentials", "put them in auth (basic: {username: ..., password: env:NAME}) so they stay out of configuration files and evidence")
		}
		r.Method = strings.ToUpper(r.Method)
		switch r.Method {
		case "":
			r.Method = nethttp.MethodGet
		case nethttp.MethodGet, nethttp.MethodPost:
		default:
			add(i, "method", fmt.Sprintf("%q is not supported", r.Method), "use GET or POST")
		}
		if r.Body != "" && r.Method != nethttp.MethodPost {
			add(i, "body", "is only sent with method: POST", "")
		}
		for name := range r.Headers {
			switch strings.ToLower(name) {
			case "authorization", "cookie", "proxy-authorization":
				add(i, "headers."+name, "would carry a credential as a literal", "use auth (bearer, basic or header) with an env: or file: reference")
			}
			if !validHeaderName(name) {
				add(i, "headers."+name, "is not a valid header name", "")
			}
		}
		if a := r.Auth; a != nil {
			n := 0
			if a.Bearer.IsSet() {
				n++
			}
			if a.Basic != nil {
				n++
				if a.Basic.Username == "" {
					add(i, "auth.basic.username", "is required", "")
				}
				if !a.Basic.Password.IsSet() {
					add(i, "auth.basic.password", "is required", "a reference: env:NAME or file:/path")
				}
			}
			if a.Header != nil {
				n++
				if !validHeaderName(a.Header.Name) {
					add(i, "auth.header.name", fmt.Sprintf("%q is not a header name", a.Header.Name), "e.g. X-API-Key")
				}
				if !a.Header.Value.IsSet() {
					add(i, "auth.header.value", "is required", "a reference: env:NAME or file:/path")
				}
			}
			if n != 1 {
				add(i, "auth", "must set exactly one of bearer, basic and header", "")
			}
		}
		if p := r.Pagination; p != nil {
			validatePagination(i, p, add)
		}
		if r.MaxPages < 0 {
			add(i, "max_pages", "must be positive", "")
		}
		if r.MaxPages == 0 {
			r.MaxPages = DefaultMaxPages
		}
	}
	if len(errs) > 0 {
		return errs
	}
	return nil
}

func validatePagination(i int, p *Pagination, add func(int, string, string, string)) {
	cursorKeys := p.CursorField != "" || p.CursorParam != ""
	pageKeys := p.PageParam != "" || p.Start != nil
	switch p.Style {
	case StyleLink:
		if cursorKeys || pageKeys {
			add(i, "pagination", "style link takes no other keys", "the next page's URL comes from the Link header")
		}
	case StyleCursor:
		if p.CursorField == "" {
			add(i, "pagination.cursor_field", "is required for style cursor", "the dotted path of the next cursor in a page, e.g. meta.next_cursor")
		}
		if p.CursorParam == "" {
			add(i, "pagination.cursor_param", "is required for style cursor", "the query parameter that carries it, e.g. cursor")
		}
		if pageKeys {
			add(i, "pagination", "page_param and start belong to style page", "")
		}
	case StylePage:
		if p.PageParam == "" {
			add(i, "pagination.page_param", "is required for style page", "e.g. page")
		}
		if p.Start != nil && *p.Start < 0 {
			add(i, "pagination.start", "must not be negative", "")
		}
		if cursorKeys {
			add(i, "pagination", "cursor_field and cursor_param belong to style cursor", "")
		}
	default:
		add(i, "pagination.style", fmt.Sprintf("%q is not a pagination style", p.Style), "link, cursor or page")
	}
}

func validHeaderName(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range s {
		if c <= ' ' || c >= 0x7f || strings.ContainsRune(`"(),/:;<=>?@[\]{}`, c) {
			return false
		}
	}
	return true
}

// Collector runs the configured requests.
type Collector struct {
	cfg Config
}

// Collect fetches the requests in order, each page as one artifact. A
// request's pages are committed together once its pagination ends (a
// snapshot is all or nothing). A failing request stops the run: the
// requests before it stay committed, and the cursor ("<run time> <next
// request>") lets the engine's retry of the same run resume at the failing
// request without collecting the others twice. Unrelated APIs belong in
// separate collector instances, which fail independently.
func (c *Collector) Collect(ctx context.Context, req collectors.Request, emit collectors.Emitter) error {
	if req.Logger == nil {
		req.Logger = slog.New(slog.DiscardHandler)
	}
	if req.HTTPClient == nil {
		req.HTTPClient = httpx.New(nil, req.Logger).Client(2 * time.Minute)
	}
	runAt := req.Now.UTC().Format(time.RFC3339Nano)
	first := 0
	if at, n, ok := strings.Cut(req.Cursor, " "); ok && at == runAt {
		if i, err := strconv.Atoi(n); err == nil && i >= 0 && i <= len(c.cfg.Requests) {
			first = i // a retry of this run: skip the requests already committed
		}
	}
	for i := first; i < len(c.cfg.Requests); i++ {
		if err := c.collect(ctx, req, emit, i); err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return err
		}
		if err := emit.Checkpoint(ctx, runAt+" "+strconv.Itoa(i+1)); err != nil {
			return err
		}
	}
	return nil
}

// page is one fetched response.
type page struct {
	n           int
	url         *url.URL
	contentType string
	body        []byte
	header      nethttp.Header
}

func (c *Collector) collect(ctx context.Context, req collectors.Request, emit collectors.Emitter, i int) error {
	r := &c.cfg.Requests[i]
	name := fmt.Sprintf("http: requests[%d] (%s)", i, r.EvidenceType)
	next, err := url.Parse(r.URL)
	if err != nil {
		return collectors.Permanent(fmt.Errorf("%s: %w", name, err))
	}
	origin := next.Host
	style := ""
	if r.Pagination != nil {
		style = r.Pagination.Style
	}
	pageNo := 0
	if style == StylePage {
		pageNo = 1
		if r.Pagination.Start != nil {
			pageNo = *r.Pagination.Start
		}
		next = withParam(next, r.Pagination.PageParam, strconv.Itoa(pageNo))
	}
	log := req.Logger.With("evidence_type", r.EvidenceType, "request", i)
	seenCursors := map[string]bool{} // cursors, or page URLs with style link
	if style == StyleLink {
		seenCursors[next.String()] = true
	}
	for n := 1; ; n++ {
		if err := ctx.Err(); err != nil {
			return err
		}
		p, err := c.fetch(ctx, req.HTTPClient, r, next, n)
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		ev, err := shape(r, p)
		if err != nil {
			return collectors.Permanent(fmt.Errorf("%s: %s page %d: %w", name, redactURL(p.url, c.secrets(r)), n, err))
		}
		if leak := c.containsSecret(r, p.body); leak != "" {
			return collectors.Permanent(fmt.Errorf("%s: %s page %d: the response contains the credential from %s; refusing to store it as evidence", name, redactURL(p.url, c.secrets(r)), n, leak))
		}
		// Where is the next page?
		var nextURL *url.URL
		switch style {
		case StyleLink:
			if l := nextLink(p.header.Values("Link")); l != "" {
				u, err := p.url.Parse(l)
				if err != nil {
					return collectors.Permanent(fmt.Errorf("%s: page %d: invalid Link next URL: %v", name, n, err))
				}
				if seenCursors[u.String()] {
					return collectors.Permanent(fmt.Errorf("%s: page %d: the Link header points at a page already fetched; stopping to avoid a loop", name, n))
				}
				seenCursors[u.String()] = true
				nextURL = u
			}
		case StyleCursor:
			if ev.cursor != "" {
				if seenCursors[ev.cursor] {
					return collectors.Permanent(fmt.Errorf("%s: page %d: the API returned cursor %q again; stopping to avoid a loop", name, n, ev.cursor))
				}
				seenCursors[ev.cursor] = true
				nextURL = withParam(next, r.Pagination.CursorParam, ev.cursor)
			}
		case StylePage:
			if ev.items > 0 {
				nextURL = withParam(next, r.Pagination.PageParam, strconv.Itoa(pageNo+n))
			}
		}
		if nextURL != nil && nextURL.Host != origin {
			return collectors.Permanent(fmt.Errorf("%s: page %d: the next page is on another host (%s, not %s); refusing to send credentials there", name, n, nextURL.Host, origin))
		}
		last := nextURL == nil
		capped := !last && n >= r.MaxPages
		a := c.artifact(r, p, ev, last)
		if err := emit.Emit(ctx, a); err != nil {
			return err
		}
		log.Debug("fetched page", "page", n, "items", ev.items, "bytes", len(p.body), "url", redactURL(p.url, c.secrets(r)))
		if last {
			return nil
		}
		if capped {
			log.Warn("stopped at max_pages; the listing is recorded as incomplete", "max_pages", r.MaxPages)
			return nil
		}
		next = nextURL
	}
}

// fetch sends one page request and reads the response.
func (c *Collector) fetch(ctx context.Context, client *nethttp.Client, r *Request, u *url.URL, n int) (*page, error) {
	var body io.Reader
	if r.Method == nethttp.MethodPost {
		body = strings.NewReader(r.Body)
	}
	hr, err := nethttp.NewRequestWithContext(ctx, r.Method, u.String(), body)
	if err != nil {
		return nil, collectors.Permanent(err)
	}
	hr.Header.Set("Accept", "application/json")
	hr.Header.Set("User-Agent", "tickmark/"+Version)
	if r.Method == nethttp.MethodPost {
		hr.Header.Set("Content-Type", "application/json")
	}
	for k, v := range r.Headers {
		hr.Header.Set(k, v)
	}
	if a := r.Auth; a != nil {
		switch {
		case a.Bearer.IsSet():
			hr.Header.Set("Authorization", "Bearer "+a.Bearer.Value())
		case a.Basic != nil:
			hr.SetBasicAuth(a.Basic.Username, a.Basic.Password.Value())
		case a.Header != nil:
			hr.Header.Set(a.Header.Name, a.Header.Value.Value())
		}
	}
	resp, err := client.Do(hr)
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		if collectors.IsClassified(err) {
			return nil, fmt.Errorf("%s %s: %w", r.Method, redactURL(u, c.secrets(r)), err)
		}
		// Transport errors (refused, reset, DNS) are worth another run.
		return nil, collectors.Retryable(fmt.Errorf("%s %s: %s", r.Method, redactURL(u, c.secrets(r)), scrub(err.Error(), c.secrets(r))))
	}
	defer resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return nil, statusError(resp, r, u, c.secrets(r))
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, MaxPageBytes+1))
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, collectors.Retryable(fmt.Errorf("%s %s: reading the response: %v", r.Method, redactURL(u, c.secrets(r)), err))
	}
	if len(b) > MaxPageBytes {
		return nil, collectors.Permanent(fmt.Errorf("%s %s: page %d is larger than %d MiB; ask the API for smaller pages", r.Method, redactURL(u, c.secrets(r)), n, MaxPageBytes>>20))
	}
	ct := resp.Header.Get("Content-Type")
	if ct == "" {
		ct = "application/json"
	}
	return &page{n: n, url: u, contentType: ct, body: b, header: resp.Header}, nil
}

// statusError describes a refused request: the endpoint, the status, the
// API's own error summary, what to check, classified by status.
func statusError(resp *nethttp.Response, r *Request, u *url.URL, secrets []string) error {
	se := httpx.NewStatusError(resp)
	se.URL = redactURL(u, secrets)
	se.Method = r.Method
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 16<<10))
	se.Code, se.Message = apiError(b)
	se.Code, se.Message = scrub(se.Code, secrets), scrub(se.Message, secrets)
	cred := "no credentials are configured: add auth"
	if a := r.Auth; a != nil {
		switch {
		case a.Bearer.IsSet():
			cred = "the server refused the bearer token from " + a.Bearer.Ref()
		case a.Basic != nil:
			cred = fmt.Sprintf("the server refused user %q with the password from %s", a.Basic.Username, a.Basic.Password.Ref())
		case a.Header != nil:
			cred = fmt.Sprintf("the server refused the %s header from %s", a.Header.Name, a.Header.Value.Ref())
		}
	}
	switch resp.StatusCode {
	case nethttp.StatusUnauthorized:
		se.Hint = cred + "; check it is valid and not expired"
	case nethttp.StatusForbidden:
		se.Hint = "the credential is valid but may not read " + u.Path + "; grant it read access to this endpoint"
	case nethttp.StatusNotFound:
		se.Hint = "check the url; the endpoint may have moved or been removed"
	case nethttp.StatusTooManyRequests:
		se.Hint = "rate limited even after waiting as the server asked; lower the schedule's frequency or max_pages"
	}
	return httpx.Classify(se)
}

// apiError picks an error code and summary out of a JSON error body.
func apiError(b []byte) (code, msg string) {
	v, err := decodeJSON(b)
	if err != nil {
		return "", ""
	}
	m, ok := v.(map[string]any)
	if !ok {
		return "", ""
	}
	if e, ok := m["error"].(map[string]any); ok { // {"error": {"code": ..., "message": ...}}
		m = e
	}
	str := func(keys ...string) string {
		for _, k := range keys {
			if s, ok := m[k].(string); ok && s != "" {
				if len(s) > 200 {
					s = s[:200] + "..."
				}
				return s
			}
		}
		return ""
	}
	return str("code", "error"), str("message", "error_description", "detail", "title")
}

// secrets returns the request's credential values, for redaction.
func (c *Collector) secrets(r *Request) []string {
	var out []string
	if a := r.Auth; a != nil {
		for _, s := range []collectors.Secret{a.Bearer, basicPassword(a.Basic), headerValue(a.Header)} {
			if s.Value() != "" {
				out = append(out, s.Value())
			}
		}
	}
	return out
}

func basicPassword(b *BasicAuth) collectors.Secret {
	if b == nil {
		return collectors.Secret{}
	}
	return b.Password
}

func headerValue(h *HeaderAuth) collectors.Secret {
	if h == nil {
		return collectors.Secret{}
	}
	return h.Value
}

// containsSecret names the reference whose value appears in b ("" if none).
func (c *Collector) containsSecret(r *Request, b []byte) string {
	if a := r.Auth; a != nil {
		for _, s := range []collectors.Secret{a.Bearer, basicPassword(a.Basic), headerValue(a.Header)} {
			if len(s.Value()) >= 4 && bytes.Contains(b, []byte(s.Value())) {
				return s.Ref()
			}
		}
	}
	return ""
}

func scrub(s string, secrets []string) string {
	for _, sec := range secrets {
		if sec != "" {
			s = strings.ReplaceAll(s, sec, "REDACTED")
		}
	}
	return s
}

// withParam returns u with query parameter k set to v.
func withParam(u *url.URL, k, v string) *url.URL {
	c := *u
	q := c.Query()
	q.Set(k, v)
	c.RawQuery = q.Encode()
	return &c
}

// nextLink returns the rel="next" target of Link headers (RFC 8288), or "".
func nextLink(values []string) string {
	for _, v := range values {
		for _, part := range splitLinks(v) {
			part = strings.TrimSpace(part)
			if !strings.HasPrefix(part, "<") {
				continue
			}
			end := strings.Index(part, ">")
			if end < 0 {
				continue
			}
			target := part[1:end]
			for _, param := range strings.Split(part[end+1:], ";") {
				k, val, ok := strings.Cut(strings.TrimSpace(param), "=")
				if !ok || !strings.EqualFold(strings.TrimSpace(k), "rel") {
					continue
				}
				for _, rel := range strings.Fields(strings.Trim(strings.TrimSpace(val), `"`)) {
					if strings.EqualFold(rel, "next") {
						return target
					}
				}
			}
		}
	}
	return ""
}

// splitLinks splits a Link header value at the commas between links (not
// those inside <...> or quotes).
func splitLinks(v string) []string {
	var out []string
	depth, quoted, start := 0, false, 0
	for i, c := range v {
		switch {
		case c == '"':
			quoted = !quoted
		case quoted:
		case c == '<':
			depth++
		case c == '>':
			depth--
		case c == ',' && depth == 0:
			out = append(out, v[start:i])
			start = i + 1
		}
	}
	return append(out, v[start:])
}
