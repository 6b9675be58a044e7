package awsfake

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"sync"
	"time"
)

// Org is a fake AWS Organization: one Server per account behind one
// endpoint. It answers itself what concerns more than one account, from the
// AWS API references:
//
//   - STS (query protocol): AssumeRole into a role of any account of the
//     organisation (the role ARN names the account; a role that requires an
//     external ID refuses calls without it, and a denied account refuses
//     every caller with AccessDenied, HTTP 403), and GetCallerIdentity for
//     whichever account the signing key belongs to;
//   - AWS Organizations (JSON 1.1, X-Amz-Target
//     AWSOrganizationsV20161128.<Op>): ListAccounts (MaxResults 1..20,
//     default 20; NextToken) and DescribeOrganization, callable from the
//     management account only (AccessDeniedException otherwise);
//   - AWS Account Management (REST-JSON, POST /listRegions): ListRegions of
//     the caller's account (MaxResults 1..50, default 20; NextToken;
//     RegionOptStatusContains filters).
//
// Every other request goes to the Server of the account whose credentials
// signed it (the base credentials belong to the management account).
type Org struct {
	ID         string // o-xxxxxxxxxx
	Management string // management account ID
	// Partition is the ARN partition: "aws" (default), "aws-us-gov" or
	// "aws-cn". Set it before adding roles.
	Partition string

	mu        sync.Mutex
	accounts  map[string]*Server
	meta      map[string]OrgAccount
	order     []string
	roles     map[string]orgRole // role ARN -> role
	denied    map[string]bool    // account -> every AssumeRole into it is refused
	keys      map[string]string  // access key -> account
	keyRole   map[string]string  // access key -> assumed role ARN
	regions   map[string][]RegionStatus
	webRoles  map[string]string // role ARN -> account, for AssumeRoleWithWebIdentity
	calls     map[string]int    // "organizations:ListAccounts" -> count
	logServer *Server           // where S3 requests go (the log-archive account)
	srv       *httptest.Server
}

// OrgAccount is an account of the organisation as ListAccounts returns it.
type OrgAccount struct {
	ID, Name, Email string
	Status          string // ACTIVE (default), SUSPENDED, PENDING_CLOSURE
	Joined          time.Time
}

// RegionStatus is a region of an account with its opt-in status
// (ENABLED, ENABLED_BY_DEFAULT, DISABLED, ENABLING, DISABLING).
type RegionStatus struct {
	RegionName      string
	RegionOptStatus string
}

type orgRole struct {
	externalID string
}

// NewOrg returns an organisation whose management account is management.
func NewOrg(id, management string, now func() time.Time) *Org {
	o := &Org{ID: id, Management: management, accounts: map[string]*Server{}, meta: map[string]OrgAccount{},
		roles: map[string]orgRole{}, denied: map[string]bool{}, keys: map[string]string{}, keyRole: map[string]string{},
		regions: map[string][]RegionStatus{}, calls: map[string]int{}, webRoles: map[string]string{}}
	o.AddAccount(OrgAccount{ID: management, Name: "management"}, now)
	return o
}

// AddAccount adds a member account and returns its Server (a new one, with
// the organisation's clock).
func (o *Org) AddAccount(a OrgAccount, now func() time.Time) *Server {
	s := New(a.ID, now)
	o.mu.Lock()
	defer o.mu.Unlock()
	if a.Status == "" {
		a.Status = "ACTIVE"
	}
	if a.Email == "" {
		a.Email = "aws+" + a.ID + "@example.com"
	}
	if a.Joined.IsZero() {
		a.Joined = now().Add(-365 * 24 * time.Hour)
	}
	if _, ok := o.accounts[a.ID]; !ok {
		o.order = append(o.order, a.ID)
	}
	o.accounts[a.ID] = s
	o.meta[a.ID] = a
	return s
}

// Account returns the Server of an account (nil if unknown).
func (o *Org) Account(id string) *Server {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.accounts[id]
}

// Accounts returns the account IDs in the order they were added.
func (o *Org) Accounts() []string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return append([]string(nil), o.order...)
}

