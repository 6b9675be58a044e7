package cli

import (
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/tickmark-dev/tickmark/collectors"
	"github.com/tickmark-dev/tickmark/internal/config"
)

// newConfigCmd builds `tickmark config` (listed in root.go).
func newConfigCmd(e *env) *cobra.Command {
	c := &cobra.Command{Use: "config", Short: "Check configuration"}
	var asJSON bool
	validate := &cobra.Command{
		Use:   "validate [FILE]",
		Short: "Check a configuration file and list every problem with its line",
		Long: `Decode the file strictly: unknown keys, wrong types, invalid cron specs,
literal secrets and unset env: variables are all reported, each with its key
and line. Nothing is written. Exit 0 if valid, 2 if not.`,
		Example: "  tickmark config validate /etc/tickmark/config.yaml\n  TICKMARK_CONFIG=tickmark.yaml tickmark config validate --json",
		Args:    cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			path := e.configPath
			if len(args) == 1 {
				path = args[0]
			}
			p, err := config.Resolve(path)
			if err != nil {
				return usageErr(err, "")
			}
			cfg, err := config.Load(p)
			if asJSON {
				type problem struct {
					Line int    `json:"line,omitempty"`
					Key  string `json:"key,omitempty"`
					Msg  string `json:"message"`
					Hint string `json:"hint,omitempty"`
				}
				out := struct {
					File     string    `json:"file"`
					Valid    bool      `json:"valid"`
					Problems []problem `json:"problems"`
				}{File: p, Valid: err == nil, Problems: []problem{}}
				if ces, ok := collectors.AsConfigErrors(err); ok {
					for _, ce := range ces {
						out.Problems = append(out.Problems, problem{ce.Line, ce.Key, ce.Msg, ce.Hint})
					}
				} else if err != nil {
					out.Problems = append(out.Problems, problem{Msg: err.Error()})
				}
				if perr := printJSON(e.stdout, out); perr != nil {
					return perr
				}
				if err != nil {
					return &exitError{code: ExitUsage, err: errors.New("")}
				}
				return nil
			}
			if err != nil {
				if _, ok := collectors.AsConfigErrors(err); ok {
					return fmt.Errorf("%s: %w", p, err)
				}
				return usageErr(err, "")
			}
			fmt.Fprintf(e.stdout, "%s: valid (agent %s, %s store, %d collector%s)\n", p, cfg.Agent.ID, cfg.Store.Type, len(cfg.Collectors), plural(len(cfg.Collectors)))
			return nil
		},
	}
	validate.Flags().BoolVar(&asJSON, "json", false, "print the problems as JSON")
	c.AddCommand(validate)
	return c
}
