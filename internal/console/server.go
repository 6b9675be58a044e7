// Package console is `tickmark serve`: a read-only web console over the
// fleet's evidence (every agent's log in the bucket, or the local ledger)
// for compliance staff and auditors. Pages are rendered on the server
// with html/template; styles are embedded (no script, no CDN, so it works
// air-gapped); sign-in is OpenID Connect with a role per group or email;
// every artifact view, download and package is written to the access log.
package console

import (
	"context"
	"crypto/x509"
	"embed"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/tickmark-dev/tickmark/internal/controls"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// Config configures a console.
type Config struct {
	// Open reads the evidence; it is called at start and on every refresh.
	Open func(ctx context.Context) (*Fleet, error)
	// Refresh is how often the evidence is re-read (0: never).
	Refresh time.Duration
	// Controls is the organisation's control set.
	Controls *controls.Set
	// Producers maps collector instances to the evidence types they
	// produce (from the configuration), for coverage.
	Producers map[string][]string
	// Checks maps control IDs to the result types (check.<id>) of the
	// control tests of each: a covered period whose latest result failed is
	// covered with exceptions.
	Checks map[string][]string
	// OIDC, if set, enables sign-in; without it every request is treated
	// as the local operator's (compliance), and the console must listen on
	// loopback only (see CheckListen).
	OIDC *OIDC
	// Access maps signed-in users to roles.
	Access Access
	// AuditorWindows are the observation windows auditors may see.
	AuditorWindows []Window
	// SessionKey signs session cookies (32+ random bytes; shared by every
	// replica). Empty: a random key per process (sessions end at restart).
	SessionKey []byte
	// Logger is the process log; AccessLog the access log (default Logger).
	Logger    *slog.Logger
	AccessLog *slog.Logger
	// Recorder, if set, also records every access as evidence.
	Recorder AccessRecorder
	// Registry receives the console's metrics (default: a new registry).
	Registry *prometheus.Registry
	// Now is the clock (default time.Now).
	Now func() time.Time
	// TempDir holds packages' spooled indexes while they stream.
	TempDir string
	// TSARoots, if set, checks the TSA's certificate chain of timestamps.
	TSARoots *x509.CertPool
	// Packages is how many auditor packages may be built at once (default 2).
	Packages int
}

// Server is a running console's handler.
type Server struct {
	cfg   Config
	auth  *auth
	tmpl  map[string]*template.Template
	mux   *http.ServeMux
	log   *slog.Logger
	alog  *slog.Logger
	now   func() time.Time
	reg   *prometheus.Registry
	reqs  *prometheus.CounterVec
	dur   *prometheus.HistogramVec
	acc   *prometheus.CounterVec
	fresh prometheus.Gauge

	packages chan struct{}

	mu    sync.RWMutex
	fleet *Fleet
	gen   int
}

// CheckListen refuses a listen address other than loopback when sign-in
// is not configured: without OIDC anyone who reaches the port would be
// the operator.
func CheckListen(addr string, withOIDC bool) error {
	if withOIDC {
		return nil
	}
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("listen address %q: %w", addr, err)
	}
	if host == "localhost" {
		return nil
	}
	ip := net.ParseIP(host)
	if ip == nil || !ip.IsLoopback() {
		return fmt.Errorf("listen address %q is not loopback and no OIDC sign-in is configured: anyone reaching it would see every piece of evidence", addr)
	}
	return nil
}

