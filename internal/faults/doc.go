// Package faults is tickmark's fault-injection suite. It has no code of its
// own: its tests build the real binary (and, for vendor faults, the same CLI
// with one extra test collector, testdata/faultbin) and run it against real
// faults — a full file system in a private mount namespace, a read-only
// store, vendor APIs that answer 5xx and 429 storms, stall, truncate their
// JSON or send 100 MiB — then check what a user sees: the error message,
// the exit code, that only the affected collector failed, that nothing
// committed was lost, that `tickmark verify` passes, and that the next run
// without the fault recovers. docs/fault-tolerance.md describes each fault.
//
// The secret-hygiene test runs `tickmark demo` at debug level and scans
// every log line, the run summary and every byte of the workspace (ledger
// included) for the sample sources' fake credentials.
package faults
