package console

import (
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"fmt"
	"io"
	"sort"
	"time"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/tickmark-dev/tickmark/internal/evidence"
	"github.com/tickmark-dev/tickmark/internal/export"
	"github.com/tickmark-dev/tickmark/internal/ledger"
	"github.com/tickmark-dev/tickmark/internal/tsa"
)

// Check outcomes.
const (
	CheckOK      = "ok"
	CheckFailed  = "failed"
	CheckUnknown = "unknown" // could not be observed (said why); never shown as passed
	CheckPending = "pending" // not yet possible (a record not yet in a signed checkpoint)
)

// Check is one verification of an artifact, computed when the page is viewed.
type Check struct {
	Name   string
	Status string
	Detail string
}

// Verification is everything the proof page shows.
type Verification struct {
	Checks     []Check
	OK         bool // every check passed
	Checkpoint *ledger.Checkpoint
	Proof      []byte // c2sp.org/tlog-proof against Checkpoint, as in auditor packages
	ProofLen   int
	Retention  []Retention
}

// verifyArtifact recomputes a record's proofs from the evidence: the body
// hash, inclusion in the latest signed checkpoint (its signature checked
// with the agent's published keys), the RFC 3161 time of the first
// timestamped checkpoint holding it, and Object Lock retention.
func verifyArtifact(ctx context.Context, f *Fleet, src AgentSource, r *evidence.Record, roots *x509.CertPool) *Verification {
	v := &Verification{}
	add := func(name, status, format string, args ...any) {
		v.Checks = append(v.Checks, Check{Name: name, Status: status, Detail: fmt.Sprintf(format, args...)})
	}
	// 1. The body, re-read and re-hashed.
	if body, err := src.Body(ctx, r); err != nil {
		add("Body hash", CheckFailed, "the evidence object could not be read: %v", err)
	} else {
		h := sha256.New()
		n, err := io.Copy(h, body)
		body.Close()
		sum := hex.EncodeToString(h.Sum(nil))
		switch {
		case err != nil:
			add("Body hash", CheckFailed, "reading the evidence object: %v", err)
		case sum != r.SHA256 || n != r.Size:
			add("Body hash", CheckFailed, "the object hashes to %s (%d bytes); the record says %s (%d bytes)", sum, n, r.SHA256, r.Size)
		default:
			add("Body hash", CheckOK, "SHA-256 of the %d bytes read now from the store equals the record's %s", n, r.SHA256)
		}
	}
	// 2. Inclusion in the latest signed checkpoint.
	cps, err := src.Checkpoints()
	if err != nil || len(cps) == 0 {
		add("Signed checkpoint", CheckFailed, "no signed checkpoint could be read: %v", err)
		v.finish()
		return v
	}
	keys, err := src.Keys()
	var vkeys []string
	for _, k := range keys {
		vkeys = append(vkeys, k)
	}
	sort.Strings(vkeys)
	verifiers, verr := ledger.Verifiers(vkeys...)
	if err == nil {
		err = verr
	}
	if err != nil {
		add("Signed checkpoint", CheckFailed, "the agent's public keys: %v", err)
		v.finish()
		return v
	}
	origin := ledger.Origin(r.Agent)
	latest, err := ledger.OpenCheckpoint(cps[len(cps)-1].Note, origin, verifiers)
	if err != nil {
		add("Signed checkpoint", CheckFailed, "the latest checkpoint: %v", err)
		v.finish()
		return v
	}
	v.Checkpoint = latest
	add("Signed checkpoint", CheckOK, "checkpoint of tree size %d, origin %q, signature verified with the agent's published key", latest.Size, latest.Origin)
	data, err := r.Encode()
	if err != nil {
		add("Inclusion", CheckFailed, "encoding the record: %v", err)
		v.finish()
		return v
	}
	seq := int64(r.Seq)
	if seq >= latest.Size {
		add("Inclusion", CheckPending, "record %d was committed after the latest signed checkpoint (tree size %d); the agent's next run signs it", r.Seq, latest.Size)
	} else if proof, err := src.Prove(r.Seq, latest.Size); err != nil {
		add("Inclusion", CheckFailed, "proving record %d: %v", r.Seq, err)
	} else if err := tlog.CheckRecord(proof, latest.Size, latest.Root, seq, tlog.RecordHash(data)); err != nil {
		add("Inclusion", CheckFailed, "the inclusion proof does not verify: %v", err)
	} else {
		v.Proof = export.FormatProof(seq, proof, latest.Note)
		v.ProofLen = len(proof)
		add("Inclusion", CheckOK, "RFC 6962 inclusion proof of leaf %d (%d hashes) checked against the root of tree size %d", seq, len(proof), latest.Size)
	}
	// 3. RFC 3161 time: the first timestamped checkpoint that holds the record.
	tokens, err := src.Tokens()
	if err != nil {
		add("RFC 3161 time", CheckUnknown, "timestamp tokens could not be read: %v", err)
	} else if len(tokens) == 0 {
		add("RFC 3161 time", CheckUnknown, "this agent's checkpoints carry no RFC 3161 token (no timestamp authority configured): the collection time rests on the agent's clock alone")
	} else if seq >= latest.Size {
		add("RFC 3161 time", CheckPending, "not yet in a signed checkpoint")
	} else {
		v.Checks = append(v.Checks, timeCheck(src, cps, tokens, latest, verifiers, origin, seq, roots))
	}
	// 4. Object Lock retention of the evidence objects.
	if f.Retention == nil || f.ObjectKey == nil {
		add("Object Lock retention", CheckUnknown, "the store cannot report retention (a filesystem store, or a bucket without Object Lock support)")
	} else {
		var locked, missing int
		for _, c := range r.Controls {
			key := f.ObjectKey(c, r)
			mode, until, err := f.Retention.Retention(ctx, key)
			if err != nil {
				add("Object Lock retention", CheckUnknown, "reading the retention of %s: %v", key, err)
				missing = -1
				break
			}
			v.Retention = append(v.Retention, Retention{Key: key, Mode: mode, Until: until})
			if mode != "" && until.After(time.Now()) {
				locked++
			} else {
				missing++
			}
		}
		switch {
		case missing < 0:
		case missing == 0 && locked > 0:
			add("Object Lock retention", CheckOK, "%d object%s under retention (read now from the bucket)", locked, plural(locked))
		default:
			add("Object Lock retention", CheckFailed, "%d of %d object%s under no current retention: the bucket could let them be deleted", missing, locked+missing, plural(locked+missing))
		}
	}
	v.finish()
	return v
}

