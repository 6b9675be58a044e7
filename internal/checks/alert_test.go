package checks_test

import (
	"encoding/json"
	"testing"

	"github.com/tickmark-dev/tickmark/internal/checks"
)

func TestTransitionsAndPayloads(t *testing.T) {
	res := func(id, status string) *checks.Result {
		return &checks.Result{Check: checks.Def{ID: id, Title: id + " title", Controls: []string{"CM-01"}}, Status: status, ExceptionCount: 1, Population: 4,
			Exceptions: []checks.Exception{{Key: "k", Message: "m"}}}
	}
	prev := map[string]string{"a": "pass", "b": "fail", "c": "no_data"}
	alerts := checks.Transitions(prev, []*checks.Result{res("a", "fail"), res("b", "fail"), res("c", "fail"), res("d", "fail"), res("e", "pass")})
	var ids []string
	for _, a := range alerts {
		ids = append(ids, a.Check+":"+a.Previous)
	}
	if want := "a:pass c:no_data d:none"; join(ids) != want {
		t.Fatalf("alerts %v, want %s", ids, want)
	}
	for format, check := range map[string]func(map[string]any) bool{
		"json": func(m map[string]any) bool {
			return m["check"] == "a" && m["previous_status"] == "pass" && m["exceptions"] == 1.0
		},
		"slack": func(m map[string]any) bool {
			return m["text"] == "tickmark: check a (a title) is failing: 1 exception in 4 items (controls CM-01; was pass)\n• k: m"
		},
		"teams": func(m map[string]any) bool {
			return m["@type"] == "MessageCard" && m["@context"] == "https://schema.org/extensions" && m["title"] == "Check a is failing"
		},
	} {
		b, err := checks.Payload(alerts[0], format)
		var m map[string]any
		if err != nil || json.Unmarshal(b, &m) != nil || !check(m) {
			t.Errorf("%s payload: %s (%v)", format, b, err)
		}
	}
}

func join(xs []string) string {
	out := ""
	for i, x := range xs {
		if i > 0 {
			out += " "
		}
		out += x
	}
	return out
}
