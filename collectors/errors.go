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

// partial marks a run that finished with some of its population not
// collected.
type partial struct{ err error }

func (p *partial) Error() string { return p.err.Error() }
func (p *partial) Unwrap() error { return p.err }

// Partial reports that the collector finished and committed everything it
// could; err says what it could not collect (one repository, account or
// region), which the collector has recorded as findings in its evidence.
// The engine records the run's outcome as partial, commits the final cursor
// as for a successful run and does not retry it.
func Partial(err error) error {
	if err == nil {
		return nil
	}
	return &partial{err: err}
}

// IsPartial reports whether err was returned through Partial.
func IsPartial(err error) bool {
	var p *partial
	return errors.As(err, &p)
}
