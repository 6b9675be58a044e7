package export_test

import (
	"crypto/sha256"

	// the built-in evidence types' item layouts
	_ "github.com/tickmark-dev/tickmark/collectors/all"
)

func sha(b []byte) [32]byte { return sha256.Sum256(b) }
