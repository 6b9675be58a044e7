package okta_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/tickmark-dev/tickmark/collectors/collectortest"
	"github.com/tickmark-dev/tickmark/collectors/okta"
	"github.com/tickmark-dev/tickmark/collectors/okta/oktafake"
)

// mfa_enrolled counts possession or inherence factors only (not a security
// question, SMS, voice or email); phishing_resistant is separate; a user
// whose factors were not read says null, not false.
func TestMFAMeansMFA(t *testing.T) {
	_, u := startFake(t, oktafake.Options{Users: 40})
	res := collectortest.Run(t, collectortest.Build(t, "okta", config(u, "evidence: [users, authenticators]")), collectortest.Options{Now: testNow})
	if res.Err != nil {
		t.Fatal(res.Err)
	}
	byID := map[string]int{}
	b := decode[usersBody](t, ofType(res.Committed, okta.TypeUsers)[0])
	for k, usr := range b.Users {
		byID[usr.ID] = k
	}
	user := func(i int) (mfa, pr *bool, cats []string) {
		usr := b.Users[byID[oktafake.UserID(i)]]
		for _, f := range usr.Factors {
			c := f.Category
			if f.PhishingResistant {
				c += "+pr"
			}
			cats = append(cats, f.Type+":"+c)
		}
		return usr.MFAEnrolled, usr.PhishingResistant, cats
	}
	is := func(p *bool, want bool) bool { return p != nil && *p == want }
	if mfa, pr, cats := user(17); !is(mfa, false) || !is(pr, false) || strings.Join(cats, ",") != "question:knowledge,sms:possession" {
		t.Errorf("user 17 (security question + SMS): mfa_enrolled %v, phishing_resistant %v, factors %v; want false, false", deref(mfa), deref(pr), cats)
	}
	if mfa, pr, _ := user(1); !is(mfa, true) || !is(pr, false) {
		t.Errorf("user 1 (Okta Verify push): mfa_enrolled %v, phishing_resistant %v; want true, false", deref(mfa), deref(pr))
	}
	if mfa, pr, cats := user(15); !is(mfa, true) || !is(pr, true) || !strings.Contains(strings.Join(cats, ","), "webauthn:possession+pr") {
		t.Errorf("user 15 (push, TOTP, WebAuthn): %v %v %v", deref(mfa), deref(pr), cats)
	}
	if mfa, pr, cats := user(9); !is(mfa, true) || !is(pr, true) || !strings.Contains(strings.Join(cats, ","), "signed_nonce:possession+pr") {
		t.Errorf("user 9 (Okta Verify FastPass): %v %v %v", deref(mfa), deref(pr), cats)
	}
	if mfa, pr, _ := user(7); mfa != nil || pr != nil {
		t.Errorf("user 7 is deprovisioned, its factors unread: mfa_enrolled and phishing_resistant must be null, got %v %v", deref(mfa), deref(pr))
	}
	arts := ofType(res.Committed, okta.TypeAuthenticators)
	if len(arts) != 1 {
		t.Fatalf("got %d authenticators artifacts, want 1", len(arts))
	}
	var ab struct {
		Applicable     bool `json:"applicable"`
		Authenticators []struct {
			Key               string `json:"key"`
			Category          string `json:"category"`
			PhishingResistant bool   `json:"phishing_resistant"`
		} `json:"authenticators"`
	}
	if err := json.Unmarshal(arts[0].Body, &ab); err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, a := range ab.Authenticators {
		got[a.Key] = a.Category
		if a.PhishingResistant {
			got[a.Key] += "+pr"
		}
	}
	if !ab.Applicable || got["webauthn"] != "possession+pr" || got["security_question"] != "knowledge" || got["okta_verify"] != "possession" {
		t.Errorf("authenticators: applicable %v, classes %v", ab.Applicable, got)
	}
}

func deref(p *bool) any {
	if p == nil {
		return nil
	}
	return *p
}

type policiesBody struct {
	Type       string `json:"type"`
	Applicable bool   `json:"applicable"`
	Reason     string `json:"reason"`
	Policies   []struct {
		Policy struct {
			ID string `json:"id"`
		} `json:"policy"`
		Rules []json.RawMessage `json:"rules"`
	} `json:"policies"`
}

// Every policy type is read with all its rules (paginated); on a Classic
// org the Identity Engine types are recorded as not applicable and the run
// succeeds.
func TestAllPoliciesAllRules(t *testing.T) {
	for _, classic := range []bool{false, true} {
		_, u := startFake(t, oktafake.Options{Users: 10, Classic: classic})
		res := collectortest.Run(t, collectortest.Build(t, "okta", config(u, "evidence: [policies, authenticators]")), collectortest.Options{Now: testNow})
		if res.Err != nil {
			t.Fatalf("classic=%v: %v", classic, res.Err)
		}
		arts := ofType(res.Committed, okta.TypePolicies)
		if len(arts) != len(okta.PolicyTypes) || len(okta.PolicyTypes) < 9 {
			t.Fatalf("classic=%v: %d policy artifacts for %d types", classic, len(arts), len(okta.PolicyTypes))
		}
		by := map[string]policiesBody{}
		for _, a := range arts {
			b := decode[policiesBody](t, a)
			by[b.Type] = b
		}
		ap := by["ACCESS_POLICY"]
		if classic {
			if ap.Applicable || !strings.Contains(ap.Reason, "E0000001") || ap.Policies != nil {
				t.Errorf("Classic org: ACCESS_POLICY should be not applicable, got %+v", ap)
			}
			if !by["PASSWORD"].Applicable {
				t.Errorf("Classic org: PASSWORD policies are applicable")
			}
			if ab := string(ofType(res.Committed, okta.TypeAuthenticators)[0].Body); !strings.Contains(ab, `"applicable": false`) {
				t.Errorf("Classic org: authenticators should be not applicable: %s", ab)
			}
			continue
		}
		rules := 0
		for _, p := range ap.Policies {
			if p.Policy.ID == "rst00000000000appsso" {
				rules = len(p.Rules)
			}
		}
		if !ap.Applicable || rules != 25 {
			t.Errorf("the app sign-in policy has 25 rules over two pages, got %d (applicable %v)", rules, ap.Applicable)
		}
	}
}
