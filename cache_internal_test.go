package guardian

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"
)

func cacheFixture(t *testing.T, size int) (*Issuer, *Key, *time.Time) {
	t.Helper()
	key, err := NewHMACKey("k1", HS256, []byte("0123456789abcdef0123456789abcdef"))
	if err != nil {
		t.Fatal(err)
	}
	keys, err := NewKeySet(key)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Unix(1_800_000_000, 0)
	i, err := NewIssuer(keys, &IssuerOptions{CacheSize: size, Revoker: NewMemoryRevoker(&MemoryRevokerOptions{Clock: func() time.Time { return now }}), Clock: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	return i, key, &now
}

// TestCachedClaimsAreCopies: a handler that changes the claims of its
// request (a bug, but a likely one) must not change what the next request
// with the same token sees.
func TestCachedClaimsAreCopies(t *testing.T) {
	ctx := context.Background()
	i, _, _ := cacheFixture(t, 100)
	i.aud = []string{"app"}
	tok, err := i.Issue(ctx, "u1", nil)
	if err != nil {
		t.Fatal(err)
	}
	for range 2 { // the miss, then a hit
		c, err := i.Verify(ctx, tok.Raw)
		if err != nil {
			t.Fatal(err)
		}
		if c.Subject != "u1" || len(c.Audience) != 1 || c.Audience[0] != "app" {
			t.Fatalf("claims %+v: an earlier request's changes leaked through the cache", c)
		}
		c.Subject, c.Audience[0], c.Type = "admin", "other", RefreshToken
	}
}

func TestCacheKeepsEveryCheckButTheSignature(t *testing.T) {
	ctx := context.Background()
	i, _, now := cacheFixture(t, 100)
	tok, err := i.Issue(ctx, "u1", nil)
	if err != nil {
		t.Fatal(err)
	}
	first, err := i.Verify(ctx, tok.Raw)
	if err != nil {
		t.Fatal(err)
	}
	second, err := i.Verify(ctx, tok.Raw)
	if err != nil {
		t.Fatal(err)
	}
	if _, hit := i.keys.Load().cache.get(tok.Raw); !hit || first == second {
		t.Fatalf("cache hit %v, same *Claims for two requests %v; want a hit, answered with a copy", hit, first == second)
	}
	if _, err := i.Verify(ctx, tok.Raw, RefreshToken); !errors.Is(err, ErrTokenType) {
		t.Fatalf("cached token of the wrong type: got %v, want ErrTokenType", err)
	}
	if err := i.revokeClaims(ctx, first); err != nil {
		t.Fatal(err)
	}
	if _, err := i.Verify(ctx, tok.Raw); !errors.Is(err, ErrRevoked) {
		t.Fatalf("cached revoked token: got %v, want ErrRevoked", err)
	}

	other, _ := i.Issue(ctx, "u2", nil)
	if _, err := i.Verify(ctx, other.Raw); err != nil {
		t.Fatal(err)
	}
	*now = now.Add(DefaultAccessTTL)
	if _, err := i.Verify(ctx, other.Raw); !errors.Is(err, ErrExpired) {
		t.Fatalf("cached expired token: got %v, want ErrExpired", err)
	}
}

func TestCacheIsBounded(t *testing.T) {
	ctx := context.Background()
	i, _, _ := cacheFixture(t, 32)
	for n := range 500 {
		tok, err := i.Issue(ctx, fmt.Sprint("u", n), nil)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := i.Verify(ctx, tok.Raw); err != nil {
			t.Fatal(err)
		}
	}
	if got := i.keys.Load().cache.len(); got > 32 {
		t.Fatalf("cache holds %d tokens, want at most 32", got)
	}
}

func TestCacheSkipsFailures(t *testing.T) {
	ctx := context.Background()
	i, _, _ := cacheFixture(t, 100)
	tok, _ := i.Issue(ctx, "u1", &IssueOptions{Type: RefreshToken})
	if _, err := i.Verify(ctx, tok.Raw); !errors.Is(err, ErrTokenType) {
		t.Fatalf("got %v, want ErrTokenType", err)
	}
	// A character well inside the signature, changed: its last
	// characters may carry unused bits, and "AA" may be what was there.
	k := len(tok.Raw) - 10
	swap := byte('A')
	if tok.Raw[k] == 'A' {
		swap = 'B'
	}
	tampered := tok.Raw[:k] + string(swap) + tok.Raw[k+1:]
	if _, err := i.Verify(ctx, tampered, RefreshToken); !errors.Is(err, ErrInvalidSignature) {
		t.Fatalf("tampered token: got %v, want ErrInvalidSignature", err)
	}
	if got := i.keys.Load().cache.len(); got != 0 {
		t.Fatalf("cache holds %d tokens after failures only, want 0", got)
	}
}

func TestRotateDropsCacheAndOldKeys(t *testing.T) {
	ctx := context.Background()
	i, oldKey, _ := cacheFixture(t, 100)
	oldTok, _ := i.Issue(ctx, "u1", nil)
	if _, err := i.Verify(ctx, oldTok.Raw); err != nil {
		t.Fatal(err)
	}
	newKey, _ := NewHMACKey("k2", HS256, []byte("another secret of thirty-two b.."))

	// Rotation keeping the old key for verification: old tokens still pass.
	keep, _ := NewKeySet(newKey, oldKey)
	if err := i.Rotate(keep); err != nil {
		t.Fatal(err)
	}
	if _, err := i.Verify(ctx, oldTok.Raw); err != nil {
		t.Fatalf("old token after a rotation that keeps its key: %v", err)
	}
	newTok, _ := i.Issue(ctx, "u1", nil)
	if h, _, _ := i.Peek(ctx, newTok.Raw); h.KeyID != "k2" {
		t.Fatalf("new tokens have kid %q, want k2", h.KeyID)
	}

	// Rotation dropping the old key: old tokens fail although they were cached.
	drop, _ := NewKeySet(newKey)
	if err := i.Rotate(drop); err != nil {
		t.Fatal(err)
	}
	if _, err := i.Verify(ctx, oldTok.Raw); !errors.Is(err, ErrUnknownKey) {
		t.Fatalf("cached token of a dropped key: got %v, want ErrUnknownKey", err)
	}
	if err := i.Rotate(nil); err == nil {
		t.Fatal("Rotate(nil) succeeded")
	}
}

// len counts the cached tokens.
func (c *verifiedCache) len() int {
	n := 0
	for i := range c.shards {
		s := &c.shards[i]
		s.mu.RLock()
		n += len(s.entries)
		s.mu.RUnlock()
	}
	return n
}
