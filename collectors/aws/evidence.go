package aws

import (
	"bytes"
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"sort"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudtrail"
	cttypes "github.com/aws/aws-sdk-go-v2/service/cloudtrail/types"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	iamtypes "github.com/aws/aws-sdk-go-v2/service/iam/types"
	"github.com/aws/smithy-go"

	"github.com/tickmark-dev/tickmark/collectors"
)

// ---------------------------------------------------------------- trails

// trailInfo is a trail seen in DescribeTrails, with the regions it was seen from.
type trailInfo struct {
	Trail      cttypes.Trail
	SeenIn     []string
	Logging    bool
	Management bool // its selectors include management events
}

type trailDoc struct {
	Name                       string   `json:"name"`
	ARN                        string   `json:"trail_arn"`
	HomeRegion                 string   `json:"home_region"`
	IsMultiRegionTrail         bool     `json:"is_multi_region_trail"`
	IsOrganizationTrail        bool     `json:"is_organization_trail"`
	IncludeGlobalServiceEvents bool     `json:"include_global_service_events"`
	LogFileValidationEnabled   bool     `json:"log_file_validation_enabled"`
	S3BucketName               string   `json:"s3_bucket_name,omitempty"`
	S3KeyPrefix                string   `json:"s3_key_prefix,omitempty"`
	KMSKeyID                   string   `json:"kms_key_id,omitempty"`
	CloudWatchLogsLogGroupARN  string   `json:"cloudwatch_logs_log_group_arn,omitempty"`
	CloudWatchLogsRoleARN      string   `json:"cloudwatch_logs_role_arn,omitempty"`
	SNSTopicARN                string   `json:"sns_topic_arn,omitempty"`
	HasCustomEventSelectors    bool     `json:"has_custom_event_selectors"`
	HasInsightSelectors        bool     `json:"has_insight_selectors"`
	Status                     any      `json:"status"`
	EventSelectors             any      `json:"event_selectors"`
	AdvancedEventSelectors     any      `json:"advanced_event_selectors,omitempty"`
	Findings                   []string `json:"findings"`
}

type statusDoc struct {
	IsLogging                        bool   `json:"is_logging"`
	LatestDeliveryTime               string `json:"latest_delivery_time,omitempty"`
	LatestDeliveryError              string `json:"latest_delivery_error,omitempty"`
	LatestDigestDeliveryTime         string `json:"latest_digest_delivery_time,omitempty"`
	LatestDigestDeliveryError        string `json:"latest_digest_delivery_error,omitempty"`
	LatestCloudWatchLogsDeliveryTime string `json:"latest_cloudwatch_logs_delivery_time,omitempty"`
	LatestCloudWatchLogsDeliveryErr  string `json:"latest_cloudwatch_logs_delivery_error,omitempty"`
	LatestNotificationError          string `json:"latest_notification_error,omitempty"`
	StartLoggingTime                 string `json:"start_logging_time,omitempty"`
	StopLoggingTime                  string `json:"stop_logging_time,omitempty"`
}

// collectTrails describes the trails of every configured region, reports
// each trail once from its home region (shadow copies of multi-region and
// organization trails are not repeated) and returns them for digests.
func (r *run) collectTrails(ctx context.Context, emit bool) ([]trailInfo, error) {
	byARN := map[string]*trailInfo{}
	for _, region := range r.regions {
		out, err := r.cloudTrail(region).DescribeTrails(ctx, &cloudtrail.DescribeTrailsInput{IncludeShadowTrails: aws.Bool(true)})
		if err != nil {
			return nil, r.fail(ctx, "cloudtrail:DescribeTrails", region, err)
		}
		for _, t := range out.TrailList {
			arn := aws.ToString(t.TrailARN)
			ti, ok := byARN[arn]
			if !ok {
				ti = &trailInfo{Trail: t}
				byARN[arn] = ti
			}
			ti.SeenIn = append(ti.SeenIn, region)
		}
	}
	homes := map[string][]*trailInfo{}
	for _, region := range r.regions {
		homes[region] = nil
	}
	for _, arn := range sortedKeys(byARN) {
		ti := byARN[arn]
		home := aws.ToString(ti.Trail.HomeRegion)
		homes[home] = append(homes[home], ti)
	}
	if emit { // digests alone need only DescribeTrails
		// Every trail's status is read before any region is judged: a region
		// is recorded by trails homed anywhere (multi-region and organization
		// trails), whatever order the regions sort in.
		docs := map[string][]trailDoc{}
		for _, region := range sortedKeys(homes) {
			for _, ti := range homes[region] {
				d, err := r.describeTrail(ctx, region, ti)
				if err != nil {
					return nil, err
				}
				docs[region] = append(docs[region], d)
			}
		}
		var arts []collectors.Artifact
		for _, region := range sortedKeys(homes) {
			arts = append(arts, r.trailsArtifact(region, docs[region], byARN))
		}
		if err := r.emitAndCheckpoint(ctx, arts, nil); err != nil {
			return nil, err
		}
	}
	var out []trailInfo
	for _, arn := range sortedKeys(byARN) {
		out = append(out, *byARN[arn])
	}
	return out, nil
}

