package awsfake

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"
)

// The AWS SDK for Go v2 sends X-Amz-Target CloudTrail_20131101.<Op>; other
// SDKs and the CLI send the long form. CloudTrail accepts both.
const (
	ctTargetPrefix      = "com.amazonaws.cloudtrail.v20131101.CloudTrail_20131101."
	ctTargetShortPrefix = "CloudTrail_20131101."
)

func cloudTrailOp(target string) (string, bool) {
	if op, ok := strings.CutPrefix(target, ctTargetPrefix); ok {
		return op, true
	}
	return strings.CutPrefix(target, ctTargetShortPrefix)
}

// Trail is a trail as DescribeTrails returns it (field names as on the wire).
type Trail struct {
	Name                       string `json:"Name"`
	S3BucketName               string `json:"S3BucketName,omitempty"`
	S3KeyPrefix                string `json:"S3KeyPrefix,omitempty"`
	SnsTopicName               string `json:"SnsTopicName,omitempty"`
	SnsTopicARN                string `json:"SnsTopicARN,omitempty"`
	IncludeGlobalServiceEvents bool   `json:"IncludeGlobalServiceEvents"`
	IsMultiRegionTrail         bool   `json:"IsMultiRegionTrail"`
	HomeRegion                 string `json:"HomeRegion"`
	TrailARN                   string `json:"TrailARN"`
	LogFileValidationEnabled   bool   `json:"LogFileValidationEnabled"`
	CloudWatchLogsLogGroupArn  string `json:"CloudWatchLogsLogGroupArn,omitempty"`
	CloudWatchLogsRoleArn      string `json:"CloudWatchLogsRoleArn,omitempty"`
	KmsKeyId                   string `json:"KmsKeyId,omitempty"`
	HasCustomEventSelectors    bool   `json:"HasCustomEventSelectors"`
	HasInsightSelectors        bool   `json:"HasInsightSelectors"`
	IsOrganizationTrail        bool   `json:"IsOrganizationTrail"`
}

// TrailStatus is what GetTrailStatus reports for a trail.
type TrailStatus struct {
	IsLogging                 bool
	LatestDeliveryError       string
	LatestDeliveryTime        time.Time
	LatestDigestDeliveryTime  time.Time
	LatestDigestDeliveryError string
	StartLoggingTime          time.Time
	StopLoggingTime           time.Time
}

// EventSelector is one basic event selector.
type EventSelector struct {
	ReadWriteType                 string         `json:"ReadWriteType"`
	IncludeManagementEvents       bool           `json:"IncludeManagementEvents"`
	DataResources                 []DataResource `json:"DataResources"`
	ExcludeManagementEventSources []string       `json:"ExcludeManagementEventSources"`
}

// DataResource is a data-event selector resource.
type DataResource struct {
	Type   string   `json:"Type"`
	Values []string `json:"Values"`
}

type trailState struct {
	Trail
	status    TrailStatus
	selectors []EventSelector
}

// AddTrail adds a trail with its status and event selectors (nil selectors
// mean the default: all management events, read and write).
func (s *Server) AddTrail(t Trail, st TrailStatus, sel []EventSelector) {
	if t.TrailARN == "" {
		t.TrailARN = fmt.Sprintf("arn:aws:cloudtrail:%s:%s:trail/%s", t.HomeRegion, s.Account, t.Name)
	}
	if sel == nil {
		sel = []EventSelector{{ReadWriteType: "All", IncludeManagementEvents: true, DataResources: []DataResource{}, ExcludeManagementEventSources: []string{}}}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.trails = append(s.trails, &trailState{Trail: t, status: st, selectors: sel})
}

// SetTrailStatus replaces the status of the trail named name.
func (s *Server) SetTrailStatus(name string, st TrailStatus) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, t := range s.trails {
		if t.Name == name {
			t.status = st
		}
	}
}

// Event is one CloudTrail management event in a region.
type Event struct {
	EventID     string
	EventName   string
	EventSource string
	Username    string
	AccessKeyID string
	Time        time.Time
	ReadOnly    bool
	Resources   []Resource
	// CloudTrailEvent is the raw event record (JSON). Empty: one is
	// generated in the documented record shape.
	CloudTrailEvent string
}

// Resource is a resource referenced by an event.
type Resource struct {
	ResourceType string `json:"ResourceType,omitempty"`
	ResourceName string `json:"ResourceName,omitempty"`
}

// AddEvents adds events to region.
func (s *Server) AddEvents(region string, evs ...Event) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, e := range evs {
		if e.EventID == "" {
			e.EventID = requestID("event", region, e.EventName, e.Time.Format(time.RFC3339Nano), strconv.Itoa(len(s.events[region])))
		}
		e.Time = e.Time.UTC().Truncate(time.Second) // CloudTrail records whole seconds
		if e.CloudTrailEvent == "" {
			e.CloudTrailEvent = s.record(region, e)
		}
		s.events[region] = append(s.events[region], e)
	}
}

