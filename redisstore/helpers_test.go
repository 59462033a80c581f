package redisstore_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/guardian-go/guardian"
	"github.com/guardian-go/guardian/redisstore"
	"github.com/guardian-go/guardian/revokertest"
	"github.com/redis/go-redis/v9"
)

// urlEnv names the Redis server the integration tests use, e.g.
// redis://127.0.0.1:6379/0. They skip without it, except in CI.
const urlEnv = "GUARDIAN_TEST_REDIS_URL"

// redisOptions returns client options for the test server, or skips the
// test when none is configured (and fails it when CI=true).
func redisOptions(tb testing.TB) *redis.Options {
	tb.Helper()
	url := os.Getenv(urlEnv)
	if url == "" {
		if os.Getenv("CI") == "true" {
			tb.Fatalf("%s is not set; CI must run the Redis tests", urlEnv)
		}
		tb.Skipf("%s is not set; set it (e.g. redis://127.0.0.1:6379/0) to run the Redis tests", urlEnv)
	}
	opts, err := redis.ParseURL(url)
	if err != nil {
		tb.Fatalf("%s: %v", urlEnv, err)
	}
	// What the README asks of users: honour request deadlines, and fail
	// fast rather than pile up when the server is unreachable.
	opts.ContextTimeoutEnabled = true
	opts.DialTimeout = time.Second
	opts.ReadTimeout = time.Second
	opts.WriteTimeout = time.Second
	return opts
}

// newClient returns a client for the test server, closed when the test
// ends. It fails the test when the server does not answer.
func newClient(tb testing.TB, opts *redis.Options) *redis.Client {
	tb.Helper()
	client := redis.NewClient(opts)
	tb.Cleanup(func() { client.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := client.Ping(ctx).Err(); err != nil {
		tb.Fatalf("Redis at %s does not answer: %v", opts.Addr, err)
	}
	return client
}

// testPrefix returns a key prefix of its own for one test, and deletes every
// key under it when the test ends.
func testPrefix(tb testing.TB, client redis.UniversalClient) string {
	tb.Helper()
	var b [8]byte
	rand.Read(b[:])
	prefix := "guardiantest:" + hex.EncodeToString(b[:]) + ":"
	tb.Cleanup(func() { deleteKeys(tb, client, prefix) })
	return prefix
}

// deleteKeys deletes every key starting with prefix, found with SCAN (on
// every primary of a Cluster): never FLUSHDB, other tests share the server.
func deleteKeys(tb testing.TB, client redis.UniversalClient, prefix string) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if u, ok := client.(pipelineOnly); ok {
		client = u.UniversalClient
	}
	var err error
	if cluster, ok := client.(*redis.ClusterClient); ok {
		err = cluster.ForEachMaster(ctx, func(ctx context.Context, node *redis.Client) error {
			return deleteScanned(ctx, node, prefix)
		})
	} else {
		err = deleteScanned(ctx, client, prefix)
	}
	if err != nil {
		tb.Errorf("cleanup of %s*: %v", prefix, err)
	}
}

// deleteScanned deletes the keys under prefix that SCAN finds on one server,
// one DEL each, pipelined: keys in a Cluster may live in different slots.
func deleteScanned(ctx context.Context, client redis.UniversalClient, prefix string) error {
	iter := client.Scan(ctx, 0, globEscape(prefix)+"*", 1000).Iterator()
	pipe := client.Pipeline()
	for iter.Next(ctx) {
		pipe.Del(ctx, iter.Val())
		if pipe.Len() == 500 {
			if _, err := pipe.Exec(ctx); err != nil {
				return err
			}
		}
	}
	if err := iter.Err(); err != nil {
		return err
	}
	_, err := pipe.Exec(ctx)
	return err
}

// globEscape escapes the characters SCAN MATCH treats as a pattern.
func globEscape(s string) string {
	var b strings.Builder
	for _, r := range s {
		if strings.ContainsRune(`*?[]\`, r) {
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}

// newStore returns a Store on a fresh prefix of the test server.
func newStore(tb testing.TB, opts *redisstore.Options) (*redisstore.Store, *redis.Client, string) {
	tb.Helper()
	client := newClient(tb, redisOptions(tb))
	s, prefix := newStoreOn(tb, client, opts)
	return s, client, prefix
}

// newStoreOn returns a Store on client whose keys are deleted when the test
// ends, and its key prefix. A test prefix replaces an empty opts.KeyPrefix.
func newStoreOn(tb testing.TB, client redis.UniversalClient, opts *redisstore.Options) (*redisstore.Store, string) {
	tb.Helper()
	if opts == nil {
		opts = &redisstore.Options{}
	} else {
		copied := *opts
		opts = &copied
	}
	if opts.KeyPrefix == "" {
		opts.KeyPrefix = testPrefix(tb, client)
	}
	s, err := redisstore.New(client, opts)
	if err != nil {
		tb.Fatalf("New: %v", err)
	}
	return s, opts.KeyPrefix
}

// claims describes a fresh token of a subject of its own, issued now on the
// test clock, which GUARDIAN_TEST_CLOCK_OFFSET moves away from the clock of
// Redis: the Store must not care.
func claims() *guardian.Claims { return revokertest.Token(revokertest.NewID("sub")) }

// pipelineOnly hides the concrete client type, so the Store cannot know that
// all keys live on one server and checks with a pipeline of GETs, as it does
// on a Cluster.
type pipelineOnly struct{ redis.UniversalClient }