// New reads the evidence once and returns the console.
func New(ctx context.Context, cfg Config) (*Server, error) {
	if cfg.Open == nil || cfg.Controls == nil {
		return nil, errors.New("console: Open and Controls are required")
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.AccessLog == nil {
		cfg.AccessLog = cfg.Logger
	}
	if cfg.Registry == nil {
		cfg.Registry = prometheus.NewRegistry()
	}
	if cfg.OIDC != nil && len(cfg.AuditorWindows) == 0 && (len(cfg.Access.AuditorEmails) > 0 || len(cfg.Access.AuditorGroups) > 0) {
		return nil, errors.New("console: auditors are configured but no observation window is: auditors see only the configured windows")
	}
	au, err := newAuth(ctx, cfg.OIDC, cfg.Access, cfg.SessionKey, cfg.Now)
	if err != nil {
		return nil, err
	}
	if cfg.Packages <= 0 {
		cfg.Packages = 2
	}
	s := &Server{cfg: cfg, auth: au, log: cfg.Logger, alog: cfg.AccessLog, now: cfg.Now, reg: cfg.Registry, packages: make(chan struct{}, cfg.Packages)}
	if err := s.parseTemplates(); err != nil {
		return nil, err
	}
	s.reqs = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "tickmark_console_requests_total", Help: "Console requests by route and status code."}, []string{"route", "code"})
	s.dur = prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "tickmark_console_request_duration_seconds", Help: "Console request duration by route.",
		Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30}}, []string{"route"})
	s.acc = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "tickmark_console_access_events_total", Help: "Recorded accesses (artifact views, downloads, packages) by action."}, []string{"action"})
	s.fresh = prometheus.NewGauge(prometheus.GaugeOpts{Name: "tickmark_console_evidence_read_timestamp_seconds", Help: "When the console last read the evidence."})
	for _, c := range []prometheus.Collector{s.reqs, s.dur, s.acc, s.fresh} {
		if err := s.reg.Register(c); err != nil {
			return nil, err
		}
	}
	if err := s.Reload(ctx); err != nil {
		return nil, err
	}
	s.routes()
	return s, nil
}

// Reload re-reads the evidence and swaps it in.
func (s *Server) Reload(ctx context.Context) error {
	f, err := s.cfg.Open(ctx)
	if err != nil {
		return err
	}
	if f.Opened.IsZero() {
		f.Opened = s.now().UTC()
	}
	if err := f.index(ctx); err != nil {
		if f.Close != nil {
			f.Close()
		}
		return err
	}
	s.mu.Lock()
	old := s.fleet
	s.fleet = f
	s.gen++
	s.mu.Unlock()
	s.fresh.Set(float64(f.Opened.Unix()))
	if old != nil && old.Close != nil {
		// close it once the requests reading it (a package may stream for
		// minutes) are done
		go func() { old.refs.Wait(); old.Close() }()
	}
	s.log.Info("console: evidence read", "agents", len(f.Agents), "problems", len(f.Problems), "where", f.Where)
	return nil
}

// Run refreshes the evidence every cfg.Refresh until ctx ends.
func (s *Server) Run(ctx context.Context) {
	if s.cfg.Refresh <= 0 {
		return
	}
	t := time.NewTicker(s.cfg.Refresh)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := s.Reload(ctx); err != nil && ctx.Err() == nil {
				s.log.Warn("console: re-reading the evidence failed; still showing the previous read", "err", err)
			}
		}
	}
}

// Close releases the evidence.
func (s *Server) Close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fleet != nil && s.fleet.Close != nil {
		s.fleet.Close()
	}
	s.fleet = nil
}

func (s *Server) current() *Fleet {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.fleet
}

// Handler is the console's HTTP handler.
func (s *Server) Handler() http.Handler { return s.mux }

// MetricsHandler serves the console's metrics (mount it on a separate,
// internal listener: it needs no sign-in).
func (s *Server) MetricsHandler() http.Handler {
	return promhttp.HandlerFor(s.reg, promhttp.HandlerOpts{Registry: s.reg})
}

// csp: nothing but this origin's stylesheets and images; no script at all,
// no framing, forms only to this origin.
const csp = "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

func securityHeaders(h http.Header) {
	h.Set("Content-Security-Policy", csp)
	h.Set("X-Frame-Options", "DENY")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cross-Origin-Opener-Policy", "same-origin")
	h.Set("Cache-Control", "no-store")
}

type statusWriter struct {
	http.ResponseWriter
	code int
}

