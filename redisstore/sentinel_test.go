package redisstore_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/guardian-go/guardian"
	"github.com/guardian-go/guardian/internal/testclock"
	"github.com/guardian-go/guardian/redisstore"
	"github.com/guardian-go/guardian/revokertest"
	"github.com/redis/go-redis/v9"
)

// sentinelEnv names the sentinels of a Sentinel setup for the Sentinel
// tests, comma-separated, and sentinelMasterEnv its master name (default
// "guardian"). scripts/test.sh starts one (scripts/redis-topologies.sh): a
// primary and a replica under three sentinels. Without it the tests skip;
// with CI=true they fail.
const (
	sentinelEnv       = "GUARDIAN_TEST_REDIS_SENTINEL_ADDRS"
	sentinelMasterEnv = "GUARDIAN_TEST_REDIS_SENTINEL_MASTER"
)

// sentinels is a Sentinel setup under test.
type sentinels struct {
	addrs  []string
	master string
}

// newSentinels returns the Sentinel setup of the environment once it is
// healthy: the sentinels agree on a primary, which has a replica in sync
// that every sentinel would promote.
func newSentinels(t *testing.T) *sentinels {
	t.Helper()
	s := &sentinels{addrs: strings.Split(topologyEnv(t, sentinelEnv, "Redis Sentinel"), ","), master: os.Getenv(sentinelMasterEnv)}
	if s.master == "" {
		s.master = "guardian"
	}
	eventually(t, 30*time.Second, "the Sentinel setup healthy", func() error {
		_, _, err := s.healthy(t)
		return err
	})
	return s
}

// healthy returns the primary and its replica when the setup is healthy.
func (s *sentinels) healthy(t *testing.T) (primary, replica string, err error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for _, addr := range s.addrs {
		sc := s.sentinel(addr)
		defer sc.Close()
		m, err := sc.GetMasterAddrByName(ctx, s.master).Result()
		if err != nil {
			return "", "", fmt.Errorf("sentinel %s: %w", addr, err)
		}
		if got := net.JoinHostPort(m[0], m[1]); primary == "" {
			primary = got
		} else if got != primary {
			return "", "", fmt.Errorf("sentinels disagree on the primary: %s and %s", primary, got)
		}
		info, err := sc.Master(ctx, s.master).Result()
		if err != nil {
			return "", "", err
		}
		if info["flags"] != "master" {
			return "", "", fmt.Errorf("sentinel %s: master flags %q", addr, info["flags"])
		}
		replicas, err := sc.Replicas(ctx, s.master).Result()
		if err != nil {
			return "", "", err
		}
		good := ""
		for _, r := range replicas {
			// master-link-status is as of the sentinel's last INFO of the
			// replica, up to 10 s old: the servers are asked below.
			if r["flags"] == "slave" {
				good = net.JoinHostPort(r["ip"], r["port"])
			}
		}
		if good == "" {
			return "", "", fmt.Errorf("sentinel %s knows no replica that is up: %v", addr, replicas)
		}
		replica = good
	}
	return primary, replica, replicaOnline(ctx, primary)
}

// replicaOnline checks that the server at primary is a master with a
// replica in sync.
func replicaOnline(ctx context.Context, primary string) error {
	c := redis.NewClient(&redis.Options{Addr: primary})
	defer c.Close()
	repl, err := c.Info(ctx, "replication").Result()
	if err != nil {
		return err
	}
	if r, _ := infoValue(repl, "role"); r != "master" {
		return fmt.Errorf("primary %s has role %s", primary, r)
	}
	if v, _ := infoValue(repl, "slave0"); !strings.Contains(v, "state=online") {
		return fmt.Errorf("primary %s has no replica online: %q", primary, v)
	}
	return nil
}

// sentinel returns a client of one sentinel; the caller closes it.
func (s *sentinels) sentinel(addr string) *redis.SentinelClient {
	return redis.NewSentinelClient(&redis.Options{Addr: addr, DialTimeout: time.Second, ReadTimeout: 2 * time.Second})
}

