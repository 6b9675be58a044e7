// Command faultbin is tickmark's CLI with one extra collector, "faultapi",
// a minimal client of a paginated JSON API used by the fault-injection
// suite (internal/faults). It is built the way a team builds its own binary
// with extra collectors (see package cli), so the engine under test is the
// real one.
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"

	"github.com/tickmark-dev/tickmark/cmd/tickmark/cli"
	"github.com/tickmark-dev/tickmark/collectors"
	_ "github.com/tickmark-dev/tickmark/collectors/all"
	"github.com/tickmark-dev/tickmark/collectors/httpx"
)

// Config is the `faultapi:` section.
type Config struct {
	// BaseURL serves GET /items?page=N -> {"items": [...], "next": M}
	// (next 0 on the last page) and GET /export (any bytes), with the
	// engine's rate-limit-aware, retrying client.
	BaseURL string `yaml:"base_url"`
	// Token is sent as a bearer token.
	Token *collectors.Secret `yaml:"token"`
	// Export, if set, also streams GET /export as one artifact.
	Export bool `yaml:"export"`
}

// maxPage bounds one page held in memory.
const maxPage = 8 << 20

func init() {
	collectors.Register(collectors.Definition{
		Type:          "faultapi",
		Summary:       "test collector of a paginated JSON API (fault-injection suite only)",
		EvidenceTypes: []collectors.EvidenceType{{Name: "faultapi.page", Controls: []string{"CC6.1"}}, {Name: "faultapi.export", Controls: []string{"CC6.1"}}},
		NewConfig:     func() any { return &Config{} },
		New: func(cfg any) (collectors.Collector, error) {
			c := cfg.(*Config)
			return collectors.CollectorFunc(func(ctx context.Context, req collectors.Request, emit collectors.Emitter) error {
				return collect(ctx, c, req, emit)
			}), nil
		},
	})
}

func get(ctx context.Context, c *Config, req collectors.Request, path string) (*http.Response, error) {
	hr, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimSuffix(c.BaseURL, "/")+path, nil)
	if err != nil {
		return nil, collectors.Permanent(err)
	}
	if c.Token != nil {
		hr.Header.Set("Authorization", "Bearer "+c.Token.Value())
	}
	resp, err := req.HTTPClient.Do(hr)
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		if collectors.IsClassified(err) {
			return nil, fmt.Errorf("faultapi: GET %s: %w", path, err)
		}
		return nil, collectors.Retryable(fmt.Errorf("faultapi: GET %s: %w", path, err))
	}
	if resp.StatusCode/100 != 2 {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		resp.Body.Close()
		return nil, fmt.Errorf("faultapi: %w", httpx.Classify(httpx.NewStatusError(resp)))
	}
	return resp, nil
}

func collect(ctx context.Context, c *Config, req collectors.Request, emit collectors.Emitter) error {
	// The cursor is the next page to read, "0" once every page is read, and
	// "done" once the export (if any) is collected too.
	if req.Cursor == "done" {
		return nil
	}
	page := 1
	if req.Cursor != "" {
		n, err := strconv.Atoi(req.Cursor)
		if err != nil {
			return collectors.Permanent(fmt.Errorf("faultapi: bad cursor %q", req.Cursor))
		}
		page = n
	}
	for page > 0 {
		path := "/items?page=" + strconv.Itoa(page)
		resp, err := get(ctx, c, req, path)
		if err != nil {
			return err
		}
		body, err := io.ReadAll(io.LimitReader(resp.Body, maxPage+1))
		resp.Body.Close()
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return collectors.Retryable(fmt.Errorf("faultapi: GET %s: reading response: %w", path, err))
		}
		if len(body) > maxPage {
			return collectors.Permanent(fmt.Errorf("faultapi: GET %s: response larger than %d MiB", path, maxPage>>20))
		}
		var p struct {
			Items []json.RawMessage `json:"items"`
			Next  int               `json:"next"`
		}
		if err := json.Unmarshal(body, &p); err != nil {
			return collectors.Permanent(fmt.Errorf("faultapi: GET %s: malformed JSON response: %v", path, err))
		}
		err = emit.Emit(ctx, collectors.Artifact{Type: "faultapi.page", Subject: "page-" + strconv.Itoa(page), ContentType: "application/json", Body: body,
			Source: collectors.Source{System: "faultapi", Endpoint: "/items", Query: "page=" + strconv.Itoa(page), Items: len(p.Items), Pages: 1}})
		if err != nil {
			return err
		}
		page = p.Next
		if err := emit.Checkpoint(ctx, strconv.Itoa(page)); err != nil {
			return err
		}
	}
	if c.Export {
		resp, err := get(ctx, c, req, "/export")
		if err != nil {
			return err
		}
		// Streamed into the spool; the engine closes the body.
		if err := emit.Emit(ctx, collectors.Artifact{Type: "faultapi.export", Subject: "export", ContentType: "application/octet-stream", BodyReader: resp.Body,
			Source: collectors.Source{System: "faultapi", Endpoint: "/export", Complete: true}}); err != nil {
			return err
		}
		return emit.Checkpoint(ctx, "done")
	}
	return nil
}

func main() {
	os.Exit(cli.Main(os.Args[1:], os.Stdout, os.Stderr))
}
