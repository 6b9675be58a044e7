// Package readmodel is the one way tickmark reads evidence back: coverage,
// populations, samples, export, control checks and the console all consume
// a Source, and do not care whether it is the agent's local ledger or one
// agent's published log in the bucket (--from-store).
//
// # Contract
//
// A Source is one agent's evidence:
//
//   - Records are addressed by their sequence number. ScanType and Find
//     visit them in collection-time order (ties by sequence); windows are
//     half-open, [From, To), and a zero bound is unbounded. Find's Query
//     filters by type, control and collector instance and may be limited.
//   - Record returns a decoded record; Find also hands over the record's
//     canonical bytes (the Merkle leaf), which callers may hash or copy but
//     must not keep past the callback.
//   - Body opens a record's evidence body. The caller closes it and checks
//     its SHA-256 against Record.SHA256 when it matters: a Source does not
//     re-hash bodies.
//   - Runs reports collector runs. The bucket does not publish run
//     outcomes, so RunsVisible is false there and Runs reports none: a
//     consumer that tells a failed collection from an absent one must
//     check RunsVisible (coverage shows every gap as gap_no_run then).
//   - Checkpoints (oldest first), Keys (key ID → note verifier key) and
//     Tokens (tree size → RFC 3161 token) are the signed log's heads;
//     Prove and ProveTree give RFC 6962 inclusion and consistency proofs
//     (the bucket proves against its latest checkpoint only).
//   - Location is where a person finds a record's body (a file:// or s3://
//     URL), or "" when the record names no control.
//
// The bucket implementation authenticates every record it serves against
// the latest signed checkpoint; the ledger implementation trusts the local
// ledger (run `tickmark verify` to check it). A Source is safe for use by
// one goroutine at a time.
package readmodel
