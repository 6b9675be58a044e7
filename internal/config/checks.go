package config

import (
	"fmt"
	"os"
	"sync"

	"go.yaml.in/yaml/v3"

	"github.com/tickmark-dev/tickmark/collectors"
	shipped "github.com/tickmark-dev/tickmark/config"
	"github.com/tickmark-dev/tickmark/internal/checks"
)

// ChecksInstance is the collector instance name check results are
// recorded under (reserved).
const ChecksInstance = "checks"

// Checks is the `checks:` section: which control tests run, with what
// parameters and identity map, and where alerts go.
type Checks struct {
	// File is a checks YAML (see config/checks.yaml); relative paths are
	// relative to the configuration file. Empty: the shipped set.
	File string `yaml:"file"`
	// Disabled lists check IDs not to run.
	Disabled []string `yaml:"disabled"`
	// Params override check parameters: check ID -> name -> value.
	Params map[string]map[string]any `yaml:"params"`
	// Window is how far back event evidence is tested (default 30d);
	// snapshot evidence (users, settings) is the latest run in it.
	Window collectors.Duration `yaml:"window"`
	// AfterRun: evaluate the checks after each collection run (`run
	// --once` and the daemon); default true.
	AfterRun *bool `yaml:"after_run"`
	// Identities map people across systems for cross-source checks.
	Identities []checks.Identity `yaml:"identities"`
	// Webhook receives a POST when a check goes from passing to failing.
	Webhook *Webhook `yaml:"webhook"`

	set *checks.Set
}

// Webhook is where alerts are posted.
type Webhook struct {
	// URL is a secret reference (env:NAME or file:/path): webhook URLs
	// carry their credential.
	URL collectors.Secret `yaml:"url"`
	// Format is json (default), slack or teams.
	Format string `yaml:"format"`
}

// DefaultChecksWindow is checks.window's default.
const DefaultChecksWindow = collectors.Duration(30 * 24 * 60 * 60 * 1e9)

// RunAfterCollection reports whether checks run after each collection run.
func (c *Checks) RunAfterCollection() bool { return c.AfterRun == nil || *c.AfterRun }

// WindowOrDefault is the window, defaulted.
func (c *Checks) WindowOrDefault() collectors.Duration {
	if c.Window <= 0 {
		return DefaultChecksWindow
	}
	return c.Window
}

// checkSetMu serialises CheckSet: the daemon's concurrent runs ask for
// the set at the same time.
var checkSetMu sync.Mutex

// CheckSet compiles the configured checks (once).
func (c *Config) CheckSet() (*checks.Set, error) {
	checkSetMu.Lock()
	defer checkSetMu.Unlock()
	if c.Checks.set != nil {
		return c.Checks.set, nil
	}
	ids, err := checks.NewIdentities(c.Checks.Identities)
	if err != nil {
		return nil, err
	}
	data, name := shipped.Checks, "checks.yaml (shipped)"
	if c.Checks.File != "" {
		if data, err = os.ReadFile(c.Checks.File); err != nil {
			return nil, fmt.Errorf("reading checks.file: %w", err)
		}
		name = c.Checks.File
	}
	set, err := checks.Load(data, name, checks.Options{Identities: ids, Params: c.Checks.Params, Disabled: c.Checks.Disabled})
	if err != nil {
		return nil, err
	}
	c.Checks.set = set
	return set, nil
}

func (c *Config) validateChecks(root *yaml.Node, errs *collectors.ConfigErrors) {
	cn := child(root, "checks")
	if w := c.Checks.Webhook; w != nil {
		wn := child(cn, "webhook")
		if !w.URL.IsSet() {
			*errs = append(*errs, &collectors.ConfigError{Line: line(cn, "webhook"), Key: "checks.webhook.url", Msg: "is required (env:NAME or file:/path)"})
		}
		switch w.Format {
		case "", "json", "slack", "teams":
		default:
			*errs = append(*errs, &collectors.ConfigError{Line: line(wn, "format"), Key: "checks.webhook.format", Msg: "must be json, slack or teams"})
		}
	}
	if _, err := checks.NewIdentities(c.Checks.Identities); err != nil {
		*errs = append(*errs, &collectors.ConfigError{Line: line(cn, "identities"), Key: "checks.identities", Msg: err.Error()})
	}
}
