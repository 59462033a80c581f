package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// End-to-end tests of the login limits: per account and per client
// address, told apart by connecting from several loopback addresses.

// clientFrom returns an HTTP client whose connections come from the
// loopback address ip (any of 127.0.0.0/8 on Linux). It skips the test
// where the system cannot bind that address.
func clientFrom(t *testing.T, ip string) *http.Client {
	t.Helper()
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}, Timeout: 10 * time.Second}
	probe, err := d.Dial("tcp", freeListener(t))
	if errors.Is(err, syscall.EADDRNOTAVAIL) {
		if os.Getenv("CI") == "true" { // CI's machine binds all of 127.0.0.0/8
			t.Fatalf("cannot connect from %s: %v", ip, err)
		}
		t.Skipf("cannot connect from %s on this system: %v", ip, err)
	}
	if err != nil {
		t.Fatal(err)
	}
	probe.Close()
	tr := &http.Transport{DialContext: d.DialContext}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: 30 * time.Second}
}

// freeListener listens on a loopback port for the test and returns its
// address.
func freeListener(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	return ln.Addr().String()
}

// loginAs posts a login with client c.
func (s *apiServer) loginAs(c *http.Client, email, password string) response {
	s.t.Helper()
	body := fmt.Sprintf(`{"email":%q,"password":%q}`, email, password)
	resp, err := c.Post(s.base+"/api/login", "application/json", strings.NewReader(body))
	if err != nil {
		s.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		s.t.Fatal(err)
	}
	return response{status: resp.StatusCode, header: resp.Header, body: b}
}

// wantLimited checks a 429 answer and returns its Retry-After, which must
// be whole seconds in [1, most].
func wantLimited(t *testing.T, what string, r response, most int) int {
	t.Helper()
	wantStatus(t, what, r, http.StatusTooManyRequests)
	secs, err := strconv.Atoi(r.header.Get("Retry-After"))
	if err != nil || secs < 1 || secs > most {
		t.Errorf("%s: Retry-After %q, want whole seconds in [1, %d]", what, r.header.Get("Retry-After"), most)
	}
	if code := r.json(t)["error"]; code != "too_many_attempts" {
		t.Errorf("%s: error = %v, want too_many_attempts", what, code)
	}
	return secs
}

// The limits of the contract: 5 failed logins per account and 20 per
// client address, then 429 with Retry-After, the same for known and
// unknown accounts, the right password included; other accounts and
// addresses are not affected.
func TestLoginRateLimit(t *testing.T) {
	s := startServer(t, "-store", filepath.Join(t.TempDir(), "r.db"))
	defer s.stop()
	const (
		accountWait = 180 // seconds for one more try: 5 per 15 minutes
		addressWait = 45  // 20 per 15 minutes
	)
	local := clientFrom(t, "127.0.0.1")
	limited, succeeded := 0, 0 // the answers seen, for the metrics
	want429 := func(t *testing.T, what string, r response, most int) int {
		t.Helper()
		limited++
		return wantLimited(t, what, r, most)
	}

	t.Run("per address", func(t *testing.T) {
		crowd := clientFrom(t, "127.0.0.3")
		start := time.Now()
		for i := range 20 {
			email := fmt.Sprintf("user%d@example.com", i)
			wantStatus(t, "failure #"+strconv.Itoa(i+1)+" from one address", s.loginAs(crowd, email, "wrong"), http.StatusUnauthorized)
		}
		if d := time.Since(start); d > 40*time.Second {
			// The bucket gives a token back every 45 s.
			t.Skipf("20 failed logins took %v: too slow a machine to tell the limit from the refill", d)
		}
		want429(t, "21st failure from the address, a fresh account", s.loginAs(crowd, "fresh@example.com", "wrong"), addressWait)
		want429(t, "alice's right password from the address", s.loginAs(crowd, aliceEmail, alicePassword), addressWait)
		wantStatus(t, "alice's right password from another address", s.loginAs(clientFrom(t, "127.0.0.4"), aliceEmail, alicePassword), http.StatusOK)
		succeeded++
	})

	var aliceLimited response
	var aliceWait int
	t.Run("per account", func(t *testing.T) {
		for i := range 5 {
			wantStatus(t, "alice failure #"+strconv.Itoa(i+1), s.loginAs(local, aliceEmail, "wrong"), http.StatusUnauthorized)
		}
		aliceLimited = s.loginAs(local, aliceEmail, "wrong")
		aliceWait = want429(t, "alice's 6th failure", aliceLimited, accountWait)
		want429(t, "alice's right password during the lockout", s.loginAs(local, aliceEmail, alicePassword), accountWait)
		want429(t, "alice's right password from another address", s.loginAs(clientFrom(t, "127.0.0.2"), aliceEmail, alicePassword), accountWait)
	})

	t.Run("unknown account", func(t *testing.T) {
		if aliceLimited.status == 0 {
			t.Skip("per account failed")
		}
		for i := range 5 {
			wantStatus(t, "mallory failure #"+strconv.Itoa(i+1), s.loginAs(local, "mallory@example.com", "wrong"), http.StatusUnauthorized)
		}
		r := s.loginAs(local, "mallory@example.com", "wrong")
		wait := want429(t, "mallory's 6th failure", r, accountWait)
		if !bytes.Equal(r.body, aliceLimited.body) {
			t.Errorf("429 body for an unknown account %s differs from alice's %s", r.body, aliceLimited.body)
		}
		for _, h := range []string{"Content-Type", "Cache-Control"} {
			if r.header.Get(h) != aliceLimited.header.Get(h) {
				t.Errorf("429 %s for an unknown account %q differs from alice's %q", h, r.header.Get(h), aliceLimited.header.Get(h))
			}
		}
		if d := wait - aliceWait; d < -10 || d > 10 {
			t.Errorf("Retry-After for an unknown account %d, for alice %d: want about the same", wait, aliceWait)
		}
	})

	t.Run("other account, other address", func(t *testing.T) {
		wantStatus(t, "bob's failure from another address", s.loginAs(clientFrom(t, "127.0.0.2"), "bob@example.com", "wrong"), http.StatusUnauthorized)
	})

	t.Run("metrics", func(t *testing.T) {
		m := s.scrape(t)
		m.want(t, fmt.Sprint("== ", limited), "guardian_logins_total", "outcome=rate_limited")
		m.want(t, fmt.Sprint("== ", succeeded), "guardian_logins_total", "outcome=ok")
	})
}
