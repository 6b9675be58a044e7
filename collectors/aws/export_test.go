package aws

import (
	"context"
	"time"
)

// SetLookupClocks makes the LookupEvents pacing of each account and region
// use the clock f returns (now, and sleep that advances it), instead of
// the wall clock; it returns a function restoring the wall clock. Limiters
// are created afresh on both sides.
func SetLookupClocks(f func(account, region string) (now func() time.Time, sleep func(time.Duration))) (restore func()) {
	limitersMu.Lock()
	prev := clockFor
	clockFor = func(account, region string) lookupClock {
		now, sleep := f(account, region)
		return funcClock{now, sleep}
	}
	limiters = map[string]*limiter{}
	limitersMu.Unlock()
	return func() {
		limitersMu.Lock()
		clockFor = prev
		limiters = map[string]*limiter{}
		limitersMu.Unlock()
	}
}

type funcClock struct {
	now   func() time.Time
	sleep func(time.Duration)
}

func (c funcClock) Now() time.Time { return c.now() }

func (c funcClock) Sleep(ctx context.Context, d time.Duration) error {
	c.sleep(d)
	return ctx.Err()
}
