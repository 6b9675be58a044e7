package awsfake

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"
)

// IdentityCenter is an IAM Identity Center instance of an account, served
// by the SSO Admin API (JSON 1.1, X-Amz-Target SWBExternalService.<Op>,
// SigV4 service "sso") and the Identity Store API (JSON 1.1, X-Amz-Target
// AWSIdentityStore.<Op>, service "identitystore"). List operations page
// with MaxResults and NextToken (a token is valid only with the same
// parameters); an unknown instance, permission set or identity store is
// ResourceNotFoundException, a missing required member ValidationException.
type IdentityCenter struct {
	InstanceARN     string // arn:aws:sso:::instance/ssoins-…
	IdentityStoreID string // d-…
	Name            string
	Users           []ICUser
	Groups          []ICGroup
	PermissionSets  []ICPermissionSet
	Assignments     []ICAssignment
}

// ICUser is an Identity Store user.
type ICUser struct {
	ID, UserName, DisplayName, Email string
}

// ICGroup is an Identity Store group with its members' user IDs.
type ICGroup struct {
	ID, DisplayName, Description string
	Members                      []string
}

// ICPermissionSet is a permission set; its ARN is derived from the
// instance when empty.
type ICPermissionSet struct {
	ARN, Name, Description string
	SessionDuration        string // ISO 8601, e.g. PT8H
	ManagedPolicies        []string
	InlinePolicy           string
}

// ICAssignment assigns a user or group a permission set (by name) in an account.
type ICAssignment struct {
	AccountID     string
	PermissionSet string
	PrincipalType string // USER or GROUP
	PrincipalID   string
}

// SetIdentityCenter gives the account an Identity Center instance.
func (s *Server) SetIdentityCenter(ic *IdentityCenter) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := range ic.PermissionSets {
		if ic.PermissionSets[i].ARN == "" {
			id := strings.TrimPrefix(ic.InstanceARN[strings.LastIndex(ic.InstanceARN, "/")+1:], "ssoins-")
			ic.PermissionSets[i].ARN = fmt.Sprintf("arn:aws:sso:::permissionSet/ssoins-%s/ps-%016x", id, i+1)
		}
	}
	s.ic = ic
}

const (
	ssoTargetPrefix = "SWBExternalService."
	idsTargetPrefix = "AWSIdentityStore."
)

