package oktafake

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// Okta's timestamp format (millisecond precision, UTC).
const tsFormat = "2006-01-02T15:04:05.000Z"

func ts(t time.Time) string { return t.UTC().Format(tsFormat) }

// User is a generated user. Users are computed from their index so that a
// fake org of 100,000 users costs no memory.
type User struct {
	Index           int
	ID              string
	Login           string
	FirstName       string
	LastName        string
	Status          string
	Created         time.Time
	Activated       time.Time // zero when never activated
	StatusChanged   time.Time
	LastLogin       time.Time
	PasswordChanged time.Time
	LastUpdated     time.Time
}

// Factor is an enrolled MFA factor.
type Factor struct {
	ID, FactorType, Provider, VendorName, Status string
	Created                                      time.Time
}

// UserID is the ID of the user with index i.
func UserID(i int) string { return fmt.Sprintf("00u%017d", i) }

func userIndex(id string) (int, bool) {
	var i int
	if len(id) != 20 || id[:3] != "00u" {
		return 0, false
	}
	if _, err := fmt.Sscanf(id[3:], "%d", &i); err != nil {
		return 0, false
	}
	return i, true
}

// Lifecycle is a deprovisioning or suspension of a user.
type Lifecycle struct {
	Status    string    // DEPROVISIONED or SUSPENDED
	At        time.Time // statusChanged and the System Log event's published time
	ActorID   string    // the admin who did it
	VisibleAt time.Time // when search and the System Log show it (zero: at once)
}

// defaultLifecycle says which generated users left ACTIVE, and when: every
// 50th user (offset 7) is deprovisioned and every 50th (offset 13)
// suspended, spread over the 60 days before Base.
func (s *Server) defaultLifecycle(i int) (Lifecycle, bool) {
	at := s.opts.Base.Add(-time.Duration(1+(i*7919)%(60*24)) * time.Hour).Add(-time.Duration(i%60) * time.Minute)
	switch i % 50 {
	case 7:
		return Lifecycle{Status: "DEPROVISIONED", At: at, ActorID: UserID(0)}, true
	case 13:
		return Lifecycle{Status: "SUSPENDED", At: at, ActorID: UserID(1)}, true
	}
	return Lifecycle{}, false
}

// lifecycle returns the user's lifecycle change, explicit ones first.
func (s *Server) lifecycle(i int) (Lifecycle, bool) {
	if l, ok := s.changes[i]; ok {
		return l, true
	}
	return s.defaultLifecycle(i)
}

// user builds user i as GET /api/v1/users/{id} and filtered listings
// show it: consistent.
func (s *Server) user(i int) User { return s.userView(i, false) }

// searchUser builds user i as users search shows it: a lifecycle change
// not yet visible (DeprovisionLate) is not there.
func (s *Server) searchUser(i int) User { return s.userView(i, true) }

func (s *Server) userView(i int, search bool) User {
	base := s.opts.Base
	u := User{
		Index:     i,
		ID:        UserID(i),
		Login:     fmt.Sprintf("user%06d@example.com", i),
		FirstName: fmt.Sprintf("First%d", i),
		LastName:  fmt.Sprintf("Last%d", i),
		Status:    "ACTIVE",
		Created:   base.Add(-400 * 24 * time.Hour).Add(time.Duration(i) * time.Minute),
	}
	u.Activated = u.Created.Add(time.Hour)
	u.StatusChanged = u.Activated
	u.PasswordChanged = u.Activated.Add(24 * time.Hour)
	u.LastLogin = base.Add(-time.Duration(1+i%72) * time.Hour)
	switch i % 50 {
	case 21:
		u.Status, u.Activated, u.StatusChanged, u.PasswordChanged, u.LastLogin = "STAGED", time.Time{}, u.Created, time.Time{}, time.Time{}
	case 29:
		u.Status = "LOCKED_OUT"
		u.StatusChanged = base.Add(-time.Duration(2+i%100) * time.Hour)
	}
	if l, ok := s.lifecycle(i); ok && !l.At.After(base.Add(365*24*time.Hour)) && (!search || l.VisibleAt.IsZero() || s.visible(l.VisibleAt)) {
		u.Status, u.StatusChanged = l.Status, l.At
	}
	u.LastUpdated = u.StatusChanged
	if u.PasswordChanged.After(u.LastUpdated) {
		u.LastUpdated = u.PasswordChanged
	}
	return u
}

