package okta

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/tickmark-dev/tickmark/collectors"
)

// run is one collection run.
type run struct {
	*api
	cfg  *Config
	req  collectors.Request
	emit collectors.Emitter
	cur  cursor
	// emitted counts artifacts per evidence type, for the run's log
	emitted map[string]int
}

// retention is how far back Okta keeps the System Log.
const retention = 90 * 24 * time.Hour

// since is where a first run starts: the engine's backfill start, or the
// System Log retention when there is none.
func (r *run) since() time.Time {
	if r.req.Since.IsZero() {
		return r.req.Now.Add(-retention)
	}
	return r.req.Since
}

// logSince clamps a System Log query's start to the retention.
func (r *run) logSince(t time.Time) time.Time {
	if oldest := r.req.Now.Add(-retention); t.Before(oldest) {
		return oldest
	}
	return t
}

// Okta's timestamp format in queries.
const qtime = "2006-01-02T15:04:05.000Z"

// allStatuses lists every user status: listUsers without a filter omits
// DEPROVISIONED users, and the population must include them.
var allStatuses = []string{"STAGED", "PROVISIONED", "ACTIVE", "RECOVERY", "PASSWORD_EXPIRED", "LOCKED_OUT", "SUSPENDED", "DEPROVISIONED"}

func statusFilter(statuses ...string) string {
	parts := make([]string, len(statuses))
	for i, s := range statuses {
		parts[i] = `status eq "` + s + `"`
	}
	return strings.Join(parts, " or ")
}

func (r *run) source(endpoint, query string, items, pages int, complete bool) collectors.Source {
	return collectors.Source{System: "okta", Endpoint: endpoint, Query: query, Account: r.org,
		CollectorVersion: Version, Items: items, Pages: pages, Complete: complete}
}

func malformed(org, endpoint string, err error) error {
	return collectors.Permanent(fmt.Errorf("okta: org %s: %s: malformed JSON in the response: %v", org, endpoint, err))
}

func (r *run) emitJSON(ctx context.Context, a collectors.Artifact, body any) error {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(body); err != nil {
		return collectors.Permanent(fmt.Errorf("okta: encoding %s: %w", a.Type, err))
	}
	a.ContentType, a.Body = "application/json", buf.Bytes()
	r.emitted[a.Type]++
	return r.emit.Emit(ctx, a)
}

// emitStream emits an artifact whose body produce writes while the engine
// reads it (an io.Pipe), so a large body is never held in memory.
func (r *run) emitStream(ctx context.Context, a collectors.Artifact, produce func(w io.Writer) error) error {
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		bw := bufio.NewWriterSize(pw, 32<<10)
		err := produce(bw)
		if err == nil {
			err = bw.Flush()
		}
		pw.CloseWithError(err)
		done <- err
	}()
	a.ContentType, a.BodyReader = "application/json", pr
	r.emitted[a.Type]++
	emitErr := r.emit.Emit(ctx, a)
	pr.CloseWithError(io.ErrClosedPipe) // stop the producer if the engine stopped reading
	if perr := <-done; perr != nil && perr != io.ErrClosedPipe {
		return perr
	}
	if emitErr != nil && ctx.Err() != nil {
		return ctx.Err()
	}
	return emitErr
}

// streamObject writes head's fields, then key: an array of the items that
// produce adds (one per line), then the fields tail returns for the item
// count: a large list goes to the writer as it is read, never held.
func streamObject(w io.Writer, head map[string]any, key string, produce func(add func(any) error) error, tail func(n int) string) error {
	hb, err := json.Marshal(head)
	if err != nil {
		return err
	}
	if _, err := fmt.Fprintf(w, "%s,%q:[", hb[:len(hb)-1], key); err != nil {
		return err
	}
	n := 0
	err = produce(func(v any) error {
		b, err := json.Marshal(v)
		if err != nil {
			return err
		}
		if n > 0 {
			b = append([]byte{','}, b...)
		}
		n++
		_, err = w.Write(append(b, '\n'))
		return err
	})
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(w, "],%s}\n", tail(n))
	return err
}

// --- okta.users -----------------------------------------------------------

type factorRecord struct {
	ID         string     `json:"id"`
	Type       string     `json:"factorType"`
	Provider   string     `json:"provider"`
	VendorName string     `json:"vendorName,omitempty"`
	Status     string     `json:"status"`
	Created    *time.Time `json:"created,omitempty"`
	factorClass
}

