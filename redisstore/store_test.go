package redisstore_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/guardian-go/guardian"
	"github.com/guardian-go/guardian/internal/testclock"
	"github.com/guardian-go/guardian/redisstore"
	"github.com/guardian-go/guardian/revokertest"
	"github.com/redis/go-redis/v9"
)

func TestConformance(t *testing.T) {
	client := newClient(t, redisOptions(t))
	for _, tt := range []struct {
		name   string
		client redis.UniversalClient
	}{
		// A *redis.Client: one MGET per check.
		{name: "MGET", client: client},
		// An unknown client type: a pipeline of GETs, the Cluster path.
		{name: "Pipeline", client: pipelineOnly{client}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s, _ := newStoreOn(t, tt.client, nil)
			revokertest.Run(t, func(t *testing.T) guardian.Revoker { return s })
		})
	}
}

func TestNew(t *testing.T) {
	client := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1"}) // never dialled
	defer client.Close()
	ring := redis.NewRing(&redis.RingOptions{Addrs: map[string]string{"a": "127.0.0.1:1"}})
	defer ring.Close()
	cluster := redis.NewClusterClient(&redis.ClusterOptions{Addrs: []string{"127.0.0.1:1"}})
	defer cluster.Close()
	cached := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", Protocol: 3, ClientSideCacheConfig: &redis.ClientSideCacheConfig{}})
	defer cached.Close()
	for _, tt := range []struct {
		name    string
		client  redis.UniversalClient
		opts    *redisstore.Options
		wantErr bool
	}{
		{name: "client, default options", client: client},
		{name: "client, WaitReplicas", client: client, opts: &redisstore.Options{WaitReplicas: 1}},
		{name: "cluster", client: cluster, opts: &redisstore.Options{WaitReplicas: 2, WaitTimeout: time.Second}},
		{name: "other client type", client: pipelineOnly{client}, opts: &redisstore.Options{KeyPrefix: "app:"}},
		{name: "nil client", client: nil, wantErr: true},
		{name: "nil *redis.Client", client: (*redis.Client)(nil), wantErr: true},
		{name: "nil *redis.ClusterClient", client: (*redis.ClusterClient)(nil), wantErr: true},
		{name: "ring", client: ring, wantErr: true},
		{name: "client-side caching", client: cached, wantErr: true},
		{name: "other client type with WaitReplicas", client: pipelineOnly{client}, opts: &redisstore.Options{WaitReplicas: 1}, wantErr: true},
		{name: "negative WaitReplicas", client: client, opts: &redisstore.Options{WaitReplicas: -1}, wantErr: true},
		{name: "negative WaitTimeout", client: client, opts: &redisstore.Options{WaitReplicas: 1, WaitTimeout: -time.Second}, wantErr: true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s, err := redisstore.New(tt.client, tt.opts)
			if tt.wantErr {
				if err == nil || s != nil {
					t.Fatalf("New() = %v, %v; want nil, an error", s, err)
				}
				return
			}
			if err != nil || s == nil {
				t.Fatalf("New() = %v, %v; want a Store, nil", s, err)
			}
		})
	}
}