// Factors returns the factors enrolled by user i: every 10th user (offset
// 3) and staged users have none; every 10th (offset 7) only a security
// question and SMS; the others Okta Verify push, plus TOTP (every 3rd),
// WebAuthn (every 5th) and Okta Verify FastPass (every 20th, offset 9).
func (s *Server) factors(i int) []Factor {
	u := s.user(i)
	if i%10 == 3 || u.Status == "STAGED" {
		return nil
	}
	at := u.Activated.Add(2 * time.Hour)
	if i%10 == 7 {
		return []Factor{
			{ID: fmt.Sprintf("ufs%017d", i), FactorType: "question", Provider: "OKTA", VendorName: "OKTA", Status: "ACTIVE", Created: at},
			{ID: fmt.Sprintf("mbl%017d", i), FactorType: "sms", Provider: "OKTA", VendorName: "OKTA", Status: "ACTIVE", Created: at.Add(time.Hour)},
		}
	}
	fs := []Factor{{ID: fmt.Sprintf("opf%017d", i), FactorType: "push", Provider: "OKTA", VendorName: "OKTA", Status: "ACTIVE", Created: at}}
	if i%3 == 0 {
		fs = append(fs, Factor{ID: fmt.Sprintf("uft%017d", i), FactorType: "token:software:totp", Provider: "GOOGLE", VendorName: "GOOGLE", Status: "ACTIVE", Created: at.Add(time.Hour)})
	}
	if i%5 == 0 {
		fs = append(fs, Factor{ID: fmt.Sprintf("fwf%017d", i), FactorType: "webauthn", Provider: "FIDO", VendorName: "FIDO", Status: "ACTIVE", Created: at.Add(2 * time.Hour)})
	}
	if i%20 == 9 {
		fs = append(fs, Factor{ID: fmt.Sprintf("osn%017d", i), FactorType: "signed_nonce", Provider: "OKTA", VendorName: "OKTA", Status: "ACTIVE", Created: at.Add(3 * time.Hour)})
	}
	return fs
}

// group is a static group whose members are chosen by a predicate.
type group struct {
	ID, Name, Type, Description string
	Member                      func(i int) bool
	Apps                        []app
	Roles                       []role
}

type app struct{ ID, Name, Label string }

type role struct{ ID, Type, Label string }

var (
	appSlack  = app{"0oa00000000000slack", "slack", "Slack"}
	appGitHub = app{"0oa0000000000github", "githubcloud", "GitHub Enterprise Cloud"}
	appAWS    = app{"0oa0000000000000aws", "amazon_aws", "AWS Account Federation"}
)

func (s *Server) groupList() []group {
	return []group{
		{ID: "00g00000000everyone", Name: "Everyone", Type: "BUILT_IN", Description: "All users in your organization", Member: func(int) bool { return true }, Apps: []app{appSlack}},
		{ID: "00g0000000000admins", Name: "Okta Admins", Type: "OKTA_GROUP", Description: "Administrators", Member: func(i int) bool { return i%500 == 2 }, Roles: []role{{"ra1grpadmin00000001", "SUPER_ADMIN", "Super Administrator"}}},
		{ID: "00g00000engineering", Name: "Engineering", Type: "OKTA_GROUP", Description: "Engineering staff", Member: func(i int) bool { return i%3 == 0 }, Apps: []app{appGitHub, appAWS}},
		{ID: "00g00000000000sales", Name: "Sales", Type: "OKTA_GROUP", Description: "Sales staff", Member: func(i int) bool { return i%3 == 1 }, Apps: []app{appSlack}},
		{ID: "00g00000contractors", Name: "Contractors", Type: "OKTA_GROUP", Description: "External contractors", Member: func(i int) bool { return i%7 == 0 }},
	}
}

