package aws

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudtrail"
	cttypes "github.com/aws/aws-sdk-go-v2/service/cloudtrail/types"
	"golang.org/x/sync/errgroup"

	"github.com/tickmark-dev/tickmark/collectors"
)

// Security-relevant management events, by what they evidence: families
// whose every write matters are looked up by EventSource (write events
// kept), the rest by EventName. IAM and Organizations are global services:
// CloudTrail records their events in the partition's global region, so
// they are looked up there only.
var (
	// role assumption by people and federations (AssumeRoleWithWebIdentity,
	// mostly workloads, is left out: it is high-volume machine traffic)
	stsEvents = []string{"AssumeRole", "AssumeRoleWithSAML"}
	// KMS keys (CreateGrant is left out: EBS and others call it constantly)
	kmsEvents = []string{"DisableKey", "ScheduleKeyDeletion", "CancelKeyDeletion", "PutKeyPolicy", "DisableKeyRotation"}
	// the configuration recorder (CC7.2)
	configEvents = []string{"StopConfigurationRecorder", "DeleteConfigurationRecorder", "DeleteDeliveryChannel"}
	// S3 bucket policies, public access, encryption and versioning
	s3Events = []string{
		"PutBucketPolicy", "DeleteBucketPolicy", "PutBucketAcl",
		"PutBucketPublicAccessBlock", "DeleteBucketPublicAccessBlock",
		"PutAccountPublicAccessBlock", "DeleteAccountPublicAccessBlock",
		"PutBucketEncryption", "DeleteBucketEncryption", "PutBucketVersioning",
	}
	// security groups and flow logs (CC6.6, CC7.2, CC8.1)
	securityGroupEvents = []string{
		"CreateSecurityGroup", "DeleteSecurityGroup", "ModifySecurityGroupRules",
		"AuthorizeSecurityGroupIngress", "AuthorizeSecurityGroupEgress",
		"RevokeSecurityGroupIngress", "RevokeSecurityGroupEgress",
		"DeleteFlowLogs",
	}
)

// DefaultEventNames are looked up by EventName when neither event_names nor
// event_sources is set.
var DefaultEventNames = slices.Concat(stsEvents, kmsEvents, configEvents, s3Events, securityGroupEvents)

// DefaultEventSources are looked up by EventSource when neither
// event_names nor event_sources is set: every write event of IAM (users,
// credentials, MFA devices, policies, permissions boundaries, SAML and
// OIDC providers, the password policy), Organizations, IAM Identity Center
// (sso, sso-directory, identitystore: permission sets, assignments, users,
// groups), CloudTrail, GuardDuty and Security Hub, and every sign-in event
// (console and Identity Center sign-ins, MFA checks, role switches).
var DefaultEventSources = []string{
	"signin.amazonaws.com", "iam.amazonaws.com", "organizations.amazonaws.com",
	"sso.amazonaws.com", "sso-directory.amazonaws.com", "identitystore.amazonaws.com",
	"cloudtrail.amazonaws.com", "guardduty.amazonaws.com", "securityhub.amazonaws.com",
}

// globalSources are looked up only in the partition's global region.
var globalSources = map[string]bool{"iam.amazonaws.com": true, "organizations.amazonaws.com": true}

// allEventsSources keep read-only events too (a sign-in is what matters).
var allEventsSources = map[string]bool{"signin.amazonaws.com": true}

const sourcePrefix = "source:"

const (
	lookupPageSize = 50                  // the documented maximum
	lookupHistory  = 90 * 24 * time.Hour // LookupEvents keeps 90 days
	regionWorkers  = 4
	defaultDelay   = 15 * time.Minute
	defaultOverlap = time.Hour
)

// regionCursor is the events state of one region. Done is the inclusive
// end of the last fully collected window. Win is a window in progress:
// Pending names still to look up (the first one possibly part-way, with
// Upper the inclusive end for the rest of its query and Skip the IDs of
// events at Upper already emitted).
//
// Seen holds the EventIds already emitted whose event time lies in the
// overlap that the next window reads again (event time -> IDs), so a
// re-read emits only events that arrived late.
type regionCursor struct {
	Done string              `json:"done,omitempty"`
	Seen map[string][]string `json:"seen,omitempty"`
	Win  *window             `json:"win,omitempty"`
}

func (r *run) overlap() time.Duration {
	if r.cfg.EventOverlap != nil {
		return r.cfg.EventOverlap.D()
	}
	return defaultOverlap
}

