package awsfake

import (
	"encoding/base64"
	"encoding/xml"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"
)

const (
	iamNS = "https://iam.amazonaws.com/doc/2010-05-08/"
	stsNS = "https://sts.amazonaws.com/doc/2011-06-15/"
)

// User is one row of the IAM credential report.
type User struct {
	Name                string
	Created             time.Time
	PasswordEnabled     bool
	PasswordLastUsed    time.Time // zero: never (or N/A without a password)
	PasswordLastChanged time.Time
	MFAActive           bool
	AccessKey1Active    bool
	AccessKey1Rotated   time.Time
	AccessKey1LastUsed  time.Time
	AccessKey2Active    bool
	AccessKey2Rotated   time.Time
	AccessKey2LastUsed  time.Time
}

// SetUsers replaces the IAM users of the credential report (the root
// account row is added by the fake).
func (s *Server) SetUsers(users ...User) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.users = append([]User(nil), users...)
}

type reportState struct {
	state     string // "", "STARTED", "COMPLETE"
	polls     int
	generated time.Time
	csv       []byte
}

func (s *Server) serveIAM(w http.ResponseWriter, r *http.Request, auth sigv4) {
	form, ok := parseForm(w, r, iamNS)
	if !ok {
		return
	}
	action := form.Get("Action")
	full := "iam:" + action
	switch s.enter(full, auth.Region) {
	case FaultAccessDenied:
		writeQueryError(w, iamNS, http.StatusForbidden, "AccessDenied", fmt.Sprintf("User: arn:aws:sts::%s:assumed-role/tickmark-read/tickmark is not authorized to perform: %s on resource: * because no identity-based policy allows the %s action", s.Account, full, full))
		return
	case FaultThrottle:
		writeQueryError(w, iamNS, http.StatusBadRequest, "Throttling", "Rate exceeded")
		return
	case FaultMalformed:
		w.Header().Set("Content-Type", "text/xml")
		_, _ = w.Write([]byte("<" + action + "Response><" + action + "Result><Content>"))
		return
	case FaultInternal:
		writeQueryError(w, iamNS, http.StatusInternalServerError, "ServiceFailure", "internal failure")
		return
	}
	switch action {
	case "GenerateCredentialReport":
		s.mu.Lock()
		rs := &s.report
		desc := ""
		switch {
		case rs.state == "":
			rs.state, rs.polls = "STARTED", 0
			desc = "No report exists. Starting a new report generation task"
		case rs.state == "STARTED":
			rs.polls++
			if rs.polls >= max(s.ReportPolls, 1) {
				rs.state = "COMPLETE"
				rs.generated = s.Now().UTC().Truncate(time.Second)
				rs.csv = s.credentialCSV(rs.generated)
			}
		}
		state := rs.state
		s.mu.Unlock()
		type result struct {
			Description string `xml:"Description,omitempty"`
			State       string `xml:"State"`
		}
		writeQuery(w, iamNS, "GenerateCredentialReport", result{desc, state})
	case "GetCredentialReport":
		s.mu.Lock()
		rs := s.report
		s.mu.Unlock()
		switch rs.state {
		case "":
			writeQueryError(w, iamNS, http.StatusGone, "ReportNotPresent", "Credential report not present. Use GenerateCredentialReport to generate a report.")
			return
		case "STARTED":
			writeQueryError(w, iamNS, http.StatusNotFound, "ReportInProgress", "Credential report is being generated.")
			return
		}
		type result struct {
			Content       string `xml:"Content"`
			ReportFormat  string `xml:"ReportFormat"`
			GeneratedTime string `xml:"GeneratedTime"`
		}
		writeQuery(w, iamNS, "GetCredentialReport", result{base64.StdEncoding.EncodeToString(rs.csv), "text/csv", rs.generated.Format(time.RFC3339)})
	case "GetAccountAuthorizationDetails":
		s.getAccountAuthorizationDetails(w, form)
	case "GetAccountPasswordPolicy":
		s.getAccountPasswordPolicy(w)
	case "GetAccountSummary":
		s.getAccountSummary(w)
	default:
		writeQueryError(w, iamNS, http.StatusBadRequest, "InvalidAction", "Could not find operation "+action+" for version 2010-05-08")
	}
}

// ResetCredentialReport forgets the generated report (ReportNotPresent again).
func (s *Server) ResetCredentialReport() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.report = reportState{}
}

