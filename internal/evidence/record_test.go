package evidence

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/tickmark-dev/tickmark/collectors"
)

func sample() *Record {
	obs := time.Date(2026, 11, 30, 10, 0, 0, 0, time.FixedZone("CET", 3600))
	return &Record{V: Version, Seq: 42, Agent: "prod-1", Collector: "okta-prod", CollectorType: "okta", RunID: "r1",
		Type: "okta.users", Subject: "acme.okta.com <users>", Controls: []string{"CC6.1", "CC6.2"},
		CollectedAt: time.Date(2026, 11, 30, 12, 0, 0, 123, time.UTC), ObservedAt: &obs,
		Source:      collectors.Source{System: "okta", Endpoint: "/api/v1/users", Pages: 3, Complete: true, Items: 250},
		ContentType: "application/json", Size: 1234, SHA256: strings.Repeat("ab", 32)}
}

func TestCanonicalEncoding(t *testing.T) {
	b, err := sample().Encode()
	if err != nil {
		t.Fatal(err)
	}
	want := `{"v":1,"seq":42,"agent":"prod-1","collector":"okta-prod","collector_type":"okta","run_id":"r1","type":"okta.users","subject":"acme.okta.com <users>","controls":["CC6.1","CC6.2"],"collected_at":"2026-11-30T12:00:00.000000123Z","observed_at":"2026-11-30T09:00:00Z","source":{"system":"okta","endpoint":"/api/v1/users","pages":3,"complete":true,"items":250},"content_type":"application/json","size":1234,"sha256":"` + strings.Repeat("ab", 32) + `"}`
	if string(b) != want {
		t.Fatalf("canonical bytes changed (this breaks every existing ledger):\n got %s\nwant %s", b, want)
	}
	r, err := DecodeCanonical(b)
	if err != nil {
		t.Fatal(err)
	}
	b2, _ := r.Encode()
	if !bytes.Equal(b, b2) {
		t.Fatal("decode/encode is not stable")
	}
}

func TestDecodeRefusesHiddenOrOddData(t *testing.T) {
	b, _ := sample().Encode()
	for name, in := range map[string]string{
		"unknown field":  strings.Replace(string(b), `"v":1,`, `"v":1,"note":"x",`, 1),
		"trailing data":  string(b) + `{}`,
		"bad sha256":     strings.Replace(string(b), strings.Repeat("ab", 32), "zz", 1),
		"future version": strings.Replace(string(b), `"v":1,`, `"v":9,`, 1),
		"non-canonical":  strings.Replace(string(b), `"seq":42,`, `"seq": 42,`, 1),
	} {
		if _, err := DecodeCanonical([]byte(in)); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestExtAndValidation(t *testing.T) {
	for ct, ext := range map[string]string{"application/json": "json", "text/csv; charset=utf-8": "csv", "": "bin", "application/x-ndjson": "ndjson"} {
		if got := Ext(ct); got != ext {
			t.Errorf("Ext(%q) = %q, want %q", ct, got, ext)
		}
	}
	for _, ok := range []string{"okta.users", "aws.cloudtrail.events", "custom.backup_test"} {
		if !ValidType(ok) {
			t.Errorf("%s rejected", ok)
		}
	}
	for _, bad := range []string{"users", "Okta.users", "a..b", "a.b/c", ""} {
		if ValidType(bad) {
			t.Errorf("%q accepted", bad)
		}
	}
	if ValidControl("../x") || !ValidControl("CC6.1") {
		t.Error("control validation")
	}
}

func FuzzDecodeRecord(f *testing.F) {
	b, _ := sample().Encode()
	f.Add(b)
	f.Add([]byte(`{"v":1}`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := DecodeCanonical(data)
		if err != nil {
			return
		}
		// Anything accepted re-encodes to exactly the same bytes.
		enc, err := r.Encode()
		if err != nil || !bytes.Equal(enc, data) {
			t.Fatalf("accepted record does not round-trip: %v", err)
		}
	})
}

func TestSplitJoinEqualsEncode(t *testing.T) {
	r := sample()
	for _, seq := range []uint64{0, 7, 42, 1 << 40} {
		r.Seq = seq
		want, _ := r.Encode()
		sp, err := r.EncodeSplit()
		if err != nil {
			t.Fatal(err)
		}
		if got := sp.Join(r.V, seq); !bytes.Equal(got, want) {
			t.Fatalf("seq %d:\n got %s\nwant %s", seq, got, want)
		}
	}
}