// AddRole creates role name in every account (existing and later ones are
// checked by name), assumable with externalID ("" for none).
func (o *Org) AddRole(account, name, externalID string) string {
	arn := fmt.Sprintf("arn:%s:iam::%s:role/%s", o.partition(), account, name)
	o.mu.Lock()
	defer o.mu.Unlock()
	o.roles[arn] = orgRole{externalID: externalID}
	return arn
}

// DenyAssumeRole makes every AssumeRole into account fail with AccessDenied
// (the role's trust policy does not admit the caller) and returns a
// function that admits it again.
func (o *Org) DenyAssumeRole(account string) (restore func()) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.denied[account] = true
	return func() {
		o.mu.Lock()
		defer o.mu.Unlock()
		delete(o.denied, account)
	}
}

// SetRegions sets the regions ListRegions reports for account.
func (o *Org) SetRegions(account string, rs ...RegionStatus) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.regions[account] = append([]RegionStatus(nil), rs...)
}

// SetLogArchive names the account whose Server answers S3 requests.
func (o *Org) SetLogArchive(account string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.logServer = o.accounts[account]
}

// Calls counts organisation-level operations ("organizations:ListAccounts",
// "sts:AssumeRole", "account:ListRegions").
func (o *Org) Calls(op string) int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.calls[op]
}

// RoleOf returns the role an access key was issued for ("" for base keys).
func (o *Org) RoleOf(accessKey string) string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.keyRole[accessKey]
}

// Start serves the organisation on 127.0.0.1 and returns its URL.
func (o *Org) Start() string {
	o.srv = httptest.NewServer(o)
	return o.srv.URL
}

// Close stops a started organisation.
func (o *Org) Close() {
	if o.srv != nil {
		o.srv.Close()
	}
}

func (o *Org) accountOf(accessKey string) string {
	o.mu.Lock()
	defer o.mu.Unlock()
	if a, ok := o.keys[accessKey]; ok {
		return a
	}
	return o.Management
}

// ServeHTTP routes a request: organisation-level operations here, the rest
// to the signing account's Server.
func (o *Org) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	auth, ok := parseAuth(r)
	if !ok {
		// AssumeRoleWithWebIdentity is the one unsigned call (IRSA: the
		// token is the credential)
		if body := readBody(r); r.Method == http.MethodPost && strings.Contains(string(body), "Action=AssumeRoleWithWebIdentity") {
			r.Body = io.NopCloser(bytes.NewReader(body))
			o.assumeRoleWithWebIdentity(w, r)
			return
		} else {
			r.Body = io.NopCloser(bytes.NewReader(body))
		}
		(&Server{}).ServeHTTP(w, r) // the unauthenticated error of the service
		return
	}
	acct := o.accountOf(auth.AccessKey)
	switch auth.Service {
	case "sts":
		o.serveSTS(w, r, auth, acct)
		return
	case "organizations":
		o.serveOrganizations(w, r, acct)
		return
	case "account":
		o.serveAccount(w, r, acct)
		return
	case "s3":
		o.mu.Lock()
		ls := o.logServer
		o.mu.Unlock()
		if ls != nil {
			ls.ServeHTTP(w, r)
			return
		}
	}
	s := o.Account(acct)
	if s == nil {
		http.Error(w, "awsfake: no account "+acct, http.StatusForbidden)
		return
	}
	s.ServeHTTP(w, r)
}

func (o *Org) count(op string) {
	o.mu.Lock()
	o.calls[op]++
	o.mu.Unlock()
}