func csvTime(t time.Time, none string) string {
	if t.IsZero() {
		return none
	}
	return t.UTC().Format("2006-01-02T15:04:05+00:00")
}

// credentialCSV renders the documented credential report columns.
func (s *Server) credentialCSV(gen time.Time) []byte {
	var b strings.Builder
	b.WriteString("user,arn,user_creation_time,password_enabled,password_last_used,password_last_changed,password_next_rotation,mfa_active,access_key_1_active,access_key_1_last_rotated,access_key_1_last_used_date,access_key_1_last_used_region,access_key_1_last_used_service,access_key_2_active,access_key_2_last_rotated,access_key_2_last_used_date,access_key_2_last_used_region,access_key_2_last_used_service,cert_1_active,cert_1_last_rotated,cert_2_active,cert_2_last_rotated\n")
	fmt.Fprintf(&b, "<root_account>,arn:aws:iam::%s:root,%s,not_supported,%s,not_supported,not_supported,%t,%t,N/A,N/A,N/A,N/A,false,N/A,N/A,N/A,N/A,false,N/A,false,N/A\n",
		s.Account, csvTime(gen.Add(-400*24*time.Hour), "N/A"), csvTime(gen.Add(-30*24*time.Hour), "no_information"), s.identity.RootMFA, s.identity.RootAccessKeys)
	for _, u := range s.users {
		pwUsed, pwChanged := "N/A", "N/A"
		if u.PasswordEnabled {
			pwUsed = csvTime(u.PasswordLastUsed, "no_information")
			pwChanged = csvTime(u.PasswordLastChanged, "N/A")
		}
		key := func(active bool, rot, used time.Time) string {
			if !active && rot.IsZero() {
				return "false,N/A,N/A,N/A,N/A"
			}
			region, svc := "us-east-1", "s3"
			if used.IsZero() {
				region, svc = "N/A", "N/A"
			}
			return fmt.Sprintf("%t,%s,%s,%s,%s", active, csvTime(rot, "N/A"), csvTime(used, "N/A"), region, svc)
		}
		fmt.Fprintf(&b, "%s,arn:aws:iam::%s:user/%s,%s,%t,%s,%s,N/A,%t,%s,%s,false,N/A,false,N/A\n",
			u.Name, s.Account, u.Name, csvTime(u.Created, "N/A"), u.PasswordEnabled, pwUsed, pwChanged, u.MFAActive,
			key(u.AccessKey1Active, u.AccessKey1Rotated, u.AccessKey1LastUsed), key(u.AccessKey2Active, u.AccessKey2Rotated, u.AccessKey2LastUsed))
	}
	return []byte(b.String())
}

func (s *Server) serveSTS(w http.ResponseWriter, r *http.Request, auth sigv4) {
	form, ok := parseForm(w, r, stsNS)
	if !ok {
		return
	}
	action := form.Get("Action")
	full := "sts:" + action
	switch s.enter(full, auth.Region) {
	case FaultAccessDenied:
		writeQueryError(w, stsNS, http.StatusForbidden, "AccessDenied", fmt.Sprintf("User: arn:aws:iam::%s:user/ci is not authorized to perform: %s on resource: %s", s.Account, full, form.Get("RoleArn")))
		return
	case FaultThrottle:
		writeQueryError(w, stsNS, http.StatusBadRequest, "Throttling", "Rate exceeded")
		return
	case FaultMalformed:
		w.Header().Set("Content-Type", "text/xml")
		_, _ = w.Write([]byte("<GetCallerIdentityResponse><GetCallerIdentityResult><Account>"))
		return
	case FaultInternal:
		writeQueryError(w, stsNS, http.StatusInternalServerError, "InternalFailure", "internal failure")
		return
	}
	switch action {
	case "GetCallerIdentity":
		s.mu.Lock()
		role, assumed := s.roles[auth.AccessKey]
		s.mu.Unlock()
		arn := "arn:aws:iam::" + s.Account + ":user/tickmark"
		if assumed {
			arn = strings.Replace(strings.Replace(role, ":iam:", ":sts:", 1), ":role/", ":assumed-role/", 1) + "/tickmark"
		}
		type result struct {
			Arn     string `xml:"Arn"`
			UserId  string `xml:"UserId"`
			Account string `xml:"Account"`
		}
		writeQuery(w, stsNS, "GetCallerIdentity", result{arn, "AIDACKCEVSQ6C2EXAMPLE", s.Account})
	case "AssumeRole":
		role := form.Get("RoleArn")
		if !strings.HasPrefix(role, "arn:aws:iam::") || form.Get("RoleSessionName") == "" {
			writeQueryError(w, stsNS, http.StatusBadRequest, "ValidationError", "RoleArn and RoleSessionName are required")
			return
		}
		akid := "ASIA" + strings.ToUpper(requestID(role, form.Get("ExternalId"))[:16])
		s.mu.Lock()
		s.roles[akid] = role
		s.mu.Unlock()
		writeAssumeRole(w, akid, role, form.Get("RoleSessionName"))
	default:
		writeQueryError(w, stsNS, http.StatusBadRequest, "InvalidAction", "Could not find operation "+action+" for version 2011-06-15")
	}
}

