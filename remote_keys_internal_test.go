package guardian

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// TestRemoteKeysRedirects: the default client follows redirects of a JWK
// set or discovery document only to https from https, and at most 5.
// Real servers (one TLS, one plain); the default client's Transport is
// given the TLS server's, to trust its certificate, and keeps its redirect
// policy. Guards against a redirect downgrading the fetch of keys to
// clear text, where anyone on the path could swap them, and against
// redirect loops.
func TestRemoteKeysRedirects(t *testing.T) {
	req := func(u string) *http.Request {
		r, err := http.NewRequest(http.MethodGet, u, nil)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	via := func(us ...string) []*http.Request {
		var rs []*http.Request
		for _, u := range us {
			rs = append(rs, req(u))
		}
		return rs
	}
	for _, tt := range []struct {
		name string
		via  []*http.Request
		next string
		ok   bool
	}{
		{"https to http", via("https://as.example.com/jwks"), "http://as.example.com/jwks", false},
		{"https to https, then http", via("https://as.example.com/jwks", "https://cdn.example.com/jwks"), "http://cdn.example.com/jwks", false},
		{"https to https", via("https://as.example.com/jwks"), "https://cdn.example.com/jwks", true},
		{"http to http", via("http://localhost/jwks"), "http://localhost/keys", true},
		{"http to https", via("http://localhost/jwks"), "https://as.example.com/jwks", true},
		{"5th redirect", via("https://a/1", "https://a/2", "https://a/3", "https://a/4"), "https://a/5", true},
		{"6th redirect", via("https://a/1", "https://a/2", "https://a/3", "https://a/4", "https://a/5"), "https://a/6", false},
	} {
		err := noDowngrade(req(tt.next), tt.via)
		if tt.ok && err != nil {
			t.Errorf("%s: noDowngrade = %v, want nil", tt.name, err)
		}
		if !tt.ok && !errors.Is(err, ErrKeysUnavailable) {
			t.Errorf("%s: noDowngrade = %v, want ErrKeysUnavailable", tt.name, err)
		}
	}

	const jwks = `{"keys":[{"kty":"EC","crv":"P-256","kid":"k1","alg":"ES256","use":"sig",` +
		`"x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU","y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}]}`
	var plainHits atomic.Int64
	plain := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		plainHits.Add(1)
		if r.URL.Path == "/.well-known/openid-configuration" {
			fmt.Fprintf(w, `{"issuer":%q,"jwks_uri":%q}`, "http://"+r.Host, "http://"+r.Host+"/jwks")
			return
		}
		w.Write([]byte(jwks))
	}))
	defer plain.Close()
	mux := http.NewServeMux()
	tlsSrv := httptest.NewTLSServer(mux)
	defer tlsSrv.Close()
	mux.HandleFunc("/to-http", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, plain.URL+"/jwks", http.StatusFound)
	})
	mux.HandleFunc("/to-https", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/jwks", http.StatusMovedPermanently)
	})
	mux.HandleFunc("/loop", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/loop", http.StatusFound)
	})
	mux.HandleFunc("/jwks", func(w http.ResponseWriter, r *http.Request) { w.Write([]byte(jwks)) })
	mux.HandleFunc("/.well-known/openid-configuration", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, plain.URL+"/.well-known/openid-configuration", http.StatusFound)
	})
	quiet := &RemoteKeysOptions{OnFetch: func(error) {}, OnKeySkipped: func(string, error) {}}
	withTLS := func(t *testing.T, r *RemoteKeys) {
		t.Helper()
		tr, ok := r.client.Transport, r.client.CheckRedirect != nil
		if tr != nil || !ok {
			t.Fatal("the default client has a Transport or no CheckRedirect")
		}
		r.client.Transport = tlsSrv.Client().Transport // before any fetch
	}

	for _, tt := range []struct {
		name, path, want string
	}{
		{"https to http", "/to-http", "redirect from https to http"},
		{"redirect loop", "/loop", "too many redirects"},
		{"https to https", "/to-https", ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			plainHits.Store(0)
			r, err := NewRemoteKeys(tlsSrv.URL+tt.path, quiet)
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			withTLS(t, r)
			err = r.Refresh(context.Background())
			if tt.want == "" {
				if err != nil {
					t.Fatalf("Refresh through %s: got error %v, want nil", tt.path, err)
				}
				return
			}
			if !errors.Is(err, ErrUnavailable) || !errors.Is(err, ErrKeysUnavailable) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Refresh through %s: got error %v, want ErrKeysUnavailable saying %q", tt.path, err, tt.want)
			}
			if n := plainHits.Load(); n != 0 {
				t.Fatalf("the http server: got %d requests, want none", n)
			}
			if r.Ready() == nil {
				t.Fatal("Ready() after a refused redirect: got nil, want an error")
			}
		})
	}

	t.Run("discovery, https to http", func(t *testing.T) {
		plainHits.Store(0)
		r, err := DiscoverKeys(tlsSrv.URL, quiet)
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		withTLS(t, r)
		err = r.Refresh(context.Background())
		if !errors.Is(err, ErrKeysUnavailable) || !strings.Contains(err.Error(), "redirect from https to http") {
			t.Fatalf("Refresh: got error %v, want ErrKeysUnavailable saying the redirect was refused", err)
		}
		if n := plainHits.Load(); n != 0 {
			t.Fatalf("the http server: got %d requests, want none", n)
		}
	})
}

