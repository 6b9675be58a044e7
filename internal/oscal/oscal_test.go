package oscal_test

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/tickmark-dev/tickmark/internal/evidence"
	"github.com/tickmark-dev/tickmark/internal/oscal"
	"github.com/tickmark-dev/tickmark/internal/oscal/oscaltest"
)

func rec(seq uint64, typ, subject string, controls ...string) oscal.Evidence {
	return oscal.Evidence{Record: &evidence.Record{Seq: seq, Agent: "prod-1", Collector: "c", Type: typ, Subject: subject, Controls: controls,
		CollectedAt: time.Date(2026, 11, 30, 6, 0, 0, 0, time.UTC), ContentType: "application/json", Size: 10,
		SHA256: strings.Repeat("ab", 32)}, Href: "evidence/x/file.json"}
}

func TestAssessmentResultsValidate(t *testing.T) {
	b, err := oscal.Marshal(oscal.Input{Agent: "prod-1", From: time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC), To: time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC),
		Generated: time.Date(2026, 12, 1, 8, 0, 0, 0, time.UTC), Tool: "tickmark test",
		Records: []oscal.Evidence{
			rec(1, "github.pull_requests", "acme/api", "CC8.1"),
			rec(2, "check.github.prs_independently_approved", "github.prs_independently_approved: fail, 3 exceptions in 6 items", "CM-01", "CC8.1"),
			rec(3, "check.okta.active_users_mfa", "okta.active_users_mfa: pass, 0 exceptions in 40 items", "AC-04", "CC6.1", "CC6.2"),
			rec(4, "check.aws.digest_chain_intact", "aws.digest_chain_intact: no_data, 0 exceptions in 0 items", "LM-03", "CC7.2"),
		}})
	if err != nil {
		t.Fatal(err)
	}
	oscaltest.Validate(t, b)
	var d struct {
		AR struct {
			Results []struct {
				Observations []struct{ UUID, Collected string }
				Findings     []struct {
					Title  string
					Target struct {
						TargetID string `json:"target-id"`
						Status   struct{ State string }
					}
					Related []struct {
						UUID string `json:"observation-uuid"`
					} `json:"related-observations"`
				}
				Remarks string
			}
		} `json:"assessment-results"`
	}
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatal(err)
	}
	r := d.AR.Results[0]
	var got []string
	for _, f := range r.Findings {
		got = append(got, f.Target.TargetID+"="+f.Target.Status.State)
		if len(f.Related) != 1 || f.Related[0].UUID != r.Observations[1].UUID && f.Related[0].UUID != r.Observations[2].UUID {
			t.Errorf("finding %s not tied to its result's observation", f.Title)
		}
	}
	if strings.Join(got, " ") != "CC8.1=not-satisfied CC6.1=satisfied CC6.2=satisfied" || len(r.Observations) != 4 ||
		r.Observations[0].Collected != "2026-11-30T06:00:00Z" || !strings.Contains(r.Remarks, "1 check result in the window tested nothing") {
		t.Fatalf("findings %v, %d observations, remarks %q", got, len(r.Observations), r.Remarks)
	}
	// The schema is strict: a document it rejects is rejected.
	bad := bytes.Replace(b, []byte(`"not-satisfied"`), []byte(`"partly"`), 1)
	if oscaltest.Check(t, bad) == nil {
		t.Fatal("the schema accepted an invalid finding state")
	}
}
