package console_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/tickmark-dev/tickmark/internal/console"
)

func TestCheckListenRefusesNonLoopbackWithoutOIDC(t *testing.T) {
	for _, tc := range []struct {
		addr string
		oidc bool
		ok   bool
	}{
		{"127.0.0.1:8080", false, true},
		{"[::1]:8080", false, true},
		{"localhost:8080", false, true},
		{"127.1.2.3:80", false, true},
		{":8080", false, false},
		{"0.0.0.0:8080", false, false},
		{"10.0.0.5:8080", false, false},
		{"console.internal:8080", false, false},
		{":8080", true, true},
	} {
		err := console.CheckListen(tc.addr, tc.oidc)
		if (err == nil) != tc.ok {
			t.Errorf("CheckListen(%q, oidc=%v) = %v, want ok=%v", tc.addr, tc.oidc, err, tc.ok)
		}
		if err != nil && !strings.Contains(err.Error(), "not loopback") {
			t.Errorf("CheckListen(%q): %v does not say why", tc.addr, err)
		}
	}
}

func TestParseWindow(t *testing.T) {
	w, err := console.ParseWindowSpec("2026-01-01..2026-06-30")
	if err != nil {
		t.Fatal(err)
	}
	if !w.From.Equal(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)) || !w.To.Equal(time.Date(2026, 7, 1, 0, 0, 0, 0, time.UTC)) {
		t.Errorf("window %v..%v", w.From, w.To)
	}
	if w.Query() != "from=2026-01-01&to=2026-06-30" {
		t.Errorf("query %q", w.Query())
	}
	for _, bad := range []string{"2026-01-01", "2026-06-30..2026-01-01", "2026-13-01..2026-12-31", "2020-01-01..2026-01-01"} {
		if _, err := console.ParseWindowSpec(bad); err == nil {
			t.Errorf("ParseWindowSpec(%q) accepted", bad)
		}
	}
}

// emptyFleet is a console with no agents, for the tests of headers and
// sign-in that need no evidence.
func emptyFleet(context.Context) (*console.Fleet, error) {
	return &console.Fleet{Where: "nowhere", Agents: map[string]console.AgentSource{}}, nil
}

func TestLoopbackConsoleHeadersAndNoScript(t *testing.T) {
	srv, err := console.New(context.Background(), console.Config{Open: emptyFleet, Controls: defaultControls(t)})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(srv.Handler())
	defer ts.Close()
	resp, err := http.Get(ts.URL + "/dashboard?from=2026-01-01&to=2026-01-31")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("loopback console without OIDC: dashboard %d", resp.StatusCode)
	}
	h := resp.Header
	csp := h.Get("Content-Security-Policy")
	for _, want := range []string{"default-src 'none'", "frame-ancestors 'none'", "style-src 'self'"} {
		if !strings.Contains(csp, want) {
			t.Errorf("CSP %q lacks %q", csp, want)
		}
	}
	if strings.Contains(csp, "unsafe-inline") || strings.Contains(csp, "script-src") {
		t.Errorf("CSP allows script: %q", csp)
	}
	if h.Get("X-Frame-Options") != "DENY" || h.Get("X-Content-Type-Options") != "nosniff" {
		t.Errorf("headers: %v", h)
	}
	var body strings.Builder
	buf := make([]byte, 1<<16)
	for {
		n, err := resp.Body.Read(buf)
		body.Write(buf[:n])
		if err != nil {
			break
		}
	}
	page := body.String()
	for _, bad := range []string{"<script", "style=", "http://", "https://"} {
		if strings.Contains(page, bad) {
			t.Errorf("the dashboard contains %q (inline script or style, or an external asset)", bad)
		}
	}
	// the window travels with every link
	for _, want := range []string{`href="/artifacts?from=2026-01-01&amp;to=2026-01-31"`, `href="/package?from=2026-01-01&amp;to=2026-01-31"`, `href="/controls/AC-04?from=2026-01-01&amp;to=2026-01-31"`} {
		if !strings.Contains(page, want) {
			t.Errorf("the dashboard lacks the link %s", want)
		}
	}
	if len(page) > 200<<10 {
		t.Errorf("the dashboard weighs %d bytes, over 200 KiB", len(page))
	}
}

func TestForgedSessionCookieIsRefused(t *testing.T) {
	m := startMockOIDC(t)
	cfg := m.Config()
	srv, err := console.New(context.Background(), console.Config{Open: emptyFleet, Controls: defaultControls(t),
		OIDC:   &console.OIDC{Issuer: cfg.Issuer, ClientID: cfg.ClientID, ClientSecret: cfg.ClientSecret, RedirectURL: "http://127.0.0.1:1/auth/callback"},
		Access: console.Access{ComplianceEmails: []string{"a@example.com"}}})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(srv.Handler())
	defer ts.Close()
	hc := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	for _, v := range []string{
		"eyJzdWIiOiJ4Iiwicm9sZSI6ImNvbXBsaWFuY2UiLCJleHAiOjk5OTk5OTk5OTl9.AAAA", // valid JSON, wrong signature
		"eyJzdWIiOiJ4Iiwicm9sZSI6ImNvbXBsaWFuY2UiLCJleHAiOjk5OTk5OTk5OTl9",      // no signature
		"garbage",
	} {
		req, _ := http.NewRequest("GET", ts.URL+"/dashboard", nil)
		req.AddCookie(&http.Cookie{Name: "tickmark_session", Value: v})
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(resp.Header.Get("Location"), "/auth/login") {
			t.Errorf("forged session %q: %d %s, want a redirect to sign-in", v, resp.StatusCode, resp.Header.Get("Location"))
		}
	}
	// the sign-in redirect goes to the provider with PKCE and a nonce
	resp, err := hc.Get(ts.URL + "/auth/login?next=/dashboard")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	loc := resp.Header.Get("Location")
	for _, want := range []string{cfg.Issuer, "code_challenge=", "code_challenge_method=S256", "nonce=", "state="} {
		if !strings.Contains(loc, want) {
			t.Errorf("sign-in redirect %q lacks %q", loc, want)
		}
	}
	var flow *http.Cookie
	for _, c := range resp.Cookies() {
		if c.Name == "tickmark_signin" {
			flow = c
		}
	}
	if flow == nil || !flow.HttpOnly || flow.SameSite != http.SameSiteLaxMode {
		t.Errorf("sign-in cookie %+v: want HttpOnly, SameSite=Lax", flow)
	}
}
