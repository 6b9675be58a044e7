package okta

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"net/http"
	"testing"
	"time"

	"github.com/tickmark-dev/tickmark/collectors/okta/oktafake"
)

// The access token is replaced before it expires, not after a refusal.
func TestTokenRefreshedBeforeExpiry(t *testing.T) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	f := oktafake.New(oktafake.Options{ClientID: "0oaapp", PublicKey: &key.PublicKey, TokenLifetime: 10 * time.Minute})
	u := f.Start()
	defer f.Close()
	pemKey := pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)})
	o, err := newOAuthClient(http.DefaultClient, u, "0oaapp", "", pemKey, []string{"okta.users.read"}, true)
	if err != nil {
		t.Fatal(err)
	}
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
