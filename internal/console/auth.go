package console

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"
)

// Role is what a signed-in user may see.
type Role string

// Roles.
const (
	// Compliance sees everything.
	Compliance Role = "compliance"
	// Auditor sees only the configured observation windows and may
	// download their packages.
	Auditor Role = "auditor"
)

// User is the person behind a request.
type User struct {
	Subject string `json:"sub"`
	Email   string `json:"email,omitempty"`
	Name    string `json:"name,omitempty"`
	Role    Role   `json:"role"`
	Expires int64  `json:"exp"`
}

// Who names the user in pages and the access log.
func (u *User) Who() string {
	if u.Email != "" {
		return u.Email
	}
	return u.Subject
}

// OIDC configures sign-in with an OpenID Connect provider.
type OIDC struct {
	Issuer       string
	ClientID     string
	ClientSecret string
	// RedirectURL is the console's callback as the browser reaches it
	// (https://evidence.example.com/auth/callback).
	RedirectURL string
	// GroupsClaim names the ID token claim that lists the user's groups
	// (default "groups").
	GroupsClaim string
	// Scopes to request besides openid (default email, profile, groups).
	Scopes []string
}

// Access maps users to roles: an email or a group listed for a role
// grants it (compliance wins over auditor).
type Access struct {
	ComplianceGroups, ComplianceEmails []string
	AuditorGroups, AuditorEmails       []string
}

func (a Access) role(email string, groups []string) (Role, bool) {
	match := func(gs, es []string) bool {
		if email != "" && slices.ContainsFunc(es, func(e string) bool { return strings.EqualFold(e, email) }) {
			return true
		}
		for _, g := range groups {
			if slices.Contains(gs, g) {
				return true
			}
		}
		return false
	}
	switch {
	case match(a.ComplianceGroups, a.ComplianceEmails):
		return Compliance, true
	case match(a.AuditorGroups, a.AuditorEmails):
		return Auditor, true
	}
	return "", false
}

const (
	sessionCookie = "tickmark_session"
	flowCookie    = "tickmark_signin"
	sessionTTL    = 8 * time.Hour
	flowTTL       = 10 * time.Minute
)

// auth signs users in with OIDC and keeps their session in a signed,
// HttpOnly, SameSite cookie. Without OIDC every request is the local
// operator's (the console then listens on loopback only).
type auth struct {
	oidc     *OIDC
	access   Access
	key      []byte // HMAC key for cookies
	secure   bool   // Secure cookies (https)
	oauth    oauth2.Config
	verifier *oidc.IDTokenVerifier
	now      func() time.Time
}

func newAuth(ctx context.Context, o *OIDC, a Access, key []byte, now func() time.Time) (*auth, error) {
	if len(key) == 0 {
		key = make([]byte, 32)
		if _, err := rand.Read(key); err != nil {
			return nil, err
		}
	}
	au := &auth{oidc: o, access: a, key: key, now: now}
	if o == nil {
		return au, nil
	}
	ru, err := url.Parse(o.RedirectURL)
	if err != nil || ru.Host == "" || (ru.Scheme != "https" && ru.Scheme != "http") {
		return nil, fmt.Errorf("oidc redirect URL %q: need an absolute http(s) URL ending in /auth/callback", o.RedirectURL)
	}
	if ru.Path != "/auth/callback" {
		return nil, fmt.Errorf("oidc redirect URL %q: the path must be /auth/callback", o.RedirectURL)
	}
	au.secure = ru.Scheme == "https"
	p, err := oidc.NewProvider(ctx, o.Issuer)
	if err != nil {
		return nil, fmt.Errorf("oidc provider %s: %w", o.Issuer, err)
	}
	scopes := o.Scopes
	if len(scopes) == 0 {
		scopes = []string{"email", "profile", "groups"}
	}
	au.oauth = oauth2.Config{ClientID: o.ClientID, ClientSecret: o.ClientSecret, Endpoint: p.Endpoint(), RedirectURL: o.RedirectURL,
		Scopes: append([]string{oidc.ScopeOpenID}, scopes...)}
	au.verifier = p.Verifier(&oidc.Config{ClientID: o.ClientID, Now: now})
	return au, nil
}

// sign and open: value "." HMAC-SHA256(value), both base64url.
func (a *auth) sign(v any) (string, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return "", err
	}
	m := hmac.New(sha256.New, a.key)
	m.Write(b)
	return base64.RawURLEncoding.EncodeToString(b) + "." + base64.RawURLEncoding.EncodeToString(m.Sum(nil)), nil
}

func (a *auth) open(s string, v any) error {
	p, sig, ok := strings.Cut(s, ".")
	if !ok {
		return errors.New("malformed cookie")
	}
	b, err := base64.RawURLEncoding.DecodeString(p)
	if err != nil {
		return err
	}
	got, err := base64.RawURLEncoding.DecodeString(sig)
	if err != nil {
		return err
	}
	m := hmac.New(sha256.New, a.key)
	m.Write(b)
	if !hmac.Equal(got, m.Sum(nil)) {
		return errors.New("bad cookie signature")
	}
	return json.Unmarshal(b, v)
}

