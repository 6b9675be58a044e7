// Package awsfake is a local fake of the AWS APIs the aws collector calls,
// speaking their wire formats: CloudTrail (JSON 1.1, X-Amz-Target
// com.amazonaws.cloudtrail.v20131101.CloudTrail_20131101.<Op> or its short
// form CloudTrail_20131101.<Op>), IAM and STS
// (query protocol, XML responses and XML errors). Requests for S3 are
// forwarded to a real S3 server (S3Backend) with their Host header intact,
// so SigV4 signatures still verify there.
//
// The fake routes by the SigV4 credential scope of each request
// (Credential=AKID/date/REGION/SERVICE/aws4_request), so one endpoint serves
// every service and region, like a test double of an endpoint override.
//
// Behaviour reproduced from the CloudTrail API reference: LookupEvents
// returns at most 50 events per page (MaxResults 1..50), newest first; its
// NextToken is only valid with identical parameters; only one lookup
// attribute is allowed; StartTime after EndTime is an error; events older
// than 90 days are gone; more than two LookupEvents calls per second per
// account and region get ThrottlingException (HTTP 429). DescribeTrails
// returns shadow trails (multi-region and organization trails created in
// another region) unless includeShadowTrails is false.
package awsfake

import (
	"context"

	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"time"
)

// Fault makes an operation fail in a chosen way.
type Fault string

const (
	// FaultAccessDenied answers with the service's AccessDenied error naming the action.
	FaultAccessDenied Fault = "AccessDenied"
	// FaultThrottle answers every call with a throttling error.
	FaultThrottle Fault = "Throttle"
	// FaultMalformed answers 200 with a truncated body.
	FaultMalformed Fault = "Malformed"
	// FaultInternal answers HTTP 500 InternalFailure.
	FaultInternal Fault = "Internal"
)

// Server is the fake. Configure it with its Add*/Set* methods, then serve
// it with Start or use it as an http.Handler.
type Server struct {
	// Account is the account ID GetCallerIdentity reports.
	Account string
	// Now is the fake's clock (90-day retention, report times, key validity).
	Now func() time.Time
	// LookupRate is how many LookupEvents calls per second per region are
	// allowed (default 2, as documented).
	LookupRate int
	// LookupJitter narrows the one-second window of the LookupEvents rate
	// limit by this much, to tolerate scheduling delay between a client's
	// send and the fake's arrival stamp on a loaded test machine (default 0:
	// strict). A client that sends faster than the limit is still throttled.
	LookupJitter time.Duration
	// ArrivalClock, when set, stamps each request's arrival for the
	// LookupEvents rate limit with the time it returns for the request's
	// region instead of the wall clock: a test that paces its client on a
	// virtual clock gives the fake the same clock, so the limit is checked
	// exactly and nobody sleeps.
	ArrivalClock func(region string) time.Time
	// ReportPolls is how many further GenerateCredentialReport calls a
	// started report needs before it is COMPLETE (default 1).
	ReportPolls int
	// S3Backend is where S3 requests are forwarded (a real S3 server); nil
	// answers them 501.
	S3Backend *url.URL
	// S3Signer, when set, re-signs forwarded S3 requests with the backend's
	// own keys (callers sign with keys the fake issued, e.g. an assumed
	// role's, which the backend does not know). Without it requests are
	// forwarded with their signature intact.
	S3Signer *BackendSigner

	mu          sync.Mutex
	trails      []*trailState
	events      map[string][]Event // region -> events
	keys        map[string][]*Key  // region -> keys
	users       []User
	identity    Identity
	ic          *IdentityCenter
	report      reportState
	faults      map[string]Fault // "cloudtrail:LookupEvents" -> fault
	faultAfter  map[string]int   // op -> calls answered normally before the fault applies
	lookupCalls map[string][]time.Time
	calls       map[string]int // "cloudtrail:LookupEvents@us-east-1" -> count
	violations  int
	throttled   int
	roles       map[string]string // assumed access key -> role ARN
	keyIDs      map[string]int    // access key ID -> requests signed with it
	proxy       *httputil.ReverseProxy
	srv         *httptest.Server
}