func (o *Org) serveSTS(w http.ResponseWriter, r *http.Request, auth sigv4, acct string) {
	form, ok := parseForm(w, r, stsNS)
	if !ok {
		return
	}
	action := form.Get("Action")
	o.count("sts:" + action)
	switch action {
	case "GetCallerIdentity":
		o.mu.Lock()
		role := o.keyRole[auth.AccessKey]
		o.mu.Unlock()
		arn := "arn:" + o.partition() + ":iam::" + acct + ":user/tickmark"
		if role != "" {
			arn = strings.Replace(strings.Replace(role, ":iam:", ":sts:", 1), ":role/", ":assumed-role/", 1) + "/tickmark"
		}
		type result struct {
			Arn     string `xml:"Arn"`
			UserId  string `xml:"UserId"`
			Account string `xml:"Account"`
		}
		writeQuery(w, stsNS, "GetCallerIdentity", result{arn, "AIDACKCEVSQ6C2EXAMPLE", acct})
	case "AssumeRole":
		roleARN, ext, session := form.Get("RoleArn"), form.Get("ExternalId"), form.Get("RoleSessionName")
		if roleARN == "" || session == "" {
			writeQueryError(w, stsNS, http.StatusBadRequest, "ValidationError", "1 validation error detected: RoleArn and RoleSessionName are required")
			return
		}
		target := ""
		if p := strings.Split(roleARN, ":"); len(p) == 6 {
			target = p[4]
		}
		o.mu.Lock()
		role, exists := o.roles[roleARN]
		_, member := o.accounts[target]
		denied := o.denied[target]
		o.mu.Unlock()
		if !exists || !member || denied || role.externalID != ext {
			writeQueryError(w, stsNS, http.StatusForbidden, "AccessDenied", fmt.Sprintf("User: arn:aws:iam::%s:user/tickmark is not authorized to perform: sts:AssumeRole on resource: %s", acct, roleARN))
			return
		}
		akid := "ASIA" + strings.ToUpper(requestID(roleARN, ext, session)[:16])
		o.mu.Lock()
		o.keys[akid] = target
		o.keyRole[akid] = roleARN
		o.mu.Unlock()
		writeAssumeRole(w, akid, roleARN, session)
	default:
		writeQueryError(w, stsNS, http.StatusBadRequest, "InvalidAction", "Could not find operation "+action+" for version 2011-06-15")
	}
}

const orgTargetPrefix = "AWSOrganizationsV20161128."

func (o *Org) serveOrganizations(w http.ResponseWriter, r *http.Request, acct string) {
	op, in, ok := jsonRequest(w, r, orgTargetPrefix)
	if !ok {
		return
	}
	o.count("organizations:" + op)
	if acct != o.Management {
		writeJSONError(w, http.StatusBadRequest, "AccessDeniedException", "You don't have permissions to access this resource.")
		return
	}
	switch op {
	case "DescribeOrganization":
		writeJSON(w, map[string]any{"Organization": map[string]any{
			"Id": o.ID, "Arn": fmt.Sprintf("arn:aws:organizations::%s:organization/%s", o.Management, o.ID), "FeatureSet": "ALL",
			"MasterAccountArn": fmt.Sprintf("arn:aws:organizations::%s:account/%s/%s", o.Management, o.ID, o.Management),
			"MasterAccountId":  o.Management, "MasterAccountEmail": "aws+" + o.Management + "@example.com",
			"AvailablePolicyTypes": []any{},
		}})
	case "ListAccounts":
		max := 20
		if v, ok := in["MaxResults"].(float64); ok {
			if v < 1 || v > 20 {
				writeJSONError(w, http.StatusBadRequest, "InvalidInputException", "You provided a value that does not match the required pattern: MaxResults must be between 1 and 20.")
				return
			}
			max = int(v)
		}
		off := 0
		if tok, _ := in["NextToken"].(string); tok != "" {
			n, ok := decodeToken(tok, "ListAccounts|"+o.ID)
			if !ok {
				writeJSONError(w, http.StatusBadRequest, "InvalidInputException", "You specified an invalid value for nextToken.")
				return
			}
			off = n
		}
		o.mu.Lock()
		var page []map[string]any
		for i := off; i < len(o.order) && len(page) < max; i++ {
			a := o.meta[o.order[i]]
			method := "INVITED"
			if a.ID != o.Management {
				method = "CREATED"
			}
			state := a.Status
			page = append(page, map[string]any{
				"Id": a.ID, "Arn": fmt.Sprintf("arn:aws:organizations::%s:account/%s/%s", o.Management, o.ID, a.ID),
				"Email": a.Email, "Name": a.Name, "Status": a.Status, "State": state,
				"JoinedMethod": method, "JoinedTimestamp": epoch(a.Joined),
			})
		}
		out := map[string]any{"Accounts": orEmptyMaps(page)}
		if off+len(page) < len(o.order) {
			out["NextToken"] = encodeToken(off+len(page), "ListAccounts|"+o.ID)
		}
		o.mu.Unlock()
		writeJSON(w, out)
	default:
		writeJSONError(w, http.StatusBadRequest, "UnknownOperationException", "awsfake does not implement organizations "+op)
	}
}

