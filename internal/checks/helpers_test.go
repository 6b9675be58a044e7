package checks_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	_ "github.com/tickmark-dev/tickmark/collectors/all"
	"github.com/tickmark-dev/tickmark/config"
	"github.com/tickmark-dev/tickmark/internal/checks"
	"github.com/tickmark-dev/tickmark/internal/evidence"
)

var now = time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)

// art is one artifact as a collector emits it.
type art struct {
	typ, subject, ctype string
	body                []byte
	collector, run      string
}

// memEvidence is a set of committed artifacts: records and bodies.
type memEvidence struct {
	recs   []*evidence.Record
	bodies map[uint64][]byte
}

func build(arts ...art) *memEvidence {
	m := &memEvidence{bodies: map[uint64][]byte{}}
	for i, a := range arts {
		sum := sha256.Sum256(a.body)
		ct := a.ctype
		if ct == "" {
			ct = "application/json"
		}
		coll, run := a.collector, a.run
		if coll == "" {
			coll = strings.SplitN(a.typ, ".", 2)[0]
		}
		if run == "" {
			run = "run-1"
		}
		r := &evidence.Record{V: 1, Seq: uint64(i), Agent: "test", Collector: coll, CollectorType: coll, RunID: run, Type: a.typ,
			Subject: a.subject, Controls: []string{"CC6.1"}, CollectedAt: now.Add(-time.Duration(len(arts)-i) * time.Minute),
			ContentType: ct, Size: int64(len(a.body)), SHA256: hex.EncodeToString(sum[:])}
		m.recs = append(m.recs, r)
		m.bodies[r.Seq] = a.body
	}
	return m
}

func (m *memEvidence) open(_ context.Context, r *evidence.Record) (io.ReadCloser, error) {
	b, ok := m.bodies[r.Seq]
	if !ok {
		return nil, fmt.Errorf("no body %d", r.Seq)
	}
	return io.NopCloser(bytes.NewReader(b)), nil
}

func (m *memEvidence) plan() checks.Plan {
	in := map[string][]*evidence.Record{}
	for _, r := range m.recs {
		in[r.Type] = append(in[r.Type], r)
	}
	return checks.Plan{Now: now, From: now.AddDate(0, 0, -30), To: now, Inputs: in}
}

func defaults(t testing.TB, o checks.Options) *checks.Set {
	t.Helper()
	set, err := checks.Load(config.Checks, "checks.yaml", o)
	if err != nil {
		t.Fatal(err)
	}
	return set
}

// evalOne evaluates one check over the artifacts.
func evalOne(t testing.TB, set *checks.Set, id string, arts ...art) *checks.Result {
	t.Helper()
	c, ok := set.Find(id)
	if !ok {
		t.Fatalf("no check %s", id)
	}
	m := build(arts...)
	res, err := checks.Evaluate(context.Background(), []*checks.Check{c}, set.Identities, m.plan(), m.open)
	if err != nil {
		t.Fatal(err)
	}
	return res[0]
}

func exceptionKeys(r *checks.Result) []string {
	var out []string
	for _, e := range r.Exceptions {
		out = append(out, e.Key)
	}
	return out
}

// golden reads a collector's golden output (the collector run against its
// fake), without the "// " header lines of the Okta goldens.
func golden(t testing.TB, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "collectors", path))
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, l := range strings.Split(string(b), "\n") {
		if !strings.HasPrefix(l, "// ") {
			out = append(out, l)
		}
	}
	return []byte(strings.Join(out, "\n"))
}