func (r *run) describeTrail(ctx context.Context, region string, ti *trailInfo) (trailDoc, error) {
	t := ti.Trail
	arn := aws.ToString(t.TrailARN)
	ct := r.cloudTrail(region)
	st, err := ct.GetTrailStatus(ctx, &cloudtrail.GetTrailStatusInput{Name: aws.String(arn)})
	if err != nil {
		return trailDoc{}, r.fail(ctx, "cloudtrail:GetTrailStatus", region, err)
	}
	sel, err := ct.GetEventSelectors(ctx, &cloudtrail.GetEventSelectorsInput{TrailName: aws.String(arn)})
	if err != nil {
		return trailDoc{}, r.fail(ctx, "cloudtrail:GetEventSelectors", region, err)
	}
	ti.Logging = aws.ToBool(st.IsLogging)
	ti.Management = len(sel.AdvancedEventSelectors) > 0 // judged by their own fields; counted as recording
	for _, s := range sel.EventSelectors {
		if aws.ToBool(s.IncludeManagementEvents) {
			ti.Management = true
		}
	}
	if len(sel.EventSelectors) == 0 && len(sel.AdvancedEventSelectors) == 0 {
		ti.Management = true // no selectors: the default, all management events
	}
	d := trailDoc{
		Name: aws.ToString(t.Name), ARN: arn, HomeRegion: aws.ToString(t.HomeRegion),
		IsMultiRegionTrail: aws.ToBool(t.IsMultiRegionTrail), IsOrganizationTrail: aws.ToBool(t.IsOrganizationTrail),
		IncludeGlobalServiceEvents: aws.ToBool(t.IncludeGlobalServiceEvents), LogFileValidationEnabled: aws.ToBool(t.LogFileValidationEnabled),
		S3BucketName: aws.ToString(t.S3BucketName), S3KeyPrefix: aws.ToString(t.S3KeyPrefix), KMSKeyID: aws.ToString(t.KmsKeyId),
		CloudWatchLogsLogGroupARN: aws.ToString(t.CloudWatchLogsLogGroupArn), CloudWatchLogsRoleARN: aws.ToString(t.CloudWatchLogsRoleArn),
		SNSTopicARN: aws.ToString(t.SnsTopicARN), HasCustomEventSelectors: aws.ToBool(t.HasCustomEventSelectors), HasInsightSelectors: aws.ToBool(t.HasInsightSelectors),
		Status: statusDoc{
			IsLogging: aws.ToBool(st.IsLogging), LatestDeliveryTime: tsp(st.LatestDeliveryTime), LatestDeliveryError: aws.ToString(st.LatestDeliveryError),
			LatestDigestDeliveryTime: tsp(st.LatestDigestDeliveryTime), LatestDigestDeliveryError: aws.ToString(st.LatestDigestDeliveryError),
			LatestCloudWatchLogsDeliveryTime: tsp(st.LatestCloudWatchLogsDeliveryTime), LatestCloudWatchLogsDeliveryErr: aws.ToString(st.LatestCloudWatchLogsDeliveryError),
			LatestNotificationError: aws.ToString(st.LatestNotificationError), StartLoggingTime: tsp(st.StartLoggingTime), StopLoggingTime: tsp(st.StopLoggingTime),
		},
		EventSelectors: sel.EventSelectors, Findings: []string{},
	}
	if d.EventSelectors == nil {
		d.EventSelectors = []any{}
	}
	if len(sel.AdvancedEventSelectors) > 0 {
		d.AdvancedEventSelectors = sel.AdvancedEventSelectors
	}
	if !d.Status.(statusDoc).IsLogging {
		f := "logging is stopped"
		if s := tsp(st.StopLoggingTime); s != "" {
			f += " (since " + s + ")"
		}
		d.Findings = append(d.Findings, f)
	}
	if !d.LogFileValidationEnabled {
		d.Findings = append(d.Findings, "log file validation is disabled")
	}
	if e := aws.ToString(st.LatestDeliveryError); e != "" {
		d.Findings = append(d.Findings, "latest delivery error: "+e)
	}
	if e := aws.ToString(st.LatestDigestDeliveryError); e != "" {
		d.Findings = append(d.Findings, "latest digest delivery error: "+e)
	}
	if !d.IsMultiRegionTrail {
		d.Findings = append(d.Findings, "single-region trail")
	}
	if len(sel.EventSelectors) > 0 {
		mgmt := false
		for _, s := range sel.EventSelectors {
			if aws.ToBool(s.IncludeManagementEvents) {
				mgmt = true
			}
		}
		if !mgmt {
			d.Findings = append(d.Findings, "management events are not logged (event selectors)")
		}
	}
	return d, nil
}

