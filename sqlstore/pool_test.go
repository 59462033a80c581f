package sqlstore_test

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/guardian-go/guardian"
	"github.com/guardian-go/guardian/replaytest"
	"github.com/guardian-go/guardian/revokertest"
	"github.com/guardian-go/guardian/sqlstore"
)

// countingConnector opens connections through a driver and counts them.
type countingConnector struct {
	d     driver.Driver
	dsn   string
	opens atomic.Int64
}

func (c *countingConnector) Connect(context.Context) (driver.Conn, error) {
	c.opens.Add(1)
	return c.d.Open(c.dsn)
}

func (c *countingConnector) Driver() driver.Driver { return c.d }

// TestPoolSteadyState: with the pool sized for the concurrency (idle
// connections as many as open ones, as the README says), checks,
// revocations and replay keys under load never open a connection once the
// pool is warm. With database/sql's default of 2 idle connections, the
// same load opens new ones all the time (logged, for comparison).
func TestPoolSteadyState(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b *backend) {
		if b.dialect == sqlstore.SQLite {
			return // one connection (MaxOpenConns 1): no pool to size
		}
		const workers, perWorker = 8, 100
		for _, tt := range []struct {
			name  string
			sized bool
		}{{"sized", true}, {"default", false}} {
			t.Run(tt.name, func(t *testing.T) {
				probe := b.open(t)
				conn := &countingConnector{d: probe.Driver(), dsn: b.dsn}
				db := sql.OpenDB(conn)
				t.Cleanup(func() { db.Close() })
				if tt.sized {
					db.SetMaxOpenConns(workers)
					db.SetMaxIdleConns(workers)
				}
				opts := &sqlstore.Options{SweepInterval: -1}
				uniqueTables(t, b, opts)
				s := openStore(t, b, db, opts)
				ctx := context.Background()
				c := revokertest.Token(revokertest.NewID("sub"))
				load := func() {
					var wg sync.WaitGroup
					for range workers {
						wg.Go(func() {
							for i := range perWorker {
								ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
								var err error
								switch i % 10 {
								case 0:
									err = s.Revoke(ctx, guardian.Revocation{Kind: guardian.ByToken, ID: revokertest.NewID("jti"), At: time.Now(), TTL: time.Minute})
								case 1:
									_, err = s.Use(ctx, replaytest.NewKey(), time.Minute)
								default:
									_, err = s.Revoked(ctx, c)
								}
								cancel()
								if err != nil {
									t.Error(err)
									return
								}
							}
						})
					}
					wg.Wait()
				}
				load() // warms the pool and prepares the statements
				before := conn.opens.Load()
				load()
				opened := conn.opens.Load() - before
				t.Logf("%s pool: %d connections opened for %d calls in steady state (%+v)", tt.name, opened, workers*perWorker, db.Stats())
				if tt.sized && opened != 0 {
					t.Errorf("a pool of %d open and idle connections opened %d connections in steady state, want 0", workers, opened)
				}
			})
		}
	})
}