func (s *Server) record(region string, e Event) string {
	user := e.Username
	if user == "" {
		user = "admin"
	}
	rec := map[string]any{
		"eventVersion": "1.08",
		"userIdentity": map[string]any{
			"type": "IAMUser", "principalId": "AIDACKCEVSQ6C2EXAMPLE",
			"arn": "arn:aws:iam::" + s.Account + ":user/" + user, "accountId": s.Account, "userName": user,
		},
		"eventTime":          e.Time.UTC().Format(time.RFC3339),
		"eventSource":        e.EventSource,
		"eventName":          e.EventName,
		"awsRegion":          region,
		"sourceIPAddress":    "192.0.2.10",
		"userAgent":          "aws-cli/2.13.0",
		"requestParameters":  nil,
		"responseElements":   nil,
		"eventID":            e.EventID,
		"readOnly":           e.ReadOnly,
		"eventType":          "AwsApiCall",
		"managementEvent":    true,
		"recipientAccountId": s.Account,
		"eventCategory":      "Management",
	}
	if e.EventName == "ConsoleLogin" {
		rec["eventType"] = "AwsConsoleSignIn"
		rec["responseElements"] = map[string]any{"ConsoleLogin": "Success"}
		mfa := "No"
		if strings.Contains(user, "mfa") {
			mfa = "Yes"
		}
		rec["additionalEventData"] = map[string]any{"LoginTo": "https://console.aws.amazon.com/console/home", "MobileVersion": "No", "MFAUsed": mfa}
	}
	b, _ := json.Marshal(rec)
	return string(b)
}

func epoch(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return float64(t.UnixMilli()) / 1000
}

func parseEpoch(v any) (time.Time, bool) {
	switch x := v.(type) {
	case float64:
		sec, frac := math.Modf(x)
		return time.Unix(int64(sec), int64(frac*1e9)).UTC(), true
	case string:
		if t, err := time.Parse(time.RFC3339, x); err == nil {
			return t, true
		}
	}
	return time.Time{}, false
}

func (s *Server) serveCloudTrail(w http.ResponseWriter, r *http.Request, auth sigv4) {
	target := r.Header.Get("X-Amz-Target")
	op, ok := cloudTrailOp(target)
	if !ok || r.Method != http.MethodPost {
		writeJSONError(w, http.StatusBadRequest, "UnknownOperationException", "")
		return
	}
	var in map[string]any
	body := readBody(r)
	if len(body) > 0 {
		if err := json.Unmarshal(body, &in); err != nil {
			writeJSONError(w, http.StatusBadRequest, "SerializationException", "invalid JSON")
			return
		}
	}
	full := "cloudtrail:" + op
	switch s.enter(full, auth.Region) {
	case FaultAccessDenied:
		writeJSONError(w, http.StatusBadRequest, "AccessDeniedException", fmt.Sprintf("User: arn:aws:sts::%s:assumed-role/tickmark-read/tickmark is not authorized to perform: %s on resource: arn:aws:cloudtrail:%s:%s:trail/* because no identity-based policy allows the %s action", s.Account, full, auth.Region, s.Account, full))
		return
	case FaultThrottle:
		s.mu.Lock()
		s.throttled++
		s.mu.Unlock()
		writeJSONError(w, http.StatusTooManyRequests, "ThrottlingException", "Rate exceeded")
		return
	case FaultMalformed:
		w.Header().Set("Content-Type", "application/x-amz-json-1.1")
		_, _ = w.Write([]byte(`{"trailList":[{"Name":"half`))
		return
	case FaultInternal:
		writeJSONError(w, http.StatusInternalServerError, "InternalFailure", "internal failure")
		return
	}
	switch op {
	case "DescribeTrails":
		s.describeTrails(w, in, auth.Region)
	case "GetTrailStatus":
		s.getTrailStatus(w, in, auth.Region)
	case "GetEventSelectors":
		s.getEventSelectors(w, in, auth.Region)
	case "LookupEvents":
		s.lookupEvents(w, in, auth.Region, arrival(r))
	case "ListPublicKeys":
		s.listPublicKeys(w, in, auth.Region)
	default:
		writeJSONError(w, http.StatusBadRequest, "UnknownOperationException", "awsfake does not implement "+op)
	}
}

