// Package config loads tickmark's YAML configuration: strictly (unknown keys,
// wrong types and invalid values are errors naming the key and the line),
// with secrets as references and collector sections decoded by each
// collector's own typed struct.
package config

import (
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/robfig/cron/v3"
	"go.yaml.in/yaml/v3"
	"golang.org/x/mod/sumdb/note"

	"github.com/tickmark-dev/tickmark/collectors"
	"github.com/tickmark-dev/tickmark/internal/controls"
	"github.com/tickmark-dev/tickmark/internal/evidence"
	"github.com/tickmark-dev/tickmark/internal/ledger"
	"github.com/tickmark-dev/tickmark/internal/store"
	"github.com/tickmark-dev/tickmark/internal/tsa"
)

// EnvVar names the variable that points at the configuration file.
const EnvVar = "TICKMARK_CONFIG"

// DefaultBackfill is how far a first run reaches back.
const DefaultBackfill = collectors.Duration(90 * 24 * 60 * 60 * 1e9)

// Config is the whole configuration file.
type Config struct {
	Agent      Agent             `yaml:"agent"`
	Store      store.Config      `yaml:"store"`
	Runner     Runner            `yaml:"runner"`
	Collectors []CollectorConfig `yaml:"collectors"`
	// Controls selects the organisation control set (default: the shipped set).
	Controls Controls `yaml:"controls"`
	// TimestampAuthority, if set, stamps every checkpoint (RFC 3161).
	TimestampAuthority *tsa.Config `yaml:"timestamp_authority"`
	// Checks configures the control tests (default: the shipped set).
	Checks Checks `yaml:"checks"`
	// Verify pins the key verifiers expect (verify, verify --from-store,
	// verify-package; --key and --key-id override it).
	Verify Verify `yaml:"verify"`

	// Path is the file the configuration was read from.
	Path string `yaml:"-"`
}

// Verify is the `verify:` section: the key the agent's log must be signed
// with (or a key it announced in a rotation), so that a log re-signed
// under another key fails verification.
type Verify struct {
	// Key is the public key in note format ("<origin>+<id>+<base64>", the
	// content of log/<agent>/keys/<id>.pub).
	Key string `yaml:"key"`
	// KeyID is its 8-hex-digit ID (enough when the key itself is published).
	KeyID string `yaml:"key_id"`
}

// Agent identifies this agent and where it keeps its state.
type Agent struct {
	ID      string `yaml:"id"`
	DataDir string `yaml:"data_dir"`
	// Listen is the daemon's address for /healthz, /readyz and /metrics.
	Listen string `yaml:"listen"`
	// LogFormat is "text" or "json" (default: json when stderr is not a terminal).
	LogFormat string `yaml:"log_format"`
	// LogLevel is debug, info, warn or error (default info).
	LogLevel string `yaml:"log_level"`
	// ShutdownGrace is how long the daemon lets running collectors finish
	// after SIGTERM before cancelling them (default 30s; --grace overrides).
	ShutdownGrace collectors.Duration `yaml:"shutdown_grace"`
}

// Controls is the `controls:` section.
type Controls struct {
	// File is a control set YAML (see config/controls.yaml); relative paths
	// are relative to the configuration file. Empty: the shipped set.
	File string `yaml:"file"`
}

// Runner tunes how collectors run.
type Runner struct {
	// Concurrency is how many collectors run at once (default 4).
	Concurrency int `yaml:"concurrency"`
	// Retries is how many times a collector that failed with a retryable
	// error is run again within one run (default 1).
	Retries *int `yaml:"retries"`
	// Jitter delays each scheduled run of the daemon by a random duration
	// up to this bound, so many agents or collectors on one schedule do not
	// hit an API at the same instant (default 0; collectors[].jitter wins).
	Jitter collectors.Duration `yaml:"jitter"`
	// Per-run limits of each collector (0: the defaults; see docs/security.md).
	MaxArtifactsPerRun     int      `yaml:"max_artifacts_per_run"`
	MaxBytesPerRun         ByteSize `yaml:"max_bytes_per_run"`
	MaxControlsPerArtifact int      `yaml:"max_controls_per_artifact"`
	MaxPendingBytes        ByteSize `yaml:"max_pending_bytes"`
}