// userRoles are the admin roles assigned directly to user i.
func userRoles(i int) []role {
	switch {
	case i == 0:
		return []role{{"ra1usr0000000000sup", "SUPER_ADMIN", "Super Administrator"}}
	case i == 1:
		return []role{{"ra1usr0000000000org", "ORG_ADMIN", "Organization Administrator"}}
	case i == 4:
		return []role{{"ra1usr00000000appadm", "APP_ADMIN", "Application Administrator"}}
	case i == 5:
		return []role{{"irb0000000000custom5", "CUSTOM", "Access Reviewer"}}
	case i%1000 == 500:
		return []role{{fmt.Sprintf("ra1hd%014d", i), "HELP_DESK_ADMIN", "Help Desk Administrator"}}
	}
	return nil
}

// Event is one System Log event, kept compact.
type Event struct {
	UUID      string
	Published time.Time
	Persisted time.Time // when the System Log made it visible (zero: Published)
	EventType string
	Actor     string // user ID
	Target    string // user ID
	Outcome   string
	Display   string
}

var fillerTypes = []struct{ typ, display string }{
	{"user.session.start", "User login to Okta"},
	{"user.authentication.sso", "User single sign on to app"},
	{"user.mfa.factor.activate", "Activate factor or authenticator"},
	{"user.session.start", "User login to Okta"},
	{"group.user_membership.add", "Add user to group membership"},
	{"user.authentication.sso", "User single sign on to app"},
	{"user.account.lock", "Max sign in attempts exceeded"},
	{"application.user_membership.add", "Add user to application membership"},
	{"policy.lifecycle.update", "Update policy"},
	{"user.account.privilege.grant", "Grant user privilege"},
	{"user.lifecycle.create", "Create Okta user"},
	{"system.org.rate_limit.warning", "Rate limit warning"},
	{"system.api_token.create", "Create API token"},
	{"user.session.impersonation.initiate", "Okta support impersonation session initiated"},
	{"group.lifecycle.create", "Create Okta group"},
	{"app.oauth2.as.consent.grant", "User granted consent to app"},
	{"application.lifecycle.create", "Create application"},
	{"security.threat.detected", "Request from suspicious actor"},
	{"system.agent.ad.read_ldap", "Read LDAP"},
}

// genEvents builds the initial System Log: one event per lifecycle change
// of the generated users, plus filler up to n events, in publication order.
func (s *Server) genEvents(n int) []Event {
	var life []Event
	for i := 0; i < s.opts.Users; i++ {
		if l, ok := s.defaultLifecycle(i); ok {
			life = append(life, lifecycleEvent(i, l, len(life)))
		}
	}
	// life is not sorted by time; filler is spread evenly over 80 days.
	filler := n - len(life)
	if filler < 0 {
		filler = 0
	}
	out := make([]Event, 0, len(life)+filler)
	start := s.opts.Base.Add(-80 * 24 * time.Hour)
	step := 80 * 24 * time.Hour / time.Duration(max(filler, 1))
	for k := 0; k < filler; k++ {
		ft := fillerTypes[k%len(fillerTypes)]
		target := (k * 31) % max(s.opts.Users, 1)
		out = append(out, Event{UUID: fmt.Sprintf("evf%029d", k), Published: start.Add(time.Duration(k) * step), EventType: ft.typ,
			Actor: UserID(k % 3), Target: UserID(target), Outcome: "SUCCESS", Display: ft.display})
	}
	out = append(out, life...)
	sortEvents(out)
	return out
}

func lifecycleEvent(i int, l Lifecycle, seq int) Event {
	typ, disp := "user.lifecycle.deactivate", "Deactivate Okta user"
	if l.Status == "SUSPENDED" {
		typ, disp = "user.lifecycle.suspend", "Suspend Okta user"
	}
	return Event{UUID: fmt.Sprintf("evl%011d%018d", seq, i), Published: l.At, EventType: typ, Actor: l.ActorID, Target: UserID(i), Outcome: "SUCCESS", Display: disp}
}

func (e Event) persisted() time.Time {
	if e.Persisted.IsZero() {
		return e.Published
	}
	return e.Persisted
}

func sortEvents(es []Event) {
	slices.SortStableFunc(es, func(a, b Event) int {
		if c := a.Published.Compare(b.Published); c != 0 {
			return c
		}
		return strings.Compare(a.UUID, b.UUID)
	})
}