func (s *Server) describeTrails(w http.ResponseWriter, in map[string]any, region string) {
	shadow := true
	if v, ok := in["includeShadowTrails"].(bool); ok {
		shadow = v
	}
	var names []string
	if l, ok := in["trailNameList"].([]any); ok {
		for _, n := range l {
			names = append(names, fmt.Sprint(n))
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	out := []Trail{}
	for _, t := range s.trails {
		home := t.HomeRegion == region
		if !home && !(shadow && (t.IsMultiRegionTrail || t.IsOrganizationTrail)) {
			continue
		}
		if len(names) > 0 && !matchesName(t, names, home) {
			continue
		}
		out = append(out, t.Trail)
	}
	writeJSON(w, map[string]any{"trailList": out})
}

func matchesName(t *trailState, names []string, home bool) bool {
	for _, n := range names {
		if n == t.TrailARN || (home && n == t.Name) {
			return true
		}
	}
	return false
}

// findTrail resolves a trail name (home region only) or ARN.
func (s *Server) findTrail(name, region string) *trailState {
	for _, t := range s.trails {
		if name == t.TrailARN || (name == t.Name && t.HomeRegion == region) {
			return t
		}
	}
	return nil
}

func (s *Server) getTrailStatus(w http.ResponseWriter, in map[string]any, region string) {
	name, _ := in["Name"].(string)
	s.mu.Lock()
	t := s.findTrail(name, region)
	s.mu.Unlock()
	if t == nil {
		writeJSONError(w, http.StatusBadRequest, "TrailNotFoundException", "Unknown trail: "+name+" for the user: "+s.Account)
		return
	}
	st := t.status
	out := map[string]any{"IsLogging": st.IsLogging}
	put := func(k string, v time.Time) {
		if !v.IsZero() {
			out[k] = epoch(v)
		}
	}
	put("LatestDeliveryTime", st.LatestDeliveryTime)
	put("LatestDigestDeliveryTime", st.LatestDigestDeliveryTime)
	put("StartLoggingTime", st.StartLoggingTime)
	put("StopLoggingTime", st.StopLoggingTime)
	if st.LatestDeliveryError != "" {
		out["LatestDeliveryError"] = st.LatestDeliveryError
	}
	if st.LatestDigestDeliveryError != "" {
		out["LatestDigestDeliveryError"] = st.LatestDigestDeliveryError
	}
	if !st.StartLoggingTime.IsZero() {
		out["TimeLoggingStarted"] = st.StartLoggingTime.UTC().Format(time.RFC3339)
	}
	out["TimeLoggingStopped"] = ""
	if !st.StopLoggingTime.IsZero() {
		out["TimeLoggingStopped"] = st.StopLoggingTime.UTC().Format(time.RFC3339)
	}
	writeJSON(w, out)
}

func (s *Server) getEventSelectors(w http.ResponseWriter, in map[string]any, region string) {
	name, _ := in["TrailName"].(string)
	s.mu.Lock()
	t := s.findTrail(name, region)
	s.mu.Unlock()
	if t == nil {
		writeJSONError(w, http.StatusBadRequest, "TrailNotFoundException", "Unknown trail: "+name+" for the user: "+s.Account)
		return
	}
	writeJSON(w, map[string]any{"TrailARN": t.TrailARN, "EventSelectors": t.selectors})
}

var lookupKeys = map[string]func(e Event) string{
	"EventId":      func(e Event) string { return e.EventID },
	"EventName":    func(e Event) string { return e.EventName },
	"EventSource":  func(e Event) string { return e.EventSource },
	"Username":     func(e Event) string { return e.Username },
	"AccessKeyId":  func(e Event) string { return e.AccessKeyID },
	"ReadOnly":     func(e Event) string { return strconv.FormatBool(e.ReadOnly) },
	"ResourceType": func(e Event) string { return resourceField(e, true) },
	"ResourceName": func(e Event) string { return resourceField(e, false) },
}

func resourceField(e Event, typ bool) string {
	var parts []string
	for _, r := range e.Resources {
		if typ {
			parts = append(parts, r.ResourceType)
		} else {
			parts = append(parts, r.ResourceName)
		}
	}
	return "\x00" + strings.Join(parts, "\x00") + "\x00"
}

// allowLookup applies the documented 2 requests per second per region.
func (s *Server) allowLookup(region string, now time.Time) bool {
	rate := s.LookupRate
	if rate <= 0 {
		rate = 2
	}
	// now is the wall-clock arrival time, whatever the fake's data clock says
	s.mu.Lock()
	defer s.mu.Unlock()
	calls := s.lookupCalls[region]
	keep := calls[:0]
	for _, c := range calls {
		if now.Sub(c) < time.Second-s.LookupJitter {
			keep = append(keep, c)
		}
	}
	if len(keep) >= rate {
		s.lookupCalls[region] = keep
		s.violations++
		return false
	}
	s.lookupCalls[region] = append(keep, now)
	return true
}

func (s *Server) lookupEvents(w http.ResponseWriter, in map[string]any, region string, arrived time.Time) {
	if !s.allowLookup(region, arrived) {
		writeJSONError(w, http.StatusTooManyRequests, "ThrottlingException", "Rate exceeded")
		return
	}
	max := 50
	if v, ok := in["MaxResults"].(float64); ok {
		if v < 1 || v > 50 {
			writeJSONError(w, http.StatusBadRequest, "InvalidMaxResultsException", "Value for MaxResults is invalid; it must be between 1 and 50.")
			return
		}
		max = int(v)
	}
	var attrKey, attrVal string
	if l, ok := in["LookupAttributes"].([]any); ok && len(l) > 0 {
		if len(l) > 1 {
			writeJSONError(w, http.StatusBadRequest, "InvalidLookupAttributesException", "You can only specify one lookup attribute.")
			return
		}
		a, _ := l[0].(map[string]any)
		attrKey, _ = a["AttributeKey"].(string)
		attrVal, _ = a["AttributeValue"].(string)
		if _, ok := lookupKeys[attrKey]; !ok {
			writeJSONError(w, http.StatusBadRequest, "InvalidLookupAttributesException", "Invalid AttributeKey: "+attrKey)
			return
		}
	}
	now := s.Now().UTC()
	oldest := now.Add(-90 * 24 * time.Hour)
	start, end := oldest, now
	if v, ok := in["StartTime"]; ok {
		t, ok := parseEpoch(v)
		if !ok {
			writeJSONError(w, http.StatusBadRequest, "SerializationException", "StartTime is not a timestamp")
			return
		}
		start = t
	}
	if v, ok := in["EndTime"]; ok {
		t, ok := parseEpoch(v)
		if !ok {
			writeJSONError(w, http.StatusBadRequest, "SerializationException", "EndTime is not a timestamp")
			return
		}
		end = t
	}
	if start.After(end) {
		writeJSONError(w, http.StatusBadRequest, "InvalidTimeRangeException", "Start time must be before end time.")
		return
	}
	cat, _ := in["EventCategory"].(string)
	params := fmt.Sprintf("%s|%s|%s|%d|%d|%s", region, attrKey, attrVal, start.UnixNano(), end.UnixNano(), cat)
	offset := 0
	if tok, ok := in["NextToken"].(string); ok && tok != "" {
		off, ok := decodeToken(tok, params)
		if !ok {
			writeJSONError(w, http.StatusBadRequest, "InvalidNextTokenException", "Invalid NextToken: the token must be used with the same parameters as the original call.")
			return
		}
		offset = off
	}
	if cat == "insight" {
		writeJSON(w, map[string]any{"Events": []any{}})
		return
	}
	s.mu.Lock()
	var match []Event
	for _, e := range s.events[region] {
		if e.Time.Before(oldest) || e.Time.Before(start) || e.Time.After(end) {
			continue
		}
		if attrKey != "" {
			v := lookupKeys[attrKey](e)
			if attrKey == "ResourceType" || attrKey == "ResourceName" {
				if !strings.Contains(v, "\x00"+attrVal+"\x00") {
					continue
				}
			} else if v != attrVal {
				continue
			}
		}
		match = append(match, e)
	}
	s.mu.Unlock()
	sort.SliceStable(match, func(i, j int) bool {
		if !match[i].Time.Equal(match[j].Time) {
			return match[i].Time.After(match[j].Time)
		}
		return match[i].EventID < match[j].EventID
	})
	if offset > len(match) {
		offset = len(match)
	}
	page := match[offset:min(offset+max, len(match))]
	evs := make([]map[string]any, 0, len(page))
	for _, e := range page {
		m := map[string]any{
			"EventId": e.EventID, "EventName": e.EventName, "ReadOnly": strconv.FormatBool(e.ReadOnly),
			"EventTime": epoch(e.Time), "EventSource": e.EventSource, "Username": e.Username,
			"Resources": append([]Resource{}, e.Resources...), "CloudTrailEvent": e.CloudTrailEvent,
		}
		if e.AccessKeyID != "" {
			m["AccessKeyId"] = e.AccessKeyID
		}
		evs = append(evs, m)
	}
	out := map[string]any{"Events": evs}
	if offset+max < len(match) {
		out["NextToken"] = encodeToken(offset+max, params)
	}
	writeJSON(w, out)
}

func tokenMAC(off int, params string) string {
	h := sha256.Sum256([]byte(strconv.Itoa(off) + "|" + params))
	return hex.EncodeToString(h[:8])
}

func encodeToken(off int, params string) string {
	return base64.StdEncoding.EncodeToString([]byte(strconv.Itoa(off) + ":" + tokenMAC(off, params)))
}

func decodeToken(tok, params string) (int, bool) {
	b, err := base64.StdEncoding.DecodeString(tok)
	if err != nil {
		return 0, false
	}
	o, mac, ok := strings.Cut(string(b), ":")
	if !ok {
		return 0, false
	}
	off, err := strconv.Atoi(o)
	if err != nil || off < 0 || mac != tokenMAC(off, params) {
		return 0, false
	}
	return off, true
}
