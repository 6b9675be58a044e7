// Package config holds tickmark's shipped data: the SOC 2 Trust Services
// Criteria catalog, crosswalks to ISO/IEC 27001:2022 and NIST CSF 2.0, and
// the default organisation control set. The YAML files are the source;
// this package embeds them so the binary carries them.
package config

import _ "embed"

// TSC is the SOC 2 Trust Services Criteria catalog (tsc2017.yaml).
//
//go:embed tsc2017.yaml
var TSC []byte

// Crosswalks maps criteria to ISO/IEC 27001:2022 Annex A and NIST CSF 2.0 (crosswalks.yaml).
//
//go:embed crosswalks.yaml
var Crosswalks []byte

// Controls is the default organisation control set (controls.yaml).
//
//go:embed controls.yaml
var Controls []byte

// Checks is the default set of control tests (checks.yaml).
//
//go:embed checks.yaml
var Checks []byte
