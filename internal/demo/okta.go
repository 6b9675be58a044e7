package demo

import (
	"context"
	"fmt"
	"time"

	"github.com/tickmark-dev/tickmark/collectors/okta/oktafake"
)

func init() {
	Register(Source{
		Name:  "okta",
		Label: "fake Okta org on 127.0.0.1: 36 users, 5 groups, a System Log (sample data)",
		Start: func(_ context.Context, env Env) (string, func(), error) {
			f := oktafake.New(oktafake.Options{
				Users:     36,
				LogEvents: 240,
				Token:     "demo-okta-token-not-a-secret",
				Base:      time.Now().UTC().Truncate(time.Hour),
			})
			url := f.Start()
			env.Setenv("TICKMARK_DEMO_OKTA_TOKEN", f.Token())
			yaml := fmt.Sprintf(`- name: sample-okta
  type: okta
  schedule: "@every 6h"
  okta:
    org_url: %s
    token: env:TICKMARK_DEMO_OKTA_TOKEN
`, url)
			return yaml, f.Close, nil
		},
	})
}
