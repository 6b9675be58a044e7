package config

import (
	"fmt"
	"strings"
	"testing"
)

func TestRunnerLimits(t *testing.T) {
	c, err := Parse([]byte(`agent: {id: a}
runner: {max_artifacts_per_run: 500, max_bytes_per_run: 2GiB, max_controls_per_artifact: 4, max_pending_bytes: 16777216}
collectors:
  - name: x
    type: exec
    controls: {custom.a: [C1, C2, C3, C4]}
    exec: {command: [/bin/true]}
`))
	if err != nil {
		t.Fatal(err)
	}
	if r := c.Runner; r.MaxArtifactsPerRun != 500 || r.MaxBytesPerRun != 2<<30 || r.MaxControlsPerArtifact != 4 || r.MaxPendingBytes != 16<<20 {
		t.Errorf("runner limits: %+v", r)
	}
	var many []string
	for i := 0; i < 40; i++ {
		many = append(many, fmt.Sprintf("C%d", i))
	}
	for _, tc := range []struct{ cfg, want string }{
		{"runner: {max_bytes_per_run: lots}\n", `runner.max_bytes_per_run: "lots" is not a size`},
		{"runner: {max_controls_per_artifact: 4}\ncollectors:\n  - {name: x, type: exec, controls: {custom.a: [C1, C2, C3, C4, C5]}, exec: {command: [/bin/true]}}\n",
			"collectors[0].controls.custom.a: maps 5 controls, more than 4 (runner.max_controls_per_artifact)"},
		{"collectors:\n  - {name: x, type: exec, controls: {custom.a: [" + strings.Join(many, ", ") + "]}, exec: {command: [/bin/true]}}\n",
			"maps 40 controls, more than 32"},
		{"collectors:\n  - {name: x, type: exec, controls: {custom.a: [A..B]}, exec: {command: [/bin/true]}}\n", `invalid control ID "A..B"`},
	} {
		_, err := Parse([]byte("agent: {id: a}\n" + tc.cfg))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want %q", tc.cfg, err, tc.want)
		}
	}
}
