package guardian

import (
	"context"
	"time"
)

// A ReplayCache remembers one-time values, such as the jti of every DPoP
// proof accepted (see [DPoPVerifier]), so that none is accepted twice.
// Implementations must be safe for concurrent use, and shared by every
// instance of a service for its protection to hold across them.
type ReplayCache interface {
	// Use records key for ttl and reports whether this is its first use
	// within that time: true for the first caller, false for every later
	// one, also when they race. An error means the cache could not
	// answer; the caller then refuses (fail closed), and must not assume
	// key was recorded.
	Use(ctx context.Context, key string, ttl time.Duration) (first bool, err error)
}
