// Command tickmark-acme is tickmark with Acme's own collectors built in.
package main

import (
	"os"

	"github.com/tickmark-dev/tickmark/cmd/tickmark/cli"
	_ "github.com/tickmark-dev/tickmark/collectors/all" // the built-in collectors

	_ "github.com/tickmark-dev/tickmark/docs/examples/backup-collector/backupdb" // yours
)

func main() { os.Exit(cli.Main(os.Args[1:], os.Stdout, os.Stderr)) }
