package awsfake

import (
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"time"
)

// Identity is an account's IAM identity data beyond the credential report:
// what GetAccountAuthorizationDetails, GetAccountPasswordPolicy and
// GetAccountSummary return. The users are the credential report's.
type Identity struct {
	// RootMFA and RootAccessKeys describe the root user (also in the
	// credential report's <root_account> row). New sets RootMFA.
	RootMFA        bool
	RootAccessKeys bool
	// PasswordPolicy nil: GetAccountPasswordPolicy answers NoSuchEntity.
	PasswordPolicy *PasswordPolicy
	Groups         []IAMGroup
	Roles          []IAMRole
	// UserGroups maps a user name to its groups.
	UserGroups map[string][]string
	// UserPolicies maps a user name to attached managed policy ARNs.
	UserPolicies map[string][]string
	// Policies are the customer managed policies (name -> document JSON).
	Policies map[string]string
}

// IAMGroup is a group with its attached managed policy ARNs.
type IAMGroup struct {
	Name     string
	Policies []string
}

// IAMRole is a role with its trust policy and attached managed policy ARNs.
type IAMRole struct {
	Name        string
	TrustPolicy string
	Policies    []string
}

// PasswordPolicy is the account password policy.
type PasswordPolicy struct {
	MinimumPasswordLength      int
	RequireSymbols             bool
	RequireNumbers             bool
	RequireUppercaseCharacters bool
	RequireLowercaseCharacters bool
	AllowUsersToChangePassword bool
	MaxPasswordAge             int
	PasswordReusePrevention    int
	HardExpiry                 bool
}

// SetIdentity replaces the account's IAM identity data.
func (s *Server) SetIdentity(id Identity) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.identity = id
}

type xmlPolicyRef struct {
	PolicyName string `xml:"PolicyName"`
	PolicyArn  string `xml:"PolicyArn"`
}

type xmlUserDetail struct {
	Path                    string         `xml:"Path"`
	UserName                string         `xml:"UserName"`
	UserId                  string         `xml:"UserId"`
	Arn                     string         `xml:"Arn"`
	CreateDate              string         `xml:"CreateDate"`
	GroupList               []string       `xml:"GroupList>member"`
	AttachedManagedPolicies []xmlPolicyRef `xml:"AttachedManagedPolicies>member"`
}

type xmlGroupDetail struct {
	Path                    string         `xml:"Path"`
	GroupName               string         `xml:"GroupName"`
	GroupId                 string         `xml:"GroupId"`
	Arn                     string         `xml:"Arn"`
	CreateDate              string         `xml:"CreateDate"`
	AttachedManagedPolicies []xmlPolicyRef `xml:"AttachedManagedPolicies>member"`
}

type xmlRoleDetail struct {
	Path                     string         `xml:"Path"`
	RoleName                 string         `xml:"RoleName"`
	RoleId                   string         `xml:"RoleId"`
	Arn                      string         `xml:"Arn"`
	CreateDate               string         `xml:"CreateDate"`
	AssumeRolePolicyDocument string         `xml:"AssumeRolePolicyDocument"`
	AttachedManagedPolicies  []xmlPolicyRef `xml:"AttachedManagedPolicies>member"`
}

type xmlPolicyVersion struct {
	Document         string `xml:"Document"`
	VersionId        string `xml:"VersionId"`
	IsDefaultVersion bool   `xml:"IsDefaultVersion"`
	CreateDate       string `xml:"CreateDate"`
}

type xmlManagedPolicy struct {
	PolicyName        string             `xml:"PolicyName"`
	PolicyId          string             `xml:"PolicyId"`
	Arn               string             `xml:"Arn"`
	Path              string             `xml:"Path"`
	DefaultVersionId  string             `xml:"DefaultVersionId"`
	AttachmentCount   int                `xml:"AttachmentCount"`
	IsAttachable      bool               `xml:"IsAttachable"`
	CreateDate        string             `xml:"CreateDate"`
	UpdateDate        string             `xml:"UpdateDate"`
	PolicyVersionList []xmlPolicyVersion `xml:"PolicyVersionList>member"`
}

func refs(arns []string) []xmlPolicyRef {
	out := make([]xmlPolicyRef, 0, len(arns))
	for _, a := range arns {
		name := a
		if i := lastSlash(a); i >= 0 {
			name = a[i+1:]
		}
		out = append(out, xmlPolicyRef{name, a})
	}
	return out
}

func lastSlash(s string) int {
	for i := len(s) - 1; i >= 0; i-- {
		if s[i] == '/' {
			return i
		}
	}
	return -1
}