// client returns a failover client, closed when the test ends.
func (s *sentinels) client(t *testing.T) *redis.Client {
	t.Helper()
	c := redis.NewFailoverClient(&redis.FailoverOptions{
		MasterName:            s.master,
		SentinelAddrs:         s.addrs,
		ContextTimeoutEnabled: true,
		DialTimeout:           time.Second,
		ReadTimeout:           time.Second,
		WriteTimeout:          time.Second,
	})
	t.Cleanup(func() { c.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := c.Ping(ctx).Err(); err != nil {
		t.Fatalf("the Sentinel primary %q does not answer: %v", s.master, err)
	}
	return c
}

func TestSentinelConformance(t *testing.T) {
	s := newSentinels(t)
	client := s.client(t)
	store, _ := newStoreOn(t, client, nil)
	revokertest.Run(t, func(t *testing.T) guardian.Revoker { return store })
}

// TestSentinelWaitReplicas runs the conformance suite with WaitReplicas on
// the primary's one replica, and checks that waiting for two fails with
// ErrNotReplicated while the primary keeps the record.
func TestSentinelWaitReplicas(t *testing.T) {
	s := newSentinels(t)
	client := s.client(t)
	t.Run("One", func(t *testing.T) {
		store, _ := newStoreOn(t, client, &redisstore.Options{WaitReplicas: 1, WaitTimeout: time.Second})
		revokertest.Run(t, func(t *testing.T) guardian.Revoker { return store })
	})
	t.Run("Two", func(t *testing.T) {
		store, _ := newStoreOn(t, client, &redisstore.Options{WaitReplicas: 2, WaitTimeout: 100 * time.Millisecond})
		c := claims()
		err := store.Revoke(context.Background(), guardian.Revocation{Kind: guardian.ByToken, ID: c.ID, At: testclock.Now(), TTL: time.Hour})
		if !errors.Is(err, redisstore.ErrNotReplicated) {
			t.Fatalf("Revoke waiting for 2 replicas of 1 = %v, want ErrNotReplicated", err)
		}
		revokertest.WantRevoked(t, store, c, true, "a token whose revocation reached the primary and one replica")
	})
}

// TestSentinelFailoverUnderLoad has the sentinels promote the replica
// (SENTINEL FAILOVER) while workers revoke, check and consume through a
// Store with WaitReplicas: 1. A forced failover does not wait for the old
// primary to stop: until Sentinel turns it into a replica (some 8-10 s
// later) it still takes writes from clients that have not heard of the
// switch, and the new primary has no replica. With WaitReplicas such writes
// fail (ErrNotReplicated, or ErrUnavailable), and so do writes to the new
// primary until the old one is its replica: no revoked token may read as
// not revoked afterwards and Consume stays exactly-once. Calls may fail
// only from the failover until 2 s after the old primary is back as a
// replica in sync, none after: the Store recovers by itself. The roles stay
// swapped (every test takes the primary from the sentinels).
func TestSentinelFailoverUnderLoad(t *testing.T) {
	skipIfShort(t)
	s := newSentinels(t)
	oldPrimary, _, err := s.healthy(t)
	if err != nil {
		t.Fatal(err)
	}
	client := s.client(t)
	store, _ := newStoreOn(t, client, &redisstore.Options{WaitReplicas: 1, WaitTimeout: 500 * time.Millisecond})
	const grace = 2 * time.Second
	l, stop := startLoad(t, store, 4, time.Second, nil)
	time.Sleep(500 * time.Millisecond)

	ctx := context.Background()
	start := time.Now()
	sc := s.sentinel(s.addrs[0])
	defer sc.Close()
	// A sentinel may still be busy with an earlier failover, or not yet
	// see the replica as promotable.
	eventually(t, 20*time.Second, "SENTINEL FAILOVER "+s.master, func() error {
		return sc.Failover(ctx, s.master).Err()
	})
	var promoted time.Time
	eventually(t, 30*time.Second, "the failover done", func() error {
		m, err := sc.GetMasterAddrByName(ctx, s.master).Result()
		if err != nil {
			return err
		}
		primary := net.JoinHostPort(m[0], m[1])
		if primary == oldPrimary {
			return errors.New("the primary is still " + oldPrimary)
		}
		if promoted.IsZero() {
			promoted = time.Now()
		}
		// The sentinels learn of the old primary's new role only at their
		// next INFO of it, up to 10 s later: ask the servers themselves.
		return replicaOnline(ctx, primary)
	})
	switched := time.Now()
	time.Sleep(grace + time.Second) // the grace, then a second that must be clean
	stop()
	l.verify(t)
	in, out := l.failuresBetween(start, switched.Add(grace))
	t.Logf("failover from %s: replica promoted after %v, old primary a replica in sync after %v; failed calls during it: %s",
		oldPrimary, promoted.Sub(start).Round(time.Millisecond), switched.Sub(start).Round(time.Millisecond), summarize(in))
	if len(out) > 0 {
		t.Errorf("failed calls outside the failover (before it, or more than %v after it): %s", grace, summarize(out))
	}
}
