package redisstore

import (
	"context"
	"fmt"

	"github.com/redis/go-redis/v9"
)

// Open is [New] followed, when opts.Require is set, by [Store.Check] of
// that durability: it returns the Store only if every primary keeps
// revocations across a restart as required. A Redis that falls short is
// refused with an error wrapping [ErrNotDurable] that names each server,
// its settings and what to set; one that cannot be reached, with an error
// wrapping [guardian.ErrUnavailable]. Open returns by the end of ctx.
//
// It checks once: a server reconfigured later (CONFIG SET appendonly no)
// or failed over to a replica with other settings is not noticed. Call
// [Store.Check] again, e.g. from a health check, to watch for that.
func Open(ctx context.Context, client redis.UniversalClient, opts *Options) (*Store, error) {
	var o Options
	if opts != nil {
		o = *opts
	}
	want := o.Require
	if want < DurabilityUnknown || want > DurabilityAOFAlways {
		return nil, fmt.Errorf("redisstore: Options.Require is an unknown durability %d", int(want))
	}
	o.Require = DurabilityUnknown
	s, err := New(client, &o)
	if err != nil {
		return nil, err
	}
	if want == DurabilityUnknown {
		return s, nil
	}
	if err := s.Check(ctx, want); err != nil {
		return nil, fmt.Errorf("redisstore: open: %w", err)
	}
	return s, nil
}