// AssumedRole returns the role ARN an assumed access key belongs to.
func (s *Server) AssumedRole(accessKeyID string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.roles[accessKeyID]
}

func parseForm(w http.ResponseWriter, r *http.Request, ns string) (url.Values, bool) {
	if r.Method != http.MethodPost {
		writeQueryError(w, ns, http.StatusBadRequest, "InvalidAction", "query API requests are POSTed")
		return nil, false
	}
	form, err := url.ParseQuery(string(readBody(r)))
	if err != nil || form.Get("Action") == "" {
		writeQueryError(w, ns, http.StatusBadRequest, "MalformedQueryString", "missing Action")
		return nil, false
	}
	return form, true
}

func writeQuery(w http.ResponseWriter, ns, action string, result any) {
	b, err := xml.Marshal(result)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	// drop the result struct's own element; the wire name is <ActionResult>
	inner := string(b)
	inner = inner[strings.Index(inner, ">")+1 : strings.LastIndex(inner, "</")]
	w.Header().Set("Content-Type", "text/xml")
	_, _ = fmt.Fprintf(w, "%s<%sResponse xmlns=\"%s\"><%sResult>%s</%sResult><ResponseMetadata><RequestId>%s</RequestId></ResponseMetadata></%sResponse>",
		xml.Header, action, ns, action, inner, action, requestID(action, fmt.Sprint(time.Now().UnixNano())), action)
}

func writeQueryError(w http.ResponseWriter, ns string, status int, code, msg string) {
	typ := "Sender"
	if status >= 500 {
		typ = "Receiver"
	}
	var b strings.Builder
	b.WriteString(`<ErrorResponse xmlns="` + ns + `"><Error><Type>` + typ + `</Type><Code>` + code + `</Code><Message>`)
	_ = xml.EscapeText(&b, []byte(msg))
	b.WriteString(`</Message></Error><RequestId>` + requestID(code, msg) + `</RequestId></ErrorResponse>`)
	w.Header().Set("Content-Type", "text/xml")
	w.WriteHeader(status)
	_, _ = w.Write([]byte(b.String()))
}

// writeAssumeRole answers AssumeRole with credentials for akid.
type stsCreds struct {
	AccessKeyId     string `xml:"AccessKeyId"`
	SecretAccessKey string `xml:"SecretAccessKey"`
	SessionToken    string `xml:"SessionToken"`
	Expiration      string `xml:"Expiration"`
}

type stsUser struct {
	AssumedRoleId string `xml:"AssumedRoleId"`
	Arn           string `xml:"Arn"`
}

func writeAssumeRole(w http.ResponseWriter, akid, role, session string) {
	type result struct {
		Credentials     stsCreds `xml:"Credentials"`
		AssumedRoleUser stsUser  `xml:"AssumedRoleUser"`
	}
	// Credentials expire on the wall clock: the SDK's cache checks them against it.
	exp := time.Now().Add(time.Hour).UTC().Format(time.RFC3339)
	writeQuery(w, stsNS, "AssumeRole", result{
		Credentials:     stsCreds{akid, "fake-assumed-secret-" + akid, "fake-session-token-" + akid, exp},
		AssumedRoleUser: stsUser{"AROACKCEVSQ6C2EXAMPLE:" + session, strings.Replace(strings.Replace(role, ":iam:", ":sts:", 1), ":role/", ":assumed-role/", 1) + "/" + session},
	})
}
