package redisstore_test

import (
	"context"
	"errors"
	"log"
	"net/http"
	"time"

	"github.com/guardian-go/guardian"
	"github.com/guardian-go/guardian/redisstore"
	"github.com/redis/go-redis/v9"
)

// Example sets up a Store for an issuer. When Redis hangs, every Store call
// ends at its deadline (guardian's RevokerTimeout, 300ms by default) and
// refuses the token (fail closed), and guardian answers 503. The client
// honours request deadlines (ContextTimeoutEnabled), so that go-redis ends
// the command the Store abandoned then too, rather than after ReadTimeout.
// The client stays the app's to close; the Store needs no Close.
//
// It needs a Redis server, so it is compiled but not run by go test.
func Example() {
	client := redis.NewClient(&redis.Options{
		Addr:                  "127.0.0.1:6379",
		ContextTimeoutEnabled: true,
		DialTimeout:           time.Second,
		ReadTimeout:           time.Second,
		WriteTimeout:          time.Second,
	})
	defer client.Close()

	store, err := redisstore.New(client, &redisstore.Options{KeyPrefix: "myapp:auth:"})
	if err != nil {
		log.Fatal(err)
	}
	opts := &guardian.IssuerOptions{Revoker: store}
	_ = opts // pass to guardian.NewIssuer with the app's keys
}

// ExampleStore_Revoked checks a token directly, as guardian's middleware
// does on every request: an error means "cannot tell", and the token is
// refused.
func ExampleStore_Revoked() {
	client := redis.NewClient(&redis.Options{Addr: "127.0.0.1:6379", ContextTimeoutEnabled: true})
	defer client.Close()
	store, err := redisstore.New(client, nil)
	if err != nil {
		log.Fatal(err)
	}

	claims := &guardian.Claims{
		Subject:   "user-42",
		ID:        "jti-1",
		Family:    "login-7",
		IssuedAt:  time.Now().Truncate(time.Second),
		ExpiresAt: time.Now().Add(15 * time.Minute),
	}
	// Log out everywhere: every token of user-42 issued until now. (An
	// Issuer's RevokeSubject does this, and computes the TTL for you.)
	err = store.Revoke(context.Background(), guardian.Revocation{
		Kind: guardian.BySubject,
		ID:   claims.Subject,
		At:   time.Now(), // the cut-off, compared with iat only
		// How long Redis keeps the record, from when it receives it: the
		// longest a token of user-42 issued until At can still be accepted.
		TTL: 24 * time.Hour,
	})
	if err != nil {
		log.Fatal(err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	revoked, err := store.Revoked(ctx, claims)
	switch {
	case errors.Is(err, guardian.ErrUnavailable):
		log.Print(http.StatusServiceUnavailable, ": ", err) // fail closed
	case revoked:
		log.Print(http.StatusUnauthorized, ": revoked")
	default:
		log.Print("token accepted")
	}
}

// ExampleOpen opens a Store for a fleet: it refuses a Redis that would
// forget logouts on a restart, and puts a FeedMirror in front of it, so
// that checks are answered from memory while Redis keeps every instance
// current.
//
// It needs a Redis server, so it is compiled but not run by go test.
func ExampleOpen() {
	client := redis.NewClient(&redis.Options{Addr: "127.0.0.1:6379", ContextTimeoutEnabled: true})
	defer client.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()

	store, err := redisstore.Open(ctx, client, &redisstore.Options{Require: redisstore.DurabilityAOFEverySec})
	if errors.Is(err, redisstore.ErrNotDurable) {
		log.Fatal(err) // names each server, its settings and what to set
	}
	if err != nil {
		log.Fatal(err) // Redis did not answer
	}
	mirror, err := guardian.NewFeedMirror(store, nil)
	if err != nil {
		log.Fatal(err)
	}
	defer mirror.Close()
	opts := &guardian.IssuerOptions{Revoker: mirror}
	_ = opts // pass to guardian.NewIssuer with the app's keys
}
