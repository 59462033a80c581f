// Command api is guardian's example server: a JSON API with login, a
// protected route, logout, refresh-token rotation and, with asymmetric keys,
// a JWK set, plus a health check and Prometheus metrics. It follows the
// contract in README.md at the repository root ("The example server's
// contract").
//
//	go run ./examples/api [-addr 127.0.0.1:8080] [-store PATH|URL] [-alg EdDSA|ES256|RS256 -key PATH]
//
// Routes: POST /api/login, GET /api/me, POST /api/logout, POST
// /api/refresh, GET /api/admin/users (permission admin.users_read), POST
// /api/reauth (the password again: a fresh auth_time), POST /api/password
// (an authentication of at most 5 minutes; ends every other login), GET
// /healthz (503 when the revocation store does not answer), GET /metrics
// (unauthenticated: expose it to the monitoring only) and, with -alg, GET
// /.well-known/jwks.json.
//
// AUTH_SECRET holds the HS256 key (at least 32 bytes) when no -alg is given;
// without it a random key is made and tokens die with the process.
//
// Failed logins are limited per account (5, then one every 3 minutes) and
// per client address (20, then one every 45 seconds): further attempts get
// 429 with Retry-After, whether the account exists or not. The address is
// the connection's: X-Forwarded-For is not trusted.
//
// An SQLite store belongs to one process, which keeps its revocations in
// memory too: a second process on the same file refuses to start. Run
// several instances on a PostgreSQL, MySQL or Redis store.
//
// DPoP (RFC 9449): a login or a refresh that comes with a DPoP proof gets
// tokens bound to the proof's key ("token_type": "DPoP"), which then need
// "Authorization: DPoP <token>" and a fresh proof of that key on every
// route. The store remembers the proofs seen, so that instances sharing it
// refuse each other's replays. Proofs must name the URL the server sees
// (its own scheme, the Host header and the path): the server expects no
// proxy in front of it.
//
// The demo users are alice@example.com (ID 1, permission default.profile)
// and root@example.com (ID 2, also admin.users_read), both with the
// password "correct horse battery staple". They live in memory: a restart
// brings back that password.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"
)

func main() {
	logger := slog.New(slog.NewJSONHandler(os.Stderr, nil))
	if err := run(os.Args[1:], logger); err != nil {
		if errors.Is(err, flag.ErrHelp) { // -h: the usage is printed
			os.Exit(0)
		}
		logger.Error("api: " + err.Error())
		os.Exit(1)
	}
}

// config is what the command line and the environment say.
type config struct {
	mirror bool
	addr   string
	alg    string
	key    string
	store  string
	secret string
}

func parseFlags(args []string) (config, error) {
	var c config
	fs := flag.NewFlagSet("api", flag.ContinueOnError)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), `usage: api [-addr HOST:PORT] [-store PATH|URL] [-alg EdDSA|ES256|RS256 -key PATH]

guardian's example JSON API: POST /api/login, GET /api/me, POST /api/logout,
POST /api/refresh, GET /api/admin/users, POST /api/reauth, POST /api/password,
GET /healthz, GET /metrics, and with -alg
GET /.well-known/jwks.json. AUTH_SECRET is the HS256 key (32 bytes or more)
when -alg is not given. A login or refresh with a DPoP proof (RFC 9449) gets
tokens bound to its key; the store is the proofs' replay cache too.

`)
		fs.PrintDefaults()
	}
	fs.StringVar(&c.addr, "addr", "127.0.0.1:8080", "listen address")
	fs.StringVar(&c.alg, "alg", "", "asymmetric signing algorithm: EdDSA, ES256 or RS256 (needs -key); default HS256 with AUTH_SECRET")
	fs.StringVar(&c.key, "key", "", "PEM private key for -alg")
	fs.BoolVar(&c.mirror, "mirror", true, "with a postgres://, mysql:// or redis:// store, answer revocation checks from memory, kept current by the store's change feed (refused within 1s on every instance); -mirror=false asks the store on every request")
	fs.StringVar(&c.store, "store", "guardian-example.db", "revocation store: an SQLite file path (or sqlite:PATH), or a postgres://, mysql:// or redis:// URL")
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	if fs.NArg() > 0 {
		return c, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	c.secret = os.Getenv("AUTH_SECRET")
	return c, nil
}

// run serves until SIGINT or SIGTERM, then lets in-flight requests finish
// and closes the store.
func run(args []string, logger *slog.Logger) error {
	cfg, err := parseFlags(args)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	keys, err := loadKeys(cfg, logger)
	if err != nil {
		return err
	}
	m := newMetrics()
	store, err := openStore(ctx, cfg.store, storeConfig{wrap: m.timeRevoker, mirror: cfg.mirror, logger: logger})
	if err != nil {
		return err
	}
	defer store.Close()

	app, err := newServer(keys, store, m, logger)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", cfg.addr)
	if err != nil {
		return err
	}
	srv := &http.Server{
		Handler:           app,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		WriteTimeout:      10 * time.Second,
		IdleTimeout:       60 * time.Second,
		MaxHeaderBytes:    16 << 10,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
	logger.Info("listening", "addr", ln.Addr().String(), "alg", string(keys.SigningKey().Algorithm()), "store", store.kind)

	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	logger.Info("shutting down")
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	if err := <-errc; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	logger.Info("stopped")
	return nil
}