func (r *run) trailsArtifact(region string, docs []trailDoc, byARN map[string]*trailInfo) collectors.Artifact {
	// trails from other home regions that log this region too
	var covering []string
	logged := false
	for _, arn := range sortedKeys(byARN) {
		ti := byARN[arn]
		for _, s := range ti.SeenIn {
			if s == region {
				if aws.ToString(ti.Trail.HomeRegion) != region {
					covering = append(covering, arn)
				}
				if ti.Logging && ti.Management {
					logged = true
				}
			}
		}
	}
	findings := []string{}
	if !logged && containsStr(r.regions, region) {
		findings = append(findings, "no logging trail records this region's management events")
	}
	if docs == nil {
		docs = []trailDoc{}
	}
	body := map[string]any{
		"account":                      r.account,
		"region":                       region,
		"trails":                       docs,
		"shadow_trails_from_elsewhere": orEmpty(covering),
		"findings":                     findings,
	}
	return collectors.Artifact{
		Type: TypeTrails, Subject: r.account + "/" + region, ContentType: "application/json",
		Body:   mustJSON(body),
		Source: withItems(r.source("cloudtrail:DescribeTrails,GetTrailStatus,GetEventSelectors", region, "includeShadowTrails=true"), len(docs), true),
	}
}

func withItems(s collectors.Source, items int, complete bool) collectors.Source {
	s.Items, s.Complete, s.Pages = items, complete, 1
	return s
}