// getAccountAuthorizationDetails pages users, groups, roles and local
// managed policies together (MaxItems 1..1000, default 100; Marker), with
// policy documents URL-encoded as IAM returns them.
func (s *Server) getAccountAuthorizationDetails(w http.ResponseWriter, form url.Values) {
	max := 100
	if v := form.Get("MaxItems"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 1000 {
			writeQueryError(w, iamNS, http.StatusBadRequest, "ValidationError", "1 validation error detected: Value at 'maxItems' failed to satisfy constraint: Member must have value between 1 and 1000")
			return
		}
		max = n
	}
	off := 0
	if m := form.Get("Marker"); m != "" {
		n, ok := decodeToken(m, "GetAccountAuthorizationDetails|"+s.Account)
		if !ok {
			writeQueryError(w, iamNS, http.StatusBadRequest, "ValidationError", "Invalid Marker")
			return
		}
		off = n
	}
	s.mu.Lock()
	id := s.identity
	users := append([]User(nil), s.users...)
	s.mu.Unlock()
	created := s.Now().Add(-400 * 24 * time.Hour).UTC().Format(time.RFC3339)
	var items []any
	for i, u := range users {
		items = append(items, xmlUserDetail{"/", u.Name, fmt.Sprintf("AIDA%016d", i), "arn:aws:iam::" + s.Account + ":user/" + u.Name, u.Created.UTC().Format(time.RFC3339),
			append([]string{}, id.UserGroups[u.Name]...), refs(id.UserPolicies[u.Name])})
	}
	for i, g := range id.Groups {
		items = append(items, xmlGroupDetail{"/", g.Name, fmt.Sprintf("AGPA%016d", i), "arn:aws:iam::" + s.Account + ":group/" + g.Name, created, refs(g.Policies)})
	}
	for i, r := range id.Roles {
		items = append(items, xmlRoleDetail{"/", r.Name, fmt.Sprintf("AROA%016d", i), "arn:aws:iam::" + s.Account + ":role/" + r.Name, created, url.QueryEscape(r.TrustPolicy), refs(r.Policies)})
	}
	for i, name := range sortedNames(id.Policies) {
		items = append(items, xmlManagedPolicy{name, fmt.Sprintf("ANPA%016d", i), "arn:aws:iam::" + s.Account + ":policy/" + name, "/", "v1", 1, true, created, created,
			[]xmlPolicyVersion{{url.QueryEscape(id.Policies[name]), "v1", true, created}}})
	}
	type result struct {
		UserDetailList  []xmlUserDetail    `xml:"UserDetailList>member"`
		GroupDetailList []xmlGroupDetail   `xml:"GroupDetailList>member"`
		RoleDetailList  []xmlRoleDetail    `xml:"RoleDetailList>member"`
		Policies        []xmlManagedPolicy `xml:"Policies>member"`
		IsTruncated     bool               `xml:"IsTruncated"`
		Marker          string             `xml:"Marker,omitempty"`
	}
	var res result
	end := min(off+max, len(items))
	for _, it := range items[min(off, len(items)):end] {
		switch v := it.(type) {
		case xmlUserDetail:
			res.UserDetailList = append(res.UserDetailList, v)
		case xmlGroupDetail:
			res.GroupDetailList = append(res.GroupDetailList, v)
		case xmlRoleDetail:
			res.RoleDetailList = append(res.RoleDetailList, v)
		case xmlManagedPolicy:
			res.Policies = append(res.Policies, v)
		}
	}
	if end < len(items) {
		res.IsTruncated, res.Marker = true, encodeToken(end, "GetAccountAuthorizationDetails|"+s.Account)
	}
	writeQuery(w, iamNS, "GetAccountAuthorizationDetails", res)
}

func (s *Server) getAccountPasswordPolicy(w http.ResponseWriter) {
	s.mu.Lock()
	p := s.identity.PasswordPolicy
	s.mu.Unlock()
	if p == nil {
		writeQueryError(w, iamNS, http.StatusNotFound, "NoSuchEntity", "The Password Policy with domain name "+s.Account+" cannot be found.")
		return
	}
	type policy struct {
		MinimumPasswordLength      int  `xml:"MinimumPasswordLength"`
		RequireSymbols             bool `xml:"RequireSymbols"`
		RequireNumbers             bool `xml:"RequireNumbers"`
		RequireUppercaseCharacters bool `xml:"RequireUppercaseCharacters"`
		RequireLowercaseCharacters bool `xml:"RequireLowercaseCharacters"`
		AllowUsersToChangePassword bool `xml:"AllowUsersToChangePassword"`
		ExpirePasswords            bool `xml:"ExpirePasswords"`
		MaxPasswordAge             int  `xml:"MaxPasswordAge,omitempty"`
		PasswordReusePrevention    int  `xml:"PasswordReusePrevention,omitempty"`
		HardExpiry                 bool `xml:"HardExpiry"`
	}
	type result struct {
		PasswordPolicy policy `xml:"PasswordPolicy"`
	}
	writeQuery(w, iamNS, "GetAccountPasswordPolicy", result{policy{p.MinimumPasswordLength, p.RequireSymbols, p.RequireNumbers, p.RequireUppercaseCharacters,
		p.RequireLowercaseCharacters, p.AllowUsersToChangePassword, p.MaxPasswordAge > 0, p.MaxPasswordAge, p.PasswordReusePrevention, p.HardExpiry}})
}

func (s *Server) getAccountSummary(w http.ResponseWriter) {
	s.mu.Lock()
	id := s.identity
	users := len(s.users)
	s.mu.Unlock()
	b2i := func(b bool) int {
		if b {
			return 1
		}
		return 0
	}
	type entry struct {
		Key   string `xml:"key"`
		Value int    `xml:"value"`
	}
	type result struct {
		SummaryMap []entry `xml:"SummaryMap>entry"`
	}
	writeQuery(w, iamNS, "GetAccountSummary", result{[]entry{
		{"AccountMFAEnabled", b2i(id.RootMFA)}, {"AccountAccessKeysPresent", b2i(id.RootAccessKeys)}, {"AccountSigningCertificatesPresent", 0},
		{"Users", users}, {"UsersQuota", 5000}, {"Groups", len(id.Groups)}, {"GroupsQuota", 300}, {"Roles", len(id.Roles)}, {"RolesQuota", 1000},
		{"Policies", len(id.Policies)}, {"PoliciesQuota", 1500}, {"MFADevices", users}, {"MFADevicesInUse", 0},
	}})
}

func sortedNames(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