// New returns an empty fake for account.
func New(account string, now func() time.Time) *Server {
	return &Server{
		Account:     account,
		Now:         now,
		events:      map[string][]Event{},
		keys:        map[string][]*Key{},
		faults:      map[string]Fault{},
		faultAfter:  map[string]int{},
		lookupCalls: map[string][]time.Time{},
		calls:       map[string]int{},
		roles:       map[string]string{},
		keyIDs:      map[string]int{},
		identity:    Identity{RootMFA: true},
	}
}

// Start serves the fake on 127.0.0.1 and returns its URL.
func (s *Server) Start() string {
	s.srv = httptest.NewServer(s)
	return s.srv.URL
}

// Close stops a started server.
func (s *Server) Close() {
	if s.srv != nil {
		s.srv.Close()
	}
}

// SetFault makes op ("cloudtrail:LookupEvents", "iam:GetCredentialReport",
// "sts:GetCallerIdentity", ...) fail; an empty fault clears it. It returns
// a function restoring the previous state.
func (s *Server) SetFault(op string, f Fault) (restore func()) {
	s.mu.Lock()
	defer s.mu.Unlock()
	prev, had := s.faults[op]
	if f == "" {
		delete(s.faults, op)
	} else {
		s.faults[op] = f
	}
	return func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		if had {
			s.faults[op] = prev
		} else {
			delete(s.faults, op)
		}
	}
}

// SetFaultAfter is SetFault that lets the next n calls of op succeed first
// (a storm that starts part-way through a run).
func (s *Server) SetFaultAfter(op string, f Fault, n int) (restore func()) {
	r := s.SetFault(op, f)
	s.mu.Lock()
	s.faultAfter[op] = n
	s.mu.Unlock()
	return func() {
		s.mu.Lock()
		delete(s.faultAfter, op)
		s.mu.Unlock()
		r()
	}
}

// Calls returns how many times op was called in region ("" sums all regions).
func (s *Server) Calls(op, region string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if region != "" {
		return s.calls[op+"@"+region]
	}
	n := 0
	for k, v := range s.calls {
		if strings.HasPrefix(k, op+"@") {
			n += v
		}
	}
	return n
}

// RateViolations counts LookupEvents calls that arrived faster than
// LookupRate per second in their region (each was answered with
// ThrottlingException).
func (s *Server) RateViolations() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.violations
}

// RequestsSignedBy counts requests whose SigV4 credential names accessKeyID.
func (s *Server) RequestsSignedBy(accessKeyID string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.keyIDs[accessKeyID]
}

type arrivalKey struct{}

func arrival(r *http.Request) time.Time {
	if t, ok := r.Context().Value(arrivalKey{}).(time.Time); ok {
		return t
	}
	return time.Now()
}

var credRE = regexp.MustCompile(`Credential=([^/,\s]+)/(\d{8})/([^/]+)/([^/]+)/aws4_request`)

type sigv4 struct {
	AccessKey, Region, Service string
}

func parseAuth(r *http.Request) (sigv4, bool) {
	m := credRE.FindStringSubmatch(r.Header.Get("Authorization"))
	if m == nil {
		return sigv4{}, false
	}
	return sigv4{AccessKey: m[1], Region: m[3], Service: m[4]}, true
}

// ServeHTTP routes a request by its SigV4 service.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	// arrival time, taken before any parsing, for the LookupEvents rate limit
	r = r.WithContext(context.WithValue(r.Context(), arrivalKey{}, time.Now()))
	auth, ok := parseAuth(r)
	if !ok {
		if _, ct := cloudTrailOp(r.Header.Get("X-Amz-Target")); ct {
			writeJSONError(w, http.StatusBadRequest, "MissingAuthenticationTokenException", "Missing Authentication Token")
			return
		}
		writeQueryError(w, "https://iam.amazonaws.com/doc/2010-05-08/", http.StatusForbidden, "MissingAuthenticationToken", "Request is missing Authentication Token")
		return
	}
	if s.ArrivalClock != nil {
		r = r.WithContext(context.WithValue(r.Context(), arrivalKey{}, s.ArrivalClock(auth.Region)))
	}
	s.mu.Lock()
	s.keyIDs[auth.AccessKey]++
	s.mu.Unlock()
	switch auth.Service {
	case "cloudtrail":
		s.serveCloudTrail(w, r, auth)
	case "iam":
		s.serveIAM(w, r, auth)
	case "sts":
		s.serveSTS(w, r, auth)
	case "s3":
		s.serveS3(w, r)
	case "sso", "identitystore":
		s.serveIdentityCenter(w, r, auth.Service, auth)
	default:
		http.Error(w, "awsfake: unknown service "+auth.Service, http.StatusNotImplemented)
	}
}

