package aws

import (
	"slices"
	"testing"
)

func TestDefaultEventNamesPerRegion(t *testing.T) {
	r := &run{cfg: &Config{}}
	us, eu := r.eventNames("us-east-1"), r.eventNames("eu-west-1")
	if len(us) != len(DefaultEventNames) || len(us) != 71 {
		t.Errorf("us-east-1 looks up %d names, want all %d defaults (71)", len(us), len(DefaultEventNames))
	}
	if slices.Contains(eu, "CreateUser") || slices.Contains(eu, "CreateAccount") {
		t.Errorf("IAM and Organizations events are recorded in us-east-1 only; eu-west-1 must not look them up: %v", eu)
	}
	for _, n := range []string{"ConsoleLogin", "AssumeRole", "StopLogging", "PutBucketPolicy", "AuthorizeSecurityGroupIngress", "PutKeyPolicy"} {
		if !slices.Contains(eu, n) {
			t.Errorf("regional event %s missing from eu-west-1", n)
		}
	}
	if len(eu) != 71-39 {
		t.Errorf("eu-west-1 looks up %d names, want 32", len(eu))
	}
	r.cfg.EventNames = []string{"CreateUser"}
	if got := r.eventNames("eu-west-1"); !slices.Equal(got, []string{"CreateUser"}) {
		t.Errorf("configured event_names are looked up as given in every region, got %v", got)
	}
}