// TestRemoteKeysReadBounded: an answer of exactly the bound is read, one
// byte more is refused. Guards against an off-by-one either way at the
// memory bound.
func TestRemoteKeysReadBounded(t *testing.T) {
	for _, tt := range []struct {
		size, limit int
		ok          bool
	}{
		{0, 0, true}, {1, 0, false}, {99, 100, true}, {100, 100, true}, {101, 100, false}, {1 << 20, 1 << 20, true}, {1<<20 + 1, 1 << 20, false},
	} {
		b, err := readBounded(strings.NewReader(strings.Repeat("a", tt.size)), int64(tt.limit))
		switch {
		case tt.ok && (err != nil || len(b) != tt.size):
			t.Errorf("readBounded(%d bytes, %d) = %d bytes, %v, want %d bytes", tt.size, tt.limit, len(b), err, tt.size)
		case !tt.ok && !errors.Is(err, ErrKeysUnavailable):
			t.Errorf("readBounded(%d bytes, %d) = %v, want ErrKeysUnavailable", tt.size, tt.limit, err)
		}
	}
}

// TestCallersClientRefusesDowngrade: a Client of the app's without a
// redirect policy gets the https→http refusal too, on a copy: the app's
// client is left as it was.
func TestCallersClientRefusesDowngrade(t *testing.T) {
	mine := &http.Client{}
	r, err := newRemoteKeys("", &RemoteKeysOptions{Client: mine})
	if err != nil {
		t.Fatal(err)
	}
	if r.client == mine || r.client.CheckRedirect == nil || mine.CheckRedirect != nil {
		t.Fatalf("client = %p (mine %p), CheckRedirect set %v, mine changed %v", r.client, mine, r.client.CheckRedirect != nil, mine.CheckRedirect != nil)
	}
	own := func(*http.Request, []*http.Request) error { return nil }
	r, err = newRemoteKeys("", &RemoteKeysOptions{Client: &http.Client{CheckRedirect: own}})
	if err != nil || r.client.CheckRedirect == nil {
		t.Fatalf("a client with its own policy: %v", err)
	}
	if _, err := newRemoteKeys("", &RemoteKeysOptions{MaxTTL: 30 * time.Second}); err != nil {
		t.Errorf("MaxTTL below the default MinTTL: %v, want it to lower MinTTL", err)
	}
}
