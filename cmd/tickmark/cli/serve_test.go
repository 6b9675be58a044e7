package cli_test

import (
	"strings"
	"testing"
)

func TestServeRefusesNonLoopbackWithoutOIDC(t *testing.T) {
	for _, addr := range []string{":8080", "0.0.0.0:8080", "10.1.2.3:8080"} {
		r := tickmark(t, "serve", "--listen", addr)
		if r.code != 2 || !strings.Contains(r.stderr, "not loopback") || !strings.Contains(r.stderr, "hint: configure OIDC") {
			t.Errorf("serve --listen %s without OIDC: exit %d\n%s", addr, r.code, r.stderr)
		}
	}
}

func TestServeRejectsIncompleteSignIn(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--listen", ":8080", "--oidc-issuer", "https://idp.example", "--oidc-client-id", "x", "--oidc-redirect-url", "https://c.example/auth/callback"}, "no group or email has a role"},
		{[]string{"--oidc-issuer", "https://idp.example", "--compliance-group", "grc"}, "needs --oidc-client-id"},
		{[]string{"--oidc-issuer", "https://idp.example", "--oidc-client-id", "x", "--oidc-redirect-url", "https://c.example/auth/callback", "--auditor-group", "audit"}, "no --auditor-window"},
		{[]string{"--compliance-group", "grc"}, "no --oidc-issuer"},
		{[]string{"--auditor-window", "2026-06-30..2026-01-01"}, "--auditor-window"},
		{[]string{"--oidc-issuer", "https://idp.example", "--oidc-client-id", "x", "--oidc-client-secret", "literal-secret", "--oidc-redirect-url", "https://c.example/auth/callback", "--compliance-group", "grc"}, "--oidc-client-secret"},
	} {
		r := tickmark(t, append([]string{"serve"}, tc.args...)...)
		if r.code != 2 || !strings.Contains(r.stderr, tc.want) {
			t.Errorf("serve %v: exit %d, want 2 and %q\n%s", tc.args, r.code, tc.want, r.stderr)
		}
		if strings.Contains(r.stderr, "literal-secret") {
			t.Errorf("serve %v: the secret is echoed: %s", tc.args, r.stderr)
		}
	}
}
