package demo

import (
	"context"
	"fmt"
	"time"

	"github.com/tickmark-dev/tickmark/collectors/github/ghfake"
)

func init() {
	Register(Source{
		Name:  "github",
		Label: "fake GitHub organisation \"acme-demo\" on 127.0.0.1 (sample data: 8 repositories, merged pull requests, Dependabot alerts)",
		Start: func(_ context.Context, env Env) (string, func(), error) {
			const token = "ghp_demo_sample_token_not_a_secret"
			// Pull requests sit in the 60 days before now, so the default
			// backfill collects them.
			org := ghfake.Generate(ghfake.Options{Org: "acme-demo", Repos: 8, MergedPerRepo: 3,
				Now: time.Now().UTC().Truncate(time.Hour), Window: 60 * 24 * time.Hour,
				UnprotectedEvery: 4, AlertsEvery: 2, AlertsDisabledEvery: 5})
			srv := ghfake.New(org, map[string]ghfake.Token{token: {Scopes: []string{"repo", "read:org", "security_events"}}})
			env.Setenv("TICKMARK_DEMO_GITHUB_TOKEN", token)
			yaml := fmt.Sprintf(`- name: sample-github
  type: github
  schedule: "@every 6h"
  github:
    base_url: %s/api/v3/
    org: acme-demo
    token: env:TICKMARK_DEMO_GITHUB_TOKEN
`, srv.URL)
			return yaml, srv.Close, nil
		},
	})
}