// s3Action names the IAM action of a path-style S3 request.
func s3Action(r *http.Request) string {
	path := strings.TrimPrefix(r.URL.Path, "/")
	switch {
	case r.Method == http.MethodGet && strings.Contains(path, "/"):
		return "s3:GetObject"
	case r.Method == http.MethodGet || r.Method == http.MethodHead:
		return "s3:ListBucket"
	case r.Method == http.MethodPut && strings.Contains(path, "/"):
		return "s3:PutObject"
	}
	return "s3:" + r.Method
}

func (s *Server) serveS3(w http.ResponseWriter, r *http.Request) {
	action := s3Action(r)
	switch s.enter(action, "") {
	case FaultAccessDenied:
		writeS3Error(w, http.StatusForbidden, "AccessDenied", "Access Denied")
		return
	case FaultThrottle:
		writeS3Error(w, http.StatusServiceUnavailable, "SlowDown", "Please reduce your request rate.")
		return
	case FaultInternal:
		writeS3Error(w, http.StatusInternalServerError, "InternalError", "We encountered an internal error. Please try again.")
		return
	}
	s.mu.Lock()
	if s.proxy == nil && s.S3Backend != nil {
		target := s.S3Backend
		signer := s.S3Signer
		s.proxy = &httputil.ReverseProxy{Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(target)
			if signer == nil {
				pr.Out.Host = pr.In.Host // keep the signed Host header
				return
			}
			pr.Out.Host = target.Host
			signer.sign(pr.Out)
		}}
	}
	p := s.proxy
	s.mu.Unlock()
	if p == nil {
		http.Error(w, "awsfake: no S3 backend configured", http.StatusNotImplemented)
		return
	}
	p.ServeHTTP(w, r)
}

func writeS3Error(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "application/xml")
	w.WriteHeader(status)
	_, _ = fmt.Fprintf(w, `<?xml version="1.0" encoding="UTF-8"?><Error><Code>%s</Code><Message>%s</Message><RequestId>%s</RequestId></Error>`, code, msg, requestID(code))
}

// enter returns the fault set for op and counts the call.
func (s *Server) enter(op, region string) Fault {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls[op+"@"+region]++
	if s.faultAfter[op] > 0 {
		s.faultAfter[op]--
		return ""
	}
	return s.faults[op]
}

func requestID(parts ...string) string {
	h := sha256.Sum256([]byte(strings.Join(parts, "|")))
	x := hex.EncodeToString(h[:16])
	return x[0:8] + "-" + x[8:12] + "-" + x[12:16] + "-" + x[16:20] + "-" + x[20:32]
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	w.Header().Set("X-Amzn-RequestId", requestID(fmt.Sprint(time.Now().UnixNano())))
	_ = json.NewEncoder(w).Encode(v)
}

func writeJSONError(w http.ResponseWriter, status int, typ, msg string) {
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	w.Header().Set("X-Amzn-ErrorType", typ)
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"__type": typ, "message": msg})
}

func readBody(r *http.Request) []byte {
	b, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	return b
}

// BackendSigner holds the keys of the real S3 server behind the fake.
type BackendSigner struct {
	AccessKey, SecretKey, Region string
}

func (b *BackendSigner) sign(r *http.Request) {
	for _, h := range []string{"Authorization", "X-Amz-Security-Token", "X-Amz-Date"} {
		r.Header.Del(h)
	}
	hash := r.Header.Get("X-Amz-Content-Sha256")
	if hash == "" {
		hash = "UNSIGNED-PAYLOAD"
		r.Header.Set("X-Amz-Content-Sha256", hash)
	}
	creds := aws.Credentials{AccessKeyID: b.AccessKey, SecretAccessKey: b.SecretKey}
	_ = v4.NewSigner().SignHTTP(r.Context(), creds, r, hash, "s3", b.Region, time.Now().UTC())
}
