package app

import "github.com/tickmark-dev/tickmark/internal/engine"

// ErrForeignLog: the store holds checkpoints under this agent's ID that
// this ledger never signed (see engine.CheckOwner).
type ErrForeignLog = engine.ErrForeignLog
