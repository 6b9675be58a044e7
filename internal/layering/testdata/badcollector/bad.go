// Package badcollector is the layering test's fixture: a collector that
// reaches into the engine's ledger, which the layering forbids. It lives
// under testdata so that no build includes it.
package badcollector

import "github.com/tickmark-dev/tickmark/internal/ledger"

// Agent is the forbidden use.
func Agent(l *ledger.Ledger) string { return l.Agent() }
