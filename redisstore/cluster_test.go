package redisstore_test

import (
	"context"
	"errors"
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

// clusterEnv names the seed nodes of a Redis Cluster for the Cluster tests,
// comma-separated (e.g. 127.0.0.1:7001,127.0.0.1:7002). They are optional:
// without it they skip, in CI too.
const clusterEnv = "GUARDIAN_TEST_REDIS_CLUSTER_ADDRS"

func newClusterClient(t testing.TB) *redis.ClusterClient {
	t.Helper()
	addrs := os.Getenv(clusterEnv)
	if addrs == "" {
		t.Skipf("%s is not set; set it to a Redis Cluster's nodes to run the Cluster tests", clusterEnv)
	}
	client := redis.NewClusterClient(&redis.ClusterOptions{
		Addrs:                 strings.Split(addrs, ","),
		ContextTimeoutEnabled: true,
		DialTimeout:           time.Second,
		ReadTimeout:           time.Second,
		WriteTimeout:          time.Second,
	})
	t.Cleanup(func() { client.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := client.ForEachShard(ctx, func(ctx context.Context, node *redis.Client) error {
		return node.Ping(ctx).Err()
	}); err != nil {
		t.Fatalf("Redis Cluster at %s does not answer: %v", addrs, err)
	}
	return client
}

func TestClusterConformance(t *testing.T) {
	client := newClusterClient(t)
	s, _ := newStoreOn(t, client, nil)
	revokertest.Run(t, func(t *testing.T) guardian.Revoker { return s })
}

// TestClusterSpreadsKeys checks that the three records of one check
// usually live in different slots, so the Cluster tests do exercise a check
// that spans nodes, and that such a check answers right.
func TestClusterSpreadsKeys(t *testing.T) {
	client := newClusterClient(t)
	s, prefix := newStoreOn(t, client, nil)
	ctx := context.Background()
	c := claims()
	slots := map[int64]bool{}
	for _, key := range []string{prefix + "jti:" + c.ID, prefix + "sub:" + c.Subject, prefix + "fam:" + c.Family} {
		slot, err := client.ClusterKeySlot(ctx, key).Result()
		if err != nil {
			t.Fatal(err)
		}
		slots[slot] = true
	}
	if len(slots) < 2 {
		t.Skip("the three keys hash to one slot this time; the check spans nothing")
	}
	if err := client.MGet(ctx, prefix+"jti:"+c.ID, prefix+"sub:"+c.Subject, prefix+"fam:"+c.Family).Err(); err != nil {
		t.Logf("MGET across slots: %v (why the Store pipelines GETs on a Cluster)", err)
	}
	revokertest.WantRevoked(t, s, c, false, "a fresh token")
	revokertest.MustRevoke(t, s, guardian.Revocation{Kind: guardian.BySubject, ID: c.Subject, At: c.IssuedAt, TTL: time.Hour})
	revokertest.WantRevoked(t, s, c, true, "a token of a revoked subject")
}

// TestClusterWaitReplicas checks WAIT on the primary that owns each key.
func TestClusterWaitReplicas(t *testing.T) {
	client := newClusterClient(t)
	ctx := context.Background()
	shards, err := client.ClusterShards(ctx).Result()
	if err != nil {
		t.Fatal(err)
	}
	replicas := -1 // the fewest replicas any shard has
	for _, sh := range shards {
		n := 0
		for _, node := range sh.Nodes {
			if node.Role == "replica" && node.Health == "online" {
				n++
			}
		}
		if replicas < 0 || n < replicas {
			replicas = n
		}
	}
	if replicas > 0 {
		s, _ := newStoreOn(t, client, &redisstore.Options{WaitReplicas: replicas, WaitTimeout: time.Second})
		for range 10 { // keys on different primaries
			c := claims()
			revokertest.MustRevoke(t, s, guardian.Revocation{Kind: guardian.ByToken, ID: c.ID, At: testclock.Now(), TTL: time.Hour})
			revokertest.MustRevoke(t, s, guardian.Revocation{Kind: guardian.BySubject, ID: c.Subject, At: testclock.Now(), TTL: time.Hour})
			revokertest.WantRevoked(t, s, c, true, "a token revoked with WaitReplicas")
		}
	}
	s, _ := newStoreOn(t, client, &redisstore.Options{WaitReplicas: 100, WaitTimeout: 100 * time.Millisecond})
	c := claims()
	if err := s.Revoke(ctx, guardian.Revocation{Kind: guardian.ByFamily, ID: c.Family, At: testclock.Now(), TTL: time.Hour}); !errors.Is(err, redisstore.ErrNotReplicated) {
		t.Errorf("Revoke waiting for 100 replicas = %v, want ErrNotReplicated", err)
	}
}
