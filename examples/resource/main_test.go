package main

import (
	"errors"
	"flag"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/guardian-go/guardian"
)

func TestParseFlags(t *testing.T) {
	const a, b = "https://as.example.com", "http://127.0.0.1:9000/tenant/one"
	for _, tc := range []struct {
		name string
		args []string
		want []trustedIssuer
	}{
		{"one issuer", []string{"-issuer", a, "-audience", "api"}, []trustedIssuer{{a, "api"}}},
		{"one audience per issuer, in order",
			[]string{"-issuer", a, "-audience", "api-a", "-issuer", b, "-audience", "api-b"},
			[]trustedIssuer{{a, "api-a"}, {b, "api-b"}}},
		{"issuers first", []string{"-issuer", a, "-issuer", b, "-audience", "api-a", "-audience", "api-b"},
			[]trustedIssuer{{a, "api-a"}, {b, "api-b"}}},
		{"one audience for all", []string{"-issuer", a, "-issuer", b, "-audience", "api"},
			[]trustedIssuer{{a, "api"}, {b, "api"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var stderr strings.Builder
			cfg, err := parseFlags(tc.args, &stderr)
			if err != nil {
				t.Fatalf("parseFlags: %v\n%s", err, stderr.String())
			}
			if !slices.Equal(cfg.issuers, tc.want) {
				t.Errorf("issuers = %v, want %v", cfg.issuers, tc.want)
			}
			if cfg.addr != "127.0.0.1:8081" || cfg.refetchInterval != guardian.DefaultRefetchInterval || cfg.logFormat != "json" || cfg.publicURL != nil {
				t.Errorf("defaults: addr %q, refetch %v, log %q, public URL %v", cfg.addr, cfg.refetchInterval, cfg.logFormat, cfg.publicURL)
			}
			if stderr.Len() != 0 {
				t.Errorf("stderr: %s", stderr.String())
			}
		})
	}

	cfg, err := parseFlags([]string{"-issuer", a, "-audience", "api", "-addr", "127.0.0.1:0", "-refetch-interval", "250ms", "-log-format", "text",
		"-public-url", "https://API.example.com:8443/resource/"}, &strings.Builder{})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.addr != "127.0.0.1:0" || cfg.refetchInterval != 250*time.Millisecond || cfg.logFormat != "text" {
		t.Errorf("flags not taken: %+v", cfg)
	}
	if cfg.publicURL == nil || cfg.publicURL.String() != "https://API.example.com:8443/resource" {
		t.Errorf("-public-url taken as %v, want https://API.example.com:8443/resource", cfg.publicURL)
	}
}

func TestParseFlagsUsageErrors(t *testing.T) {
	const a, b = "https://as.example.com", "https://other.example.com"
	for _, tc := range []struct {
		name string
		args []string
		want string // in the message on stderr
	}{
		{"no flags", nil, "at least one -issuer is required"},
		{"no issuer", []string{"-audience", "api"}, "at least one -issuer is required"},
		{"no audience", []string{"-issuer", a}, "-audience is required"},
		{"more audiences than issuers", []string{"-issuer", a, "-issuer", b, "-audience", "1", "-audience", "2", "-audience", "3"}, "3 -audience flags for 2 -issuer flags"},
		{"fewer audiences than issuers", []string{"-issuer", a, "-issuer", b, "-issuer", "https://c.example.com", "-audience", "1", "-audience", "2"}, "2 -audience flags for 3 -issuer flags"},
		{"empty audience", []string{"-issuer", a, "-audience", ""}, "-audience must not be empty"},
		{"host only", []string{"-issuer", "as.example.com", "-audience", "api"}, `-issuer "as.example.com" is not an absolute http or https URL`},
		{"relative", []string{"-issuer", "/oauth", "-audience", "api"}, "is not an absolute http or https URL"},
		{"other scheme", []string{"-issuer", "ftp://as.example.com", "-audience", "api"}, "is not an absolute http or https URL"},
		{"no host", []string{"-issuer", "https://", "-audience", "api"}, "is not an absolute http or https URL"},
		{"not a URL", []string{"-issuer", "https://as example.com", "-audience", "api"}, "is not an absolute http or https URL"},
		{"user info", []string{"-issuer", "https://u:p@as.example.com", "-audience", "api"}, "must not hold user info"},
		{"query", []string{"-issuer", "https://as.example.com?x=1", "-audience", "api"}, "must not have a query or a fragment"},
		{"fragment", []string{"-issuer", "https://as.example.com#f", "-audience", "api"}, "must not have a query or a fragment"},
		{"empty fragment", []string{"-issuer", "https://as.example.com#", "-audience", "api"}, "must not have a query or a fragment"},
		{"twice", []string{"-issuer", a, "-issuer", a, "-audience", "api"}, "is given twice"},
		{"zero refetch interval", []string{"-issuer", a, "-audience", "api", "-refetch-interval", "0s"}, "-refetch-interval 0s is not a positive duration"},
		{"bad refetch interval", []string{"-issuer", a, "-audience", "api", "-refetch-interval", "soon"}, `invalid value "soon" for flag -refetch-interval`},
		{"log format", []string{"-issuer", a, "-audience", "api", "-log-format", "xml"}, `-log-format "xml" is neither json nor text`},
		{"unknown flag", []string{"-issuer", a, "-audience", "api", "-jwks", "x"}, "flag provided but not defined: -jwks"},
		{"arguments", []string{"-issuer", a, "-audience", "api", "serve"}, `unexpected arguments ["serve"]`},
		{"public URL without a scheme", []string{"-issuer", a, "-audience", "api", "-public-url", "api.example.com"}, `-public-url "api.example.com" is not an absolute http or https URL`},
		{"public URL of another scheme", []string{"-issuer", a, "-audience", "api", "-public-url", "ws://api.example.com"}, "is not an absolute http or https URL"},
		{"public URL with user info", []string{"-issuer", a, "-audience", "api", "-public-url", "https://u@api.example.com"}, "must not hold user info"},
		{"public URL with a query", []string{"-issuer", a, "-audience", "api", "-public-url", "https://api.example.com/?a=1"}, "must not have a query or a fragment"},
		{"public URL with a fragment", []string{"-issuer", a, "-audience", "api", "-public-url", "https://api.example.com/#"}, "must not have a query or a fragment"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var stderr strings.Builder
			_, err := parseFlags(tc.args, &stderr)
			if err == nil {
				t.Fatal("no error")
			}
			if errors.Is(err, flag.ErrHelp) {
				t.Fatal("ErrHelp")
			}
			if !strings.Contains(stderr.String(), tc.want) {
				t.Errorf("stderr does not say %q:\n%s", tc.want, stderr.String())
			}
			if !strings.Contains(stderr.String(), "usage: resource") {
				t.Errorf("stderr has no usage:\n%s", stderr.String())
			}
		})
	}

	var stderr strings.Builder
	if _, err := parseFlags([]string{"-h"}, &stderr); !errors.Is(err, flag.ErrHelp) {
		t.Errorf("-h: %v, want flag.ErrHelp", err)
	}
	for _, name := range []string{"-issuer", "-audience", "-addr", "-public-url", "-refetch-interval", "-log-format"} {
		if !strings.Contains(stderr.String(), name) {
			t.Errorf("the usage does not document %s:\n%s", name, stderr.String())
		}
	}
}

func TestShortReason(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want string
	}{
		{errors.New(strings.Repeat("x", 300)), strings.Repeat("x", maxReasonLen) + "..."},
	} {
		if got := shortReason(tc.err); got != tc.want {
			t.Errorf("shortReason(%q) = %q, want %q", tc.err, got, tc.want)
		}
	}
	// What Ready says before the first fetch.
	keys, err := guardian.DiscoverKeys("http://127.0.0.1:1", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer keys.Close()
	if got := shortReason(keys.Ready()); got != "not fetched yet" {
		t.Errorf("shortReason(%q) = %q", keys.Ready(), got)
	}
	// What a failed discovery says: both places tried, on one line,
	// without guardian's prefixes.
	err = keys.Refresh(t.Context())
	got := shortReason(err)
	if err == nil || strings.Contains(got, "guardian:") || strings.Contains(got, "\n") ||
		!strings.HasPrefix(got, "discover http://127.0.0.1:1: http://127.0.0.1:1/.well-known/openid-configuration: ") ||
		!strings.Contains(got, "; http://127.0.0.1:1/.well-known/oauth-authorization-server: ") {
		t.Errorf("shortReason(%q) = %q", err, got)
	}
}
