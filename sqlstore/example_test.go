package sqlstore_test

import (
	"context"
	"database/sql"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"slices"
	"time"

	_ "modernc.org/sqlite" // any database/sql driver; this one is pure Go

	"github.com/guardian-go/guardian"
	"github.com/guardian-go/guardian/sqlstore"
)

// Example revokes a token in a SQLite file and checks it, as logout and the
// next request would. The DSN turns on WAL with synchronous=FULL, so that a
// revocation survives a power loss once Revoke returns, and a busy timeout,
// so that concurrent writers wait for each other instead of failing. With
// PostgreSQL or MySQL only the driver, the DSN and the dialect change.
func Example() {
	dir, err := os.MkdirTemp("", "sqlstore-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	dsn := "file:" + filepath.Join(dir, "auth.db") +
		"?_pragma=busy_timeout(5000)&_pragma=journal_mode(WAL)&_pragma=synchronous(FULL)"
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		log.Fatal(err)
	}
	defer db.Close() // the caller owns db; store.Close leaves it open

	store, err := sqlstore.New(db, sqlstore.SQLite, nil)
	if err != nil {
		log.Fatal(err)
	}
	defer store.Close() // stops the sweeper

	ctx := context.Background()
	if err := store.CreateSchema(ctx); err != nil { // idempotent; or use Schema() in a migration
		log.Fatal(err)
	}

	now := time.Now()
	token := &guardian.Claims{Subject: "alice", ID: "jti-1", Family: "login-1", IssuedAt: now, ExpiresAt: now.Add(15 * time.Minute)}

	revoked, err := store.Revoked(ctx, token)
	fmt.Println("before logout:", revoked, err)

	// Logout: keep the revocation for as long as the token can be accepted,
	// measured on this (the issuer's) clock, plus a margin for clock skew
	// between servers. guardian's Issuer.Revoke computes this TTL itself.
	ttl := token.ExpiresAt.Sub(now) + time.Minute
	err = store.Revoke(ctx, guardian.Revocation{Kind: guardian.ByToken, ID: token.ID, At: now, TTL: ttl})
	if err != nil {
		log.Fatal(err)
	}
	revoked, err = store.Revoked(ctx, token)
	fmt.Println("after logout:", revoked, err)
	// Output:
	// before logout: false <nil>
	// after logout: true <nil>
}

