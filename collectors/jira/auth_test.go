package jira_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/tickmark-dev/tickmark/collectors"
	"github.com/tickmark-dev/tickmark/collectors/collectortest"
	"github.com/tickmark-dev/tickmark/collectors/jira/jirafake"
)

const changesQuery = "queries:\n  - name: changes\n    jql: project = CHG\n    evidence_type: jira.change_tickets\n"

func TestAuthenticationModes(t *testing.T) {
	t.Setenv("JIRA_TEST_TOKEN", testToken)
	t.Setenv("JIRA_SCOPED_TOKEN", "scoped-7f3a")
	t.Setenv("JIRA_CLIENT_SECRET", "sa-secret-1")
	t.Setenv("JIRA_WRONG", "nope")
	t.Setenv("JIRA_DC_PASSWORD", "dc-pass")
	for _, tc := range []struct {
		name    string
		opts    jirafake.Options
		cfg     func(url string) string
		wantErr []string // empty: the run succeeds
		check   func(t *testing.T, f *jirafake.Fake)
	}{
		{
			name: "cloud api token at the site",
			cfg:  func(u string) string { return config(u, "cloud", changesQuery) },
		},
		{
			name: "scoped token through the gateway, cloud ID discovered",
			opts: jirafake.Options{ScopedToken: "scoped-7f3a"},
			cfg: func(u string) string {
				return fmt.Sprintf("base_url: %s\nauth: scoped_token\nemail: %s\ntoken: env:JIRA_SCOPED_TOKEN\ngateway_url: %s\napprover_field: customfield_10050\n%s", u, testEmail, u, changesQuery)
			},
			check: func(t *testing.T, f *jirafake.Fake) {
				if f.Count("tenant_info") != 1 {
					t.Errorf("cloud ID read %d times, want once", f.Count("tenant_info"))
				}
			},
		},
		{
			name: "scoped token at the site is refused",
			opts: jirafake.Options{ScopedToken: "scoped-7f3a"},
			cfg: func(u string) string {
				return fmt.Sprintf("base_url: %s\ndeployment: cloud\nemail: %s\ntoken: env:JIRA_SCOPED_TOKEN\n%s", u, testEmail, changesQuery)
			},
			wantErr: []string{"/rest/api/2/myself", "HTTP 401"},
		},
		{
			name: "scoped token without read:jira-user",
			opts: jirafake.Options{ScopedToken: "scoped-7f3a", Scopes: []string{"read:jira-work"}},
			cfg: func(u string) string {
				return fmt.Sprintf("base_url: %s\nauth: scoped_token\nemail: %s\ntoken: env:JIRA_SCOPED_TOKEN\ngateway_url: %s\n%s", u, testEmail, u, changesQuery)
			},
			wantErr: []string{"/ex/jira/", "/rest/api/2/myself", "HTTP 401", "scope does not match", "scopes table"},
		},
		{
			name: "service account OAuth 2.0 client credentials",
			opts: jirafake.Options{ClientID: "sa-client", ClientSecret: "sa-secret-1"},
			cfg: func(u string) string {
				return fmt.Sprintf("base_url: %s\nauth: oauth\nclient_id: sa-client\nclient_secret: env:JIRA_CLIENT_SECRET\ngateway_url: %s\ntoken_url: %s/oauth/token\n%s", u, u, u, changesQuery)
			},
			check: func(t *testing.T, f *jirafake.Fake) {
				if n := f.Count("oauth_token"); n != 1 {
					t.Errorf("%d token requests, want 1 (the token is reused)", n)
				}
			},
		},
		{
			name: "service account with a wrong secret",
			opts: jirafake.Options{ClientID: "sa-client", ClientSecret: "sa-secret-1"},
			cfg: func(u string) string {
				return fmt.Sprintf("base_url: %s\nauth: oauth\nclient_id: sa-client\nclient_secret: env:JIRA_WRONG\ngateway_url: %s\ntoken_url: %s/oauth/token\n%s", u, u, u, changesQuery)
			},
			wantErr: []string{"OAuth 2.0 token", "HTTP 401", "client_secret"},
		},
		{
			name: "data center basic authentication",
			opts: jirafake.Options{Deployment: jirafake.DataCenter, Username: "svc-audit", Password: "dc-pass"},
			cfg: func(u string) string {
				return fmt.Sprintf("base_url: %s\ndeployment: auto\nauth: basic\nusername: svc-audit\npassword: env:JIRA_DC_PASSWORD\n%s", u, changesQuery)
			},
		},
		{
			name: "data center personal access token",
			opts: jirafake.Options{Deployment: jirafake.DataCenter},
			cfg: func(u string) string {
				return fmt.Sprintf("base_url: %s\ndeployment: datacenter\ntoken: env:JIRA_TEST_TOKEN\n%s", u, changesQuery)
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFake(t, tc.opts)
			sampleData(f, 25)
			res := collectortest.Run(t, collectortest.Build(t, "jira", tc.cfg(f.URL)), collectortest.Options{Now: now})
			if len(tc.wantErr) > 0 {
				if res.Err == nil || collectors.IsRetryable(res.Err) {
					t.Fatalf("want a permanent error, got %v", res.Err)
				}
				for _, w := range tc.wantErr {
					if !strings.Contains(res.Err.Error(), w) {
						t.Errorf("error %q does not mention %q", res.Err, w)
					}
				}
				for _, s := range []string{"scoped-7f3a", "sa-secret-1", "nope", testToken} {
					if strings.Contains(res.Err.Error(), s) {
						t.Errorf("error leaks a secret: %v", res.Err)
					}
				}
				return
			}
			if res.Err != nil {
				t.Fatal(res.Err)
			}
			if n := len(tickets(t, res.Committed)); n != 5 {
				t.Fatalf("collected %d change tickets, want 5", n)
			}
			if tc.check != nil {
				tc.check(t, f)
			}
		})
	}
}

func TestGatewayConfigValidation(t *testing.T) {
	t.Setenv("JIRA_TEST_TOKEN", testToken)
	for _, tc := range []struct{ name, cfg, want string }{
		{"oauth without secret", "base_url: https://x.atlassian.net\nauth: oauth\nclient_id: a\nqueries: [{name: a, jql: project = A}]\n", "client_secret: required"},
		{"scoped on data center", "base_url: https://jira.acme.test\ndeployment: datacenter\nauth: scoped_token\nemail: a@b.c\ntoken: env:JIRA_TEST_TOKEN\nqueries: [{name: a, jql: project = A}]\n", "works only on Jira Cloud"},
		{"basic on cloud", "base_url: https://x.atlassian.net\ndeployment: cloud\nauth: basic\nusername: a\npassword: env:JIRA_TEST_TOKEN\nqueries: [{name: a, jql: project = A}]\n", "Data Center only"},
		{"unknown auth", "base_url: https://x.atlassian.net\nauth: saml\nqueries: [{name: a, jql: project = A}]\n", "unknown auth"},
		{"bad extra field", "base_url: https://x.atlassian.net\nemail: a@b.c\ntoken: env:JIRA_TEST_TOKEN\nqueries: [{name: a, jql: project = A, fields: [\"Risk Level\"]}]\n", "is not a field ID"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := collectortest.BuildErr("jira", tc.cfg)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want an error containing %q", err, tc.want)
			}
		})
	}
}
