package pgxlisten_test

import (
	"database/sql"
	"log"
	"os"

	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" driver, which the Listener needs

	"github.com/guardian-go/guardian"
	"github.com/guardian-go/guardian/sqlstore"
	"github.com/guardian-go/guardian/sqlstore/pgxlisten"
)

// ExampleNew wires a Listener into a store, so that a FeedMirror over it
// learns of a revocation made on any instance a few milliseconds after it
// is committed, instead of at the next poll. Every instance runs the same
// code on the same database.
func ExampleNew() {
	db, err := sql.Open("pgx", os.Getenv("DATABASE_URL"))
	if err != nil {
		log.Fatal(err)
	}
	db.SetMaxOpenConns(50) // the listener holds one of them
	db.SetMaxIdleConns(50)
	listener, err := pgxlisten.New(db)
	if err != nil {
		log.Fatal(err)
	}
	store, err := sqlstore.New(db, sqlstore.Postgres, &sqlstore.Options{Listener: listener})
	if err != nil {
		log.Fatal(err)
	}
	mirror, err := guardian.NewFeedMirror(store, nil) // checks in memory, current within a second
	if err != nil {
		log.Fatal(err)
	}
	defer mirror.Close()
	// issuer, err := guardian.NewIssuer(keys, &guardian.IssuerOptions{Revoker: mirror})
}