// TestKeyLayout checks the documented key names: prefix, a tag per kind,
// then the ID as it is, for IDs that are awkward in a key, up to the
// longest one guardian allows.
func TestKeyLayout(t *testing.T) {
	s, client, prefix := newStore(t, nil)
	ctx := context.Background()
	for _, id := range []string{"plain", `quo"te'd`, "co:lo:ns", "glob*?[x]{tag}", "unicode-é-漢字-🙂", strings.Repeat("l", guardian.MaxIDLength-len(revokertest.NewID("")))} {
		id := revokertest.NewID("") + id
		at := testclock.Now().Add(-time.Minute)
		for _, r := range []guardian.Revocation{
			{Kind: guardian.ByToken, ID: id, At: at, TTL: time.Hour},
			{Kind: guardian.BySubject, ID: id, At: at, TTL: time.Hour},
			{Kind: guardian.ByFamily, ID: id, At: at, TTL: time.Hour},
		} {
			revokertest.MustRevoke(t, s, r)
		}
		for _, key := range []string{prefix + "jti:" + id, prefix + "sub:" + id, prefix + "fam:" + id} {
			got, err := client.Get(ctx, key).Result()
			if err != nil {
				t.Fatalf("GET %q: %v; want the record there", key, err)
			}
			if want := strconv.FormatInt(at.Unix(), 10); got != want {
				t.Errorf("GET %q = %q, want %q (the Unix second of At)", key, got, want)
			}
		}
	}
	// Nothing else was written under the prefix.
	keys, err := client.Keys(ctx, globEscape(prefix)+"*").Result()
	if err != nil {
		t.Fatal(err)
	}
	if got, want := len(keys), 6*3; got != want {
		t.Errorf("%d keys under the prefix, want %d: %q", got, want, keys)
	}
}

func TestDefaultPrefix(t *testing.T) {
	client := newClient(t, redisOptions(t))
	s, err := redisstore.New(client, nil)
	if err != nil {
		t.Fatal(err)
	}
	id := revokertest.NewID("jti")
	key := redisstore.DefaultKeyPrefix + "jti:" + id
	t.Cleanup(func() { client.Del(context.Background(), key) })
	revokertest.MustRevoke(t, s, guardian.Revocation{Kind: guardian.ByToken, ID: id, At: testclock.Now(), TTL: time.Minute})
	if n, err := client.Exists(context.Background(), key).Result(); err != nil || n != 1 {
		t.Fatalf("EXISTS %q = %d, %v; want 1, nil", key, n, err)
	}
}

// TestPrefixesDoNotMix checks that two Stores with different prefixes on
// one database keep separate records.
func TestPrefixesDoNotMix(t *testing.T) {
	a, client, _ := newStore(t, nil)
	b, _ := newStoreOn(t, client, nil)
	c := claims()
	revokertest.MustRevoke(t, a, guardian.Revocation{Kind: guardian.ByToken, ID: c.ID, At: testclock.Now(), TTL: time.Hour})
	revokertest.WantRevoked(t, a, c, true, "in the store that revoked it")
	revokertest.WantRevoked(t, b, c, false, "in a store with another prefix")
}

// pttl returns the remaining lifetime of key.
func pttl(t *testing.T, client *redis.Client, key string) time.Duration {
	t.Helper()
	d, err := client.PTTL(context.Background(), key).Result()
	if err != nil {
		t.Fatalf("PTTL %q: %v", key, err)
	}
	return d
}

// kinds lists the three kinds of record and the tag of their keys.
var kinds = []struct {
	kind guardian.RevocationKind
	tag  string
}{
	{guardian.ByToken, "jti:"},
	{guardian.BySubject, "sub:"},
	{guardian.ByFamily, "fam:"},
}

// TestTTL checks that each record is kept for its TTL, counted from when
// Redis receives it: PTTL right after Revoke is the TTL less the time the
// call took, never more.
func TestTTL(t *testing.T) {
	s, client, prefix := newStore(t, nil)
	for _, tt := range kinds {
		t.Run(tt.kind.String(), func(t *testing.T) {
			for _, ttl := range []time.Duration{time.Hour, 1500 * time.Millisecond, 30 * 24 * time.Hour, guardian.MaxRevocationTTL} {
				id := revokertest.NewID("id")
				start := time.Now() // elapsed time, on the machine's clock
				revokertest.MustRevoke(t, s, guardian.Revocation{Kind: tt.kind, ID: id, At: testclock.Now(), TTL: ttl})
				got := pttl(t, client, prefix+tt.tag+id)
				elapsed := time.Since(start)
				// PTTL reports whole milliseconds, rounded down.
				if got > ttl || got < ttl-elapsed-time.Millisecond {
					t.Errorf("PTTL after revoking for %v = %v, want within [%v, %v]", ttl, got, ttl-elapsed-time.Millisecond, ttl)
				}
			}
		})
	}
}

