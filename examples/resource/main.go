// Command resource is guardian's example resource server: a JSON API that
// holds no key of its own and accepts the access tokens (RFC 9068, header
// typ at+jwt) of one or more external OAuth 2.0 or OpenID Connect
// authorization servers. It discovers each issuer's keys at start and keeps
// them current: a key rotation needs no restart, and an issuer that is down
// costs only the tokens under keys never seen.
//
//	go run ./examples/resource -issuer URL -audience AUD [-issuer URL2 [-audience AUD2]] [-addr 127.0.0.1:8081] [-public-url URL]
//
// Routes: GET /api/whoami (any valid token), GET /api/items (scope read),
// POST /api/items (scope write, body {"name": "..."}), GET /healthz (503
// while the keys of an issuer are not loaded).
//
// Tokens come as "Authorization: Bearer <token>", or, when the issuer bound
// them to the client's key (DPoP, RFC 9449: a cnf.jkt claim), as
// "Authorization: DPoP <token>" with a fresh proof of that key in the DPoP
// header; a bound token sent as Bearer is refused. Behind a proxy,
// -public-url names the URL clients use, which their proofs must name.
//
// An issuer that cannot be discovered at start does not stop the server:
// it is retried in the background, and its tokens are answered 503 with
// Retry-After until its keys are loaded.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/guardian-go/guardian"
)

func main() {
	cfg, err := parseFlags(os.Args[1:], os.Stderr)
	switch {
	case errors.Is(err, flag.ErrHelp): // -h: the usage is printed
		os.Exit(0)
	case err != nil: // a usage error, printed with the usage
		os.Exit(2)
	}
	logger := newLogger(cfg.logFormat, os.Stderr)
	slog.SetDefault(logger)
	if err := run(cfg, logger); err != nil {
		logger.Error("resource: " + err.Error())
		os.Exit(1)
	}
}

// trustedIssuer is an issuer named on the command line, with the audience
// this API is known by there.
type trustedIssuer struct {
	url      string
	audience string
}

// config is what the command line says.
type config struct {
	addr            string
	issuers         []trustedIssuer
	refetchInterval time.Duration
	logFormat       string
	// publicURL is the URL clients reach the server at (-public-url);
	// nil: the URL of each request as the server sees it.
	publicURL *url.URL
}

// listFlag is a flag that may be repeated; it collects every value.
type listFlag []string

func (l *listFlag) String() string { return strings.Join(*l, ", ") }

func (l *listFlag) Set(v string) error {
	*l = append(*l, v)
	return nil
}

const usageText = `usage: resource -issuer URL -audience AUD [-issuer URL -audience AUD ...]
                [-addr HOST:PORT] [-public-url URL] [-refetch-interval DURATION]
                [-log-format json|text]

guardian's example resource server. It accepts the RFC 9068 access tokens
(header typ at+jwt) of the issuers named by -issuer, with the keys it
discovers at each of them (/.well-known/openid-configuration, else
/.well-known/oauth-authorization-server) and keeps current.

Routes:
  GET  /api/whoami   any valid token: {"iss","sub","client_id","scope":[...]}
  GET  /api/items    scope read: {"items":[...]}
  POST /api/items    scope write, body {"name": "..."}: 201 with the item
  GET  /healthz      200 when every issuer's keys are loaded, else 503

Tokens: "Authorization: Bearer <token>"; a token bound to the client's key
(DPoP, RFC 9449: cnf.jkt) only as "Authorization: DPoP <token>", with a
proof of that key for the request in the DPoP header.

Flags:
`