func (s *Server) serveIdentityCenter(w http.ResponseWriter, r *http.Request, service string, auth sigv4) {
	prefix := ssoTargetPrefix
	if service == "identitystore" {
		prefix = idsTargetPrefix
	}
	op, in, ok := jsonRequest(w, r, prefix)
	if !ok {
		return
	}
	iamName := service // the IAM action prefix: sso:ListInstances, identitystore:ListUsers
	switch s.enter(iamName+":"+op, auth.Region) {
	case FaultAccessDenied:
		writeJSONError(w, http.StatusBadRequest, "AccessDeniedException", fmt.Sprintf("User: arn:aws:sts::%s:assumed-role/tickmark-read/tickmark is not authorized to perform: %s:%s", s.Account, iamName, op))
		return
	case FaultThrottle:
		writeJSONError(w, http.StatusBadRequest, "ThrottlingException", "Rate exceeded")
		return
	case FaultInternal:
		writeJSONError(w, http.StatusInternalServerError, "InternalServerException", "internal failure")
		return
	}
	s.mu.Lock()
	ic := s.ic
	s.mu.Unlock()
	str := func(k string) string { v, _ := in[k].(string); return v }
	needInstance := func() bool {
		if str("InstanceArn") == "" {
			writeJSONError(w, http.StatusBadRequest, "ValidationException", "1 validation error detected: Value null at 'instanceArn' failed to satisfy constraint: Member must not be null")
			return false
		}
		if ic == nil || str("InstanceArn") != ic.InstanceARN {
			writeJSONError(w, http.StatusBadRequest, "ResourceNotFoundException", "Instance "+str("InstanceArn")+" does not exist")
			return false
		}
		return true
	}
	findPS := func() *ICPermissionSet {
		for i := range ic.PermissionSets {
			if ic.PermissionSets[i].ARN == str("PermissionSetArn") {
				return &ic.PermissionSets[i]
			}
		}
		writeJSONError(w, http.StatusBadRequest, "ResourceNotFoundException", "PermissionSet "+str("PermissionSetArn")+" does not exist")
		return nil
	}
	needStore := func() bool {
		if ic == nil || str("IdentityStoreId") != ic.IdentityStoreID {
			writeJSONError(w, http.StatusBadRequest, "ResourceNotFoundException", "Identity store "+str("IdentityStoreId")+" does not exist")
			return false
		}
		return true
	}
	created := epoch(s.Now().Add(-300 * 24 * time.Hour))
	switch service + ":" + op {
	case "sso:ListInstances":
		items := []any{}
		if ic != nil {
			items = append(items, map[string]any{"InstanceArn": ic.InstanceARN, "IdentityStoreId": ic.IdentityStoreID, "OwnerAccountId": s.Account,
				"Name": ic.Name, "CreatedDate": created, "Status": "ACTIVE"})
		}
		pageJSON(w, in, "Instances", items, "ListInstances|"+s.Account)
	case "sso:ListPermissionSets":
		if !needInstance() {
			return
		}
		items := []any{}
		for _, p := range ic.PermissionSets {
			items = append(items, p.ARN)
		}
		pageJSON(w, in, "PermissionSets", items, "ListPermissionSets|"+ic.InstanceARN)
	case "sso:DescribePermissionSet":
		if !needInstance() {
			return
		}
		if p := findPS(); p != nil {
			writeJSON(w, map[string]any{"PermissionSet": map[string]any{"Name": p.Name, "PermissionSetArn": p.ARN, "Description": p.Description,
				"CreatedDate": created, "SessionDuration": p.SessionDuration}})
		}
	case "sso:ListManagedPoliciesInPermissionSet":
		if !needInstance() {
			return
		}
		if p := findPS(); p != nil {
			items := []any{}
			for _, a := range p.ManagedPolicies {
				items = append(items, map[string]any{"Arn": a, "Name": a[lastSlash(a)+1:]})
			}
			pageJSON(w, in, "AttachedManagedPolicies", items, "ListManagedPolicies|"+p.ARN)
		}
	case "sso:GetInlinePolicyForPermissionSet":
		if !needInstance() {
			return
		}
		if p := findPS(); p != nil {
			out := map[string]any{}
			if p.InlinePolicy != "" {
				out["InlinePolicy"] = p.InlinePolicy
			}
			writeJSON(w, out)
		}
	case "sso:ListAccountsForProvisionedPermissionSet":
		if !needInstance() {
			return
		}
		if p := findPS(); p != nil {
			seen := map[string]bool{}
			items := []any{}
			for _, a := range ic.Assignments {
				if a.PermissionSet == p.Name && !seen[a.AccountID] {
					seen[a.AccountID] = true
					items = append(items, a.AccountID)
				}
			}
			pageJSON(w, in, "AccountIds", items, "ListAccountsForProvisioned|"+p.ARN)
		}
	case "sso:ListAccountAssignments":
		if !needInstance() {
			return
		}
		if str("AccountId") == "" {
			writeJSONError(w, http.StatusBadRequest, "ValidationException", "1 validation error detected: Value null at 'accountId' failed to satisfy constraint: Member must not be null")
			return
		}
		if p := findPS(); p != nil {
			items := []any{}
			for _, a := range ic.Assignments {
				if a.PermissionSet == p.Name && a.AccountID == str("AccountId") {
					items = append(items, map[string]any{"AccountId": a.AccountID, "PermissionSetArn": p.ARN, "PrincipalType": a.PrincipalType, "PrincipalId": a.PrincipalID})
				}
			}
			pageJSON(w, in, "AccountAssignments", items, "ListAccountAssignments|"+p.ARN+"|"+str("AccountId"))
		}
	case "identitystore:ListUsers":
		if !needStore() {
			return
		}
		items := []any{}
		for _, u := range ic.Users {
			items = append(items, map[string]any{"UserId": u.ID, "UserName": u.UserName, "DisplayName": u.DisplayName, "IdentityStoreId": ic.IdentityStoreID,
				"Emails": []any{map[string]any{"Value": u.Email, "Type": "work", "Primary": true}}})
		}
		pageJSON(w, in, "Users", items, "ListUsers|"+ic.IdentityStoreID)
	case "identitystore:ListGroups":
		if !needStore() {
			return
		}
		items := []any{}
		for _, g := range ic.Groups {
			items = append(items, map[string]any{"GroupId": g.ID, "DisplayName": g.DisplayName, "Description": g.Description, "IdentityStoreId": ic.IdentityStoreID})
		}
		pageJSON(w, in, "Groups", items, "ListGroups|"+ic.IdentityStoreID)
	case "identitystore:ListGroupMemberships":
		if !needStore() {
			return
		}
		var g *ICGroup
		for i := range ic.Groups {
			if ic.Groups[i].ID == str("GroupId") {
				g = &ic.Groups[i]
			}
		}
		if g == nil {
			writeJSONError(w, http.StatusBadRequest, "ResourceNotFoundException", "GROUP not found")
			return
		}
		items := []any{}
		for i, m := range g.Members {
			items = append(items, map[string]any{"IdentityStoreId": ic.IdentityStoreID, "MembershipId": fmt.Sprintf("%s-m%d", g.ID, i), "GroupId": g.ID,
				"MemberId": map[string]any{"UserId": m}})
		}
		pageJSON(w, in, "GroupMemberships", items, "ListGroupMemberships|"+g.ID)
	default:
		writeJSONError(w, http.StatusBadRequest, "UnknownOperationException", "awsfake does not implement "+service+" "+op)
	}
}