// CollectorConfig is one collectors[] entry.
type CollectorConfig struct {
	Name     string              `yaml:"name"`
	Type     string              `yaml:"type"`
	Schedule string              `yaml:"schedule"`
	Backfill collectors.Duration `yaml:"backfill"`
	Timeout  collectors.Duration `yaml:"timeout"`
	Controls map[string][]string `yaml:"controls"`
	Disabled bool                `yaml:"disabled"`
	// Jitter overrides runner.jitter for this instance.
	Jitter *collectors.Duration `yaml:"jitter"`

	// Collector is the built collector.
	Collector collectors.Collector `yaml:"-"`
	// Definition is the registered type.
	Definition collectors.Definition `yaml:"-"`
	// Section is the type-specific YAML node (nil if absent).
	Section *yaml.Node `yaml:"-"`
	// Line is where the entry starts.
	Line int `yaml:"-"`
}

var nameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,62}$`)

// commonKeys are the collectors[] keys every type shares.
var commonKeys = map[string]bool{"name": true, "type": true, "schedule": true, "backfill": true, "timeout": true, "controls": true, "disabled": true, "jitter": true}

// CronParser parses collector schedules: standard 5-field specs and
// descriptors (@every 6h, @daily, @hourly, ...). Schedules run in UTC.
var CronParser = cron.NewParser(cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow | cron.Descriptor)

// Load reads, decodes and validates a configuration file. The returned error
// is a collectors.ConfigErrors listing every problem.
func Load(path string) (*Config, error) { return load(path, true) }

// LoadForReading reads and validates a configuration for the read commands
// (verify, evidence list, coverage, export, status, ...): collector sections
// are not built, so their secrets are not resolved and need not be set. The
// entries' names, types and control mappings are still validated. Use Load
// (and `tickmark config validate`) where collectors run.
func LoadForReading(path string) (*Config, error) { return load(path, false) }

func load(path string, build bool) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading configuration: %w", err)
	}
	c, err := parse(data, build)
	if build {
		// The commands that run collectors write the data dir: say so now,
		// with the key and line, rather than at the first commit.
		dir := "/var/lib/tickmark"
		if c != nil {
			dir = c.Agent.DataDir
		} else if d := keyValue(data, "agent", "data_dir"); d != "" {
			dir = d
		}
		if werr := checkWritableDir(dir); werr != nil {
			ce := &collectors.ConfigError{Line: keyLine(data, "agent", "data_dir"), Key: "agent.data_dir", Msg: werr.Error(),
				Hint: "the agent keeps its ledger, spool and signing key there: it must be a writable directory (or one it can create)"}
			ces, _ := collectors.AsConfigErrors(err)
			if err == nil || ces != nil {
				all := append(ces, ce)
				sort.SliceStable(all, func(i, j int) bool { return all[i].Line < all[j].Line })
				return nil, all
			}
		}
	}
	if err != nil {
		return nil, err
	}
	c.Path = path
	if f := c.Controls.File; f != "" && !filepath.IsAbs(f) {
		c.Controls.File = filepath.Join(filepath.Dir(path), f)
	}
	if c.Controls.File != "" {
		if _, err := controls.Load(c.Controls.File); err != nil {
			return nil, collectors.ConfigErrors{{Line: controlsLine(data), Key: "controls.file", Msg: "invalid control set: " + err.Error()}}
		}
	}
	if f := c.Checks.File; f != "" && !filepath.IsAbs(f) {
		c.Checks.File = filepath.Join(filepath.Dir(path), f)
	}
	if _, err := c.CheckSet(); err != nil {
		var doc yaml.Node
		l := 0
		if yaml.Unmarshal(data, &doc) == nil && len(doc.Content) > 0 {
			l = line(doc.Content[0], "checks")
		}
		return nil, collectors.ConfigErrors{{Line: l, Key: "checks", Msg: "invalid checks: " + err.Error()}}
	}
	return c, nil
}

// Parse decodes and validates configuration bytes.
func Parse(data []byte) (*Config, error) { return parse(data, true) }

func parse(data []byte, build bool) (*Config, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, collectors.ConfigErrors{syntaxError(err)}
	}
	if len(doc.Content) == 0 {
		return nil, collectors.ConfigErrors{{Line: 1, Msg: "configuration is empty"}}
	}
	root := doc.Content[0]
	var errs collectors.ConfigErrors
	// Top-level and nested keys except collectors[] sections.
	type topLevel struct {
		Agent      Agent        `yaml:"agent"`
		Store      store.Config `yaml:"store"`
		Runner     Runner       `yaml:"runner"`
		Collectors []yaml.Node  `yaml:"collectors"`
		Controls   Controls     `yaml:"controls"`
		TSA        *tsa.Config  `yaml:"timestamp_authority"`
		Checks     Checks       `yaml:"checks"`
		Verify     Verify       `yaml:"verify"`
	}
	var top topLevel
	if err := collectors.DecodeStrict(root, &top, ""); err != nil {
		ces, ok := collectors.AsConfigErrors(err)
		if !ok {
			return nil, err
		}
		// Keep going: every problem of the file is reported in one pass,
		// the collectors' included.
		errs = append(errs, ces...)
	}
	c := &Config{Agent: top.Agent, Store: top.Store, Runner: top.Runner, Controls: top.Controls, TimestampAuthority: top.TSA, Checks: top.Checks, Verify: top.Verify}
	if err := ValidatePin(c.Verify.Key, c.Verify.KeyID); err != nil {
		errs = append(errs, &collectors.ConfigError{Line: line(root, "verify"), Key: "verify", Msg: err.Error()})
	}
	if t := c.TimestampAuthority; t != nil {
		tn := child(root, "timestamp_authority")
		if t.URL == "" || !(strings.HasPrefix(t.URL, "https://") || strings.HasPrefix(t.URL, "http://")) {
			errs = append(errs, &collectors.ConfigError{Line: line(tn, "url"), Key: "timestamp_authority.url", Msg: "must be the TSA's http(s) URL"})
		}
		if _, err := t.Roots(); err != nil {
			errs = append(errs, &collectors.ConfigError{Line: line(tn, "ca_bundle"), Key: "timestamp_authority.ca_bundle", Msg: err.Error()})
		}
	}
	c.validateChecks(root, &errs)
	c.validateAgent(root, &errs)
	c.validateStore(root, &errs)
	if c.Runner.Concurrency < 0 {
		errs = append(errs, &collectors.ConfigError{Line: line(root, "runner"), Key: "runner.concurrency", Msg: "must be positive"})
	}
	if c.Runner.MaxArtifactsPerRun < 0 {
		errs = append(errs, &collectors.ConfigError{Line: line(root, "runner"), Key: "runner.max_artifacts_per_run", Msg: "must be positive"})
	}
	if c.Runner.MaxControlsPerArtifact < 0 {
		errs = append(errs, &collectors.ConfigError{Line: line(root, "runner"), Key: "runner.max_controls_per_artifact", Msg: "must be positive"})
	}
	names := map[string]int{}
	for i := range top.Collectors {
		n := &top.Collectors[i]
		cc, ces := decodeCollector(n, i, build)
		errs = append(errs, ces...)
		if cc == nil {
			continue
		}
		maxCtl := cmp.Or(c.Runner.MaxControlsPerArtifact, collectors.DefaultMaxControlsPerArtifact)
		for _, et := range slices.Sorted(maps.Keys(cc.Controls)) {
			if len(cc.Controls[et]) > maxCtl {
				errs = append(errs, &collectors.ConfigError{Line: line(child(n, "controls"), et), Key: fmt.Sprintf("collectors[%d].controls.%s", i, et),
					Msg: fmt.Sprintf("maps %d controls, more than %d (runner.max_controls_per_artifact): each is a copy of every artifact in the store", len(cc.Controls[et]), maxCtl)})
			}
		}
		if cc.Name == ChecksInstance {
			errs = append(errs, &collectors.ConfigError{Line: collectors.FieldLine(n, "name"), Key: fmt.Sprintf("collectors[%d].name", i),
				Msg: fmt.Sprintf("the name %q is reserved: check results are recorded under it", ChecksInstance)})
		}
		if prev, dup := names[cc.Name]; dup && cc.Name != "" {
			errs = append(errs, &collectors.ConfigError{Line: collectors.FieldLine(n, "name"), Key: fmt.Sprintf("collectors[%d].name", i),
				Msg: fmt.Sprintf("duplicate collector name %q (also collectors[%d]); names key cursors and objects and must be unique", cc.Name, prev)})
		}
		names[cc.Name] = i
		c.Collectors = append(c.Collectors, *cc)
	}
	if len(errs) > 0 {
		sort.SliceStable(errs, func(i, j int) bool { return errs[i].Line < errs[j].Line })
		return nil, errs
	}
	return c, nil
}

func syntaxError(err error) *collectors.ConfigError {
	msg := err.Error()
	msg = strings.TrimPrefix(msg, "yaml: ")
	ce := &collectors.ConfigError{Msg: "invalid YAML: " + msg}
	if rest, ok := strings.CutPrefix(msg, "line "); ok {
		var l int
		if _, err := fmt.Sscanf(rest, "%d:", &l); err == nil {
			ce.Line = l
			ce.Msg = "invalid YAML: " + strings.TrimSpace(rest[strings.Index(rest, ":")+1:])
		}
	}
	if yamlParserProblems[strings.TrimPrefix(ce.Msg, "invalid YAML: ")] {
		// yaml.v3 reports a parser error's line 0-based (its scanner errors
		// 1-based): the construct that is not closed starts one line later.
		ce.Line++
	}
	return ce
}

// yamlParserProblems are the messages of yaml.v3's parser (parserc.go), as
// opposed to its scanner, whose lines it reports correctly.
var yamlParserProblems = map[string]bool{
	"did not find expected ',' or ']'":       true,
	"did not find expected ',' or '}'":       true,
	"did not find expected '-' indicator":    true,
	"did not find expected <document start>": true,
	"did not find expected <stream-start>":   true,
	"did not find expected key":              true,
	"did not find expected node content":     true,
	"found duplicate %TAG directive":         true,
	"found duplicate %YAML directive":        true,
	"found incompatible YAML document":       true,
	"found undefined tag handle":             true,
}

// ValidatePin checks an expected key (verify.key, --key) and key ID
// (verify.key_id, --key-id): a note verifier key, 8 hex digits, and the
// ID the key's own when both are given.
func ValidatePin(key, keyID string) error {
	if keyID != "" && !keyIDRE.MatchString(keyID) {
		return fmt.Errorf("key ID %q is not 8 lowercase hex digits (the name of log/<agent>/keys/<id>.pub)", keyID)
	}
	if key == "" {
		return nil
	}
	v, err := note.NewVerifier(key)
	if err != nil {
		return fmt.Errorf("key %q is not a public key in note format (<origin>+<id>+<base64>): %v", key, err)
	}
	if id := fmt.Sprintf("%08x", v.KeyHash()); keyID != "" && id != keyID {
		return fmt.Errorf("key ID %s is not the ID of the key given (%s)", keyID, id)
	}
	return nil
}

var keyIDRE = regexp.MustCompile(`^[0-9a-f]{8}$`)

func line(n *yaml.Node, key string) int { return collectors.FieldLine(n, key) }

func child(n *yaml.Node, key string) *yaml.Node {
	if n == nil || n.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return n.Content[i+1]
		}
	}
	return nil
}

func (c *Config) validateAgent(root *yaml.Node, errs *collectors.ConfigErrors) {
	an := child(root, "agent")
	if c.Agent.ID == "" {
		*errs = append(*errs, &collectors.ConfigError{Line: line(root, "agent"), Key: "agent.id", Msg: "is required",
			Hint: "a name unique in your fleet, e.g. prod-1; it appears in object keys and checkpoints"})
	} else if !ledger.ValidAgentID(c.Agent.ID) {
		*errs = append(*errs, &collectors.ConfigError{Line: line(an, "id"), Key: "agent.id", Msg: fmt.Sprintf("invalid agent id %q: use letters, digits, '.', '_' and '-' (at most 63)", c.Agent.ID)})
	}
	if c.Agent.DataDir == "" {
		c.Agent.DataDir = "/var/lib/tickmark"
	}
	switch c.Agent.LogFormat {
	case "", "text", "json":
	default:
		*errs = append(*errs, &collectors.ConfigError{Line: line(an, "log_format"), Key: "agent.log_format", Msg: "must be text or json"})
	}
	switch c.Agent.LogLevel {
	case "", "debug", "info", "warn", "error":
	default:
		*errs = append(*errs, &collectors.ConfigError{Line: line(an, "log_level"), Key: "agent.log_level", Msg: "must be debug, info, warn or error"})
	}
}

func (c *Config) validateStore(root *yaml.Node, errs *collectors.ConfigErrors) {
	sn := child(root, "store")
	if c.Store.Type == "" {
		c.Store.Type = "filesystem"
	}
	switch c.Store.Type {
	case "filesystem":
		if c.Store.Path == "" {
			c.Store.Path = filepath.Join(c.Agent.DataDir, "store")
		}
	case "s3":
		if c.Store.Bucket == "" {
			*errs = append(*errs, &collectors.ConfigError{Line: line(root, "store"), Key: "store.bucket", Msg: "is required for an s3 store"})
		}
		if ol := c.Store.ObjectLock; ol != nil {
			if ol.Mode != "COMPLIANCE" && ol.Mode != "GOVERNANCE" {
				*errs = append(*errs, &collectors.ConfigError{Line: line(child(sn, "object_lock"), "mode"), Key: "store.object_lock.mode", Msg: "must be COMPLIANCE or GOVERNANCE"})
			}
			if ol.RetainDays <= 0 {
				*errs = append(*errs, &collectors.ConfigError{Line: line(child(sn, "object_lock"), "retain_days"), Key: "store.object_lock.retain_days", Msg: "must be a positive number of days"})
			}
		}
		if s := c.Store.SSE; s != nil && s.Type != "AES256" && s.Type != "aws:kms" {
			*errs = append(*errs, &collectors.ConfigError{Line: line(child(sn, "sse"), "type"), Key: "store.sse.type", Msg: "must be AES256 or aws:kms"})
		}
	default:
		known := false
		for _, t := range store.Types() {
			known = known || t == c.Store.Type
		}
		if !known {
			*errs = append(*errs, &collectors.ConfigError{Line: line(sn, "type"), Key: "store.type", Msg: fmt.Sprintf("unknown store type %q (filesystem or s3)", c.Store.Type)})
		}
	}
	if c.Store.Concurrency < 0 {
		*errs = append(*errs, &collectors.ConfigError{Line: line(sn, "concurrency"), Key: "store.concurrency", Msg: "must be positive"})
	}
}

func decodeCollector(n *yaml.Node, i int, build bool) (*CollectorConfig, collectors.ConfigErrors) {
	path := fmt.Sprintf("collectors[%d]", i)
	if n.Kind != yaml.MappingNode {
		return nil, collectors.ConfigErrors{{Line: n.Line, Key: path, Msg: "must be a mapping with name, type, schedule and a section for the type"}}
	}
	var errs collectors.ConfigErrors
	// Split the common keys from the type section.
	common := &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map", Line: n.Line, Column: n.Column}
	typ := ""
	if t := child(n, "type"); t != nil {
		typ = t.Value
	}
	var section *yaml.Node
	for j := 0; j+1 < len(n.Content); j += 2 {
		k, v := n.Content[j], n.Content[j+1]
		switch {
		case commonKeys[k.Value]:
			common.Content = append(common.Content, k, v)
		case typ != "" && k.Value == typ:
			section = v
		default:
			hint := "collector keys: name, type, schedule, backfill, timeout, controls, disabled, jitter"
			if typ != "" {
				hint += ", and the `" + typ + ":` section"
			}
			if _, isType := collectors.Lookup(k.Value); isType && k.Value != typ {
				hint = fmt.Sprintf("this entry has type %q; a %s: section belongs to an entry of type %s", typ, k.Value, k.Value)
			}
			errs = append(errs, &collectors.ConfigError{Line: k.Line, Key: path + "." + k.Value, Msg: "unknown key", Hint: hint})
		}
	}
	cc := &CollectorConfig{Line: n.Line}
	if err := collectors.DecodeStrict(common, cc, path); err != nil {
		ces, _ := collectors.AsConfigErrors(err)
		return nil, append(errs, ces...)
	}
	if cc.Name == "" {
		errs = append(errs, &collectors.ConfigError{Line: n.Line, Key: path + ".name", Msg: "is required"})
	} else if !nameRE.MatchString(cc.Name) {
		errs = append(errs, &collectors.ConfigError{Line: line(n, "name"), Key: path + ".name", Msg: fmt.Sprintf("invalid name %q: lowercase letters, digits, '-' and '_'", cc.Name)})
	}
	if cc.Type == "" {
		errs = append(errs, &collectors.ConfigError{Line: n.Line, Key: path + ".type", Msg: "is required", Hint: "run `tickmark collectors list` for the types"})
		return cc, errs
	}
	if cc.Schedule == "" {
		cc.Schedule = "@every 6h"
	}
	if _, err := CronParser.Parse(cc.Schedule); err != nil {
		errs = append(errs, &collectors.ConfigError{Line: line(n, "schedule"), Key: path + ".schedule", Msg: fmt.Sprintf("invalid cron spec %q: %v", cc.Schedule, err),
			Hint: `use 5 fields ("0 */6 * * *") or a descriptor ("@every 6h", "@daily")`})
	}
	if cc.Backfill == 0 {
		cc.Backfill = DefaultBackfill
	}
	if cc.Timeout == 0 {
		cc.Timeout = collectors.Duration(30 * 60 * 1e9)
	}
	cn := child(n, "controls")
	for et, ids := range cc.Controls {
		if !evidence.ValidType(et) {
			errs = append(errs, &collectors.ConfigError{Line: line(cn, et), Key: path + ".controls." + et, Msg: fmt.Sprintf("invalid evidence type %q (lowercase, dotted: okta.users, custom.backup_test)", et)})
		}
		if len(ids) == 0 {
			errs = append(errs, &collectors.ConfigError{Line: line(cn, et), Key: path + ".controls." + et, Msg: "lists no control IDs"})
		}
		for _, id := range ids {
			if !evidence.ValidControl(id) {
				errs = append(errs, &collectors.ConfigError{Line: line(cn, et), Key: path + ".controls." + et, Msg: fmt.Sprintf("invalid control ID %q", id)})
			}
		}
	}
	def, ok := collectors.Lookup(cc.Type)
	if !ok {
		errs = append(errs, &collectors.ConfigError{Line: line(n, "type"), Key: path + ".type", Msg: fmt.Sprintf("unknown collector type %q", cc.Type),
			Hint: "run `tickmark collectors list` for the types this binary has"})
		return cc, errs
	}
	cc.Definition, cc.Section = def, section
	if !build {
		return cc, errs
	}
	col, err := collectors.Build(cc.Type, section, path)
	if err != nil {
		if ces, ok := collectors.AsConfigErrors(err); ok {
			for _, ce := range ces {
				if ce.Line == 0 {
					ce.Line = n.Line
				}
			}
			errs = append(errs, ces...)
		} else {
			errs = append(errs, &collectors.ConfigError{Line: n.Line, Key: path + "." + cc.Type, Msg: err.Error()})
		}
		return cc, errs
	}
	cc.Collector = col
	return cc, errs
}

// checkWritableDir reports whether dir is (or can be created as) a
// directory this process can write to.
func checkWritableDir(dir string) error {
	p := dir
	for {
		fi, err := os.Stat(p)
		if err == nil {
			if !fi.IsDir() {
				return fmt.Errorf("%s is not a directory", p)
			}
			f, err := os.CreateTemp(p, ".tickmark-write-check-*")
			if err != nil {
				if p == dir {
					return fmt.Errorf("%s is not writable: %v", dir, errors.Unwrap(err))
				}
				return fmt.Errorf("%s does not exist and cannot be created in %s: %v", dir, p, errors.Unwrap(err))
			}
			f.Close()
			os.Remove(f.Name())
			return nil
		}
		if !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("%s: %v", p, errors.Unwrap(err))
		}
		parent := filepath.Dir(p)
		if parent == p {
			return fmt.Errorf("%s cannot be created", dir)
		}
		p = parent
	}
}

// keyLine and keyValue find a nested key in raw configuration bytes.
func keyLine(data []byte, keys ...string) int {
	n := keyNode(data, keys...)
	if n == nil {
		return 0
	}
	return n.Line
}

func keyValue(data []byte, keys ...string) string {
	n := keyNode(data, keys...)
	if n == nil {
		return ""
	}
	return n.Value
}

func keyNode(data []byte, keys ...string) *yaml.Node {
	var doc yaml.Node
	if yaml.Unmarshal(data, &doc) != nil || len(doc.Content) == 0 {
		return nil
	}
	n := doc.Content[0]
	for _, k := range keys {
		if n = child(n, k); n == nil {
			return nil
		}
	}
	return n
}

func controlsLine(data []byte) int {
	var doc yaml.Node
	if yaml.Unmarshal(data, &doc) != nil || len(doc.Content) == 0 {
		return 0
	}
	return line(child(doc.Content[0], "controls"), "file")
}

// Find returns the collector entry with name.
func (c *Config) Find(name string) (*CollectorConfig, bool) {
	for i := range c.Collectors {
		if c.Collectors[i].Name == name {
			return &c.Collectors[i], true
		}
	}
	return nil, false
}

// ControlsFor resolves the controls of an artifact: the entry's `controls`
// mapping wins, then the artifact's own, then the type's defaults.
func (cc *CollectorConfig) ControlsFor(evidenceType string, artifact []string) []string {
	if ids, ok := cc.Controls[evidenceType]; ok {
		return ids
	}
	if len(artifact) > 0 {
		return artifact
	}
	return cc.Definition.DefaultControls(evidenceType)
}

// Schedule parses the entry's cron spec (already validated).
func (cc *CollectorConfig) ParsedSchedule() cron.Schedule {
	s, err := CronParser.Parse(cc.Schedule)
	if err != nil {
		panic(err) // validated in Parse
	}
	return s
}

// Resolve finds the configuration path: the flag, then TICKMARK_CONFIG,
// then ./tickmark.yaml, then /etc/tickmark/config.yaml.
func Resolve(flag string) (string, error) {
	if flag != "" {
		return flag, nil
	}
	if v := os.Getenv(EnvVar); v != "" {
		return v, nil
	}
	for _, p := range []string{"tickmark.yaml", "/etc/tickmark/config.yaml"} {
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	return "", errors.New("no configuration file: pass --config FILE or set TICKMARK_CONFIG")
}

// Marshal writes a configuration as YAML (secrets as their references).
func Marshal(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// JitterBound is the largest random delay before a scheduled run of the
// entry: its own jitter, else runner.jitter.
func (c *Config) JitterBound(cc *CollectorConfig) time.Duration {
	if cc.Jitter != nil {
		return cc.Jitter.D()
	}
	return c.Runner.Jitter.D()
}