// ExampleStore_ActiveTokens shows allow-list mode: every issued token is
// recorded (wire Record as the issuer's AfterIssue hook), only recorded
// tokens pass, and the app can list a user's sessions and end one.
func ExampleStore_ActiveTokens() {
	dir, err := os.MkdirTemp("", "sqlstore-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	db, err := sql.Open("sqlite", "file:"+filepath.Join(dir, "auth.db")+"?_pragma=busy_timeout(5000)&_pragma=journal_mode(WAL)&_pragma=synchronous(FULL)")
	if err != nil {
		log.Fatal(err)
	}
	defer db.Close()
	store, err := sqlstore.New(db, sqlstore.SQLite, &sqlstore.Options{AllowList: true})
	if err != nil {
		log.Fatal(err)
	}
	defer store.Close()
	ctx := context.Background()
	if err := store.CreateSchema(ctx); err != nil {
		log.Fatal(err)
	}

	// Two logins of alice, each recorded when its token is issued.
	iat := time.Now().Add(-time.Hour)
	for _, id := range []string{"laptop", "phone"} {
		c := &guardian.Claims{Subject: "alice", Type: guardian.RefreshToken, ID: id, Family: id + "-login", IssuedAt: iat, ExpiresAt: iat.Add(24 * time.Hour)}
		if err := store.Record(ctx, c); err != nil { // guardian calls this through AfterIssue
			log.Fatal(err)
		}
		iat = iat.Add(time.Minute)
	}
	stranger := &guardian.Claims{Subject: "mallory", ID: "never-issued", IssuedAt: iat, ExpiresAt: iat.Add(24 * time.Hour)}
	revoked, _ := store.Revoked(ctx, stranger)
	fmt.Println("unrecorded token revoked:", revoked)

	sessions, err := store.ActiveTokens(ctx, "alice")
	if err != nil {
		log.Fatal(err)
	}
	for _, s := range sessions {
		fmt.Println(s.ID, s.Type, s.Family)
	}

	// End the phone's session: revoke its jti for as long as the token can
	// be accepted, plus a margin for clock skew.
	phone := sessions[1]
	ttl := time.Until(phone.ExpiresAt) + time.Minute
	if err := store.Revoke(ctx, guardian.Revocation{Kind: guardian.ByToken, ID: phone.ID, At: time.Now(), TTL: ttl}); err != nil {
		log.Fatal(err)
	}
	sessions, _ = store.ActiveTokens(ctx, "alice")
	fmt.Println("sessions left:", len(sessions))
	// Output:
	// unrecorded token revoked: true
	// laptop refresh laptop-login
	// phone refresh phone-login
	// sessions left: 1
}

// ExampleStore_Follow runs a [guardian.FeedMirror] on each of two
// instances of a service that share one database (here a SQLite file; with
// PostgreSQL or MySQL, each instance opens its own pool on the server).
// Each instance checks tokens in memory, and a logout on one is refused by
// the other within the mirror's MaxLag (one second by default): the store
// is followed every FeedInterval (100 ms by default), and on PostgreSQL at
// once with a Listener from package pgxlisten. Give the mirror, not the
// store, to the Issuer: IssuerOptions{Revoker: mirror}.
func ExampleStore_Follow() {
	dir, err := os.MkdirTemp("", "sqlstore-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	dsn := "file:" + filepath.Join(dir, "auth.db") +
		"?_pragma=busy_timeout(5000)&_pragma=journal_mode(WAL)&_pragma=synchronous(FULL)"
	ctx := context.Background()

	// One instance: its pool, its store, its mirror, and what stops them.
	var stops []func() error
	defer func() {
		for _, stop := range slices.Backward(stops) {
			stop()
		}
	}()
	instance := func() *guardian.FeedMirror {
		db, err := sql.Open("sqlite", dsn)
		if err != nil {
			log.Fatal(err)
		}
		stops = append(stops, db.Close)
		if err := db.Ping(); err != nil { // switches a new file to WAL, alone
			log.Fatal(err)
		}
		store, err := sqlstore.New(db, sqlstore.SQLite, nil)
		if err != nil {
			log.Fatal(err)
		}
		stops = append(stops, store.Close)
		if err := store.CreateSchema(ctx); err != nil { // also the change log's tables
			log.Fatal(err)
		}
		mirror, err := guardian.NewFeedMirror(store, nil)
		if err != nil {
			log.Fatal(err)
		}
		stops = append(stops, mirror.Close)
		return mirror
	}
	a, b := instance(), instance()
	for _, m := range []*guardian.FeedMirror{a, b} {
		if err := m.WaitCurrent(ctx); err != nil { // or serve at once: checks go to the store meanwhile
			log.Fatal(err)
		}
	}

	now := time.Now()
	token := &guardian.Claims{Subject: "alice", ID: "jti-1", IssuedAt: now, ExpiresAt: now.Add(15 * time.Minute)}
	revoked, _ := b.Revoked(ctx, token)
	fmt.Println("instance b, before the logout:", revoked)

	// Logout on instance a: the store first, then a's memory.
	if err := a.Revoke(ctx, guardian.Revocation{Kind: guardian.ByToken, ID: token.ID, At: now, TTL: 16 * time.Minute}); err != nil {
		log.Fatal(err)
	}
	// Instance b learns it from the feed, within its MaxLag.
	deadline := time.Now().Add(b.MaxLag())
	for !revoked && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
		revoked, _ = b.Revoked(ctx, token)
	}
	fmt.Println("instance b, after the logout on a:", revoked)
	// Output:
	// instance b, before the logout: false
	// instance b, after the logout on a: true
}
