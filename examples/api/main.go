// Command api is guardian's example server: a JSON API with login, a
// protected route, logout, refresh-token rotation and, with asymmetric keys,
// a JWK set. It follows the contract in the project's DESIGN.md.
//
//	go run ./examples/api [-addr 127.0.0.1:8080] [-store PATH|URL] [-alg EdDSA|ES256|RS256 -key PATH]
//
// AUTH_SECRET holds the HS256 key (at least 32 bytes) when no -alg is given;
// without it a random key is made and tokens die with the process.
//
// An SQLite store belongs to one process, which keeps its revocations in
// memory too: a second process on the same file refuses to start. Run
// several instances on a PostgreSQL, MySQL or Redis store.
//
// The demo user is alice@example.com with the password
// "correct horse battery staple".
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
		logger.Error("api: " + err.Error())
		os.Exit(1)
	}
}

// config is what the command line and the environment say.
type config struct {
	addr   string
	alg    string
	key    string
	store  string
	secret string
}

func parseFlags(args []string) (config, error) {
	var c config
	fs := flag.NewFlagSet("api", flag.ContinueOnError)
	fs.StringVar(&c.addr, "addr", "127.0.0.1:8080", "listen address")
	fs.StringVar(&c.alg, "alg", "", "asymmetric signing algorithm: EdDSA, ES256 or RS256 (needs -key); default HS256 with AUTH_SECRET")
	fs.StringVar(&c.key, "key", "", "PEM private key for -alg")
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
	store, err := openStore(ctx, cfg.store)
	if err != nil {
		return err
	}
	defer store.Close()

	app, err := newServer(keys, store.revoker, logger)
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
