package collectors

import (
	"context"
	"errors"
	"net"
)

// classified marks an error as retryable or permanent.
type classified struct {
	err       error
	retryable bool
}

func (c *classified) Error() string { return c.err.Error() }
func (c *classified) Unwrap() error { return c.err }

// Permanent marks err as not worth retrying: bad credentials, a missing
// permission, invalid configuration, a malformed response.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return &classified{err: err, retryable: false}
}

// Retryable marks err as transient: a 5xx, a 429, a timeout, a reset
// connection. The next run (or the runner's retry) may succeed.
func Retryable(err error) error {
	if err == nil {
		return nil
	}
	return &classified{err: err, retryable: true}
}

// IsRetryable reports whether err is worth retrying. Errors classified with
// Permanent or Retryable report that classification; otherwise network
// errors and deadline expiry are retryable and everything else is not.
func IsRetryable(err error) bool {
	var c *classified
	if errors.As(err, &c) {
		return c.retryable
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return true
	}
	var ne net.Error
	return errors.As(err, &ne)
}

// IsClassified reports whether err carries an explicit classification.
func IsClassified(err error) bool {
	var c *classified
	return errors.As(err, &c)
}