func timeCheck(src AgentSource, cps []*ledger.Checkpoint, tokens map[int64][]byte, latest *ledger.Checkpoint, verifiers note.Verifiers, origin string, seq int64, roots *x509.CertPool) Check {
	const name = "RFC 3161 time"
	for _, c := range cps {
		tok, ok := tokens[c.Size]
		if !ok || c.Size <= seq || c.Size > latest.Size {
			continue
		}
		cp, err := ledger.OpenCheckpoint(c.Note, origin, verifiers)
		if err != nil {
			return Check{name, CheckFailed, fmt.Sprintf("checkpoint %d: %v", c.Size, err)}
		}
		var ver *tsa.Verified
		how := "token signature and imprint checked (no TSA CA configured for the console, so the TSA's certificate chain was not)"
		if roots != nil {
			ver, err = tsa.Verify(tok, cp.Note, roots)
			how = "token signature, imprint and the TSA's certificate chain checked"
		} else {
			ver, err = tsa.VerifySignature(tok, cp.Note)
		}
		if err != nil {
			return Check{name, CheckFailed, fmt.Sprintf("the token of checkpoint %d: %v", c.Size, err)}
		}
		if cp.Size < latest.Size {
			proof, err := src.ProveTree(latest.Size, cp.Size)
			if err == nil {
				err = tlog.CheckTree(proof, latest.Size, latest.Root, cp.Size, cp.Root)
			}
			if err != nil {
				return Check{name, CheckFailed, fmt.Sprintf("checkpoint %d is not proven consistent with the latest: %v", cp.Size, err)}
			}
		}
		return Check{name, CheckOK, fmt.Sprintf("collected no later than %s: RFC 3161 token by %s over checkpoint %d, which holds the record and is proven consistent with the latest; %s",
			ver.Time.UTC().Format(time.RFC3339), ver.Signer, cp.Size, how)}
	}
	return Check{name, CheckUnknown, "no timestamped checkpoint holds this record yet"}
}

func (v *Verification) finish() {
	v.OK = len(v.Checks) > 0
	for _, c := range v.Checks {
		if c.Status != CheckOK {
			v.OK = false
		}
	}
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}
