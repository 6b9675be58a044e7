// Command tickmark collects SOC 2 evidence continuously and proves it.
package main

import (
	"os"

	"github.com/tickmark-dev/tickmark/cmd/tickmark/cli"
	_ "github.com/tickmark-dev/tickmark/collectors/all"
)

func main() {
	os.Exit(cli.Main(os.Args[1:], os.Stdout, os.Stderr))
}
