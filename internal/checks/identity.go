package checks

import (
	"fmt"
	"sort"
	"strings"
)

// Identity is one person across systems: their email (the canonical name,
// Okta's login) and their account in each other system.
type Identity struct {
	Email  string   `yaml:"email" json:"email"`
	GitHub []string `yaml:"github" json:"github,omitempty"`
	Jira   []string `yaml:"jira" json:"jira,omitempty"` // account IDs (Cloud) or user names (Data Center)
	AWS    []string `yaml:"aws" json:"aws,omitempty"`   // IAM user names, Identity Center user names
	Okta   []string `yaml:"okta" json:"okta,omitempty"` // logins other than the email
}

// Identities is the identity map person() reads. Where a system gives a
// verified email (Okta logins, Jira people with a visible email, IAM users
// named by email) no entry is needed.
type Identities struct {
	List  []Identity
	index map[string]string // system + "\x00" + lower(account) -> email
}

// NewIdentities validates and indexes an identity map: every entry has an
// email, and no account names two people.
func NewIdentities(list []Identity) (*Identities, error) {
	ids := &Identities{List: list, index: map[string]string{}}
	for i, id := range list {
		email := lowerTrim(id.Email)
		if !strings.Contains(email, "@") {
			return nil, fmt.Errorf("identities[%d]: email %q is not an email address", i, id.Email)
		}
		for sys, accts := range map[string][]string{"github": id.GitHub, "jira": id.Jira, "aws": id.AWS, "okta": id.Okta} {
			for _, a := range accts {
				k := sys + "\x00" + lowerTrim(a)
				if prev, dup := ids.index[k]; dup && prev != email {
					return nil, fmt.Errorf("identities[%d]: %s account %q is already %s's", i, sys, a, prev)
				}
				ids.index[k] = email
			}
		}
	}
	return ids, nil
}

// Person resolves an account in a system to a person (see newEnv).
func (ids *Identities) Person(system string, x any) string {
	var cands []string
	switch v := x.(type) {
	case string:
		cands = []string{v}
	case map[string]any: // a Jira person
		for _, k := range []string{"email", "account_id", "name", "login", "accountId", "emailAddress"} {
			if s, ok := v[k].(string); ok && s != "" {
				cands = append(cands, s)
			}
		}
	case nil:
		return ""
	default:
		cands = []string{fmt.Sprint(v)}
	}
	sys := lowerTrim(system)
	for _, c := range cands {
		if ids != nil && ids.index != nil {
			if e, ok := ids.index[sys+"\x00"+lowerTrim(c)]; ok {
				return e
			}
		}
	}
	for _, c := range cands {
		if strings.Contains(c, "@") {
			return lowerTrim(c)
		}
	}
	if len(cands) == 0 || cands[0] == "" {
		return ""
	}
	return sys + ":" + lowerTrim(cands[0])
}

// sorted returns the entries sorted by email (as recorded in results).
func (ids *Identities) sorted() []Identity {
	if ids == nil {
		return nil
	}
	out := append([]Identity(nil), ids.List...)
	sort.Slice(out, func(i, j int) bool { return lowerTrim(out[i].Email) < lowerTrim(out[j].Email) })
	return out
}
