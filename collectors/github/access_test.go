package github

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/tickmark-dev/tickmark/collectors/collectortest"
	"github.com/tickmark-dev/tickmark/collectors/github/ghfake"
)

// Repository access, pending invitations, code- and secret-scanning
// alerts: what an owner sees in full, and what a member's token records as
// unknown rather than empty.
func TestAccessInvitationsAndScanning(t *testing.T) {
	srv, org := newFake(t, ghfake.Options{Repos: 12, MergedPerRepo: 1})
	evidence := "evidence: [repository_access, invitations, code_scanning_alerts, secret_scanning_alerts]\n"
	owner := runAll(t, strings.Replace(cfgFor(srv, evidence), "GH_TEST_TOKEN", "GH_OWNER_TOKEN", 1), "")
	member := runAll(t, cfgFor(srv, evidence), "")

	for _, a := range append(owner.Committed, member.Committed...) {
		if strings.Contains(string(a.Body), "LEAKED") {
			t.Fatalf("%s %s holds a leaked secret's value", a.Type, a.Subject)
		}
	}

	type accessBody struct {
		Teams                []teamAccess          `json:"teams"`
		Collaborators        *[]collaboratorAccess `json:"direct_collaborators"`
		CollaboratorsVisible bool                  `json:"collaborators_visible"`
		Outside              *int                  `json:"outside_collaborators"`
	}
	access := func(as []collectortest.Artifact) map[string]accessBody {
		out := map[string]accessBody{}
		for _, a := range as {
			if a.Type != EvRepositoryAccess {
				continue
			}
			var b accessBody
			if err := json.Unmarshal(a.Body, &b); err != nil {
				t.Fatal(err)
			}
			out[a.Subject] = b
		}
		return out
	}
	oa, ma := access(owner.Committed), access(member.Committed)
	if len(oa) != 12 || len(ma) != 12 {
		t.Fatalf("%d and %d repository_access artifacts, want 12", len(oa), len(ma))
	}
	for _, rp := range org.Repos {
		k := "acme/" + rp.Name
		o := oa[k]
		if len(o.Teams) != len(rp.Teams) || o.Collaborators == nil || len(*o.Collaborators) != len(rp.Collaborators) || !o.CollaboratorsVisible {
			t.Errorf("%s owner view: %+v, want %d teams and %d collaborators", k, o, len(rp.Teams), len(rp.Collaborators))
			continue
		}
		nOut := 0
		for _, c := range *o.Collaborators {
			if strings.HasPrefix(c.Login, "contractor") != c.Outside {
				t.Errorf("%s: %s outside=%v", k, c.Login, c.Outside)
			}
			if c.Outside {
				nOut++
			}
		}
		if o.Outside == nil || *o.Outside != nOut {
			t.Errorf("%s: outside count %v, want %d", k, o.Outside, nOut)
		}
		if m := ma[k]; m.Collaborators != nil || m.CollaboratorsVisible || m.Outside != nil || len(m.Teams) != len(rp.Teams) {
			t.Errorf("%s member view: %+v, want collaborators null (GitHub requires push access)", k, m)
		}
	}

	type invBody struct {
		Invitations *[]struct {
			Role    string `json:"role"`
			AgeDays *int   `json:"age_days"`
		} `json:"invitations"`
		Visible bool `json:"invitations_visible"`
	}
	inv := func(as []collectortest.Artifact) invBody {
		var b invBody
		n := 0
		for _, a := range as {
			if a.Type == EvInvitations {
				n++
				if err := json.Unmarshal(a.Body, &b); err != nil {
					t.Fatal(err)
				}
			}
		}
		if n != 1 {
			t.Fatalf("%d invitations artifacts", n)
		}
		return b
	}
	if b := inv(owner.Committed); b.Invitations == nil || len(*b.Invitations) != len(org.Invitations) || (*b.Invitations)[1].AgeDays == nil || *(*b.Invitations)[1].AgeDays != 40 {
		t.Errorf("owner invitations: %+v", b)
	}
	if b := inv(member.Committed); b.Invitations != nil || b.Visible {
		t.Errorf("member invitations %+v, want null and not visible", b)
	}

	type scanBody struct {
		Enabled bool `json:"enabled"`
		Alerts  []struct {
			State   string `json:"state"`
			AgeDays *int   `json:"age_days"`
			Secret  string `json:"secret"`
		} `json:"alerts"`
	}
	for _, kind := range []string{EvCodeScanning, EvSecretScanning} {
		enabled, disabled, alerts := 0, 0, 0
		for _, a := range owner.Committed {
			if a.Type != kind {
				continue
			}
			var b scanBody
			if err := json.Unmarshal(a.Body, &b); err != nil {
				t.Fatal(err)
			}
			if !b.Enabled {
				disabled++
				continue
			}
			enabled++
			for _, al := range b.Alerts {
				alerts++
				if al.AgeDays == nil || *al.AgeDays < 0 {
					t.Errorf("%s %s: alert without age", kind, a.Subject)
				}
			}
		}
		want, wantOff := 0, 0
		for _, rp := range org.Repos {
			switch kind {
			case EvCodeScanning:
				want += len(rp.CodeAlerts)
				if rp.CodeScanningOff {
					wantOff++
				}
			default:
				want += len(rp.SecretAlerts)
				if rp.SecretScanningOff {
					wantOff++
				}
			}
		}
		if alerts != want || disabled != wantOff || enabled+disabled != 12 || want == 0 || wantOff == 0 {
			t.Errorf("%s: %d alerts (want %d), %d disabled (want %d), %d enabled", kind, alerts, want, disabled, wantOff, enabled)
		}
	}
}