// parseFlags reads the command line. A usage error is printed on stderr
// with the usage, as the flag package does, and returned; -h returns
// flag.ErrHelp.
func parseFlags(args []string, stderr io.Writer) (config, error) {
	var (
		c         config
		issuers   listFlag
		audiences listFlag
	)
	fs := flag.NewFlagSet("resource", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), usageText)
		fs.PrintDefaults()
	}
	fs.Var(&issuers, "issuer", "issuer identifier to trust, an absolute http or https `URL`, exactly as its tokens' iss claim (repeatable; at least one)")
	fs.Var(&audiences, "audience", "the audience `AUD` this API is known by at an issuer, which its tokens must name in aud: one per -issuer, in order, or once for all of them")
	fs.StringVar(&c.addr, "addr", "127.0.0.1:8081", "listen address (`HOST:PORT`; port 0 picks a free one, logged at start)")
	publicURL := fs.String("public-url", "", "the `URL` clients reach this server at, behind a proxy: scheme, host and the path prefix the proxy adds, which DPoP proofs must name (htu). Default: http, the request's Host header and its path")
	fs.DurationVar(&c.refetchInterval, "refetch-interval", guardian.DefaultRefetchInterval,
		"least time between two key fetches caused by tokens under an unknown kid; also the longest wait between the retries of an issuer that fails")
	fs.StringVar(&c.logFormat, "log-format", "json", "`FORMAT` of the logs on stderr: json or text")
	if err := fs.Parse(args); err != nil {
		return c, err // printed by the flag package, with the usage
	}
	if err := c.setIssuers(issuers, audiences, fs.Args()); err != nil {
		fmt.Fprintf(fs.Output(), "resource: %v\n", err)
		fs.Usage()
		return c, err
	}
	var err error
	if *publicURL != "" {
		c.publicURL, err = parsePublicURL(*publicURL)
	}
	switch {
	case err != nil:
	case c.refetchInterval <= 0:
		err = fmt.Errorf("-refetch-interval %v is not a positive duration", c.refetchInterval)
	case c.logFormat != "json" && c.logFormat != "text":
		err = fmt.Errorf("-log-format %q is neither json nor text", c.logFormat)
	}
	if err != nil {
		fmt.Fprintf(fs.Output(), "resource: %v\n", err)
		fs.Usage()
	}
	return c, err
}

// setIssuers pairs the issuers with their audiences and checks them.
func (c *config) setIssuers(issuers, audiences, rest []string) error {
	switch {
	case len(rest) > 0:
		return fmt.Errorf("unexpected arguments %q", rest)
	case len(issuers) == 0:
		return errors.New("at least one -issuer is required")
	case len(audiences) == 0:
		return errors.New("-audience is required")
	case len(audiences) != 1 && len(audiences) != len(issuers):
		return fmt.Errorf("%d -audience flags for %d -issuer flags: give one per issuer, in order, or one for all", len(audiences), len(issuers))
	}
	seen := make(map[string]bool, len(issuers))
	for i, iss := range issuers {
		if err := checkIssuerURL(iss); err != nil {
			return err
		}
		if seen[iss] {
			return fmt.Errorf("-issuer %q is given twice", iss)
		}
		seen[iss] = true
		aud := audiences[0]
		if len(audiences) > 1 {
			aud = audiences[i]
		}
		if aud == "" {
			return errors.New("-audience must not be empty")
		}
		c.issuers = append(c.issuers, trustedIssuer{url: iss, audience: aud})
	}
	return nil
}

// checkIssuerURL accepts what guardian.DiscoverKeys takes: an absolute
// http or https URL without user info, query or fragment.
func checkIssuerURL(raw string) error {
	u, err := url.Parse(raw)
	switch {
	case err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "":
		return fmt.Errorf("-issuer %q is not an absolute http or https URL", raw)
	case u.User != nil:
		return fmt.Errorf("-issuer %q must not hold user info", raw)
	case u.RawQuery != "" || u.ForceQuery || u.Fragment != "" || strings.Contains(raw, "#"):
		return fmt.Errorf("-issuer %q must not have a query or a fragment", raw)
	}
	return nil
}

// newLogger logs to w in format (json or text).
func newLogger(format string, w io.Writer) *slog.Logger {
	if format == "text" {
		return slog.New(slog.NewTextHandler(w, nil))
	}
	return slog.New(slog.NewJSONHandler(w, nil))
}

// run serves until SIGINT or SIGTERM, then lets in-flight requests finish
// and stops the key refreshes.
func run(cfg config, logger *slog.Logger) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	tr, err := newTrust(cfg, logger)
	if err != nil {
		return err
	}
	defer tr.close()
	app, err := newServer(tr, cfg.publicURL, logger)
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
		// A token under an unknown kid may wait for a key fetch, bounded by
		// guardian.DefaultRemoteKeysTimeout: leave room for it.
		WriteTimeout:   15 * time.Second,
		IdleTimeout:    60 * time.Second,
		MaxHeaderBytes: 16 << 10,
		ErrorLog:       slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
	attrs := []any{"addr", ln.Addr().String(), "issuers", tr.names()}
	if cfg.publicURL != nil {
		attrs = append(attrs, "public_url", cfg.publicURL.String())
	}
	logger.Info("listening", attrs...)

	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	// Log how the discovery at start went, and when a late issuer is up.
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
