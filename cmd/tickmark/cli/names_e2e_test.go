package cli_test

import (
	"fmt"
	"strings"
	"testing"
)

// A script names a control the store cannot hold as a key segment. The
// artifact is refused before anything is signed: nothing of it is in the
// ledger, and what was committed before it is pushed as usual.
func TestControlIDTheStoreCannotHoldIsRefusedBeforeSigning(t *testing.T) {
	for _, bad := range []struct{ name, line, want string }{
		{"dot-dot control", `{"type":"test.free","subject":"x","controls":["A..B"],"body":{}}`, `invalid control ID "A..B"`},
		{"trailing-dot control", `{"type":"test.free","subject":"x","controls":["CC6."],"body":{}}`, `invalid control ID "CC6."`},
		{"slash in control", `{"type":"test.free","subject":"x","controls":["CC6/../../keys"],"body":{}}`, `invalid control ID "CC6/../../keys"`},
		{"newline in subject", `{"type":"test.item","subject":"a\nb","body":{}}`, `holds a control character`},
		{"oversized subject", `{"type":"test.item","subject":"` + strings.Repeat("s", 30<<10) + `","body":{}}`, `longer than 1024`},
	} {
		t.Run(bad.name, func(t *testing.T) {
			body := fmt.Sprintf("#!/bin/sh\necho '{\"type\":\"test.item\",\"subject\":\"good-1\",\"body\":{}}'\necho '{\"cursor\":\"1\"}'\ncat <<'EOF'\n%s\nEOF\necho '{\"type\":\"test.item\",\"subject\":\"good-2\",\"body\":{}}'\necho '{\"cursor\":\"2\"}'\n", bad.line)
			_, cfg := scriptWorkspace(t, "names", body)
			r := tickmark(t, "run", "--once", "--config", cfg)
			if r.code != 1 || !strings.Contains(r.stdout, "names failed (permanent)") || !strings.Contains(r.stdout, bad.want) {
				t.Fatalf("run --once exit %d; want the collector failed:\n%s\n%s", r.code, r.stdout, r.stderr)
			}
			recs := listRecords(t, cfg)
			if len(recs) != 1 || recs[0].Subject != "good-1" {
				t.Fatalf("ledger holds %+v; want only the artifact committed before the bad one", recs)
			}
			if strings.Contains(r.stdout, "push failed") || !strings.Contains(r.stdout, "0 queued") {
				t.Errorf("the push did not go through:\n%s", r.stdout)
			}
			if v := tickmark(t, "verify", "--config", cfg); v.code != 0 {
				t.Errorf("verify exit %d: %s", v.code, v.stdout)
			}
		})
	}
}
