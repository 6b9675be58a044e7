package demo

import (
	"context"
	"fmt"
	"path/filepath"
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
			// Static sample keys for the default credential chain; no shared
			// profile or instance metadata may be used instead.
			for k, v := range map[string]string{
				"AWS_ACCESS_KEY_ID":           "AKIADEMOSAMPLEKEY000",
				"AWS_SECRET_ACCESS_KEY":       "demo-sample-secret-not-a-real-key",
				"AWS_CONFIG_FILE":             filepath.Join(env.Dir, "aws-config-unused"),
				"AWS_SHARED_CREDENTIALS_FILE": filepath.Join(env.Dir, "aws-credentials-unused"),
				"AWS_EC2_METADATA_DISABLED":   "true",
			} {
				env.Setenv(k, v)
			}
			yaml := fmt.Sprintf(`- name: sample-aws
  type: aws
  schedule: "@every 1h"
  aws:
    regions: [us-east-1, eu-west-1]
    endpoint: %s
    evidence: [cloudtrail_trails, cloudtrail_events, iam_credential_report]
    event_names: [ConsoleLogin, CreateUser, StopLogging, AuthorizeSecurityGroupIngress]
`, url)
			return yaml, fake.Close, nil
		},
	})
}