// userDates are the lifecycle timestamps of Okta's User object.
type userDates struct {
	Created         *time.Time `json:"created"`
	Activated       *time.Time `json:"activated"`
	StatusChanged   *time.Time `json:"statusChanged"`
	LastLogin       *time.Time `json:"lastLogin"`
	PasswordChanged *time.Time `json:"passwordChanged"`
	LastUpdated     *time.Time `json:"lastUpdated"`
}

type userRecord struct {
	ID     string `json:"id"`
	Login  string `json:"login"`
	Status string `json:"status"`
	userDates
	// MFAEnrolled: an ACTIVE possession or inherence factor that is not
	// restricted (SMS, voice, email); PhishingResistant: an ACTIVE
	// phishing-resistant one. Both null for users whose factors were not read.
	MFAEnrolled       *bool          `json:"mfa_enrolled"`
	PhishingResistant *bool          `json:"phishing_resistant"`
	Factors           []factorRecord `json:"factors"`
	FactorsNote       string         `json:"factors_note,omitempty"`
}

// oktaUser is the part of Okta's User object the evidence records.
type oktaUser struct {
	ID     string `json:"id"`
	Status string `json:"status"`
	userDates
	Profile struct {
		Login string `json:"login"`
	} `json:"profile"`
}

func userRec(u *oktaUser) userRecord {
	return userRecord{ID: u.ID, Login: u.Profile.Login, Status: u.Status, userDates: u.userDates, Factors: []factorRecord{}}
}

// users emits one artifact per page of users, each user with its enrolled
// factors. Factor calls run at most FactorConcurrency at a time and spend
// the users/{id} rate-limit budget, which the transport never lets reach 0.
func (r *run) users(ctx context.Context) error {
	q := url.Values{"limit": {strconv.Itoa(r.cfg.PageSize)}, "filter": {statusFilter(allStatuses...)}}
	query := q.Encode()
	page, total := 0, 0
	return pages(ctx, r.api, "GET /api/v1/users", "/api/v1/users?"+query, func(us []oktaUser, pq string, last bool) error {
		page++
		recs := make([]userRecord, len(us))
		g, gctx := errgroup.WithContext(ctx)
		g.SetLimit(r.cfg.FactorConcurrency)
		for i := range us {
			recs[i] = userRec(&us[i])
			if us[i].Status == "DEPROVISIONED" {
				recs[i].FactorsNote = "not fetched: Okta resets the factors of deprovisioned users"
				continue
			}
			g.Go(func() error {
				var fs []factorRecord
				if _, err := r.get(gctx, "GET /api/v1/users/{id}/factors", "/api/v1/users/"+url.PathEscape(us[i].ID)+"/factors", &fs); err != nil {
					return err
				}
				mfa, pr := false, false
				for _, f := range fs {
					f.factorClass = classify(f.Type, f.Provider)
					recs[i].Factors = append(recs[i].Factors, f)
					mfa = mfa || (f.Status == "ACTIVE" && f.CountsAsMFA)
					pr = pr || (f.Status == "ACTIVE" && f.PhishingResistant)
				}
				recs[i].MFAEnrolled, recs[i].PhishingResistant = &mfa, &pr
				return nil
			})
		}
		if err := g.Wait(); err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return err
		}
		withoutMFA, withoutPR := 0, 0
		for _, u := range recs {
			if u.MFAEnrolled != nil && !*u.MFAEnrolled {
				withoutMFA++
			}
			if u.PhishingResistant != nil && !*u.PhishingResistant {
				withoutPR++
			}
		}
		body := map[string]any{
			"org": r.org, "endpoint": "GET /api/v1/users", "request": pq, "factors_endpoint": "GET /api/v1/users/{id}/factors",
			"as_of": r.req.Now, "page": page, "users_before_page": total, "count": len(recs), "without_active_mfa": withoutMFA, "without_phishing_resistant": withoutPR,
			"mfa_rule":  "mfa_enrolled: an ACTIVE possession or inherence factor other than SMS, voice or email codes; phishing_resistant: an ACTIVE WebAuthn/FIDO2, U2F, Okta Verify FastPass (signed_nonce) or smart card factor",
			"last_page": last, "users": recs,
		}
		total += len(recs)
		if last {
			body["total_users"] = total
		}
		return r.emitJSON(ctx, collectors.Artifact{
			Type: TypeUsers, Subject: fmt.Sprintf("%s users page %04d", hostOf(r.org), page), ObservedAt: r.req.Now,
			Source: r.source("GET /api/v1/users", query, len(recs), 1, last),
		}, body)
	})
}