func (a *auth) cookie(name, value string, ttl time.Duration) *http.Cookie {
	return &http.Cookie{Name: name, Value: value, Path: "/", HttpOnly: true, Secure: a.secure, SameSite: http.SameSiteLaxMode, MaxAge: int(ttl.Seconds())}
}

// user returns the request's signed-in user, or nil.
func (a *auth) user(r *http.Request) *User {
	if a.oidc == nil {
		return &User{Subject: "local", Name: "local operator (loopback, no sign-in)", Role: Compliance}
	}
	c, err := r.Cookie(sessionCookie)
	if err != nil {
		return nil
	}
	var u User
	if err := a.open(c.Value, &u); err != nil || a.now().Unix() >= u.Expires {
		return nil
	}
	return &u
}

type flow struct {
	State    string `json:"state"`
	Nonce    string `json:"nonce"`
	Verifier string `json:"verifier"`
	Next     string `json:"next"`
	Expires  int64  `json:"exp"`
}

func randomString() string {
	b := make([]byte, 24)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// localPath keeps a post-sign-in redirect on this site.
func localPath(p string) string {
	if !strings.HasPrefix(p, "/") || strings.HasPrefix(p, "//") || strings.HasPrefix(p, "/\\") || strings.HasPrefix(p, "/auth/") {
		return "/"
	}
	return p
}

// login starts the authorization code flow (with PKCE and a nonce).
func (a *auth) login(w http.ResponseWriter, r *http.Request) {
	if a.oidc == nil {
		http.Redirect(w, r, "/", http.StatusSeeOther)
		return
	}
	f := flow{State: randomString(), Nonce: randomString(), Verifier: oauth2.GenerateVerifier(), Next: localPath(r.URL.Query().Get("next")),
		Expires: a.now().Add(flowTTL).Unix()}
	v, err := a.sign(f)
	if err != nil {
		http.Error(w, "sign-in failed", http.StatusInternalServerError)
		return
	}
	http.SetCookie(w, a.cookie(flowCookie, v, flowTTL))
	http.Redirect(w, r, a.oauth.AuthCodeURL(f.State, oidc.Nonce(f.Nonce), oauth2.S256ChallengeOption(f.Verifier)), http.StatusFound)
}

// errNotAllowed: signed in, but in no role.
var errNotAllowed = errors.New("your account is in no group or list allowed to use this console")

// callback completes sign-in: checks state, exchanges the code, verifies
// the ID token and its nonce, maps the user to a role, and sets the
// session cookie.
func (a *auth) callback(ctx context.Context, w http.ResponseWriter, r *http.Request) (*User, string, error) {
	c, err := r.Cookie(flowCookie)
	if err != nil {
		return nil, "", errors.New("no sign-in in progress (cookies disabled, or it expired): start again")
	}
	http.SetCookie(w, a.cookie(flowCookie, "", -time.Second))
	var f flow
	if err := a.open(c.Value, &f); err != nil || a.now().Unix() >= f.Expires {
		return nil, "", errors.New("sign-in expired: start again")
	}
	q := r.URL.Query()
	if e := q.Get("error"); e != "" {
		return nil, "", fmt.Errorf("the identity provider refused sign-in: %s %s", e, q.Get("error_description"))
	}
	if q.Get("state") != f.State {
		return nil, "", errors.New("sign-in state does not match: start again")
	}
	tok, err := a.oauth.Exchange(ctx, q.Get("code"), oauth2.VerifierOption(f.Verifier))
	if err != nil {
		return nil, "", fmt.Errorf("exchanging the authorization code: %w", err)
	}
	raw, ok := tok.Extra("id_token").(string)
	if !ok {
		return nil, "", errors.New("the identity provider returned no ID token")
	}
	idt, err := a.verifier.Verify(ctx, raw)
	if err != nil {
		return nil, "", fmt.Errorf("ID token: %w", err)
	}
	if idt.Nonce != f.Nonce {
		return nil, "", errors.New("ID token nonce does not match")
	}
	var claims map[string]any
	if err := idt.Claims(&claims); err != nil {
		return nil, "", err
	}
	u := &User{Subject: idt.Subject}
	u.Email, _ = claims["email"].(string)
	if v, ok := claims["email_verified"].(bool); ok && !v {
		u.Email = "" // an unverified address grants nothing
	}
	u.Name, _ = claims["name"].(string)
	if u.Name == "" {
		u.Name, _ = claims["preferred_username"].(string)
	}
	gc := a.oidc.GroupsClaim
	if gc == "" {
		gc = "groups"
	}
	var groups []string
	if gs, ok := claims[gc].([]any); ok {
		for _, g := range gs {
			if s, ok := g.(string); ok {
				groups = append(groups, s)
			}
		}
	}
	role, ok := a.access.role(u.Email, groups)
	if !ok {
		return u, "", errNotAllowed
	}
	u.Role = role
	u.Expires = a.now().Add(sessionTTL).Unix()
	v, err := a.sign(u)
	if err != nil {
		return nil, "", err
	}
	http.SetCookie(w, a.cookie(sessionCookie, v, sessionTTL))
	return u, f.Next, nil
}

func (a *auth) logout(w http.ResponseWriter) {
	http.SetCookie(w, a.cookie(sessionCookie, "", -time.Second))
}
