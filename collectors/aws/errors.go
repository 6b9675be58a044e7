package aws

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"

	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/smithy-go"

	"github.com/tickmark-dev/tickmark/collectors"
)

const policyHint = "see deploy/iam/tickmark-aws-collector-policy.json"

var (
	deniedCodes = map[string]bool{
		"AccessDenied": true, "AccessDeniedException": true, "UnauthorizedOperation": true,
		"AuthorizationError": true, "NotAuthorized": true,
	}
	authCodes = map[string]bool{
		"InvalidClientTokenId": true, "UnrecognizedClientException": true, "SignatureDoesNotMatch": true,
		"ExpiredToken": true, "ExpiredTokenException": true, "MissingAuthenticationToken": true,
		"MissingAuthenticationTokenException": true, "InvalidAccessKeyId": true,
	}
	throttleCodes = map[string]bool{
		"ThrottlingException": true, "Throttling": true, "RequestLimitExceeded": true,
		"TooManyRequestsException": true, "SlowDown": true, "RequestThrottled": true,
		"RequestThrottledException": true, "ProvisionedThroughputExceededException": true,
	}
)

// fail turns an SDK error from action ("cloudtrail:LookupEvents") in region
// (or on an S3 location, "s3://bucket/key") into a classified error naming
// the collector, the endpoint and, for a denial, the IAM action to grant.
// Cancellation is returned as it is.
func (r *run) fail(ctx context.Context, action, region string, err error) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if r.multi { // one of several accounts: say which
		if region == "" {
			region = r.account
		} else {
			region = r.account + " " + region
		}
	}
	return classify(action, region, err)
}

func classify(action, region string, err error) error {
	where := "aws: " + action
	if region != "" {
		where += " (" + region + ")"
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return collectors.Retryable(fmt.Errorf("%s: %w", where, err))
	}
	if isMissingCredentials(err) {
		return collectors.Permanent(fmt.Errorf("%s: %w: the default chain (IRSA web identity, AWS_* environment variables, shared profile, container or instance role) gave none (hint: on EKS annotate the service account with eks.amazonaws.com/role-arn; elsewhere set AWS_PROFILE or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY)", where, errNoCredentials))
	}
	var ae smithy.APIError
	if errors.As(err, &ae) {
		code, msg := ae.ErrorCode(), ae.ErrorMessage()
		status := httpStatus(err)
		detail := code
		if msg != "" {
			detail += ": " + msg
		}
		switch {
		case deniedCodes[code] && action == "sts:AssumeRole":
			return collectors.Permanent(fmt.Errorf("%s: access denied (%s); the role must exist, its trust policy must admit the agent's identity with this external ID, and the agent needs sts:AssumeRole on it (see deploy/iam/tickmark-member-role-trust-policy.json)", where, detail))
		case deniedCodes[code]:
			return collectors.Permanent(fmt.Errorf("%s: access denied (%s); the credentials need the IAM permission %s (%s)", where, detail, action, policyHint))
		case authCodes[code]:
			return collectors.Permanent(fmt.Errorf("%s: the credentials were refused (%s); check the access key, session token or role", where, detail))
		case throttleCodes[code] || status == http.StatusTooManyRequests:
			return collectors.Retryable(fmt.Errorf("%s: throttled by AWS after %d attempts (%s); the next run resumes from the last checkpoint", where, retryMaxAttempts, detail))
		case status >= 500 || ae.ErrorFault() == smithy.FaultServer:
			return collectors.Retryable(fmt.Errorf("%s: AWS server error (HTTP %d %s)", where, status, detail))
		default:
			return collectors.Permanent(fmt.Errorf("%s: %s (HTTP %d)", where, detail, status))
		}
	}
	var de *smithy.DeserializationError
	if errors.As(err, &de) {
		return collectors.Permanent(fmt.Errorf("%s: malformed response from AWS: %v", where, de.Err))
	}
	if st := httpStatus(err); (st >= 200 && st < 300) || strings.Contains(err.Error(), "deserialization failed") || strings.Contains(err.Error(), "failed to decode") {
		return collectors.Permanent(fmt.Errorf("%s: malformed response from AWS: %w", where, err))
	}
	// network errors, timeouts, exhausted retry quota
	return collectors.Retryable(fmt.Errorf("%s: %w", where, err))
}

func isMissingCredentials(err error) bool {
	s := err.Error()
	return strings.Contains(s, "failed to retrieve credentials") || strings.Contains(s, "get credentials") ||
		strings.Contains(s, "no EC2 IMDS role found") || strings.Contains(s, "failed to refresh cached credentials")
}

func httpStatus(err error) int {
	var re *awshttp.ResponseError
	if errors.As(err, &re) && re.Response != nil {
		return re.Response.StatusCode
	}
	return 0
}

// joinClassified combines the errors of several evidence types or regions:
// one is returned as it is; several are one error naming each, retryable
// only if every one is.
func joinClassified(errs []error) error {
	switch len(errs) {
	case 0:
		return nil
	case 1:
		return errs[0]
	}
	msgs := make([]string, len(errs))
	retry := true
	for i, e := range errs {
		msgs[i] = e.Error()
		retry = retry && collectors.IsRetryable(e)
	}
	err := fmt.Errorf("%d failures: %s", len(errs), strings.Join(msgs, "; "))
	if retry {
		return collectors.Retryable(err)
	}
	return collectors.Permanent(err)
}