// --- okta.groups ----------------------------------------------------------

type groupHead struct {
	ID      string `json:"id"`
	Type    string `json:"type"`
	Profile struct {
		Name string `json:"name"`
	} `json:"profile"`
}

type memberRecord struct {
	ID     string `json:"id"`
	Login  string `json:"login"`
	Status string `json:"status"`
}

type appRecord struct {
	ID     string `json:"id"`
	Name   string `json:"name"`
	Label  string `json:"label"`
	Status string `json:"status"`
}

// eachGroup pages through the groups, raw.
func (r *run) eachGroup(ctx context.Context, fn func(raw json.RawMessage, g groupHead) error) error {
	return pages(ctx, r.api, "GET /api/v1/groups", "/api/v1/groups?limit=200", func(gs []json.RawMessage, _ string, _ bool) error {
		for _, raw := range gs {
			var g groupHead
			if err := json.Unmarshal(raw, &g); err != nil {
				return malformed(r.org, "GET /api/v1/groups", err)
			}
			if err := fn(raw, g); err != nil {
				return err
			}
		}
		return nil
	})
}

// groups emits one artifact per group: the group as Okta returns it, its
// application assignments and its members, streamed page by page.
func (r *run) groups(ctx context.Context) error {
	return r.eachGroup(ctx, func(raw json.RawMessage, g groupHead) error {
		var apps []appRecord
		appsEP := "GET /api/v1/groups/{id}/apps"
		err := pages(ctx, r.api, appsEP, "/api/v1/groups/"+url.PathEscape(g.ID)+"/apps?limit=200", func(as []appRecord, _ string, _ bool) error {
			apps = append(apps, as...)
			return nil
		})
		if err != nil {
			return err
		}
		a := collectors.Artifact{Type: TypeGroups, Subject: fmt.Sprintf("%s group %s (%s)", hostOf(r.org), g.Profile.Name, g.ID), ObservedAt: r.req.Now,
			Source: r.source("GET /api/v1/groups/{id}/users", "group="+g.ID, 0, 0, true)}
		return r.emitStream(ctx, a, func(w io.Writer) error {
			head := map[string]any{"org": r.org, "endpoints": []string{"GET /api/v1/groups", appsEP, "GET /api/v1/groups/{id}/users"},
				"as_of": r.req.Now, "group": raw, "app_count": len(apps), "apps": append([]appRecord{}, apps...)}
			return streamObject(w, head, "members", func(add func(any) error) error {
				return pages(ctx, r.api, "GET /api/v1/groups/{id}/users", "/api/v1/groups/"+url.PathEscape(g.ID)+"/users?limit=1000", func(us []oktaUser, _ string, _ bool) error {
					for i := range us {
						if err := add(memberRecord{ID: us[i].ID, Login: us[i].Profile.Login, Status: us[i].Status}); err != nil {
							return err
						}
					}
					return nil
				})
			}, func(n int) string { return fmt.Sprintf(`"member_count":%d,"complete":true`, n) })
		})
	})
}

// --- okta.policies --------------------------------------------------------

// PolicyTypes are the policy types collected, one artifact each: every
// type listPolicies accepts. Types of the other engine (Identity Engine
// only on a Classic org) are recorded as not applicable.
var PolicyTypes = []string{"OKTA_SIGN_ON", "PASSWORD", "MFA_ENROLL", "IDP_DISCOVERY", "ACCESS_POLICY", "PROFILE_ENROLLMENT",
	"POST_AUTH_SESSION", "ENTITY_RISK", "DEVICE_SIGNAL_COLLECTION"}

type policyRecord struct {
	Policy json.RawMessage   `json:"policy"`
	Rules  []json.RawMessage `json:"rules"`
}

