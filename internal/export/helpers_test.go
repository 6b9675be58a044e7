package export_test

import (
	"crypto/sha256"

	"github.com/tickmark-dev/tickmark/collectors"
	// the built-in evidence types' item layouts
	_ "github.com/tickmark-dev/tickmark/collectors/all"
)

// test.change_tickets are Jira-shaped tickets with a layout of the tests'
// own: the population mechanics tested here do not follow the Jira
// collector's choice of columns.
func init() {
	collectors.RegisterItems("test.change_tickets", collectors.ItemLayout{Path: "tickets", Key: []string{"key"},
		Fields: []string{"summary", "type", "status", "created", "resolved"}})
}

func sha(b []byte) [32]byte { return sha256.Sum256(b) }
