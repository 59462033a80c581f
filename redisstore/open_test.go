package redisstore_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/guardian-go/guardian"
	"github.com/guardian-go/guardian/redisstore"
	"github.com/redis/go-redis/v9"
)

// TestOpenRequire: Options.Require makes Open refuse a Redis that persists
// nothing, and accept one with an append-only file; New refuses the option
// rather than ignore it; an unknown level and an unreachable server are
// errors too.
func TestOpenRequire(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	client := func(addr string) redis.UniversalClient {
		c := redis.NewClient(&redis.Options{Addr: addr, ContextTimeoutEnabled: true, DialTimeout: time.Second})
		t.Cleanup(func() { c.Close() })
		return c
	}
	require := &redisstore.Options{Require: redisstore.DurabilityAOFEverySec}

	nothing := startServer(t, "--save", "", "--appendonly", "no")
	s, err := redisstore.Open(ctx, client(nothing.addr), require)
	if !errors.Is(err, redisstore.ErrNotDurable) || s != nil {
		t.Fatalf("Open on a Redis that persists nothing = %v, %v; want nil and ErrNotDurable", s, err)
	}
	if !strings.Contains(err.Error(), nothing.addr) || !strings.Contains(err.Error(), "appendonly yes") {
		t.Errorf("Open's error = %v; want it to name the server and the fix", err)
	}
	if s, err := redisstore.Open(ctx, client(nothing.addr), nil); err != nil || s == nil {
		t.Errorf("Open without Require = %v, %v; want a Store", s, err)
	}

	aof := startServer(t, "--appendonly", "yes", "--appendfsync", "everysec")
	s, err = redisstore.Open(ctx, client(aof.addr), require)
	if err != nil || s == nil {
		t.Fatalf("Open on a Redis with AOF everysec = %v, %v; want a Store", s, err)
	}
	revoked := guardian.Revocation{Kind: guardian.ByToken, ID: "jti-open", At: time.Now(), TTL: time.Minute}
	if err := s.Revoke(ctx, revoked); err != nil {
		t.Errorf("Revoke on the opened Store = %v", err)
	}
	if _, err := redisstore.Open(ctx, client(aof.addr), &redisstore.Options{Require: redisstore.DurabilityAOFAlways}); !errors.Is(err, redisstore.ErrNotDurable) {
		t.Errorf("Open requiring appendfsync always on everysec = %v, want ErrNotDurable", err)
	}

	if s, err := redisstore.New(client(aof.addr), require); err == nil || s != nil || !strings.Contains(err.Error(), "Open") {
		t.Errorf("New with Require = %v, %v; want an error that points to Open", s, err)
	}
	if _, err := redisstore.Open(ctx, client(aof.addr), &redisstore.Options{Require: redisstore.Durability(42)}); err == nil {
		t.Error("Open with an unknown durability succeeded")
	}
	short, cancelShort := context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancelShort()
	start := time.Now()
	_, err = redisstore.Open(short, client("127.0.0.1:1"), require)
	if !errors.Is(err, guardian.ErrUnavailable) || errors.Is(err, redisstore.ErrNotDurable) {
		t.Errorf("Open on an unreachable server = %v, want ErrUnavailable", err)
	}
	if took := time.Since(start); took > 800*time.Millisecond {
		t.Errorf("Open on an unreachable server took %v with a 300ms context", took)
	}
}
