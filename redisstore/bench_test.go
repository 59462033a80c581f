package redisstore_test

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/guardian-go/guardian"
	"github.com/guardian-go/guardian/internal/testclock"
	"github.com/guardian-go/guardian/revokertest"
	"github.com/redis/go-redis/v9"
)

// BenchmarkRevoked measures one check of a token that is not revoked (the
// common case: all three records are read and none is there), next to the
// in-memory revoker. The Parallel variants run 8×GOMAXPROCS callers at once,
// as a busy HTTP server would; their ns/op is the inverse of throughput.
// With GUARDIAN_TEST_REDIS_CLUSTER_ADDRS set, a Redis Cluster runs too.
//
//	GUARDIAN_TEST_REDIS_URL=redis://127.0.0.1:6379/0 GOWORK=off go test -run '^$' -bench Revoked -benchmem
func BenchmarkRevoked(b *testing.B) {
	b.Run("Memory", func(b *testing.B) {
		m := guardian.NewMemoryRevoker(nil)
		fill(b, m)
		benchRevoked(b, m)
	})
	if testing.Short() {
		return
	}
	client := newClient(b, redisOptions(b))
	cases := []struct {
		name   string
		client redis.UniversalClient
	}{
		{name: "Redis/MGET", client: client},
		{name: "Redis/Pipeline", client: pipelineOnly{client}},
	}
	if os.Getenv(clusterEnv) != "" {
		cases = append(cases, struct {
			name   string
			client redis.UniversalClient
		}{name: "RedisCluster/Pipeline", client: newClusterClient(b)})
	}
	for _, tt := range cases {
		b.Run(tt.name, func(b *testing.B) {
			s, _ := newStoreOn(b, tt.client, nil)
			fill(b, s)
			benchRevoked(b, s)
		})
	}
}

// fill revokes a few hundred tokens, subjects and families, so that the
// store is not empty.
func fill(b *testing.B, r guardian.Revoker) {
	b.Helper()
	now := testclock.Now()
	for range 100 {
		c := claims()
		revokertest.MustRevoke(b, r, guardian.Revocation{Kind: guardian.ByToken, ID: c.ID, At: now, TTL: time.Hour})
		revokertest.MustRevoke(b, r, guardian.Revocation{Kind: guardian.BySubject, ID: c.Subject, At: now, TTL: time.Hour})
		revokertest.MustRevoke(b, r, guardian.Revocation{Kind: guardian.ByFamily, ID: c.Family, At: now, TTL: time.Hour})
	}
}

func benchRevoked(b *testing.B, r guardian.Revoker) {
	c := claims()
	ctx := context.Background()
	b.Run("Serial", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if revoked, err := r.Revoked(ctx, c); err != nil || revoked {
				b.Fatalf("Revoked = %v, %v; want false, nil", revoked, err)
			}
		}
	})
	b.Run("Parallel", func(b *testing.B) {
		b.ReportAllocs()
		b.SetParallelism(8)
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if revoked, err := r.Revoked(ctx, c); err != nil || revoked {
					b.Errorf("Revoked = %v, %v; want false, nil", revoked, err)
					return
				}
			}
		})
	})
}
