package checks_test

import (
	"encoding/json"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/tickmark-dev/tickmark/internal/checks"
)

// The Okta collector's own output against its fake (its golden files):
// the users pages and the admin role holders. The expected exceptions are
// read from the bodies by other means than the rules.
func TestOktaGoldens(t *testing.T) {
	set := defaults(t, checks.Options{})
	paths, _ := filepath.Glob("../../collectors/okta/testdata/golden/*-okta.users.golden")
	admins, _ := filepath.Glob("../../collectors/okta/testdata/golden/*-okta.admins.golden")
	if len(paths) == 0 || len(admins) != 1 {
		t.Fatalf("okta goldens: %d users pages, %d admins", len(paths), len(admins))
	}
	var users []art
	mfa := map[string]bool{}
	var want []string
	for _, p := range paths {
		b := golden(t, strings.TrimPrefix(p, "../../collectors/"))
		users = append(users, art{typ: "okta.users", subject: filepath.Base(p), body: b})
		var page struct {
			Users []struct {
				ID     string `json:"id"`
				Status string `json:"status"`
				MFA    *bool  `json:"mfa_enrolled"`
			} `json:"users"`
		}
		if err := json.Unmarshal(b, &page); err != nil {
			t.Fatal(err)
		}
		for _, u := range page.Users {
			mfa[u.ID] = u.MFA != nil && *u.MFA
			if u.Status == "ACTIVE" && !mfa[u.ID] {
				want = append(want, u.ID)
			}
		}
	}
	sort.Strings(want)
	if len(want) == 0 {
		t.Fatal("the golden users hold no user without MFA to find")
	}
	r := evalOne(t, set, "okta.active_users_mfa", users...)
	if r.Status != checks.StatusFail || strings.Join(exceptionKeys(r), ",") != strings.Join(want, ",") {
		t.Fatalf("okta.active_users_mfa over the goldens: %s %v, want %v", r.Status, exceptionKeys(r), want)
	}

	adm := golden(t, strings.TrimPrefix(admins[0], "../../collectors/"))
	var body struct {
		Users []struct {
			ID     string `json:"id"`
			Status string `json:"status"`
		} `json:"users"`
	}
	if err := json.Unmarshal(adm, &body); err != nil {
		t.Fatal(err)
	}
	var wantAdm []string
	for _, u := range body.Users {
		if u.Status == "ACTIVE" && !mfa[u.ID] {
			wantAdm = append(wantAdm, u.ID)
		}
	}
	sort.Strings(wantAdm)
	r = evalOne(t, set, "okta.admins_mfa", append(users, art{typ: "okta.admins", subject: "admins", body: adm})...)
	wantStatus := checks.StatusPass
	if len(wantAdm) > 0 {
		wantStatus = checks.StatusFail
	}
	if r.Status != wantStatus || strings.Join(exceptionKeys(r), ",") != strings.Join(wantAdm, ",") || r.Population != len(body.Users) {
		t.Fatalf("okta.admins_mfa over the goldens: %s %v (population %d), want %s %v", r.Status, exceptionKeys(r), r.Population, wantStatus, wantAdm)
	}
}
