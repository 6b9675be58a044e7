// Package collectors is tickmark's public collector SDK.
//
// A collector fetches evidence from one kind of system and streams it to the
// engine as Artifacts. The engine — never the collector — hashes, timestamps,
// records, uploads and stores cursors, so a custom collector cannot get the
// audit trail wrong.
//
// A collector package registers a Definition in its init function:
//
//	func init() {
//		collectors.Register(collectors.Definition{
//			Type:    "backupdb",
//			Summary: "restore tests from the backup database",
//			EvidenceTypes: []collectors.EvidenceType{
//				{Name: "backupdb.restore_tests", Controls: []string{"A1.2", "CC7.5"}},
//			},
//			NewConfig: func() any { return &Config{} },
//			New:       func(cfg any) (collectors.Collector, error) { return &collector{cfg: cfg.(*Config)}, nil },
//		})
//	}
//
// and the binary imports it for its side effect. collectors/all imports the
// built-in collectors; collectors/collectortest is the conformance kit.
//
// # Rules a collector follows
//
//   - Emit raw evidence (the source's own bytes) with its Source: the endpoint
//     or query that produced it and how complete it is.
//   - Honour ctx and return the error Emit or Checkpoint returns.
//   - Call Emitter.Checkpoint with a cursor after each unit it can resume
//     from, and start from Request.Cursor; use Request.Now, never the wall
//     clock, as the upper bound of what it collects.
//   - Take credentials as Secret fields; never put one in an artifact, a log
//     line or an error.
//   - Classify errors with Permanent or Retryable, naming the collector, the
//     endpoint and, for refused credentials, the permission needed.
//
// The engine hashes, timestamps, records, commits cursors and stores; a
// collector does none of it.
//
// # Your own binary
//
// cmd/tickmark/cli.Main is the whole command line; a main package that
// imports collectors/all and your collector packages and calls it is a
// tickmark with your collectors built in:
//
//	func main() { os.Exit(cli.Main(os.Args[1:], os.Stdout, os.Stderr)) }
//
// docs/writing-a-collector.md walks through a complete example, from an
// empty folder to verified evidence, in Go and as an exec script.
package collectors

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"regexp"
	"sort"
	"sync"
	"time"
)

// Collector fetches evidence from one source.
type Collector interface {
	// Collect streams artifacts to emit. It must honour ctx, call
	// emit.Checkpoint with an opaque cursor after each page (or other unit
	// it can resume from), and return an error classified with Permanent or
	// Retryable when it cannot finish. Artifacts emitted after the last
	// checkpoint of a failed run are discarded by the engine.
	Collect(ctx context.Context, req Request, emit Emitter) error
}

// CollectorFunc adapts a function to the Collector interface.
type CollectorFunc func(ctx context.Context, req Request, emit Emitter) error

// Collect calls f.
func (f CollectorFunc) Collect(ctx context.Context, req Request, emit Emitter) error {
	return f(ctx, req, emit)
}

// Request is what the engine hands a collector for one run.
type Request struct {
	// Instance is the configured instance name (collectors[].name).
	Instance string
	// RunID identifies this run in logs and records.
	RunID string
	// Cursor is the last cursor the collector checkpointed in a committed
	// run, or "" on a first run.
	Cursor string
	// Since is the start of the backfill window (now minus the configured
	// backfill). Collectors use it when Cursor is empty.
	Since time.Time
	// Now is the engine's clock at the start of the run (UTC). Collectors
	// should use it as the upper bound of incremental windows so that runs
	// are deterministic.
	Now time.Time
	// Logger is already tagged with the collector instance and run ID.
	Logger *slog.Logger
	// HTTPClient is a client whose transport honours rate-limit headers and
	// retries 429/5xx responses (see package httpx). Collectors may wrap
	// its transport but should not replace it.
	HTTPClient *http.Client
}

// Emitter receives a collector's output.
type Emitter interface {
	// Emit hands one artifact to the engine. The body is streamed to the
	// local spool and hashed; it is durable once a later Checkpoint (or the
	// successful end of Collect) commits it.
	Emit(ctx context.Context, a Artifact) error
	// Checkpoint commits every artifact emitted so far together with
	// cursor, in one ledger transaction. On the next run the collector
	// receives this cursor in Request.Cursor.
	Checkpoint(ctx context.Context, cursor string) error
}

