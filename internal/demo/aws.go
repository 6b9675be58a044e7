package demo

import (
	"context"
	"fmt"
	"time"

	"github.com/tickmark-dev/tickmark/collectors/aws/awsfake"
)

// The AWS sample source is the in-process fake of CloudTrail, IAM and STS
// with sample trails, events and IAM users. CloudTrail digest validation is
// left out of the demo: it reads digest files from S3, and the demo starts
// no S3 server (the collector's tests run it against a real one).
func init() {
	Register(Source{
		Name:  "aws",
		Label: "fake AWS account 111122223333 (CloudTrail, IAM, STS) on 127.0.0.1 (sample data; digests not included)",
		Start: func(_ context.Context, env Env) (string, func(), error) {
			fake := awsfake.NewSample(time.Now().UTC().Truncate(time.Hour))
			url := fake.Start()
			// Static sample keys, referenced from the configuration like any
			// secret (the collector otherwise uses the SDK's default chain).
			env.Setenv("TICKMARK_DEMO_AWS_ACCESS_KEY_ID", "AKIADEMOSAMPLEKEY000")
			env.Setenv("TICKMARK_DEMO_AWS_SECRET_ACCESS_KEY", "demo-sample-secret-not-a-real-key")
			yaml := fmt.Sprintf(`- name: sample-aws
  type: aws
  schedule: "@every 1h"
  aws:
    regions: [us-east-1, eu-west-1]
    endpoint: %s
    access_key_id: env:TICKMARK_DEMO_AWS_ACCESS_KEY_ID
    secret_access_key: env:TICKMARK_DEMO_AWS_SECRET_ACCESS_KEY
    evidence: [cloudtrail_trails, cloudtrail_events, iam_credential_report]
    event_names: [ConsoleLogin, CreateUser, StopLogging, AuthorizeSecurityGroupIngress]
`, url)
			return yaml, fake.Close, nil
		},
	})
}