// pageJSON answers a list operation with at most MaxResults items
// (default 2 here, so that clients must follow NextToken).
func pageJSON(w http.ResponseWriter, in map[string]any, key string, items []any, params string) {
	max := 2
	if v, ok := in["MaxResults"].(float64); ok {
		if v < 1 || v > 100 {
			writeJSONError(w, http.StatusBadRequest, "ValidationException", "MaxResults must be between 1 and 100")
			return
		}
		max = int(v)
	}
	off := 0
	if tok, _ := in["NextToken"].(string); tok != "" {
		n, ok := decodeToken(tok, params)
		if !ok {
			writeJSONError(w, http.StatusBadRequest, "ValidationException", "The NextToken is invalid")
			return
		}
		off = n
	}
	off = min(off, len(items))
	end := min(off+max, len(items))
	out := map[string]any{key: items[off:end]}
	if end < len(items) {
		out["NextToken"] = encodeToken(end, params)
	}
	writeJSON(w, out)
}

// jsonRequest reads a JSON 1.1 request: its operation (X-Amz-Target after
// prefix) and body; it answers the protocol's errors itself.
func jsonRequest(w http.ResponseWriter, r *http.Request, prefix string) (string, map[string]any, bool) {
	op, ok := strings.CutPrefix(r.Header.Get("X-Amz-Target"), prefix)
	if !ok || r.Method != http.MethodPost {
		writeJSONError(w, http.StatusBadRequest, "UnknownOperationException", "")
		return "", nil, false
	}
	var in map[string]any
	if b := readBody(r); len(b) > 0 {
		if err := json.Unmarshal(b, &in); err != nil {
			writeJSONError(w, http.StatusBadRequest, "SerializationException", "invalid JSON")
			return "", nil, false
		}
	}
	return op, in, true
}
