package github

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	gh "github.com/google/go-github/v60/github"

	"github.com/tickmark-dev/tickmark/collectors"
	"github.com/tickmark-dev/tickmark/collectors/httpx"
)

// client builds the go-github client for one run on the engine's
// rate-limit-aware transport, adding authentication (only for requests to
// the configured API host, so a redirect elsewhere never carries the token).
func (c *collector) client(req collectors.Request) (*gh.Client, error) {
	hc := req.HTTPClient
	if hc == nil {
		hc = http.DefaultClient
	}
	base := hc.Transport
	if base == nil {
		base = http.DefaultTransport
	}
	newClient := func(rt http.RoundTripper) (*gh.Client, error) {
		cl := gh.NewClient(&http.Client{Transport: rt, Timeout: hc.Timeout})
		if strings.TrimRight(c.cfg.BaseURL, "/") == strings.TrimRight(DefaultBaseURL, "/") {
			return cl, nil
		}
		return cl.WithEnterpriseURLs(c.cfg.BaseURL, c.cfg.BaseURL)
	}
	probe, err := newClient(base)
	if err != nil {
		return nil, fmt.Errorf("base_url: %w", err)
	}
	host := probe.BaseURL.Host
	var token func(ctx context.Context) (string, error)
	if c.tokens == nil {
		tok := c.cfg.Token.Value()
		token = func(context.Context) (string, error) { return tok, nil }
	} else {
		jwtClient, err := newClient(&jwtTransport{base: base, host: host, tokens: c.tokens})
		if err != nil {
			return nil, err
		}
		token = func(ctx context.Context) (string, error) { return c.tokensFor(ctx).token(ctx, jwtClient) }
	}
	g := newGate(c.cfg.Concurrency)
	g.log = req.Logger
	if c.now != nil {
		g.now = c.now
	}
	if c.sleep != nil {
		g.sleep = c.sleep
	}
	if ht, ok := base.(*httpx.Transport); ok {
		g.seen = func() int { return ht.Stats().Throttled }
	}
	return newClient(&authTransport{base: &gateTransport{base: base, g: g}, host: host, token: token})
}

// tokensFor returns the App installation tokens for the organisation a
// request is for.
func (c *collector) tokensFor(ctx context.Context) *appTokens {
	if org, ok := ctx.Value(orgKey{}).(string); ok && c.byOrg[org] != nil {
		return c.byOrg[org]
	}
	return c.tokens
}

type authTransport struct {
	base  http.RoundTripper
	host  string
	token func(ctx context.Context) (string, error)
}

func (t *authTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.URL.Host != t.host {
		return t.base.RoundTrip(req)
	}
	tok, err := t.token(req.Context())
	if err != nil {
		return nil, err
	}
	// GitHub's rule for secondary limits without Retry-After: wait at
	// least a minute, exponentially longer after each (honoured by httpx).
	r := req.Clone(httpx.WithThrottleBackoff(req.Context(), minSecondaryWait))
	r.Header.Set("Authorization", "Bearer "+tok)
	return t.base.RoundTrip(r)
}

// appTokens mints and caches a GitHub App installation token. It lives as
// long as the collector, so consecutive runs reuse a valid token.
type appTokens struct {
	appID, installationID int64
	key                   *rsa.PrivateKey
	now                   func() time.Time // nil: time.Now

	mu      sync.Mutex
	tok     string
	issued  time.Time
	expires time.Time
	minted  int
}

func (a *appTokens) clock() time.Time {
	if a.now != nil {
		return a.now()
	}
	return time.Now()
}

// refreshMargin is how long before expiry a token is replaced: 5 minutes,
// or half its life for short-lived tokens.
func (a *appTokens) refreshMargin() time.Duration {
	life := a.expires.Sub(a.issued)
	if life < 10*time.Minute {
		return life / 2
	}
	return 5 * time.Minute
}

func (a *appTokens) token(ctx context.Context, jwtClient *gh.Client) (string, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	now := a.clock()
	if a.tok != "" && now.Before(a.expires.Add(-a.refreshMargin())) {
		return a.tok, nil
	}
	it, resp, err := jwtClient.Apps.CreateInstallationToken(ctx, a.installationID, nil)
	if err != nil {
		if ctx.Err() != nil {
			return "", ctx.Err()
		}
		e := apiError("POST", fmt.Sprintf("app/installations/%d/access_tokens", a.installationID), resp, err)
		return "", e
	}
	if it.GetToken() == "" || it.ExpiresAt == nil {
		return "", collectors.Permanent(fmt.Errorf("github: POST /app/installations/%d/access_tokens: response without token or expiry", a.installationID))
	}
	a.tok, a.issued, a.expires = it.GetToken(), now, it.ExpiresAt.Time
	if !a.expires.After(now) {
		a.expires = now.Add(time.Minute)
	}
	a.minted++
	return a.tok, nil
}

// jwtTransport signs requests with the App's JWT (RS256, 9 minutes, issued
// a minute in the past against clock drift, as GitHub recommends).
type jwtTransport struct {
	base   http.RoundTripper
	host   string
	tokens *appTokens
}

func (t *jwtTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.URL.Host != t.host {
		return t.base.RoundTrip(req)
	}
	jwt, err := signJWT(t.tokens.key, t.tokens.appID, t.tokens.clock())
	if err != nil {
		return nil, collectors.Permanent(fmt.Errorf("github: signing the GitHub App JWT: %w", err))
	}
	r := req.Clone(req.Context())
	r.Header.Set("Authorization", "Bearer "+jwt)
	return t.base.RoundTrip(r)
}

func signJWT(key *rsa.PrivateKey, appID int64, now time.Time) (string, error) {
	enc := base64.RawURLEncoding
	hdr, _ := json.Marshal(map[string]string{"alg": "RS256", "typ": "JWT"})
	claims, _ := json.Marshal(map[string]any{
		"iat": now.Add(-60 * time.Second).Unix(),
		"exp": now.Add(9 * time.Minute).Unix(),
		"iss": strconv.FormatInt(appID, 10),
	})
	signing := enc.EncodeToString(hdr) + "." + enc.EncodeToString(claims)
	sum := sha256.Sum256([]byte(signing))
	sig, err := rsa.SignPKCS1v15(rand.Reader, key, crypto.SHA256, sum[:])
	if err != nil {
		return "", err
	}
	return signing + "." + enc.EncodeToString(sig), nil
}

// parsePrivateKey reads a PEM RSA key (PKCS#1, as GitHub issues them, or PKCS#8).
func parsePrivateKey(s string) (*rsa.PrivateKey, error) {
	block, _ := pem.Decode([]byte(s))
	if block == nil {
		return nil, errors.New("private key is not PEM-encoded")
	}
	if k, err := x509.ParsePKCS1PrivateKey(block.Bytes); err == nil {
		return k, nil
	}
	k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, errors.New("private key is not an RSA key in PKCS#1 or PKCS#8 form")
	}
	rk, ok := k.(*rsa.PrivateKey)
	if !ok {
		return nil, errors.New("private key is not an RSA key")
	}
	return rk, nil
}
