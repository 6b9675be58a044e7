package aws

import (
	"slices"
	"testing"
)

func TestDefaultLookupsPerRegion(t *testing.T) {
	r := &run{cfg: &Config{}, partition: "aws"}
	us, eu := r.lookups("us-east-1"), r.lookups("eu-west-1")
	if len(us) != len(DefaultEventNames)+len(DefaultEventSources) {
		t.Errorf("us-east-1 looks up %d names and sources, want all %d defaults", len(us), len(DefaultEventNames)+len(DefaultEventSources))
	}
	if slices.Contains(eu, "source:iam.amazonaws.com") || slices.Contains(eu, "source:organizations.amazonaws.com") || !slices.Contains(us, "source:iam.amazonaws.com") {
		t.Errorf("IAM and Organizations events are recorded in us-east-1 only; eu-west-1 must not look them up: %v", eu)
	}
	for _, n := range []string{"source:signin.amazonaws.com", "AssumeRole", "source:cloudtrail.amazonaws.com", "PutBucketPolicy", "AuthorizeSecurityGroupIngress", "PutKeyPolicy",
		"source:sso.amazonaws.com", "source:identitystore.amazonaws.com", "source:guardduty.amazonaws.com", "source:securityhub.amazonaws.com", "DeleteFlowLogs", "PutBucketEncryption", "PutBucketVersioning"} {
		if !slices.Contains(eu, n) {
			t.Errorf("regional lookup %s missing from eu-west-1", n)
		}
	}
	if len(eu) != len(us)-2 {
		t.Errorf("eu-west-1 looks up %d, want all but the 2 global sources", len(eu))
	}
	// GovCloud: the global region is us-gov-west-1
	gov := &run{cfg: &Config{}, partition: "aws-us-gov"}
	if !slices.Contains(gov.lookups("us-gov-west-1"), "source:iam.amazonaws.com") || slices.Contains(gov.lookups("us-east-1"), "source:iam.amazonaws.com") {
		t.Errorf("in aws-us-gov IAM events are looked up in us-gov-west-1")
	}
	r.cfg.EventNames = []string{"CreateUser"}
	if got := r.lookups("eu-west-1"); !slices.Equal(got, []string{"CreateUser"}) {
		t.Errorf("configured event_names alone are looked up as given in every region, got %v", got)
	}
	r.cfg.EventSources = []string{"iam.amazonaws.com"}
	if got := r.lookups("eu-west-1"); !slices.Equal(got, []string{"CreateUser", "source:iam.amazonaws.com"}) {
		t.Errorf("configured names and sources are looked up as given in every region, got %v", got)
	}
}
