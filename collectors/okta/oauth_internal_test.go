package okta

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"net/http"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/tickmark-dev/tickmark/collectors/okta/oktafake"
)

// fakeApp starts a fake org with a service app and returns an OAuth client
// of that app (DPoP on).
func fakeApp(t *testing.T, opts oktafake.Options) (*oktafake.Server, string, *oauthClient) {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	opts.ClientID, opts.PublicKey = "0oaapp", &key.PublicKey
	f := oktafake.New(opts)
	u := f.Start()
	t.Cleanup(f.Close)
	pemKey := pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)})
	o, err := newOAuthClient(http.DefaultClient, u, "0oaapp", "", pemKey, []string{"okta.users.read"}, true)
	if err != nil {
		t.Fatal(err)
	}
	return f, u, o
}

// The access token is replaced before it expires, not after a refusal.
func TestTokenRefreshedBeforeExpiry(t *testing.T) {
	f, _, o := fakeApp(t, oktafake.Options{TokenLifetime: 10 * time.Minute})
	clock := time.Now()
	o.now = func() time.Time { return clock }
	ctx := context.Background()
	first, err := o.token(ctx, "GET /api/v1/users")
	if err != nil {
		t.Fatal(err)
	}
	clock = clock.Add(7 * time.Minute) // 3 minutes left: still used
	if again, _ := o.token(ctx, "GET /api/v1/users"); again != first {
		t.Fatalf("a token with 3 minutes left was replaced")
	}
	clock = clock.Add(90 * time.Second) // 90 seconds left: replaced
	second, err := o.token(ctx, "GET /api/v1/users")
	if err != nil {
		t.Fatal(err)
	}
	if second == first || f.OAuth().TokensIssued != 2 {
		t.Fatalf("the token was not refreshed before its expiry (issued %d)", f.OAuth().TokensIssued)
	}
}

// A token the server expired early is replaced once, and the request that
// was refused is sent again with the new token and a fresh proof.
func TestExpiredTokenReplacedOnRefusal(t *testing.T) {
	f, u, o := fakeApp(t, oktafake.Options{Users: 3})
	a := &api{hc: http.DefaultClient, org: u, oauth: o, agent: "test"}
	var users []oktaUser
	if _, err := a.get(context.Background(), "GET /api/v1/users", "/api/v1/users", &users); err != nil || len(users) == 0 {
		t.Fatalf("first request: %v (%d users)", err, len(users))
	}
	f.ExpireTokens()
	if _, err := a.get(context.Background(), "GET /api/v1/users", "/api/v1/users", &users); err != nil {
		t.Fatalf("after the token expired: %v", err)
	}
	if o := f.OAuth(); o.TokensIssued != 2 || o.Rejected["expired token"] != 1 || len(o.Rejected) != 1 {
		t.Fatalf("want one refusal of the expired token and a second token, got %+v", o)
	}
}

// The private key is accepted in the forms Okta's console and openssl give:
// PKCS #1, PKCS #8 and SEC 1 PEM, and a private JWK; a public key is refused
// without quoting it.
func TestPrivateKeyForms(t *testing.T) {
	rk, _ := rsa.GenerateKey(rand.Reader, 2048)
	ek, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	p8, _ := x509.MarshalPKCS8PrivateKey(rk)
	sec1, _ := x509.MarshalECPrivateKey(ek)
	jwk, _ := jose.JSONWebKey{Key: rk, KeyID: "k1"}.MarshalJSON()
	pub, _ := jose.JSONWebKey{Key: &rk.PublicKey}.MarshalJSON()
	for name, tc := range map[string]struct {
		in  []byte
		alg jose.SignatureAlgorithm
	}{
		"pkcs1": {pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(rk)}), jose.RS256},
		"pkcs8": {pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: p8}), jose.RS256},
		"sec1":  {pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: sec1}), jose.ES384},
		"jwk":   {jwk, jose.RS256},
	} {
		k, err := parsePrivateKey(tc.in)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if alg := (&oauthClient{key: k}).assertionAlg(); alg != tc.alg {
			t.Errorf("%s: alg %s, want %s", name, alg, tc.alg)
		}
	}
	if _, err := parsePrivateKey(pub); err == nil || strings.Contains(err.Error(), string(pub[:20])) {
		t.Fatalf("a public JWK was accepted or quoted: %v", err)
	}
}

// The fake refuses a DPoP proof sent twice, as Okta does: a transport that
// resent a request unchanged would be caught by the tests.
func TestReplayedProofRefused(t *testing.T) {
	f, u, o := fakeApp(t, oktafake.Options{Users: 3})
	ctx := context.Background()
	tok, err := o.token(ctx, "GET /api/v1/users")
	if err != nil {
		t.Fatal(err)
	}
	send := func(req *http.Request) *http.Response {
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		o.observe(resp)
		return resp
	}
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, u+"/api/v1/users", nil)
	for attempt := 0; attempt < 2; attempt++ { // the first proof may lack the nonce
		if err := o.authorize(req, tok); err != nil {
			t.Fatal(err)
		}
		if resp := send(req.Clone(ctx)); resp.StatusCode == http.StatusOK {
			break
		}
	}
	resp := send(req.Clone(ctx)) // the same proof again
	if resp.StatusCode != http.StatusUnauthorized || !strings.Contains(resp.Header.Get("WWW-Authenticate"), "already used") || f.OAuth().Rejected["replay"] != 1 {
		t.Fatalf("a replayed proof got %d %q", resp.StatusCode, resp.Header.Get("WWW-Authenticate"))
	}
}