// TestTTLRoundsUp checks that a TTL that is not a whole number of
// milliseconds is rounded up, never down: a TTL under a millisecond is
// still recorded (PX 0 would be refused by Redis), and the expiry is at
// least the TTL after the moment Redis received the write.
func TestTTLRoundsUp(t *testing.T) {
	s, client, prefix := newStore(t, nil)
	ctx := context.Background()
	for _, tt := range kinds {
		for _, ttl := range []time.Duration{time.Nanosecond, time.Microsecond, time.Millisecond - time.Nanosecond, time.Millisecond + time.Nanosecond} {
			r := guardian.Revocation{Kind: tt.kind, ID: revokertest.NewID("id"), At: testclock.Now(), TTL: ttl}
			if err := s.Revoke(ctx, r); err != nil {
				t.Errorf("Revoke(%s, TTL %v) = %v, want nil (rounded up to whole milliseconds)", tt.kind, ttl, err)
			}
			if first, err := s.Consume(ctx, guardian.Revocation{Kind: guardian.ByToken, ID: revokertest.NewID("jti"), At: testclock.Now(), TTL: ttl}); err != nil || !first {
				t.Errorf("Consume(TTL %v) = %v, %v; want true, nil", ttl, first, err)
			}
		}
		// An hour and a nanosecond is kept an hour and a millisecond: the
		// absolute expiry (PEXPIRETIME, on the server's clock) is at least
		// that long after the server's time before the write.
		id := revokertest.NewID("id")
		before, err := client.Time(ctx).Result()
		if err != nil {
			t.Fatal(err)
		}
		revokertest.MustRevoke(t, s, guardian.Revocation{Kind: tt.kind, ID: id, At: testclock.Now(), TTL: time.Hour + time.Nanosecond})
		expiry, err := client.PExpireTime(ctx, prefix+tt.tag+id).Result()
		if err != nil {
			t.Fatal(err)
		}
		if held, want := time.Duration(expiry)-time.Duration(before.UnixMilli())*time.Millisecond, time.Hour+time.Millisecond; held < want {
			t.Errorf("%s record of TTL 1h0m0.000000001s expires %v after the write, want at least %v", tt.kind, held, want)
		}
	}
}

// TestAtIsNotAClock checks that At is never compared with the clock of
// Redis or of the machine: a record whose At is years in the past or in the
// future (an issuer whose clock is off, a fixture of a shifted test clock)
// is kept for its TTL all the same, and a subject cut-off still revokes by
// iat alone.
func TestAtIsNotAClock(t *testing.T) {
	s, client, prefix := newStore(t, nil)
	ctx := context.Background()
	const ttl = time.Hour
	year := 365 * 24 * time.Hour
	for _, at := range []time.Time{
		testclock.Now().Add(-10 * year),
		testclock.Now().Add(10 * year),
		time.Unix(1, 0),
	} {
		at = at.Truncate(time.Second)
		for _, tt := range kinds {
			c := claims()
			c.IssuedAt = at
			id := map[guardian.RevocationKind]string{guardian.ByToken: c.ID, guardian.BySubject: c.Subject, guardian.ByFamily: c.Family}[tt.kind]
			revokertest.MustRevoke(t, s, guardian.Revocation{Kind: tt.kind, ID: id, At: at, TTL: ttl})
			if got := pttl(t, client, prefix+tt.tag+id); got < ttl-time.Minute || got > ttl {
				t.Errorf("%s revoked with At %v: PTTL %v, want about %v", tt.kind, at, got, ttl)
			}
			revokertest.WantRevoked(t, s, c, true, fmt.Sprintf("a token issued at %v, by %s revoked with At %v", c.IssuedAt, tt.kind, at))
			if tt.kind == guardian.BySubject {
				later := claims()
				later.Subject = c.Subject
				later.IssuedAt = at.Add(time.Second)
				revokertest.WantRevoked(t, s, later, false, fmt.Sprintf("a token issued the second after the cut-off %v", at))
			}
		}
		id := revokertest.NewID("jti")
		if first, err := s.Consume(ctx, guardian.Revocation{Kind: guardian.ByToken, ID: id, At: at, TTL: ttl}); err != nil || !first {
			t.Errorf("Consume with At %v = %v, %v; want true, nil", at, first, err)
		}
		if got := pttl(t, client, prefix+"jti:"+id); got < ttl-time.Minute || got > ttl {
			t.Errorf("token consumed with At %v: PTTL %v, want about %v", at, got, ttl)
		}
	}
}

