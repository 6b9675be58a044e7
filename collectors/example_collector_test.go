package collectors_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/tickmark-dev/tickmark/collectors"
)

// restoreConfig is the collector's `restores:` configuration section.
type restoreConfig struct {
	Databases []string `yaml:"databases"`
	PageSize  int      `yaml:"page_size"`
}

// Validate is called by the engine after strict decoding.
func (c *restoreConfig) Validate() error {
	if len(c.Databases) == 0 {
		return &collectors.ConfigError{Key: "databases", Msg: "lists no databases"}
	}
	if c.PageSize == 0 {
		c.PageSize = 2
	}
	return nil
}

// restoreCollector emits one restore test per database, a page at a time,
// resuming after the last database it checkpointed.
type restoreCollector struct{ cfg *restoreConfig }

func (c *restoreCollector) Collect(ctx context.Context, req collectors.Request, emit collectors.Emitter) error {
	start := 0
	if req.Cursor != "" {
		n, err := strconv.Atoi(req.Cursor)
		if err != nil {
			return collectors.Permanent(fmt.Errorf("restores: invalid cursor %q", req.Cursor))
		}
		start = n
	}
	dbs := c.cfg.Databases
	for i := start; i < len(dbs); i += c.cfg.PageSize {
		page := dbs[i:min(i+c.cfg.PageSize, len(dbs))]
		body, _ := json.Marshal(map[string]any{"restored": page, "tested_at": req.Now})
		if err := emit.Emit(ctx, collectors.Artifact{
			Type:        "restores.tests",
			Subject:     page[0],
			ContentType: "application/json",
			Body:        body,
			ObservedAt:  req.Now,
			Source:      collectors.Source{System: "restores", Endpoint: "/api/tests", Items: len(page)},
		}); err != nil {
			return err // the run was cancelled: return its error
		}
		// Commit this page with the cursor the next run resumes from.
		if err := emit.Checkpoint(ctx, strconv.Itoa(i+len(page))); err != nil {
			return err
		}
	}
	return nil
}

func init() {
	collectors.Register(collectors.Definition{
		Type:          "restores",
		Summary:       "restore tests, one artifact per page of databases",
		EvidenceTypes: []collectors.EvidenceType{{Name: "restores.tests", Controls: []string{"A1.3"}}},
		NewConfig:     func() any { return &restoreConfig{} },
		New: func(cfg any) (collectors.Collector, error) {
			return &restoreCollector{cfg: cfg.(*restoreConfig)}, nil
		},
	})
}

// time0 is the run's clock (Request.Now).
var time0 = time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)

// printEmitter stands in for the engine: it prints what it is given.
type printEmitter struct{}

func (printEmitter) Emit(_ context.Context, a collectors.Artifact) error {
	fmt.Printf("artifact %s subject=%s items=%d body=%s\n", a.Type, a.Subject, a.Source.Items, a.Body)
	return nil
}

func (printEmitter) Checkpoint(_ context.Context, cursor string) error {
	fmt.Printf("checkpoint %q\n", cursor)
	return nil
}

// A complete collector: its configuration struct, its Collect method, its
// registration, and a run. In a real binary the engine decodes the
// configuration file, builds the collector and supplies the Emitter (which
// hashes, records and stores); collectors/collectortest does the same in
// tests.
func Example() {
	var doc yaml.Node
	_ = yaml.Unmarshal([]byte("databases: [orders, billing, users]\n"), &doc)
	c, err := collectors.Build("restores", doc.Content[0], "collectors[0]")
	if err != nil {
		fmt.Println(err)
		return
	}
	req := collectors.Request{Instance: "restores", Cursor: "", Now: time0}
	if err := c.Collect(context.Background(), req, printEmitter{}); err != nil {
		fmt.Println(err)
	}
	// The next run resumes from the last checkpoint.
	req.Cursor = "2"
	_ = c.Collect(context.Background(), req, printEmitter{})
	// Output:
	// artifact restores.tests subject=orders items=2 body={"restored":["orders","billing"],"tested_at":"2026-11-30T12:00:00Z"}
	// checkpoint "2"
	// artifact restores.tests subject=users items=1 body={"restored":["users"],"tested_at":"2026-11-30T12:00:00Z"}
	// checkpoint "3"
	// artifact restores.tests subject=users items=1 body={"restored":["users"],"tested_at":"2026-11-30T12:00:00Z"}
	// checkpoint "3"
}