func orEmpty(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func containsStr(l []string, s string) bool {
	for _, x := range l {
		if x == s {
			return true
		}
	}
	return false
}

// ---------------------------------------------------- credential report

// Credential report polling: GenerateCredentialReport is called until it
// says COMPLETE, backing off from 250ms to 4s, for at most reportWait.
var (
	reportPollStart = 250 * time.Millisecond
	reportPollMax   = 4 * time.Second
)

const reportWait = 3 * time.Minute

// staleAfter is the age beyond which a password or access key counts as
// unused or old in the summary.
const staleAfter = 90 * 24 * time.Hour

func (r *run) collectCredentialReport(ctx context.Context) error {
	c := r.iam()
	deadline := time.Now().Add(reportWait)
	wait := reportPollStart
	var rep *iam.GetCredentialReportOutput
	for rep == nil {
		gen, err := c.GenerateCredentialReport(ctx, &iam.GenerateCredentialReportInput{})
		if err != nil {
			return r.fail(ctx, "iam:GenerateCredentialReport", "", err)
		}
		if gen.State == iamtypes.ReportStateTypeComplete {
			out, err := c.GetCredentialReport(ctx, &iam.GetCredentialReportInput{})
			var ae smithy.APIError
			switch {
			case err == nil:
				rep = out
				continue
			case errors.As(err, &ae) && (ae.ErrorCode() == "ReportInProgress" || ae.ErrorCode() == "ReportNotPresent" || ae.ErrorCode() == "ReportExpired"):
				// generated again meanwhile, or expired: poll on
			default:
				return r.fail(ctx, "iam:GetCredentialReport", "", err)
			}
		}
		if time.Now().After(deadline) {
			return collectors.Retryable(fmt.Errorf("aws: iam:GenerateCredentialReport: the report was not COMPLETE after %s (state %s)", reportWait, gen.State))
		}
		r.req.Logger.Debug("waiting for the IAM credential report", "state", string(gen.State), "wait", wait.String())
		if err := sleepCtx(ctx, wait); err != nil {
			return err
		}
		wait = min(wait*2, reportPollMax)
	}
	summary, err := summarizeCredentialReport(rep.Content, aws.ToTime(rep.GeneratedTime))
	if err != nil {
		return collectors.Permanent(fmt.Errorf("aws: iam:GetCredentialReport: malformed report CSV: %w", err))
	}
	gen := aws.ToTime(rep.GeneratedTime).UTC()
	src := r.source("iam:GetCredentialReport", "", "")
	arts := []collectors.Artifact{
		{
			Type: TypeCredentialReport, Subject: r.account + "/credential-report.csv", ContentType: "text/csv",
			Body: rep.Content, ObservedAt: gen, Source: withItems(src, summary.Users, true),
		},
		{
			Type: TypeCredentialReport, Subject: r.account + "/credential-report-summary", ContentType: "application/json",
			Body: mustJSON(summary), ObservedAt: gen, Source: withItems(src, summary.Users, true),
		},
	}
	return r.emitAndCheckpoint(ctx, arts, nil)
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// credSummary is the parsed summary of a credential report.
type credSummary struct {
	GeneratedTime          string   `json:"generated_time"`
	StaleAfterDays         int      `json:"stale_after_days"`
	Users                  int      `json:"users"`
	RootMFAActive          bool     `json:"root_mfa_active"`
	RootAccessKeysActive   bool     `json:"root_access_keys_active"`
	RootPasswordLastUsed   string   `json:"root_password_last_used,omitempty"`
	ConsoleUsersWithoutMFA []string `json:"console_users_without_mfa"`
	PasswordsNeverUsed     []string `json:"passwords_never_used"`
	PasswordsUnused        []string `json:"passwords_unused_over_stale_days"`
	PasswordsOld           []string `json:"passwords_not_changed_over_stale_days"`
	AccessKeysOld          []string `json:"active_access_keys_not_rotated_over_stale_days"`
	AccessKeysUnused       []string `json:"active_access_keys_unused_over_stale_days"`
	AccessKeysNeverUsed    []string `json:"active_access_keys_never_used"`
}

func summarizeCredentialReport(content []byte, generated time.Time) (*credSummary, error) {
	rd := csv.NewReader(bytes.NewReader(content))
	header, err := rd.Read()
	if err != nil {
		return nil, err
	}
	col := map[string]int{}
	for i, h := range header {
		col[h] = i
	}
	for _, need := range []string{"user", "password_enabled", "mfa_active", "access_key_1_active", "access_key_2_active"} {
		if _, ok := col[need]; !ok {
			return nil, fmt.Errorf("column %q missing", need)
		}
	}
	s := &credSummary{
		GeneratedTime: ts(generated), StaleAfterDays: int(staleAfter / (24 * time.Hour)),
		ConsoleUsersWithoutMFA: []string{}, PasswordsNeverUsed: []string{}, PasswordsUnused: []string{}, PasswordsOld: []string{},
		AccessKeysOld: []string{}, AccessKeysUnused: []string{}, AccessKeysNeverUsed: []string{},
	}
	old := func(v string) bool {
		t, err := time.Parse(time.RFC3339, v)
		return err == nil && generated.Sub(t) > staleAfter
	}
	for {
		rec, err := rd.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
		get := func(k string) string {
			if i, ok := col[k]; ok && i < len(rec) {
				return rec[i]
			}
			return ""
		}
		user := get("user")
		if user == "<root_account>" {
			s.RootMFAActive = get("mfa_active") == "true"
			s.RootAccessKeysActive = get("access_key_1_active") == "true" || get("access_key_2_active") == "true"
			s.RootPasswordLastUsed = get("password_last_used")
			continue
		}
		s.Users++
		if get("password_enabled") == "true" {
			if get("mfa_active") != "true" {
				s.ConsoleUsersWithoutMFA = append(s.ConsoleUsersWithoutMFA, user)
			}
			switch used := get("password_last_used"); {
			case used == "no_information" || used == "N/A":
				s.PasswordsNeverUsed = append(s.PasswordsNeverUsed, user)
			case old(used):
				s.PasswordsUnused = append(s.PasswordsUnused, user)
			}
			if old(get("password_last_changed")) {
				s.PasswordsOld = append(s.PasswordsOld, user)
			}
		}
		for _, k := range []string{"1", "2"} {
			if get("access_key_"+k+"_active") != "true" {
				continue
			}
			id := user + "/access_key_" + k
			if old(get("access_key_" + k + "_last_rotated")) {
				s.AccessKeysOld = append(s.AccessKeysOld, id)
			}
			switch used := get("access_key_" + k + "_last_used_date"); {
			case used == "N/A" || used == "":
				s.AccessKeysNeverUsed = append(s.AccessKeysNeverUsed, id)
			case old(used):
				s.AccessKeysUnused = append(s.AccessKeysUnused, id)
			}
		}
	}
	for _, l := range [][]string{s.ConsoleUsersWithoutMFA, s.PasswordsNeverUsed, s.PasswordsUnused, s.PasswordsOld, s.AccessKeysOld, s.AccessKeysUnused, s.AccessKeysNeverUsed} {
		sort.Strings(l)
	}
	return s, nil
}