// TestExpiryOnlyMovesLater checks that revoking again with a shorter TTL
// keeps the later expiry, and a longer one extends it.
func TestExpiryOnlyMovesLater(t *testing.T) {
	s, client, prefix := newStore(t, nil)
	for _, tt := range kinds {
		t.Run(tt.kind.String(), func(t *testing.T) {
			id := revokertest.NewID("id")
			key := prefix + tt.tag + id
			at := testclock.Now()
			revokertest.MustRevoke(t, s, guardian.Revocation{Kind: tt.kind, ID: id, At: at, TTL: time.Hour})
			revokertest.MustRevoke(t, s, guardian.Revocation{Kind: tt.kind, ID: id, At: at, TTL: time.Minute})
			if got := pttl(t, client, key); got < 59*time.Minute {
				t.Errorf("PTTL after a revocation with a shorter TTL = %v, want about an hour (never shortened)", got)
			}
			revokertest.MustRevoke(t, s, guardian.Revocation{Kind: tt.kind, ID: id, At: at, TTL: 2 * time.Hour})
			if got := pttl(t, client, key); got < 119*time.Minute {
				t.Errorf("PTTL after a revocation with a longer TTL = %v, want about two hours", got)
			}
		})
	}
}

// TestSubjectCutoffConcurrent races many writers on one subject: the
// cut-off that stays is the latest, and the expiry the longest, whatever the
// order the writes arrive in.
func TestSubjectCutoffConcurrent(t *testing.T) {
	s, client, prefix := newStore(t, nil)
	sub := revokertest.NewID("sub")
	base := testclock.Now().Truncate(time.Second).Add(-time.Hour)
	const writers, each = 8, 20
	var wg sync.WaitGroup
	errs := make(chan error, writers*each)
	for w := range writers {
		wg.Go(func() {
			for i := range each {
				// Writer w writes cut-offs w, w+writers, ...; the largest,
				// writers*each-1 seconds after base, comes from the last.
				n := i*writers + w
				r := guardian.Revocation{
					Kind: guardian.BySubject,
					ID:   sub,
					At:   base.Add(time.Duration(n) * time.Second),
					TTL:  time.Hour + time.Duration(n%7)*time.Minute,
				}
				if err := s.Revoke(context.Background(), r); err != nil {
					errs <- err
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("concurrent Revoke: %v", err)
	}
	latest := base.Add((writers*each - 1) * time.Second)
	got, err := client.Get(context.Background(), prefix+"sub:"+sub).Result()
	if err != nil {
		t.Fatal(err)
	}
	if want := strconv.FormatInt(latest.Unix(), 10); got != want {
		t.Errorf("cut-off after concurrent writers = %s, want the latest, %s", got, want)
	}
	if got := pttl(t, client, prefix+"sub:"+sub); got < time.Hour+5*time.Minute {
		t.Errorf("PTTL after concurrent writers = %v, want the longest, about 1h6m", got)
	}
	c := claims()
	c.Subject = sub
	c.IssuedAt = latest
	revokertest.WantRevoked(t, s, c, true, "a token issued at the latest cut-off")
	c.IssuedAt = latest.Add(time.Second)
	revokertest.WantRevoked(t, s, c, false, "a token issued a second after the latest cut-off")
}

// TestRestart checks that revocations outlive the Store and the client: a
// new process (a new client and Store on the same server) still refuses the
// tokens.
func TestRestart(t *testing.T) {
	opts := redisOptions(t)
	second := newClient(t, opts) // the one that cleans up
	prefix := testPrefix(t, second)
	first := redis.NewClient(opts)
	before, err := redisstore.New(first, &redisstore.Options{KeyPrefix: prefix})
	if err != nil {
		t.Fatal(err)
	}
	c, sibling, other := claims(), claims(), claims()
	sibling.Family = c.Family
	other.Subject = c.Subject
	other.IssuedAt = c.IssuedAt.Add(-time.Minute)
	revokertest.MustRevoke(t, before, guardian.Revocation{Kind: guardian.ByToken, ID: c.ID, At: testclock.Now(), TTL: time.Hour})
	revokertest.MustRevoke(t, before, guardian.Revocation{Kind: guardian.ByFamily, ID: c.Family, At: testclock.Now(), TTL: time.Hour})
	revokertest.MustRevoke(t, before, guardian.Revocation{Kind: guardian.BySubject, ID: c.Subject, At: c.IssuedAt.Add(-time.Second), TTL: time.Hour})
	if err := first.Close(); err != nil {
		t.Fatal(err)
	}

	after, err := redisstore.New(second, &redisstore.Options{KeyPrefix: prefix})
	if err != nil {
		t.Fatal(err)
	}
	revokertest.WantRevoked(t, after, c, true, "the revoked token, after a restart")
	revokertest.WantRevoked(t, after, sibling, true, "a token of the revoked family, after a restart")
	revokertest.WantRevoked(t, after, other, true, "a token of the subject before its cut-off, after a restart")
	revokertest.WantRevoked(t, after, claims(), false, "another token, after a restart")
}

// TestDamagedRecords checks that the Store fails closed when a key under its
// prefix does not hold what it wrote: an error, never "not revoked".
func TestDamagedRecords(t *testing.T) {
	client := newClient(t, redisOptions(t))
	ctx := context.Background()
	for _, tt := range []struct {
		name   string
		client redis.UniversalClient
	}{
		{name: "MGET", client: client},
		{name: "Pipeline", client: pipelineOnly{client}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s, prefix := newStoreOn(t, tt.client, nil)
			c := claims()
			if err := client.Set(ctx, prefix+"sub:"+c.Subject, "not a time", time.Minute).Err(); err != nil {
				t.Fatal(err)
			}
			if got, err := s.Revoked(ctx, c); err == nil {
				t.Errorf("Revoked with a damaged subject record = %v, nil; want an error", got)
			}
			c = claims()
			if err := client.HSet(ctx, prefix+"jti:"+c.ID, "field", "value").Err(); err != nil {
				t.Fatal(err)
			}
			if err := s.Revoke(ctx, guardian.Revocation{Kind: guardian.ByToken, ID: c.ID, At: testclock.Now(), TTL: time.Hour}); err == nil {
				t.Error("Revoke over a key of another type = nil, want an error (the token would not read as revoked)")
			}
		})
	}
}

// TestWaitReplicas checks that with WaitReplicas set, Revoke reports a write
// that did not reach enough replicas.
func TestWaitReplicas(t *testing.T) {
	client := newClient(t, redisOptions(t))
	ctx := context.Background()
	info, err := client.Info(ctx, "replication").Result()
	if err != nil {
		t.Fatal(err)
	}
	replicas := 0
	for line := range strings.Lines(info) {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "connected_slaves:"); ok {
			replicas, _ = strconv.Atoi(v)
		}
	}
	s, _ := newStoreOn(t, client, &redisstore.Options{WaitReplicas: replicas + 1, WaitTimeout: 200 * time.Millisecond})
	c := claims()
	start := time.Now()
	err = s.Revoke(ctx, guardian.Revocation{Kind: guardian.ByToken, ID: c.ID, At: testclock.Now(), TTL: time.Hour})
	if !errors.Is(err, redisstore.ErrNotReplicated) {
		t.Fatalf("Revoke waiting for %d replicas of %d = %v, want ErrNotReplicated", replicas+1, replicas, err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("Revoke took %v, want about the 200ms WaitTimeout", d)
	}
	// The primary has the record all the same.
	revokertest.WantRevoked(t, s, c, true, "a token whose revocation is on the primary only")

	// With a replica (not so on the usual test server), every write waits
	// for it, and the Store still passes the conformance suite.
	if replicas > 0 {
		s, _ := newStoreOn(t, client, &redisstore.Options{WaitReplicas: replicas, WaitTimeout: time.Second})
		revokertest.Run(t, func(t *testing.T) guardian.Revoker { return s })
	}
}

// TestConsume checks Consume beyond the conformance suite: it keeps the
// later expiry, and it takes token revocations only.
func TestConsume(t *testing.T) {
	s, client, prefix := newStore(t, nil)
	ctx := context.Background()
	c := claims()
	revokertest.MustRevoke(t, s, guardian.Revocation{Kind: guardian.ByToken, ID: c.ID, At: testclock.Now(), TTL: time.Minute})
	first, err := s.Consume(ctx, guardian.Revocation{Kind: guardian.ByToken, ID: c.ID, At: testclock.Now(), TTL: time.Hour})
	if err != nil || first {
		t.Fatalf("Consume of a revoked token = %v, %v; want false, nil", first, err)
	}
	if got := pttl(t, client, prefix+"jti:"+c.ID); got < 59*time.Minute {
		t.Errorf("PTTL after Consume with a longer TTL = %v, want about an hour", got)
	}
	first, err = s.Consume(ctx, guardian.Revocation{Kind: guardian.ByToken, ID: c.ID, At: testclock.Now(), TTL: time.Minute})
	if err != nil || first {
		t.Fatalf("Consume of a consumed token = %v, %v; want false, nil", first, err)
	}
	if got := pttl(t, client, prefix+"jti:"+c.ID); got < 59*time.Minute {
		t.Errorf("PTTL after Consume with a shorter TTL = %v, want about an hour (never shortened)", got)
	}
	for _, kind := range []guardian.RevocationKind{guardian.BySubject, guardian.ByFamily} {
		_, err := s.Consume(ctx, guardian.Revocation{Kind: kind, ID: c.Subject, At: testclock.Now(), TTL: time.Hour})
		if !errors.Is(err, guardian.ErrInvalidRevocation) || errors.Is(err, guardian.ErrUnavailable) {
			t.Errorf("Consume of a %s revocation = %v, want an error wrapping ErrInvalidRevocation and not ErrUnavailable", kind, err)
		}
	}
	if keys, err := client.Keys(ctx, globEscape(prefix)+"*").Result(); err != nil || len(keys) != 1 {
		t.Errorf("keys under the prefix = %q, %v; want only the consumed token's", keys, err)
	}
}

// TestInvalidRevocation checks that Revoke and Consume refuse what
// Revocation.Validate refuses with an error wrapping ErrInvalidRevocation,
// never ErrUnavailable (guardian would answer 503 for the caller's mistake),
// before any I/O: the client here points at a port where nothing listens,
// and the context is canceled.
func TestInvalidRevocation(t *testing.T) {
	client := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1"}) // never dialled
	defer client.Close()
	s, err := redisstore.New(client, nil)
	if err != nil {
		t.Fatal(err)
	}
	canceled, cancel := context.WithCancel(context.Background())
	cancel()
	now := testclock.Now()
	for _, r := range []guardian.Revocation{
		{Kind: 0, ID: "x", At: now, TTL: time.Hour},
		{Kind: guardian.ByToken, ID: "", At: now, TTL: time.Hour},
		{Kind: guardian.ByToken, ID: "jti\xff", At: now, TTL: time.Hour},
		{Kind: guardian.ByToken, ID: "jti\x00", At: now, TTL: time.Hour},
		{Kind: guardian.ByToken, ID: strings.Repeat("j", guardian.MaxIDLength+1), At: now, TTL: time.Hour},
		{Kind: guardian.ByToken, ID: "jti", At: now},
		{Kind: guardian.ByToken, ID: "jti", At: now, TTL: -time.Millisecond},
		{Kind: guardian.ByToken, ID: "jti", At: now, TTL: guardian.MaxRevocationTTL + time.Nanosecond},
		{Kind: guardian.BySubject, ID: "sub", TTL: time.Hour},
	} {
		for _, ctx := range []context.Context{context.Background(), canceled} {
			err := s.Revoke(ctx, r)
			if !errors.Is(err, guardian.ErrInvalidRevocation) || errors.Is(err, guardian.ErrUnavailable) {
				t.Errorf("Revoke(%s %.20q TTL %v) = %v, want an error wrapping ErrInvalidRevocation and not ErrUnavailable", r.Kind, r.ID, r.TTL, err)
			}
			first, err := s.Consume(ctx, r)
			if first || !errors.Is(err, guardian.ErrInvalidRevocation) || errors.Is(err, guardian.ErrUnavailable) {
				t.Errorf("Consume(%s %.20q TTL %v) = %v, %v; want false and an error wrapping ErrInvalidRevocation and not ErrUnavailable", r.Kind, r.ID, r.TTL, first, err)
			}
		}
	}
}

// TestConsumeRetried loses the reply to Consume's write once: go-redis
// retries the script on a new connection, and Consume must still report
// that it consumed the token (the record is its own), not that someone else
// did, which guardian would take for a stolen refresh token.
func TestConsumeRetried(t *testing.T) {
	opts := redisOptions(t)
	var lost atomic.Bool
	dialer := &net.Dialer{Timeout: opts.DialTimeout}
	opts.Dialer = func(ctx context.Context, network, addr string) (net.Conn, error) {
		conn, err := dialer.DialContext(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		return &replyLosingConn{Conn: conn, lost: &lost}, nil
	}
	client := newClient(t, opts)
	s, _ := newStoreOn(t, client, nil)
	c := claims()
	first, err := s.Consume(context.Background(), guardian.Revocation{Kind: guardian.ByToken, ID: c.ID, At: testclock.Now(), TTL: time.Hour})
	if !lost.Load() {
		t.Fatal("no reply was lost; the test did not test anything")
	}
	if err != nil || !first {
		t.Fatalf("Consume whose reply was lost once = %v, %v; want true, nil", first, err)
	}
	first, err = s.Consume(context.Background(), guardian.Revocation{Kind: guardian.ByToken, ID: c.ID, At: testclock.Now(), TTL: time.Hour})
	if err != nil || first {
		t.Fatalf("a second Consume = %v, %v; want false, nil", first, err)
	}
}

// replyLosingConn delivers the first script run in Consume's mode to Redis,
// reads Redis's reply that it ran, and drops it with the connection, as a
// network failure between a write and its acknowledgment would.
type replyLosingConn struct {
	net.Conn
	lost  *atomic.Bool // set once a reply was dropped, on any connection
	armed bool
}

func (c *replyLosingConn) Write(b []byte) (int, error) {
	c.armed = !c.lost.Load() && bytes.Contains(b, []byte("$4\r\nonce\r\n"))
	return c.Conn.Write(b)
}

func (c *replyLosingConn) Read(b []byte) (int, error) {
	n, err := c.Conn.Read(b)
	// An integer reply means the script ran (NOSCRIPT, an error, does not).
	if c.armed && n > 0 && b[0] == ':' && c.lost.CompareAndSwap(false, true) {
		c.Conn.Close()
		return 0, io.EOF
	}
	return n, err
}

func TestRevokedNilClaims(t *testing.T) {
	client := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1"}) // never dialled
	defer client.Close()
	s, err := redisstore.New(client, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := s.Revoked(context.Background(), nil); err == nil {
		t.Errorf("Revoked(nil) = %v, nil; want an error", got)
	}
}