// policies emits one artifact per policy type with every policy of that
// type, as Okta returns it, and all its rules (paginated).
func (r *run) policies(ctx context.Context) error {
	for _, typ := range PolicyTypes {
		var recs []policyRecord
		query := "type=" + typ
		err := pages(ctx, r.api, "GET /api/v1/policies", "/api/v1/policies?"+query, func(ps []json.RawMessage, _ string, _ bool) error {
			for _, raw := range ps {
				var p struct {
					ID string `json:"id"`
				}
				if err := json.Unmarshal(raw, &p); err != nil {
					return malformed(r.org, "GET /api/v1/policies", err)
				}
				rec := policyRecord{Policy: raw, Rules: []json.RawMessage{}}
				err := pages(ctx, r.api, "GET /api/v1/policies/{id}/rules", "/api/v1/policies/"+url.PathEscape(p.ID)+"/rules", func(rs []json.RawMessage, _ string, _ bool) error {
					rec.Rules = append(rec.Rules, rs...)
					return nil
				})
				if err != nil {
					return err
				}
				recs = append(recs, rec)
			}
			return nil
		})
		body := map[string]any{"org": r.org, "endpoint": "GET /api/v1/policies", "query": query, "rules_endpoint": "GET /api/v1/policies/{id}/rules",
			"as_of": r.req.Now, "type": typ}
		switch {
		case err != nil && isNotSupported(err):
			body["applicable"] = false
			body["reason"] = "the org does not support this policy type (Classic Engine vs Identity Engine): " + err.Error()
			body["count"], body["policies"] = nil, nil
		case err != nil:
			return err
		default:
			if recs == nil {
				recs = []policyRecord{}
			}
			rules := 0
			for _, p := range recs {
				rules += len(p.Rules)
			}
			body["applicable"], body["count"], body["rule_count"], body["policies"] = true, len(recs), rules, recs
		}
		err = r.emitJSON(ctx, collectors.Artifact{Type: TypePolicies, Subject: fmt.Sprintf("%s %s policies", hostOf(r.org), typ), ObservedAt: r.req.Now,
			Source: r.source("GET /api/v1/policies", query, len(recs), 0, true)}, body)
		if err != nil {
			return err
		}
	}
	return nil
}

// --- okta.authenticators --------------------------------------------------

// authenticators emits the org's authenticators (Identity Engine) with
// their class; on a Classic org, where factors are configured instead,
// the artifact records the evidence as not applicable. Enrollment rules
// are in the MFA_ENROLL policies of okta.policies.
func (r *run) authenticators(ctx context.Context) error {
	ep := "GET /api/v1/authenticators"
	var raw []json.RawMessage
	_, err := r.get(ctx, ep, "/api/v1/authenticators", &raw)
	body := map[string]any{"org": r.org, "endpoint": ep, "as_of": r.req.Now, "enrollment_policies": "okta.policies type MFA_ENROLL"}
	switch {
	case err != nil && isNotSupported(err):
		body["applicable"], body["reason"], body["authenticators"] = false, "the org has no authenticators API (Classic Engine: MFA factors are listed per user in okta.users): "+err.Error(), nil
	case err != nil:
		return err
	default:
		type authn struct {
			Authenticator json.RawMessage `json:"authenticator"`
			Key           string          `json:"key"`
			Status        string          `json:"status"`
			factorClass
		}
		out := make([]authn, 0, len(raw))
		for _, a := range raw {
			var h struct{ Key, Status string }
			if err := json.Unmarshal(a, &h); err != nil {
				return malformed(r.org, ep, err)
			}
			out = append(out, authn{Authenticator: a, Key: h.Key, Status: h.Status, factorClass: authenticatorClass(h.Key)})
		}
		body["applicable"], body["count"], body["authenticators"] = true, len(out), out
	}
	return r.emitJSON(ctx, collectors.Artifact{Type: TypeAuthenticators, Subject: hostOf(r.org) + " authenticators", ObservedAt: r.req.Now,
		Source: r.source(ep, "", len(raw), 1, true)}, body)
}

// --- okta.deprovisioned_users ---------------------------------------------

type logActor struct {
	ID          string `json:"id"`
	Type        string `json:"type"`
	AlternateID string `json:"alternateId"`
	DisplayName string `json:"displayName"`
}