// pruneSeen keeps the IDs of events at or after from.
func pruneSeen(seen map[string][]string, from time.Time) map[string][]string {
	out := map[string][]string{}
	for t, ids := range seen {
		if !parseTS(t).Before(from) {
			out[t] = ids
		}
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

func copySeen(seen map[string][]string) map[string][]string {
	out := make(map[string][]string, len(seen))
	for t, ids := range seen {
		out[t] = slices.Clone(ids)
	}
	return out
}

type window struct {
	Start   string   `json:"start"`
	End     string   `json:"end"`
	Pending []string `json:"pending"`
	Upper   string   `json:"upper,omitempty"`
	Skip    []string `json:"skip,omitempty"`
	// After is the end of the window before this one: from Start to After
	// the window reads again what was collected (the overlap).
	After string `json:"after,omitempty"`
}

// lookups are the queries of a region: event names, and event sources
// prefixed "source:".
func (r *run) lookups(region string) []string {
	names, sources := r.cfg.EventNames, r.cfg.EventSources
	if len(names) == 0 && len(sources) == 0 {
		names, sources = DefaultEventNames, DefaultEventSources
	}
	out := slices.Clone(names)
	for _, src := range sources {
		if len(r.cfg.EventSources) == 0 && globalSources[src] && region != globalRegion(r.partition) {
			continue
		}
		out = append(out, sourcePrefix+src)
	}
	return out
}

func (r *run) collectEvents(ctx context.Context) error {
	if gr := globalRegion(r.partition); len(r.cfg.EventNames) == 0 && len(r.cfg.EventSources) == 0 && !containsStr(r.regions, gr) {
		r.req.Logger.Warn("IAM and Organizations events are recorded in "+gr+", which is not collected: they are not collected", "evidence_type", TypeEvents, "account", r.account)
	}
	// one region failing (denied, throttled) does not stop the others; an
	// engine error does
	gctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var g errgroup.Group
	g.SetLimit(regionWorkers)
	var mu sync.Mutex
	var errs []error
	for _, region := range r.regions {
		g.Go(func() error {
			err := r.regionEvents(gctx, region)
			if err != nil {
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
				if !collectors.IsClassified(err) {
					cancel()
				}
			}
			return nil
		})
	}
	_ = g.Wait()
	if ctx.Err() != nil {
		return ctx.Err()
	}
	for _, e := range errs {
		if !collectors.IsClassified(e) && !errors.Is(e, context.Canceled) {
			return e
		}
	}
	return joinClassified(errs)
}

func parseTS(s string) time.Time {
	t, _ := time.Parse(time.RFC3339, s)
	return t
}

func (r *run) regionEvents(ctx context.Context, region string) error {
	r.mu.Lock()
	key := r.account + "/" + region
	st := r.cur.Events[key]
	var win window
	if st != nil && st.Win != nil {
		win = *st.Win
	}
	done := ""
	seen := map[string][]string{}
	if st != nil {
		done = st.Done
		seen = copySeen(st.Seen)
	}
	r.mu.Unlock()
	seenID := map[string]bool{}
	for _, ids := range seen {
		for _, id := range ids {
			seenID[id] = true
		}
	}
	if win.End == "" {
		delay := defaultDelay
		if r.cfg.EventDelay != nil {
			delay = r.cfg.EventDelay.D()
		}
		end := r.req.Now.Add(-delay).UTC().Truncate(time.Second)
		start := r.req.Since
		if done != "" {
			// read the overlap again: late events land in this window
			start = parseTS(done).Add(time.Second).Add(-r.overlap())
		}
		if floor := r.req.Now.Add(-lookupHistory); start.Before(floor) {
			start = floor
		}
		start = start.UTC().Truncate(time.Second)
		if start.After(end) || (done != "" && !end.After(parseTS(done))) {
			return nil // the clock has not moved past the last window
		}
		win = window{Start: ts(start), End: ts(end), Pending: r.lookups(region), After: done}
	}
	ct := r.cloudTrail(region)
	byName := map[string]bool{}
	for _, l := range r.lookups(region) {
		if !strings.HasPrefix(l, sourcePrefix) {
			byName[l] = true
		}
	}
	nextFrom := parseTS(win.End).Add(time.Second).Add(-r.overlap()) // where the next window starts
	for len(win.Pending) > 0 {
		name := win.Pending[0]
		upper := win.End
		if win.Upper != "" {
			upper = win.Upper
		}
		skip := map[string]bool{}
		for _, id := range win.Skip {
			skip[id] = true
		}
		attr := cttypes.LookupAttribute{AttributeKey: cttypes.LookupAttributeKeyEventName, AttributeValue: aws.String(name)}
		src, bySource := strings.CutPrefix(name, sourcePrefix)
		if bySource {
			attr = cttypes.LookupAttribute{AttributeKey: cttypes.LookupAttributeKeyEventSource, AttributeValue: aws.String(src)}
		}
		in := &cloudtrail.LookupEventsInput{
			StartTime:        aws.Time(parseTS(win.Start)),
			EndTime:          aws.Time(parseTS(upper)),
			LookupAttributes: []cttypes.LookupAttribute{attr},
			MaxResults:       aws.Int32(lookupPageSize),
		}
		page := 0
		for {
			out, err := ct.LookupEvents(ctx, in)
			if err != nil {
				return r.fail(ctx, "cloudtrail:LookupEvents", region, err)
			}
			page++
			var kept []cttypes.Event
			oldest := time.Time{}
			already, readOnly := 0, 0
			for _, e := range out.Events {
				t := aws.ToTime(e.EventTime).UTC()
				if oldest.IsZero() || t.Before(oldest) {
					oldest = t
				}
				id := aws.ToString(e.EventId)
				if skip[id] {
					continue
				}
				if bySource && !allEventsSources[src] && aws.ToString(e.ReadOnly) == "true" {
					readOnly++ // a source lookup keeps write events
					continue
				}
				if bySource && byName[aws.ToString(e.EventName)] {
					continue // looked up by its name in this window
				}
				if seenID[id] {
					already++ // emitted by an earlier window (overlap) or lookup
					continue
				}
				// remembered only where a window reads again: this window's
				// overlap, and the next window's
				if (win.After != "" && !t.After(parseTS(win.After))) || !t.Before(nextFrom) {
					seenID[id] = true
					seen[ts(t)] = append(seen[ts(t)], id)
				}
				kept = append(kept, e)
			}
			next := aws.ToString(out.NextToken)
			last := next == ""
			// the resume point after this page
			nw := win
			if last {
				nw.Pending = win.Pending[1:]
				nw.Upper, nw.Skip = "", nil
			} else if !oldest.IsZero() {
				if ts(oldest) != upper {
					skip = map[string]bool{}
				}
				upper = ts(oldest)
				for _, e := range out.Events {
					if aws.ToTime(e.EventTime).UTC().Equal(oldest) {
						skip[aws.ToString(e.EventId)] = true
					}
				}
				nw.Upper, nw.Skip = upper, sortedKeys(skip)
			}
			var arts []collectors.Artifact
			if len(kept) > 0 {
				arts = append(arts, r.eventsArtifact(region, name, in, page, kept, last, win.Start, already, readOnly))
			}
			finished := last && len(nw.Pending) == 0
			if finished {
				arts = append(arts, r.windowArtifact(region, win))
			}
			snap := copySeen(seen)
			update := func(c *cursor) {
				if finished {
					c.Events[key] = &regionCursor{Done: win.End, Seen: pruneSeen(snap, nextFrom)}
				} else {
					w := nw
					c.Events[key] = &regionCursor{Done: done, Seen: snap, Win: &w}
				}
			}
			if len(arts) == 0 {
				// nothing to commit: the progress is kept in the cursor the
				// next checkpoint writes (an interrupted run redoes a few
				// empty lookups), so an organisation's many empty lookups
				// do not each write the whole cursor
				r.mu.Lock()
				update(r.cur)
				r.mu.Unlock()
			} else if err := r.emitAndCheckpoint(ctx, arts, update); err != nil {
				return err
			}
			win = nw
			if last {
				break
			}
			in.NextToken = out.NextToken
		}
	}
	return nil
}

// eventDoc keeps every field LookupEvents returns; CloudTrailEvent is the
// raw record exactly as CloudTrail returned it.
type eventDoc struct {
	EventID         string             `json:"EventId"`
	EventName       string             `json:"EventName"`
	EventSource     string             `json:"EventSource,omitempty"`
	EventTime       string             `json:"EventTime"`
	Username        string             `json:"Username,omitempty"`
	AccessKeyID     string             `json:"AccessKeyId,omitempty"`
	ReadOnly        string             `json:"ReadOnly,omitempty"`
	Resources       []cttypes.Resource `json:"Resources"`
	CloudTrailEvent string             `json:"CloudTrailEvent"`
}

func (r *run) eventsArtifact(region, name string, in *cloudtrail.LookupEventsInput, page int, evs []cttypes.Event, last bool, winStart string, already, readOnly int) collectors.Artifact {
	docs := make([]eventDoc, 0, len(evs))
	newest, oldest := time.Time{}, time.Time{}
	for _, e := range evs {
		t := aws.ToTime(e.EventTime).UTC()
		if t.After(newest) {
			newest = t
		}
		if oldest.IsZero() || t.Before(oldest) {
			oldest = t
		}
		res := e.Resources
		if res == nil {
			res = []cttypes.Resource{}
		}
		docs = append(docs, eventDoc{
			EventID: aws.ToString(e.EventId), EventName: aws.ToString(e.EventName), EventSource: aws.ToString(e.EventSource),
			EventTime: ts(t), Username: aws.ToString(e.Username), AccessKeyID: aws.ToString(e.AccessKeyId),
			ReadOnly: aws.ToString(e.ReadOnly), Resources: res, CloudTrailEvent: aws.ToString(e.CloudTrailEvent),
		})
	}
	wStart := oldest
	if last {
		wStart = parseTS(winStart)
	}
	wEnd := aws.ToTime(in.EndTime).UTC()
	lookup := name // the subject's last part: an event name or source:<event source>
	attr := "EventName=" + name
	key := "event_name"
	if src, ok := strings.CutPrefix(name, sourcePrefix); ok {
		attr, key, name = "EventSource="+src, "event_source", src
	}
	query := fmt.Sprintf("LookupAttributes=[%s] StartTime=%s EndTime=%s MaxResults=%d", attr, ts(aws.ToTime(in.StartTime)), ts(wEnd), lookupPageSize)
	body := map[string]any{
		"account": r.account, "region": region, key: name, "query": query, "page": page,
		"window_start": ts(wStart), "window_end": ts(wEnd), "events": docs,
		"already_collected_skipped": already,
	}
	if key == "event_source" && !allEventsSources[name] {
		body["read_only_skipped"] = readOnly
		body["filter"] = "write events only (ReadOnly=false), applied by the collector; events whose name is looked up by name are in that lookup's artifacts"
	}
	src := r.source("cloudtrail:LookupEvents", region, query)
	src.Pages, src.Items, src.Complete = 1, len(docs), last
	return collectors.Artifact{
		Type: TypeEvents, Subject: r.account + "/" + region + "/" + lookup, ContentType: "application/json",
		Body: mustJSON(body), ObservedAt: newest, WindowStart: wStart, WindowEnd: wEnd, Source: src,
	}
}

// windowArtifact records that a region's window was looked up completely
// for every event name, so a window without events is evidence too.
func (r *run) windowArtifact(region string, win window) collectors.Artifact {
	var names, sources []string
	for _, l := range r.lookups(region) {
		if src, ok := strings.CutPrefix(l, sourcePrefix); ok {
			sources = append(sources, src)
		} else {
			names = append(names, l)
		}
	}
	body := map[string]any{
		"account": r.account, "region": region, "window_start": win.Start, "window_end": win.End,
		"event_names": orEmpty(names), "event_sources": orEmpty(sources), "complete": true,
		"note": "every listed event name and event source was looked up over the whole window; events are in the aws.cloudtrail.events artifacts of subject " + r.account + "/" + region + "/<event name> or /source:<event source>",
	}
	if win.After != "" {
		body["reread_overlap"] = map[string]any{
			"from": win.Start, "to": win.After,
			"note": "this part was collected before and was read again for events CloudTrail delivered late; events already collected (by EventId) were skipped, late ones are in this window's events artifacts",
		}
	}
	src := r.source("cloudtrail:LookupEvents", region, "EventName in ["+strings.Join(names, ",")+"]; EventSource in ["+strings.Join(sources, ",")+"]")
	src.Complete = true
	return collectors.Artifact{
		Type: TypeEvents, Subject: r.account + "/" + region, ContentType: "application/json", Body: mustJSON(body),
		WindowStart: parseTS(win.Start), WindowEnd: parseTS(win.End), Source: src,
	}
}
