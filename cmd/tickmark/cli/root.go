// Package cli is tickmark's command line, one file per command. It is public
// so a team can build its own binary with extra collectors:
//
//	package main
//
//	import (
//		"os"
//
//		_ "github.com/tickmark-dev/tickmark/collectors/all" // the built-ins
//		"github.com/tickmark-dev/tickmark/cmd/tickmark/cli"
//		_ "example.com/acme/backupdb"                       // your collector
//	)
//
//	func main() { os.Exit(cli.Main(os.Args[1:], os.Stdout, os.Stderr)) }
package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/tickmark-dev/tickmark/collectors"
	"github.com/tickmark-dev/tickmark/collectors/redact"
	"github.com/tickmark-dev/tickmark/internal/config"
	"github.com/tickmark-dev/tickmark/internal/ledger"
	"github.com/tickmark-dev/tickmark/internal/store"
)

// Exit codes (documented in docs/cli.md).
const (
	ExitOK      = 0 // success
	ExitFailure = 1 // the job ran but something failed (a collector, a push, a verification)
	ExitUsage   = 2 // bad usage or invalid configuration
)

// exitError carries an exit code and an optional hint.
type exitError struct {
	code int
	err  error
	hint string
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

func usageErr(err error, hint string) error { return &exitError{code: ExitUsage, err: err, hint: hint} }
func failErr(err error, hint string) error {
	return &exitError{code: ExitFailure, err: err, hint: hint}
}

// silentFailure exits 1 without printing (the command already reported).
var silentFailure = &exitError{code: ExitFailure, err: errors.New("")}

// env is what every command shares; a fresh one per invocation, so tests
// never see another invocation's flags.
type env struct {
	stdout, stderr io.Writer
	configPath     string
	logFormat      string
	logLevel       string
	ctx            context.Context
	// now is the engine clock (nil: time.Now); tests fake it.
	now func() time.Time
}

// Main runs the CLI and returns the process exit code.
func Main(args []string, stdout, stderr io.Writer) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return MainContext(ctx, args, stdout, stderr)
}

// MainContext is Main with a caller-supplied context.
func MainContext(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	e := &env{stdout: stdout, stderr: stderr, ctx: ctx}
	root := newRoot(e)
	root.SetArgs(args)
	root.SetOut(stdout)
	root.SetErr(stderr)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return ExitOK
	}
	return report(stderr, err)
}

func report(w io.Writer, err error) int {
	var ee *exitError
	code := ExitFailure
	hint := ""
	if errors.As(err, &ee) {
		code, hint = ee.code, ee.hint
		if ee == silentFailure {
			return code
		}
	} else if isUsage(err) {
		code = ExitUsage
		hint = "run `tickmark --help` or `tickmark <command> --help`"
	}
	var sce *store.ConfigError
	if errors.As(err, &sce) {
		code, hint = ExitUsage, sce.Hint
		err = fmt.Errorf("invalid configuration: %s", sce.Msg)
	}
	if ces, ok := collectors.AsConfigErrors(err); ok {
		fmt.Fprintf(w, "tickmark: error: invalid configuration (%d problem%s):\n", len(ces), plural(len(ces)))
		for _, ce := range ces {
			fmt.Fprintf(w, "  %s\n", ce.Error())
		}
		return ExitUsage
	}
	fmt.Fprintf(w, "tickmark: error: %s\n", err)
	if hint == "" && errors.Is(err, ledger.ErrLocked) {
		hint = "another tickmark process uses this data dir; in Kubernetes set concurrencyPolicy: Forbid"
	}
	if hint != "" {
		fmt.Fprintf(w, "hint: %s\n", hint)
	}
	return code
}

