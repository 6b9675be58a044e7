package okta_test

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tickmark-dev/tickmark/collectors"
	"github.com/tickmark-dev/tickmark/collectors/collectortest"
	"github.com/tickmark-dev/tickmark/collectors/okta"
	"github.com/tickmark-dev/tickmark/collectors/okta/oktafake"
)

// TestOAuthServiceApp authenticates as an OAuth 2.0 service app with a
// private key (private_key_jwt) instead of an API token.
func TestOAuthServiceApp(t *testing.T) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	keyFile := filepath.Join(t.TempDir(), "okta.pem")
	pemBytes := pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)})
	if err := os.WriteFile(keyFile, pemBytes, 0o600); err != nil {
		t.Fatal(err)
	}
	other, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	const clientID = "0oaserviceapp0000042"
	cfg := func(u string, extra ...string) string {
		return "org_url: " + u + "\nclient_id: " + clientID + "\nprivate_key: file:" + keyFile + "\n" + strings.Join(extra, "\n") + "\n"
	}
	for _, tc := range []struct {
		name    string
		granted []string
		extra   []string
		want    []string // error message parts; nil: success
		pub     *rsa.PublicKey
		bearer  bool // the app does not require DPoP
	}{
		{name: "all read scopes granted", granted: oktafake.ReadScopes},
		{name: "app without DPoP, dpop off", granted: oktafake.ReadScopes, bearer: true, extra: []string{"dpop: false"}},
		{name: "DPoP required but turned off", granted: oktafake.ReadScopes, extra: []string{"dpop: false"},
			want: []string{"/oauth2/v1/token", clientID, "invalid_dpop_proof", "dpop: true"}},
		{name: "scope not granted to the app", granted: []string{"okta.users.read", "okta.groups.read", "okta.apps.read", "okta.roles.read", "okta.policies.read"},
			want: []string{"/oauth2/v1/token", clientID, "invalid_scope", "okta.logs.read"}},
		{name: "token lacks the scope for the System Log", granted: oktafake.ReadScopes,
			extra: []string{"scopes: [okta.users.read, okta.groups.read, okta.apps.read, okta.roles.read, okta.policies.read, okta.authenticators.read, okta.apiTokens.read]"},
			want:  []string{"GET ", "/api/v1/logs", "HTTP 403", "required scopes", "okta.logs.read"}},
		{name: "private key does not match the app", granted: oktafake.ReadScopes, pub: &other.PublicKey,
			want: []string{"/oauth2/v1/token", "invalid_client", "private_key matches"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pub := &key.PublicKey
			if tc.pub != nil {
				pub = tc.pub
			}
			f := oktafake.New(oktafake.Options{Users: 30, ClientID: clientID, GrantedScopes: tc.granted, PublicKey: pub, BearerOnly: tc.bearer})
			u := f.Start()
			defer f.Close()
			res := collectortest.Run(t, collectortest.Build(t, "okta", cfg(u, tc.extra...)), collectortest.Options{Now: testNow})
			if tc.want == nil {
				if res.Err != nil {
					t.Fatal(res.Err)
				}
				if n := len(ofType(res.Committed, okta.TypeSystemLog)); n == 0 {
					t.Fatalf("no System Log evidence")
				}
				if o := f.OAuth(); len(o.Rejected) != 0 || o.TokensIssued != 1 || (!tc.bearer && o.NonceRequired == 0) {
					t.Fatalf("OAuth outcome %+v: want one token, no refused proof, and (DPoP) the server's nonce honoured", o)
				}
				return
			}
			if res.Err == nil || collectors.IsRetryable(res.Err) {
				t.Fatalf("want a permanent error, got %v", res.Err)
			}
			for _, w := range tc.want {
				if !strings.Contains(res.Err.Error(), w) {
					t.Errorf("error %q does not mention %q", res.Err, w)
				}
			}
			if strings.Contains(res.Err.Error(), "PRIVATE KEY") || strings.Contains(res.Logs, "PRIVATE KEY") {
				t.Errorf("the private key leaked into the error or the logs")
			}
		})
	}
}

// DPoP under pressure: the server rotates its nonce every few requests and
// the first attempt of some requests fails with a 500 that the shared
// transport retries. Every retry must carry a fresh proof (a replayed jti
// is refused), every rotation is followed, and no request is refused.
func TestDPoPNonceRotationAndRetriesNeverReplay(t *testing.T) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	keyFile := filepath.Join(t.TempDir(), "okta.pem")
	pemBytes := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: mustPKCS8(t, key)})
	if err := os.WriteFile(keyFile, pemBytes, 0o600); err != nil {
		t.Fatal(err)
	}
	const clientID = "0oaserviceapp0000043"
	f := oktafake.New(oktafake.Options{Users: 120, ClientID: clientID, PublicKey: &key.PublicKey, RotateNonceEvery: 7})
	u := f.Start()
	defer f.Close()
	defer f.Fail(oktafake.Failure{Status: 500, PathPrefix: "/api/v1/users/", Times: 5})()
	defer f.Fail(oktafake.Failure{Status: 503, PathPrefix: "/api/v1/logs", Times: 1})()
	cfg := "org_url: " + u + "\nclient_id: " + clientID + "\nprivate_key: file:" + keyFile + "\nprivate_key_id: kid-1\n"
	res := collectortest.Run(t, collectortest.Build(t, "okta", cfg), collectortest.Options{Now: testNow})
	if res.Err != nil {
		t.Fatal(res.Err)
	}
	o := f.OAuth()
	if len(o.Rejected) != 0 {
		t.Fatalf("the fake refused proofs or tokens: %v", o.Rejected)
	}
	if o.NonceRequired < 5 {
		t.Fatalf("only %d use_dpop_nonce answers: the rotation was not exercised", o.NonceRequired)
	}
	if n := len(ofType(res.Committed, okta.TypeUsers)); n == 0 {
		t.Fatalf("no users evidence")
	}
}

func mustPKCS8(t *testing.T, key *rsa.PrivateKey) []byte {
	b, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
