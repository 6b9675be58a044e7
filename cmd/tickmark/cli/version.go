package cli

import (
	"fmt"
	"runtime"

	"github.com/spf13/cobra"

	"github.com/tickmark-dev/tickmark/internal/app"
)

// newVersionCmd builds `tickmark version` (listed in root.go).
func newVersionCmd(e *env) *cobra.Command {
	var asJSON bool
	c := &cobra.Command{
		Use:     "version",
		Short:   "Print the version",
		Args:    cobra.NoArgs,
		Example: "  tickmark version --json",
		RunE: func(cmd *cobra.Command, _ []string) error {
			if asJSON {
				return printJSON(e.stdout, map[string]string{"version": app.Version, "go": runtime.Version(), "platform": runtime.GOOS + "/" + runtime.GOARCH})
			}
			fmt.Fprintf(e.stdout, "tickmark %s (%s, %s/%s)\n", app.Version, runtime.Version(), runtime.GOOS, runtime.GOARCH)
			return nil
		},
	}
	c.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return c
}