func orEmptyMaps(m []map[string]any) []map[string]any {
	if m == nil {
		return []map[string]any{}
	}
	return m
}

func writeRESTError(w http.ResponseWriter, status int, typ, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Amzn-ErrorType", typ)
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"message": msg})
}

func (o *Org) serveAccount(w http.ResponseWriter, r *http.Request, acct string) {
	if r.Method != http.MethodPost || r.URL.Path != "/listRegions" {
		writeRESTError(w, http.StatusNotFound, "ResourceNotFoundException", "awsfake does not implement account "+r.Method+" "+r.URL.Path)
		return
	}
	var in struct {
		AccountID               string   `json:"AccountId"`
		MaxResults              *int     `json:"MaxResults"`
		NextToken               string   `json:"NextToken"`
		RegionOptStatusContains []string `json:"RegionOptStatusContains"`
	}
	if b := readBody(r); len(b) > 0 {
		if err := json.Unmarshal(b, &in); err != nil {
			writeRESTError(w, http.StatusBadRequest, "ValidationException", "invalid JSON")
			return
		}
	}
	o.count("account:ListRegions")
	o.mu.Lock()
	s := o.accounts[acct]
	var fault Fault
	if s != nil {
		fault = s.faults["account:ListRegions"]
	}
	o.mu.Unlock()
	if fault == FaultAccessDenied {
		writeRESTError(w, http.StatusForbidden, "AccessDeniedException", fmt.Sprintf("User: arn:aws:sts::%s:assumed-role/tickmark-read/tickmark is not authorized to perform: account:ListRegions", acct))
		return
	}
	target := acct
	if in.AccountID != "" && in.AccountID != acct {
		if acct != o.Management {
			writeRESTError(w, http.StatusForbidden, "AccessDeniedException", "only the management account can name another account")
			return
		}
		target = in.AccountID
	}
	max := 20
	if in.MaxResults != nil {
		if *in.MaxResults < 1 || *in.MaxResults > 50 {
			writeRESTError(w, http.StatusBadRequest, "ValidationException", "MaxResults must be between 1 and 50")
			return
		}
		max = *in.MaxResults
	}
	want := map[string]bool{}
	for _, st := range in.RegionOptStatusContains {
		want[st] = true
	}
	o.mu.Lock()
	all := append([]RegionStatus(nil), o.regions[target]...)
	o.mu.Unlock()
	sort.Slice(all, func(i, j int) bool { return all[i].RegionName < all[j].RegionName })
	var match []RegionStatus
	for _, rs := range all {
		if len(want) == 0 || want[rs.RegionOptStatus] {
			match = append(match, rs)
		}
	}
	params := fmt.Sprintf("ListRegions|%s|%v", target, in.RegionOptStatusContains)
	off := 0
	if in.NextToken != "" {
		n, ok := decodeToken(in.NextToken, params)
		if !ok {
			writeRESTError(w, http.StatusBadRequest, "ValidationException", "invalid NextToken")
			return
		}
		off = n
	}
	out := map[string]any{}
	page := []map[string]string{}
	for i := off; i < len(match) && len(page) < max; i++ {
		page = append(page, map[string]string{"RegionName": match[i].RegionName, "RegionOptStatus": match[i].RegionOptStatus})
	}
	out["Regions"] = page
	if off+len(page) < len(match) {
		out["NextToken"] = encodeToken(off+len(page), params)
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(out)
}

// StandardRegions is the commercial partition's regions with their
// default opt-in status (those launched before March 2019 are enabled by
// default; later ones need opting in).
func StandardRegions(optedIn ...string) []RegionStatus {
	def := []string{"ap-northeast-1", "ap-northeast-2", "ap-northeast-3", "ap-south-1", "ap-southeast-1", "ap-southeast-2",
		"ca-central-1", "eu-central-1", "eu-north-1", "eu-west-1", "eu-west-2", "eu-west-3", "sa-east-1",
		"us-east-1", "us-east-2", "us-west-1", "us-west-2"}
	opt := []string{"af-south-1", "ap-east-1", "ap-south-2", "ap-southeast-3", "ap-southeast-4", "eu-central-2", "eu-south-1", "eu-south-2", "il-central-1", "me-central-1", "me-south-1"}
	in := map[string]bool{}
	for _, r := range optedIn {
		in[r] = true
	}
	var out []RegionStatus
	for _, r := range def {
		out = append(out, RegionStatus{r, "ENABLED_BY_DEFAULT"})
	}
	for _, r := range opt {
		st := "DISABLED"
		if in[r] {
			st = "ENABLED"
		}
		out = append(out, RegionStatus{r, st})
	}
	return out
}

// assumeRoleWithWebIdentity exchanges an OIDC token (not verified here;
// it must be non-empty) for credentials of a role of the organisation
// that is marked as trusting web identities (AddWebIdentityRole).
func (o *Org) assumeRoleWithWebIdentity(w http.ResponseWriter, r *http.Request) {
	form, ok := parseForm(w, r, stsNS)
	if !ok {
		return
	}
	o.count("sts:AssumeRoleWithWebIdentity")
	roleARN, token, session := form.Get("RoleArn"), form.Get("WebIdentityToken"), form.Get("RoleSessionName")
	if roleARN == "" || token == "" || session == "" {
		writeQueryError(w, stsNS, http.StatusBadRequest, "ValidationError", "RoleArn, RoleSessionName and WebIdentityToken are required")
		return
	}
	o.mu.Lock()
	target, web := o.webRoles[roleARN]
	o.mu.Unlock()
	if !web {
		writeQueryError(w, stsNS, http.StatusForbidden, "AccessDenied", "Not authorized to perform sts:AssumeRoleWithWebIdentity")
		return
	}
	akid := "ASIA" + strings.ToUpper(requestID(roleARN, token, session)[:16])
	o.mu.Lock()
	o.keys[akid] = target
	o.keyRole[akid] = roleARN
	o.mu.Unlock()
	type result struct {
		Credentials                 stsCreds `xml:"Credentials"`
		SubjectFromWebIdentityToken string   `xml:"SubjectFromWebIdentityToken"`
		AssumedRoleUser             stsUser  `xml:"AssumedRoleUser"`
		Audience                    string   `xml:"Audience"`
		Provider                    string   `xml:"Provider"`
	}
	writeQuery(w, stsNS, "AssumeRoleWithWebIdentity", result{
		Credentials:                 stsCreds{akid, "fake-web-secret-" + akid, "fake-web-session-" + akid, time.Now().Add(time.Hour).UTC().Format(time.RFC3339)},
		SubjectFromWebIdentityToken: "system:serviceaccount:tickmark:tickmark",
		AssumedRoleUser:             stsUser{"AROACKCEVSQ6C2EXAMPLE:" + session, strings.Replace(strings.Replace(roleARN, ":iam:", ":sts:", 1), ":role/", ":assumed-role/", 1) + "/" + session},
		Audience:                    "sts.amazonaws.com",
		Provider:                    "arn:aws:iam::" + target + ":oidc-provider/oidc.eks.us-east-1.amazonaws.com/id/EXAMPLE",
	})
}

// AddWebIdentityRole creates a role in account that trusts the cluster's
// OIDC provider (IRSA) and returns its ARN.
func (o *Org) AddWebIdentityRole(account, name string) string {
	arn := fmt.Sprintf("arn:%s:iam::%s:role/%s", o.partition(), account, name)
	o.mu.Lock()
	defer o.mu.Unlock()
	o.webRoles[arn] = account
	return arn
}

func (o *Org) partition() string {
	if o.Partition == "" {
		return "aws"
	}
	return o.Partition
}
