package collectors

import (
	"sync"

	"github.com/tickmark-dev/tickmark/collectors/redact"
)

// The secret values this process has resolved (every Secret, and what a
// collector registers with RegisterSecretValue), so that text from a
// collector — its errors, logs, a script's stderr, an HTTP error body — is
// scrubbed of them before it is logged, recorded or published.
var secretSet struct {
	sync.Mutex
	values map[string]bool
	red    *redact.Redactor
}

// RegisterSecretValue adds a value that must never appear in logs, the
// ledger or the bucket. Secret fields register themselves when resolved;
// a collector that passes other credentials along (exec passes listed
// environment variables to its command) registers them.
func RegisterSecretValue(v string) {
	if len(v) < redact.MinLen {
		return
	}
	secretSet.Lock()
	defer secretSet.Unlock()
	if secretSet.values[v] {
		return
	}
	if secretSet.values == nil {
		secretSet.values = map[string]bool{}
	}
	secretSet.values[v] = true
	secretSet.red = nil
}

// SecretRedactor returns a Redactor for every registered secret value.
func SecretRedactor() *redact.Redactor {
	secretSet.Lock()
	defer secretSet.Unlock()
	if secretSet.red == nil {
		vs := make([]string, 0, len(secretSet.values))
		for v := range secretSet.values {
			vs = append(vs, v)
		}
		secretSet.red = redact.New(vs...)
	}
	return secretSet.red
}