type logEventHead struct {
	UUID      string     `json:"uuid"`
	Published time.Time  `json:"published"`
	EventType string     `json:"eventType"`
	Actor     logActor   `json:"actor"`
	Target    []logActor `json:"target"`
}

type departure struct {
	UserID        string     `json:"id"`
	Login         string     `json:"login"`
	Status        string     `json:"status"` // current status ("" if no longer DEPROVISIONED/SUSPENDED)
	StatusChanged *time.Time `json:"statusChanged,omitempty"`
	EventUUID     string     `json:"event_uuid,omitempty"`
	EventType     string     `json:"event_type,omitempty"`
	At            time.Time  `json:"at"`
	Actor         *logActor  `json:"actor"`
	Late          bool       `json:"late"` // before the window's start: visible only after the run that covered its time
	Note          string     `json:"note,omitempty"`
}

var departureEvents = map[string]string{"user.lifecycle.deactivate": "DEPROVISIONED", "user.lifecycle.suspend": "SUSPENDED"}

// deprovWindow is this run's departures window: [start, end) is new
// ground, [reread, start) is read again for departures Okta made visible
// late, and end stays ConsistencyLag behind the run's clock.
func (r *run) deprovWindow() (reread, start, end time.Time) {
	start = r.since()
	reread = start
	if r.cur.Deprov != nil {
		if t, err := time.Parse(time.RFC3339Nano, r.cur.Deprov.Until); err == nil {
			start = t
			reread = t.Add(-r.cfg.LateDataOverlap.D())
		}
	}
	end = r.req.Now.Add(-r.cfg.ConsistencyLag.D())
	if end.Before(start) {
		end = start
	}
	return r.logSince(reread).UTC(), start.UTC(), end.UTC()
}

func departureKey(userID, event string, at time.Time) string {
	if event == "" {
		event = "statusChanged=" + at.UTC().Format(time.RFC3339Nano)
	}
	return userID + "|" + event
}

