package collectors

import (
	"fmt"
	"regexp"
	"unicode/utf8"
)

// The one rule for the names in a record. Control IDs and evidence types
// become segments of object keys (controls/<control>/…/<type>/…), so they
// are checked with what every store accepts as a key segment: ASCII letters,
// digits, '_', '-' and single dots between them — never "..", never a
// leading or trailing dot, never a slash. A subject is free text but
// bounded and printable. The engine checks every artifact with these rules
// before anything is signed: a record the store cannot hold is never
// committed.
var (
	controlIDRE    = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_-]*(\.[A-Za-z0-9_-]+)*$`)
	evidenceTypeRE = regexp.MustCompile(`^[a-z0-9][a-z0-9_]*(\.[a-z0-9][a-z0-9_]*)+$`)
)

// Limits of the names in a record.
const (
	MaxControlIDLen    = 64
	MaxEvidenceTypeLen = 128
	MaxSubjectLen      = 1024
	// DefaultMaxControlsPerArtifact is the default bound on the controls one
	// artifact is filed under (runner.max_controls_per_artifact): each is a
	// copy of its body in the store.
	DefaultMaxControlsPerArtifact = 32
)

// ValidControlID checks a control ID ("CC6.1", "A.5.15", "PR.AC-1").
func ValidControlID(id string) error {
	switch {
	case id == "":
		return fmt.Errorf("empty control ID")
	case len(id) > MaxControlIDLen:
		return fmt.Errorf("control ID %.40q… is longer than %d bytes", id, MaxControlIDLen)
	case !controlIDRE.MatchString(id):
		return fmt.Errorf("invalid control ID %q: letters, digits, '_' and '-', with single dots between them (CC6.1, A.5.15, PR.AC-1)", id)
	}
	return nil
}

// ValidEvidenceType checks an evidence type: lowercase and dotted
// ("okta.users", "custom.backup_test").
func ValidEvidenceType(t string) error {
	switch {
	case len(t) > MaxEvidenceTypeLen:
		return fmt.Errorf("evidence type %.40q… is longer than %d bytes", t, MaxEvidenceTypeLen)
	case !evidenceTypeRE.MatchString(t):
		return fmt.Errorf("invalid evidence type %q: lowercase and dotted, e.g. custom.backup_test", t)
	}
	return nil
}

// ValidSubject checks a subject: at most MaxSubjectLen bytes of UTF-8
// with no control characters (a line break in a subject would split a log
// line or a CSV row).
func ValidSubject(s string) error {
	if len(s) > MaxSubjectLen {
		return fmt.Errorf("subject %.40q… is %d bytes, longer than %d (put detail in the body)", s, len(s), MaxSubjectLen)
	}
	if !utf8.ValidString(s) {
		return fmt.Errorf("subject %q is not valid UTF-8", s)
	}
	for _, r := range s {
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) {
			return fmt.Errorf("subject %q holds a control character (%U)", s, r)
		}
	}
	return nil
}
