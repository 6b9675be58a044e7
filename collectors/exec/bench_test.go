package exec_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/tickmark-dev/tickmark/collectors"
	"github.com/tickmark-dev/tickmark/collectors/collectortest"
	"github.com/tickmark-dev/tickmark/collectors/exec"
)

// a typical artifact line: ~1 KiB JSON body with metadata.
var benchLine = []byte(`{"type":"custom.backup_test","subject":"orders-db","controls":["A1.2","CC7.5"],"observed_at":"2026-11-30T03:12:40Z","body":{"database":"orders-db","restored":true,"rows_verified":120394,"operator":"backup-operator@example.com","pad":"` + strings.Repeat("x", 800) + `"},"source":{"system":"backup","endpoint":"restore-tests.log","items":1}}`)

func BenchmarkParseLine(b *testing.B) {
	b.SetBytes(int64(len(benchLine)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := exec.ParseLine(benchLine); err != nil {
			b.Fatal(err)
		}
	}
}

// discard is an emitter that drops everything (the engine's cost is
// measured by the runner's own benchmarks).
type discard struct{ n int }

func (d *discard) Emit(context.Context, collectors.Artifact) error { d.n++; return nil }
func (d *discard) Checkpoint(context.Context, string) error        { return nil }

// BenchmarkRelay measures the collector end to end: start a command that
// prints 20,000 ~1 KiB artifact lines with a cursor every 1,000, and parse
// and relay them.
func BenchmarkRelay(b *testing.B) {
	const n = 20000
	script := `awk 'BEGIN { pad = sprintf("%800s", ""); gsub(/ /, "x", pad); for (i = 0; i < ` + "20000" + `; i++) { printf "{\"type\":\"custom.item\",\"subject\":\"item-%d\",\"body\":{\"i\":%d,\"pad\":\"%s\"}}\n", i, i, pad; if ((i + 1) % 1000 == 0) printf "{\"cursor\":\"%d\"}\n", i + 1 } }'`
	c := collectortest.Build(b, "exec", "command: [/bin/sh, -c, "+quote(script)+"]\n")
	req := collectors.Request{Now: time.Now(), Since: time.Now()}
	b.SetBytes(n * 860)
	b.ReportAllocs()
	for b.Loop() {
		d := &discard{}
		if err := c.Collect(context.Background(), req, d); err != nil {
			b.Fatal(err)
		}
		if d.n != n {
			b.Fatalf("%d artifacts", d.n)
		}
	}
	b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "lines/s")
}

func quote(s string) string {
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(s) + `"`
}
