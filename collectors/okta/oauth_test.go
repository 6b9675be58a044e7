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
	}{
		{name: "all read scopes granted", granted: oktafake.ReadScopes},
		{name: "scope not granted to the app", granted: []string{"okta.users.read", "okta.groups.read", "okta.apps.read", "okta.roles.read", "okta.policies.read"},
			want: []string{"/oauth2/v1/token", clientID, "invalid_scope", "okta.logs.read"}},
		{name: "token lacks the scope for the System Log", granted: oktafake.ReadScopes,
			extra: []string{"scopes: [okta.users.read, okta.groups.read, okta.apps.read, okta.roles.read, okta.policies.read]"},
			want:  []string{"GET ", "/api/v1/logs", "HTTP 403", "required scopes", "okta.logs.read"}},
		{name: "private key does not match the app", granted: oktafake.ReadScopes, pub: &other.PublicKey,
			want: []string{"/oauth2/v1/token", "invalid_client", "private_key matches"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pub := &key.PublicKey
			if tc.pub != nil {
				pub = tc.pub
			}
			f := oktafake.New(oktafake.Options{Users: 30, ClientID: clientID, GrantedScopes: tc.granted, PublicKey: pub})
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