// deprovisioned emits the users who left ACTIVE: the users now
// DEPROVISIONED or SUSPENDED whose status changed in [reread, end), joined
// with the System Log event that did it (time and actor); events for users
// whose status has changed again since are kept too. Departures reported
// by an earlier run are left out (by user and event), so each departure
// appears once however late Okta made it visible. A departure whose event
// is not visible yet is held back while a later run will read its time
// again, so it is not reported without its actor.
func (r *run) deprovisioned(ctx context.Context) error {
	reread, start, end := r.deprovWindow()
	if !reread.Before(end) {
		return nil
	}
	seen := map[string]string{}
	if r.cur.Deprov != nil {
		for k, v := range r.cur.Deprov.Seen {
			seen[k] = v
		}
	}
	nextReread := end.Add(-r.cfg.LateDataOverlap.D())
	logQ := url.Values{"since": {reread.Format(qtime)}, "until": {end.Format(qtime)}, "limit": {"1000"}, "sortOrder": {"ASCENDING"},
		"filter": {`eventType eq "user.lifecycle.deactivate" or eventType eq "user.lifecycle.suspend"`}}
	events := map[string][]logEventHead{}
	err := pages(ctx, r.api, "GET /api/v1/logs", "/api/v1/logs?"+logQ.Encode(), func(es []logEventHead, _ string, _ bool) error {
		for _, e := range es {
			for _, t := range e.Target {
				if t.Type == "User" {
					events[t.ID] = append(events[t.ID], e)
				}
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	search := fmt.Sprintf(`(%s) and statusChanged ge "%s" and statusChanged lt "%s"`, statusFilter("DEPROVISIONED", "SUSPENDED"), reread.Format(qtime), end.Format(qtime))
	userQ := url.Values{"search": {search}, "limit": {"200"}}
	var found []departure
	err = pages(ctx, r.api, "GET /api/v1/users", "/api/v1/users?"+userQ.Encode(), func(us []oktaUser, _ string, _ bool) error {
		for i := range us {
			u := &us[i]
			d := departure{UserID: u.ID, Login: u.Profile.Login, Status: u.Status, StatusChanged: u.StatusChanged}
			if u.StatusChanged != nil {
				d.At = *u.StatusChanged
			}
			// the latest event of the matching kind
			evs := events[u.ID]
			for k := len(evs) - 1; k >= 0; k-- {
				if departureEvents[evs[k].EventType] == u.Status {
					e := evs[k]
					d.EventUUID, d.EventType, d.At, d.Actor = e.UUID, e.EventType, e.Published, &e.Actor
					events[u.ID] = slices.Delete(evs, k, k+1)
					break
				}
			}
			found = append(found, d)
		}
		return nil
	})
	if err != nil {
		return err
	}
	for id, evs := range events {
		for _, e := range evs {
			login := ""
			for _, t := range e.Target {
				if t.ID == id {
					login = t.AlternateID
				}
			}
			found = append(found, departure{UserID: id, Login: login, EventUUID: e.UUID, EventType: e.EventType, At: e.Published, Actor: &e.Actor,
				Note: "the user's status has changed again since this event"})
		}
	}
	out, held, dup := []departure{}, 0, 0
	for _, d := range found {
		key := departureKey(d.UserID, d.EventUUID, d.At)
		if _, ok := seen[key]; ok {
			dup++
			continue
		}
		// the same departure seen before its event was visible
		if d.EventUUID != "" && d.StatusChanged != nil {
			if _, ok := seen[departureKey(d.UserID, "", *d.StatusChanged)]; ok {
				dup++
				continue
			}
		}
		if d.Actor == nil {
			if !d.At.Before(nextReread) {
				held++ // the next run reads this time again; its event may be visible then
				continue
			}
			d.Note = "no matching System Log event visible in the window or its re-read (log retention is 90 days)"
		}
		d.Late = d.At.Before(start)
		seen[key] = d.At.UTC().Format(time.RFC3339Nano)
		if d.EventUUID != "" && d.StatusChanged != nil {
			seen[departureKey(d.UserID, "", *d.StatusChanged)] = d.At.UTC().Format(time.RFC3339Nano)
		}
		out = append(out, d)
	}
	slices.SortFunc(out, func(a, b departure) int {
		if c := a.At.Compare(b.At); c != 0 {
			return c
		}
		return strings.Compare(a.UserID+a.EventUUID, b.UserID+b.EventUUID)
	})
	// keep only what the next run reads again
	for k, v := range seen {
		if t, err := time.Parse(time.RFC3339Nano, v); err != nil || t.Before(nextReread) {
			delete(seen, k)
		}
	}
	body := map[string]any{"org": r.org,
		"window":  map[string]time.Time{"start": start, "end": end},
		"reread":  map[string]any{"start": reread, "end": start, "why": "departures Okta makes visible late (eventually consistent search and System Log) are read again and reported once, marked late"},
		"lag":     r.cfg.ConsistencyLag.String(),
		"queries": []map[string]string{{"endpoint": "GET /api/v1/users", "query": userQ.Encode()}, {"endpoint": "GET /api/v1/logs", "query": logQ.Encode()}},
		"count":   len(out), "already_reported": dup, "held_for_event": held, "users": out}
	err = r.emitJSON(ctx, collectors.Artifact{Type: TypeDeprovisioned, Subject: hostOf(r.org) + " deprovisioned and suspended users",
		WindowStart: start, WindowEnd: end, Source: r.source("GET /api/v1/users", userQ.Encode(), len(out), 0, true)}, body)
	if err != nil {
		return err
	}
	r.cur.Deprov = &deprovState{Until: end.Format(time.RFC3339Nano), Seen: seen}
	return nil
}

// --- okta.system_log ------------------------------------------------------

// logStream returns the stream this run continues, or a new one from the
// backfill point when there is none or its filter or page size differ from
// the configuration; reason says why a new stream started.
func (r *run) logStream() (s *logStream, reason string) {
	old := r.cur.Log
	switch {
	case old == nil:
		reason = "first run"
	case old.Filter != r.cfg.SystemLogFilter:
		reason = "system_log_filter changed; the previous stream's filter was: " + old.Filter
	case old.PageSize != r.cfg.SystemLogPageSize:
		reason = fmt.Sprintf("system_log_page_size changed from %d", old.PageSize)
	case old.Next == "":
		reason = "the previous stream has no next link"
	default:
		return old, ""
	}
	since := r.logSince(r.since()).UTC()
	q := url.Values{"since": {since.Format(qtime)}, "filter": {r.cfg.SystemLogFilter},
		"limit": {strconv.Itoa(r.cfg.SystemLogPageSize)}, "sortOrder": {"ASCENDING"}}
	return &logStream{Filter: r.cfg.SystemLogFilter, PageSize: r.cfg.SystemLogPageSize, Started: since.Format(time.RFC3339Nano),
		Next: "/api/v1/logs?" + q.Encode(), Complete: since.Format(time.RFC3339Nano)}, reason
}

// systemLog polls the System Log from the stream's next link, one artifact
// per page, checkpointing the next link after each. Polling pages follow
// Okta's persistence order, so an event that becomes visible late comes in
// a later page and nothing is skipped. A page shorter than the page size
// means the stream has caught up: every matching event published before
// now − consistency_lag is then in the stream, and that artifact says so
// (complete, window end); an empty caught-up poll is recorded too.
func (r *run) systemLog(ctx context.Context) error {
	st, reason := r.logStream()
	r.cur.Log = st
	ep := "GET /api/v1/logs"
	completeAt := r.req.Now.Add(-r.cfg.ConsistencyLag.D()).UTC()
	for first := true; ; first = false {
		if err := ctx.Err(); err != nil {
			return err
		}
		pq := st.Next
		var page []json.RawMessage
		h, err := r.get(ctx, ep, pq, &page)
		if err != nil {
			return err
		}
		next, err := r.next(ep, h)
		if err != nil {
			return err
		}
		caughtUp := len(page) < st.PageSize
		prev, _ := time.Parse(time.RFC3339Nano, st.Complete)
		var firstE, lastE logEventHead
		if len(page) > 0 {
			if err := json.Unmarshal(page[0], &firstE); err != nil {
				return malformed(r.org, ep, err)
			}
			if err := json.Unmarshal(page[len(page)-1], &lastE); err != nil {
				return malformed(r.org, ep, err)
			}
		}
		if len(page) == 0 && (!caughtUp || !completeAt.After(prev)) {
			// nothing new to state
			if next != "" {
				st.Next = next
			}
			return r.emit.Checkpoint(ctx, r.cur.String())
		}
		ws, we := prev, prev
		if len(page) > 0 {
			ws, we = firstE.Published.UTC(), lastE.Published.UTC()
		}
		var complete any
		if caughtUp && completeAt.After(prev) {
			complete = completeAt
			st.Complete = completeAt.Format(time.RFC3339Nano)
			if len(page) == 0 || completeAt.After(we) {
				we = completeAt
			}
			if len(page) == 0 {
				ws = prev
			}
		}
		stream := map[string]any{"filter": st.Filter, "page_size": st.PageSize, "started": st.Started}
		if first && reason != "" {
			stream["new_stream"], stream["reason"] = true, reason
		}
		body := map[string]any{"org": r.org, "endpoint": ep, "request": pq, "filter": st.Filter, "stream": stream,
			"window":         map[string]time.Time{"start": ws, "end": we},
			"complete_up_to": complete,
			"completeness":   "complete_up_to, when set, means every event matching the filter published before it is in this stream (this artifact or an earlier one); it trails the run's clock by the consistency lag " + r.cfg.ConsistencyLag.String(),
			"count":          len(page), "events": page}
		subject := fmt.Sprintf("%s System Log %s..%s", hostOf(r.org), ws.Format(time.RFC3339), we.Format(time.RFC3339))
		err = r.emitJSON(ctx, collectors.Artifact{Type: TypeSystemLog, Subject: subject, WindowStart: ws, WindowEnd: we,
			Source: r.source(ep, pq[strings.Index(pq, "?")+1:], len(page), 1, complete != nil)}, body)
		if err != nil {
			return err
		}
		if next == "" {
			// Polling always links onward; without a link, resume from the
			// last event's time (Okta's since is inclusive, so this may
			// repeat events published in that same millisecond).
			t := lastE.Published
			if len(page) == 0 {
				t = prev
			}
			q := url.Values{"since": {t.UTC().Format(qtime)}, "filter": {st.Filter}, "limit": {strconv.Itoa(st.PageSize)}, "sortOrder": {"ASCENDING"}}
			next = "/api/v1/logs?" + q.Encode()
		}
		st.Next = next
		if err := r.emit.Checkpoint(ctx, r.cur.String()); err != nil {
			return err
		}
		if caughtUp || !lastE.Published.Before(r.req.Now) {
			return nil
		}
	}
}
