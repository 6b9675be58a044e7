package collectors_test

import (
	"context"
	"errors"
	"fmt"
	"os"

	"go.yaml.in/yaml/v3"

	"github.com/tickmark-dev/tickmark/collectors"
)

// Credentials are configured as references and resolved when the
// configuration is loaded. Printing a Secret prints its reference.
func ExampleSecret() {
	os.Setenv("EXAMPLE_BACKUP_TOKEN", "s3cr3t-value")
	type config struct {
		Token collectors.Secret `yaml:"token"`
	}
	var doc yaml.Node
	_ = yaml.Unmarshal([]byte("token: env:EXAMPLE_BACKUP_TOKEN\n"), &doc)
	var cfg config
	if err := collectors.DecodeStrict(doc.Content[0], &cfg, "collectors[0].backup"); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(cfg.Token)                                    // safe to log
	fmt.Printf("%+v\n", cfg)                                  // still the reference
	fmt.Println(len(cfg.Token.Value()) > 0)                   // the value, for authenticating only
	_ = yaml.Unmarshal([]byte("token: s3cr3t-value\n"), &doc) // a literal is refused
	fmt.Println(collectors.DecodeStrict(doc.Content[0], &cfg, "collectors[0].backup"))
	// Output:
	// env:EXAMPLE_BACKUP_TOKEN
	// {Token:env:EXAMPLE_BACKUP_TOKEN}
	// true
	// line 1: collectors[0].backup.token: secret given as a literal value; literals are refused so they never land in files, logs or artifacts (hint: write env:NAME to read an environment variable or file:/path to read a file)
}

// NewSecret resolves a reference outside configuration files (in tests, say).
func ExampleNewSecret() {
	os.Setenv("EXAMPLE_API_KEY", "k-123")
	s, err := collectors.NewSecret("env:EXAMPLE_API_KEY")
	fmt.Println(s.Ref(), s.IsSet(), s.Value() == "k-123", err)
	_, err = collectors.NewSecret("env:EXAMPLE_NOT_SET")
	fmt.Println(err)
	// Output:
	// env:EXAMPLE_API_KEY true true <nil>
	// environment variable EXAMPLE_NOT_SET is not set
}

// DecodeStrict refuses unknown keys, naming the line and the key's path.
func ExampleDecodeStrict() {
	type config struct {
		URL      string              `yaml:"url"`
		Lookback collectors.Duration `yaml:"lookback"`
	}
	var doc yaml.Node
	_ = yaml.Unmarshal([]byte("url: https://backup.internal\nlookbak: 30d\n"), &doc)
	var cfg config
	fmt.Println(collectors.DecodeStrict(doc.Content[0], &cfg, "collectors[2].backup"))
	// Output:
	// line 2: collectors[2].backup.lookbak: unknown key (hint: known keys: lookback, url)
}

// A configuration struct with a Validate method gets its errors reported
// with the section's path.
func ExampleConfigError() {
	err := &collectors.ConfigError{Line: 12, Key: "collectors[0].backup.url", Msg: "is required", Hint: "the backup API's base URL"}
	fmt.Println(err)
	// Output:
	// line 12: collectors[0].backup.url: is required (hint: the backup API's base URL)
}

// Durations in configuration accept days and weeks.
func ExampleParseDuration() {
	for _, s := range []string{"90d", "2w", "36h", "1h30m"} {
		d, _ := collectors.ParseDuration(s)
		fmt.Println(s, d.D())
	}
	// Output:
	// 90d 2160h0m0s
	// 2w 336h0m0s
	// 36h 36h0m0s
	// 1h30m 1h30m0s
}

// Classify every error Collect returns: the runner retries retryable
// errors within the run and reports permanent ones for a person to fix.
func ExamplePermanent() {
	denied := collectors.Permanent(errors.New("backup: GET /api/v1/jobs: HTTP 403 (grant the token jobs:read)"))
	busy := collectors.Retryable(errors.New("backup: GET /api/v1/jobs: HTTP 503"))
	wrapped := fmt.Errorf("page 3: %w", busy) // wrapping keeps the classification
	fmt.Println(collectors.IsRetryable(denied), collectors.IsRetryable(busy), collectors.IsRetryable(wrapped))
	fmt.Println(collectors.IsRetryable(context.DeadlineExceeded), collectors.IsRetryable(errors.New("unclassified")))
	// Output:
	// false true true
	// true false
}

// A collector without state can be a function.
func ExampleCollectorFunc() {
	c := collectors.CollectorFunc(func(ctx context.Context, req collectors.Request, emit collectors.Emitter) error {
		return emit.Emit(ctx, collectors.Artifact{Type: "custom.heartbeat", Body: []byte(`{"ok":true}`), ContentType: "application/json"})
	})
	_ = c.Collect(context.Background(), collectors.Request{}, printEmitter{})
	// Output:
	// artifact custom.heartbeat subject= items=0 body={"ok":true}
}

// Lookup finds a registered type: its evidence types and default controls.
func ExampleLookup() {
	d, ok := collectors.Lookup("restores") // registered in this package's example
	fmt.Println(ok, d.Summary, d.DefaultControls("restores.tests"))
	_, ok = collectors.Lookup("no_such_type")
	fmt.Println(ok)
	// Output:
	// true restore tests, one artifact per page of databases [A1.3]
	// false
}
