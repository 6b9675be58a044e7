// Package oscaltest validates documents against NIST's OSCAL 1.1.3 JSON
// schema (the shared specs folder next to the repository).
package oscaltest

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// SchemaPath finds oscal_complete_schema-1-1-3.json in a
// shared/specs/oscal folder above the working directory, or at
// $TICKMARK_OSCAL_SCHEMA. A missing schema fails the test.
func SchemaPath(t testing.TB) string {
	t.Helper()
	if p := os.Getenv("TICKMARK_OSCAL_SCHEMA"); p != "" {
		return p
	}
	dir, _ := filepath.Abs(".")
	for d := dir; d != filepath.Dir(d); d = filepath.Dir(d) {
		p := filepath.Join(d, "shared", "specs", "oscal", "oscal_complete_schema-1-1-3.json")
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	t.Fatal("NIST's OSCAL 1.1.3 schema not found in a shared/specs/oscal folder above " + dir + " (set TICKMARK_OSCAL_SCHEMA)")
	return ""
}

// Check returns the schema's verdict on a document.
func Check(t testing.TB, b []byte) error {
	t.Helper()
	sch, err := jsonschema.NewCompiler().Compile(SchemaPath(t))
	if err != nil {
		t.Fatalf("compiling NIST's OSCAL schema: %v", err)
	}
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
	if err != nil {
		return err
	}
	return sch.Validate(inst)
}

// Validate fails the test unless the document is valid OSCAL 1.1.3.
func Validate(t testing.TB, b []byte) {
	t.Helper()
	if err := Check(t, b); err != nil {
		t.Fatalf("not valid OSCAL 1.1.3: %v", err)
	}
}