// Artifact is one piece of evidence as a collector produces it.
type Artifact struct {
	// Type is the evidence type, e.g. "okta.users" (lowercase, dotted).
	Type string
	// Subject names what the evidence is about (a repository, an org, a user...).
	Subject string
	// Controls overrides the evidence type's default controls for this
	// artifact. The instance's `controls` configuration overrides both.
	Controls []string
	// ContentType of the body, e.g. "application/json".
	ContentType string
	// Body holds small bodies in memory. Use BodyReader for large ones.
	Body []byte
	// BodyReader is read to its end when Body is nil; it is streamed to the
	// spool and never buffered whole. If it implements io.Closer the engine
	// closes it.
	BodyReader io.Reader
	// ObservedAt is when the source says the thing happened or was
	// observed (optional).
	ObservedAt time.Time
	// WindowStart and WindowEnd bound the events an event-stream artifact
	// covers (optional).
	WindowStart time.Time
	WindowEnd   time.Time
	// Source describes where the evidence came from and how complete it is.
	Source Source
}

// Source is the provenance of an artifact: what an auditor needs to re-run
// the query and to judge completeness.
type Source struct {
	System           string `json:"system,omitempty"`            // e.g. "okta"
	Endpoint         string `json:"endpoint,omitempty"`          // API endpoint or command
	Query            string `json:"query,omitempty"`             // query or filter used
	Account          string `json:"account,omitempty"`           // org, account, tenant
	CollectorVersion string `json:"collector_version,omitempty"` // version of the collector code
	Pages            int    `json:"pages,omitempty"`             // pages fetched for this artifact
	Complete         bool   `json:"complete,omitempty"`          // pagination ran to its end
	Items            int    `json:"items,omitempty"`             // items in the body
}

// EvidenceType documents an evidence type a collector produces.
type EvidenceType struct {
	Name        string
	Controls    []string // default control IDs
	Description string
}

// Definition registers a collector type.
type Definition struct {
	// Type is the `type:` value in configuration and the name of the
	// type-specific configuration section.
	Type string
	// Summary is a one-line description.
	Summary string
	// EvidenceTypes lists what it emits, with default controls.
	EvidenceTypes []EvidenceType
	// SampleConfig is a YAML sample of one collectors[] entry.
	SampleConfig string
	// NewConfig returns a pointer to a zero config struct. The engine
	// decodes the type-specific section into it strictly (unknown keys are
	// errors). If the struct has a Validate() error method it is called.
	// Secret fields use the Secret type. Nil means the type takes no
	// configuration section.
	NewConfig func() any
	// New builds a collector from a decoded, validated config.
	New func(cfg any) (Collector, error)
}

var (
	regMu    sync.RWMutex
	registry = map[string]Definition{}
	typeRE   = regexp.MustCompile(`^[a-z][a-z0-9_]*$`)
)

// Register adds a collector type. It panics on an invalid or duplicate
// type: two collectors claiming one name is a build error, not a runtime choice.
func Register(d Definition) {
	if !typeRE.MatchString(d.Type) {
		panic(fmt.Sprintf("collectors: invalid collector type %q", d.Type))
	}
	if d.New == nil {
		panic(fmt.Sprintf("collectors: collector type %q has no New function", d.Type))
	}
	regMu.Lock()
	defer regMu.Unlock()
	if _, dup := registry[d.Type]; dup {
		panic(fmt.Sprintf("collectors: collector type %q registered twice", d.Type))
	}
	registry[d.Type] = d
}

// Lookup returns the definition of a registered type.
func Lookup(typ string) (Definition, bool) {
	regMu.RLock()
	defer regMu.RUnlock()
	d, ok := registry[typ]
	return d, ok
}

// Registered returns every registered definition, sorted by type.
func Registered() []Definition {
	regMu.RLock()
	defer regMu.RUnlock()
	out := make([]Definition, 0, len(registry))
	for _, d := range registry {
		out = append(out, d)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Type < out[j].Type })
	return out
}

// DefaultControls returns the default controls of an evidence type of a
// collector type, or nil.
func (d Definition) DefaultControls(evidenceType string) []string {
	for _, et := range d.EvidenceTypes {
		if et.Name == evidenceType {
			return et.Controls
		}
	}
	return nil
}