func isUsage(err error) bool {
	msg := err.Error()
	for _, p := range []string{"unknown command", "unknown flag", "unknown shorthand flag", "flag needs an argument", "invalid argument", "accepts ", "requires at least", "required flag"} {
		if strings.Contains(msg, p) {
			return true
		}
	}
	return false
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

func newRoot(e *env) *cobra.Command {
	root := &cobra.Command{
		Use:   "tickmark",
		Short: "Collect SOC 2 evidence continuously, and prove it",
		Long: `tickmark collects audit evidence from the systems where the work happens,
records each artifact in a signed, append-only Merkle log, and files it in
object storage under the SOC 2 controls it supports.

Exit codes: 0 success; 1 the job ran but something failed (a collector, a
push, a verification); 2 bad usage or invalid configuration.`,
		Example: `  tickmark demo                              # try it: sample sources, no credentials
  tickmark config validate --config tickmark.yaml
  tickmark run --once --config tickmark.yaml
  tickmark verify --config tickmark.yaml
  tickmark evidence list --control CC6.1 --from 2026-11-01 --to 2026-11-30`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.PersistentFlags().StringVar(&e.configPath, "config", "", "configuration file (default $TICKMARK_CONFIG, ./tickmark.yaml, /etc/tickmark/config.yaml)")
	root.PersistentFlags().StringVar(&e.logFormat, "log-format", "", "log format: text or json (default: agent.log_format, else text on a terminal, json otherwise)")
	root.PersistentFlags().StringVar(&e.logLevel, "log-level", "", "log level: debug, info, warn, error (default: agent.log_level, else info)")
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		return usageErr(err, fmt.Sprintf("run `%s --help`", c.CommandPath()))
	})
	// Every command, explicitly (no init() registration).
	for _, add := range []func(*env) *cobra.Command{
		newChecksCmd,
		newCollectorsCmd,
		newConfigCmd,
		newControlsCmd,
		newCoverageCmd,
		newDemoCmd,
		newEvidenceCmd,
		newExportCmd,
		newKeygenCmd,
		newLedgerCmd,
		newPopulationCmd,
		newRunCmd,
		newSampleCmd,
		newServeCmd,
		newStatusCmd,
		newVerifyCmd,
		newVerifyPackageCmd,
		newVersionCmd,
	} {
		root.AddCommand(add(e))
	}
	requireKnownSubcommands(root)
	return root
}

// requireKnownSubcommands makes every command group (config, evidence,
// ledger, ...) refuse an unknown subcommand with exit 2 and cobra's "did you
// mean" suggestions; without one it prints the group's help. Cobra's default
// for a group without Run is to print help and exit 0, so a typo such as
// `config valdate` would look like success.
func requireKnownSubcommands(c *cobra.Command) {
	for _, sub := range c.Commands() {
		requireKnownSubcommands(sub)
	}
	if c.Parent() == nil || !c.HasSubCommands() || c.Run != nil || c.RunE != nil {
		return
	}
	c.Args = cobra.ArbitraryArgs
	c.RunE = func(cmd *cobra.Command, args []string) error {
		if len(args) == 0 {
			return cmd.Help()
		}
		if cmd.SuggestionsMinimumDistance <= 0 {
			cmd.SuggestionsMinimumDistance = 2
		}
		msg := fmt.Sprintf("unknown command %q for %q", args[0], cmd.CommandPath())
		if s := cmd.SuggestionsFor(args[0]); len(s) > 0 {
			msg += "; did you mean " + strings.Join(s, " or ") + "?"
		}
		return usageErr(errors.New(msg), fmt.Sprintf("run `%s --help` for its commands", cmd.CommandPath()))
	}
}

// loadConfig resolves and loads the configuration, building every collector
// (their secrets must resolve): for the commands that run collectors.
func (e *env) loadConfig() (*config.Config, error) { return e.loadConfigWith(config.Load) }

// loadConfigForReading loads the configuration without building collectors:
// read commands need no collector secret.
func (e *env) loadConfigForReading() (*config.Config, error) {
	return e.loadConfigWith(config.LoadForReading)
}

func (e *env) loadConfigWith(load func(string) (*config.Config, error)) (*config.Config, error) {
	p, err := config.Resolve(e.configPath)
	if err != nil {
		return nil, usageErr(err, "see config/tickmark.example.yaml for a starting point")
	}
	cfg, err := load(p)
	if err != nil {
		if _, ok := collectors.AsConfigErrors(err); ok {
			return nil, fmt.Errorf("%s: %w", p, err)
		}
		return nil, usageErr(err, "")
	}
	return cfg, nil
}

// logger builds the process logger. Never logs bodies or secrets.
func (e *env) logger(cfg *config.Config) *slog.Logger {
	format, level := e.logFormat, e.logLevel
	if cfg != nil {
		if format == "" {
			format = cfg.Agent.LogFormat
		}
		if level == "" {
			level = cfg.Agent.LogLevel
		}
	}
	var lv slog.Level
	switch level {
	case "debug":
		lv = slog.LevelDebug
	case "warn":
		lv = slog.LevelWarn
	case "error":
		lv = slog.LevelError
	default:
		lv = slog.LevelInfo
	}
	opts := &slog.HandlerOptions{Level: lv}
	if format == "" {
		format = "json"
		if f, ok := e.stderr.(*os.File); ok && isTerminal(f) {
			format = "text"
		}
	}
	var h slog.Handler = slog.NewJSONHandler(e.stderr, opts)
	if format == "text" {
		h = slog.NewTextHandler(e.stderr, opts)
	}
	// Every secret the configuration resolved is scrubbed from every line.
	return slog.New(redact.Handler(h, collectors.SecretRedactor()))
}

func isTerminal(f *os.File) bool {
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}

func jsonLineEncoder(w io.Writer) *json.Encoder {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	return enc
}
