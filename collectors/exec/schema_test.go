package exec_test

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/tickmark-dev/tickmark/collectors/exec"
)

// The JSON Schema in config/exec-protocol.schema.json must accept exactly
// the lines ParseLine accepts, but for the checks a schema cannot express.
func TestSchemaAgreesWithParseLine(t *testing.T) {
	c := jsonschema.NewCompiler()
	c.AssertFormat()
	c.AssertContent()
	sch, err := c.Compile("../../config/exec-protocol.schema.json")
	if err != nil {
		t.Fatal(err)
	}
	lines := []string{
		`{"type":"custom.backup_test","subject":"db","controls":["A1.2"],"observed_at":"2026-11-30T10:00:00Z","body":{"ok":true}}`,
		`{"type":"t.a","content_type":"text/csv","body_base64":"YSxiCg=="}`,
		`{"type":"t.a","body":null}`,
		`{"type":"t.a","body":"x","observed_at":""}`,
		`{"type":"t.a","body":"x","observed_at":null,"subject":null,"controls":null,"source":null}`,
		`{"type":"t.a","body":"x","body_base64":null}`,
		`{"type":"t.a","body":"x","cursor":null}`,
		`{"type":"t.a","body":1,"source":{"system":"s","endpoint":"e","query":"q","account":"a","collector_version":"v","pages":1,"complete":true,"items":2}}`,
		`{"type":"t.a","body":1,"source":{"host":"x"}}`,
		`{"type":"t.a","body":1,"source":{"items":"many"}}`,
		`{"type":"t.a","body":1,"window_start":"2026-11-30T10:00:00+02:00","window_end":"2026-11-30T09:00:00Z"}`,
		`{"type":"t.a","body":1,"observed_at":"30/11/2026"}`,
		`{"type":"t.a","body":1,"controls":"A1.2"}`,
		`{"type":"","body":1}`,
		`{"type":null,"body":1}`,
		`{"type":"t.a"}`,
		`{"type":"t.a","body_base64":null}`,
		`{"type":"t.a","body":1,"body_base64":"AA=="}`,
		`{"type":"t.a","body":1,"extra":true}`,
		`{"cursor":"42"}`,
		`{"cursor":7}`,
		`{"cursor":{"page":2}}`,
		`{"cursor":null}`,
		`{"cursor":"x","subject":"ignored"}`,
		`{"cursor":"x","type":null,"body_base64":null}`,
		`{"cursor":"x","type":""}`,
		`{"cursor":"x","body":null}`,
		`{"cursor":"x","body_base64":""}`,
		`{}`,
		`[]`,
		`"type"`,
	}
	files, _ := filepath.Glob("testdata/fuzz/FuzzParseLine/*")
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		_, arg, _ := strings.Cut(string(b), "[]byte(")
		s, err := strconv.Unquote(strings.TrimSuffix(strings.TrimSpace(arg), ")"))
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		lines = append(lines, s)
	}
	for _, line := range lines {
		if !json.Valid([]byte(line)) {
			continue // not one JSON value: nothing for a schema to say
		}
		_, perr := exec.ParseLine([]byte(line))
		v, err := jsonschema.UnmarshalJSON(bytes.NewReader([]byte(line)))
		if err != nil {
			t.Fatal(err)
		}
		serr := sch.Validate(v)
		semantic := perr != nil && (strings.Contains(perr.Error(), "window_end is before window_start") || strings.HasPrefix(perr.Error(), "body_base64:"))
		switch {
		case semantic && serr != nil:
			t.Errorf("%s\nthe schema refuses a line ParseLine refuses only for a check the schema cannot make: %v", line, serr)
		case semantic:
		case (perr == nil) != (serr == nil):
			t.Errorf("%s\nParseLine: %v\nschema:    %v", line, perr, serr)
		}
	}
}