// mutate decodes a JSON body, applies fn and encodes it again.
func mutate(t testing.TB, body []byte, fn func(m map[string]any)) []byte {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(body, &m); err != nil {
		t.Fatal(err)
	}
	fn(m)
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func js(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

type obj = map[string]any

func list(m obj, k string) []any { return m[k].([]any) }

// --- builders in the collectors' output shapes ---------------------------

func oktaUser(id, login, status string, factors ...string) obj {
	fs := []any{}
	for i, f := range factors {
		fs = append(fs, obj{"id": fmt.Sprintf("f%s%d", id, i), "factorType": f, "provider": "OKTA", "status": "ACTIVE", "created": "2025-10-26T14:00:00Z"})
	}
	return obj{"id": id, "login": login, "status": status, "created": "2025-10-26T11:00:00Z", "activated": "2025-10-26T12:00:00Z",
		"statusChanged": "2025-10-26T12:00:00Z", "lastLogin": "2026-11-30T10:00:00Z", "passwordChanged": nil, "lastUpdated": "2025-10-27T12:00:00Z",
		"mfa_enrolled": len(factors) > 0, "factors": fs}
}

func oktaUsers(users ...obj) art {
	return art{typ: "okta.users", subject: "acme.okta.com users page 0001", body: js(obj{"org": "https://acme.okta.com", "endpoint": "GET /api/v1/users",
		"as_of": now, "page": 1, "count": len(users), "last_page": true, "users": users})}
}

func departure(id, login, at string) obj {
	return obj{"id": id, "login": login, "status": "DEPROVISIONED", "statusChanged": at, "event_uuid": "evl" + id,
		"event_type": "user.lifecycle.deactivate", "at": at, "actor": obj{"id": "00uadmin", "type": "User", "alternateId": "it@example.com"}}
}

func oktaDepartures(users ...obj) art {
	return art{typ: "okta.deprovisioned_users", subject: "acme.okta.com deprovisioned and suspended users", body: js(obj{"org": "https://acme.okta.com",
		"count": len(users), "users": users, "window": obj{"start": now.AddDate(0, 0, -90), "end": now}})}
}

func ghMembers(members ...obj) art {
	return art{typ: "github.org_members", subject: "acme", body: js(obj{"organization": "acme", "as_of": now, "members": members,
		"settings": obj{"login": "acme"}, "outside_collaborators": []any{}})}
}

func ghMember(login string, id int, twoFADisabled bool) obj {
	return obj{"login": login, "id": id, "role": "member", "two_factor_disabled": twoFADisabled}
}

func pr(repo string, n int, author, mergedBy, mergedAt string, approvedBy []string, keys ...string) obj {
	if approvedBy == nil {
		approvedBy = []string{}
	}
	if keys == nil {
		keys = []string{}
	}
	indep := false
	for _, a := range approvedBy {
		if a != author {
			indep = true
		}
	}
	return obj{"number": n, "title": fmt.Sprintf("Change %d", n), "html_url": fmt.Sprintf("https://github.com/%s/pull/%d", repo, n), "author": author,
		"head_branch": "feature", "base_branch": "main", "created_at": "2026-11-01T10:00:00Z", "merged_at": mergedAt, "merged_by": mergedBy,
		"merge_commit_sha": "abc", "head_sha": "def", "reviews": []any{}, "approved_by": approvedBy, "independent_approval": indep,
		"merged_by_author": author == mergedBy,
		"checks_at_merge": obj{"commit": "def", "state": "success", "required": []string{"ci/build"}, "required_known": true, "required_passed": true,
			"required_missing": []string{}, "required_failed": []string{}, "results": []any{}},
		"issue_keys": keys}
}

func ghPRs(repo string, prs ...obj) art {
	return art{typ: "github.pull_requests", subject: repo, body: js(obj{"repository": repo, "base_branch": "main", "pull_requests": prs, "count": len(prs)})}
}

func ticket(key, typ, status, created, resolved string, transitions ...obj) obj {
	t := obj{"key": key, "id": "1" + key[strings.Index(key, "-")+1:], "project": key[:strings.Index(key, "-")], "summary": key + " summary", "type": typ,
		"status": status, "status_category": "indeterminate", "priority": "High", "created": created, "updated": created,
		"reporter": person("sam"), "assignee": person("li"), "approvers": []any{}, "labels": []any{}, "links": []any{}, "remote_links": []any{},
		"transitions": transitions, "changelog_entries": len(transitions), "raw": obj{}}
	if transitions == nil {
		t["transitions"] = []any{}
	}
	if resolved != "" {
		t["resolved"] = resolved
		t["status_category"] = "done"
	}
	return t
}

func person(name string) obj {
	return obj{"account_id": "acct-" + name, "display_name": name, "email": name + "@example.com"}
}

func transition(from, to, who, at string) obj {
	return obj{"field": "status", "from": from, "to": to, "author": person(who), "at": at, "history_id": at}
}

func jiraPage(typ string, tickets ...obj) art {
	return art{typ: typ, subject: "query page 1", body: js(obj{"collector": "jira", "query": obj{"name": "q", "evidence_type": typ},
		"deployment": "cloud", "page": 1, "tickets": tickets})}
}

const credHeader = "user,arn,user_creation_time,password_enabled,password_last_used,password_last_changed,password_next_rotation,mfa_active,access_key_1_active,access_key_1_last_rotated,access_key_1_last_used_date,access_key_1_last_used_region,access_key_1_last_used_service,access_key_2_active,access_key_2_last_rotated,access_key_2_last_used_date,access_key_2_last_used_region,access_key_2_last_used_service,cert_1_active,cert_1_last_rotated,cert_2_active,cert_2_last_rotated\n"

func rootRow(mfa, key1 string) string {
	return fmt.Sprintf("<root_account>,arn:aws:iam::123456789012:root,2025-01-01T00:00:00+00:00,not_supported,2026-11-01T00:00:00+00:00,not_supported,not_supported,%s,%s,N/A,N/A,N/A,N/A,false,N/A,N/A,N/A,N/A,false,N/A,false,N/A\n", mfa, key1)
}

// iamRow: a user with a console password (pwUsed: last use) and access key 1 (rotated, used).
func iamRow(user, password, pwUsed, mfa, key1, rotated, used string) string {
	return fmt.Sprintf("%s,arn:aws:iam::123456789012:user/%s,2025-01-01T00:00:00+00:00,%s,%s,2025-06-01T00:00:00+00:00,N/A,%s,%s,%s,%s,us-east-1,s3,false,N/A,N/A,N/A,N/A,false,N/A,false,N/A\n",
		user, user, password, pwUsed, mfa, key1, rotated, used)
}

func credReport(rows ...string) []art {
	return []art{
		{typ: "aws.iam.credential_report", subject: "123456789012/credential-report.csv", ctype: "text/csv", body: []byte(credHeader + strings.Join(rows, ""))},
		{typ: "aws.iam.credential_report", subject: "123456789012/credential-report-summary", body: []byte(`{"users":1}`)},
	}
}

func trailsArt(region string, findings []string, trails ...obj) art {
	if findings == nil {
		findings = []string{}
	}
	if trails == nil {
		trails = []obj{}
	}
	return art{typ: "aws.cloudtrail.trails", subject: "123456789012/" + region, body: js(obj{"account": "123456789012", "region": region,
		"trails": trails, "shadow_trails_from_elsewhere": []any{}, "findings": findings})}
}

func trail(name string, logging, validation bool) obj {
	return obj{"name": name, "trail_arn": "arn:aws:cloudtrail:us-east-1:123456789012:trail/" + name, "home_region": "us-east-1",
		"is_multi_region_trail": true, "is_organization_trail": false, "include_global_service_events": true, "log_file_validation_enabled": validation,
		"has_custom_event_selectors": false, "has_insight_selectors": false, "status": obj{"is_logging": logging}, "event_selectors": []any{}, "findings": []any{}}
}

func digestsArt(digests ...obj) art {
	return art{typ: "aws.cloudtrail.digests", subject: "123456789012/main/us-east-1/2026-11-30", body: js(obj{"account": "123456789012",
		"trail_arn": "arn:aws:cloudtrail:us-east-1:123456789012:trail/main", "region": "us-east-1", "day": "2026-11-30", "digests": digests, "public_keys": []any{}})}
}

func digest(key, chain string, valid bool, failures ...string) obj {
	if failures == nil {
		failures = []string{}
	}
	return obj{"s3_key": key, "digest_end_time": "2026-11-30T01:00:00Z", "signature": "ab", "signature_algorithm": "SHA256withRSA",
		"sha256_uncompressed": "00", "log_files": 3, "signature_valid": valid, "chain": chain, "valid": valid, "failures": failures}
}
