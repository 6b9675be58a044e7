package config

import (
	"crypto/rand"
	"strings"
	"testing"

	"golang.org/x/mod/sumdb/note"
)

// verify.key and verify.key_id pin the key verifiers expect; a bad one is
// a configuration error naming the section and its line.
func TestVerifyPin(t *testing.T) {
	_, key, err := note.GenerateKey(rand.Reader, "tickmark/a")
	if err != nil {
		t.Fatal(err)
	}
	if err := ValidatePin(key, ""); err != nil {
		t.Fatalf("a real key: %v", err)
	}
	c, err := Parse([]byte("agent: {id: a}\nverify:\n  key_id: 5a3c01f2\n"))
	if err != nil || c.Verify.KeyID != "5a3c01f2" {
		t.Fatalf("key_id: %+v, %v", c.Verify, err)
	}
	for _, tc := range []struct{ cfg, want string }{
		{"verify:\n  key_id: XYZ\n", `line 2: verify: key ID "XYZ" is not 8 lowercase hex digits`},
		{"verify:\n  key: not-a-key\n", "is not a public key in note format"},
		{"verify:\n  keyid: 5a3c01f2\n", "verify.keyid"},
	} {
		_, err := Parse([]byte("agent: {id: a}\n" + tc.cfg))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: error %v, want %q", tc.cfg, err, tc.want)
		}
	}
	if err := ValidatePin(key, "0000000z"); err == nil {
		t.Error("a key ID with a z")
	}
	if err := ValidatePin(key, "00000000"); err == nil || !strings.Contains(err.Error(), "is not the ID of the key given") {
		t.Errorf("mismatched key and ID: %v", err)
	}
}