func (w *statusWriter) WriteHeader(c int) {
	if w.code == 0 {
		w.code = c
	}
	w.ResponseWriter.WriteHeader(c)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.code == 0 {
		w.code = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

func (w *statusWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

type ctxKey struct{}

type fleetKey struct{}

func userOf(r *http.Request) *User { u, _ := r.Context().Value(ctxKey{}).(*User); return u }

// fleetOf is the evidence a request reads: the fleet current when it
// started, held until it ends (a refresh does not close it under a
// package being streamed).
func fleetOf(r *http.Request) *Fleet { f, _ := r.Context().Value(fleetKey{}).(*Fleet); return f }

// acquire returns the current fleet, held until release.
func (s *Server) acquire() (*Fleet, func()) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	f := s.fleet
	if f == nil {
		return nil, func() {}
	}
	f.refs.Add(1)
	return f, f.refs.Done
}

// page wraps a handler: security headers, metrics, and sign-in (an
// unauthenticated request is redirected to sign-in).
func (s *Server) page(route string, public bool, h func(w http.ResponseWriter, r *http.Request)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w}
		securityHeaders(w.Header())
		defer func() {
			code := sw.code
			if code == 0 {
				code = http.StatusOK
			}
			s.reqs.WithLabelValues(route, strconv.Itoa(code)).Inc()
			s.dur.WithLabelValues(route).Observe(time.Since(start).Seconds())
		}()
		f, release := s.acquire()
		defer release()
		r = r.WithContext(context.WithValue(r.Context(), fleetKey{}, f))
		if !public {
			u := s.auth.user(r)
			if u == nil {
				http.Redirect(sw, r, "/auth/login?next="+url.QueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
				return
			}
			r = r.WithContext(context.WithValue(r.Context(), ctxKey{}, u))
		}
		h(sw, r)
	})
}

func (s *Server) routes() {
	m := http.NewServeMux()
	static, _ := fs.Sub(staticFS, "static")
	fileServer := http.StripPrefix("/static/", http.FileServerFS(static))
	m.Handle("GET /static/", s.page("static", true, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "public, max-age=3600")
		fileServer.ServeHTTP(w, r)
	}))
	m.Handle("GET /healthz", s.page("healthz", true, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		if s.current() == nil {
			http.Error(w, "evidence not read", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ok")
	}))
	m.Handle("GET /auth/login", s.page("login", true, s.auth.login))
	m.Handle("GET /auth/callback", s.page("callback", true, s.handleCallback))
	m.Handle("POST /auth/logout", s.page("logout", true, func(w http.ResponseWriter, r *http.Request) {
		s.auth.logout(w)
		s.render(w, r, http.StatusOK, "signedout", &pageData{Title: "Signed out"})
	}))
	m.Handle("GET /{$}", s.page("root", false, func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/dashboard?"+s.defaultWindow(userOf(r)).Query(), http.StatusSeeOther)
	}))
	m.Handle("GET /dashboard", s.page("dashboard", false, s.handleDashboard))
	m.Handle("GET /controls/{id}", s.page("control", false, s.handleControl))
	m.Handle("GET /controls/{id}/periods/{start}", s.page("period", false, s.handlePeriod))
	m.Handle("GET /artifacts", s.page("artifacts", false, s.handleArtifacts))
	m.Handle("GET /artifacts/{agent}/{seq}", s.page("artifact", false, s.handleArtifact))
	m.Handle("GET /artifacts/{agent}/{seq}/body", s.page("body", false, s.handleBody))
	m.Handle("GET /artifacts/{agent}/{seq}/proof", s.page("proof", false, s.handleProof))
	m.Handle("GET /artifacts/{agent}/{seq}/proof.tlog-proof", s.page("prooffile", false, s.handleProofFile))
	m.Handle("GET /populations", s.page("populations", false, s.handlePopulation))
	m.Handle("GET /package", s.page("package", false, s.handlePackagePage))
	m.Handle("GET /package/download", s.page("download", false, s.handlePackage))
	m.Handle("/", s.page("notfound", false, func(w http.ResponseWriter, r *http.Request) {
		s.fail(w, r, http.StatusNotFound, "No such page.")
	}))
	s.mux = m
}

func (s *Server) handleCallback(w http.ResponseWriter, r *http.Request) {
	u, next, err := s.auth.callback(r.Context(), w, r)
	if err != nil {
		code := http.StatusBadRequest
		if errors.Is(err, errNotAllowed) {
			code = http.StatusForbidden
			s.access(r, u, "sign_in_refused", nil)
		}
		s.log.Warn("console: sign-in failed", "err", err)
		s.render(w, r, code, "error", &pageData{Title: "Sign-in failed", Error: err.Error(), SignIn: true})
		return
	}
	s.access(r, u, "sign_in", nil)
	http.Redirect(w, r, next, http.StatusSeeOther)
}
