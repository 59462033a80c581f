package main

import (
	"fmt"
	"testing"
	"time"
)

func TestLoginLimiterPerAccount(t *testing.T) {
	clock := newFakeClock()
	l := newLoginLimiter(clock.now)
	alice := accountKey("alice@example.com")
	for i := range 5 {
		// Each failure from another address: the account's budget is
		// the account's, wherever the attempts come from.
		if _, wait := l.reserve(alice, fmt.Sprint("192.0.2.", i)); wait != 0 {
			t.Fatalf("failure #%d limited", i+1)
		}
	}
	_, wait := l.reserve(alice, "198.51.100.1")
	if wait != 3*time.Minute {
		t.Fatalf("6th attempt: wait %v, want 3m", wait)
	}
	if _, wait := l.reserve(accountKey("bob@example.com"), "198.51.100.1"); wait != 0 {
		t.Fatal("another account from the same new address is limited")
	}
	clock.advance(3 * time.Minute)
	if _, wait := l.reserve(alice, "198.51.100.1"); wait != 0 {
		t.Fatal("an attempt 3 minutes later is still limited")
	}
}

func TestLoginLimiterPerAddress(t *testing.T) {
	clock := newFakeClock()
	l := newLoginLimiter(clock.now)
	for i := range 20 {
		if _, wait := l.reserve(accountKey(fmt.Sprint("user", i, "@example.com")), "192.0.2.1"); wait != 0 {
			t.Fatalf("failure #%d limited", i+1)
		}
	}
	_, wait := l.reserve(accountKey("fresh@example.com"), "192.0.2.1")
	if wait != 45*time.Second {
		t.Fatalf("21st attempt from the address: wait %v, want 45s", wait)
	}
	if _, wait := l.reserve(accountKey("fresh@example.com"), "192.0.2.2"); wait != 0 {
		t.Fatal("the same account from another address is limited")
	}
}

// A limited attempt spends nothing, in either bucket.
func TestLoginLimiterRefusalSpendsNothing(t *testing.T) {
	clock := newFakeClock()
	l := newLoginLimiter(clock.now)
	alice := accountKey("alice@example.com")
	for i := range 5 {
		l.reserve(alice, fmt.Sprint("192.0.2.", i))
	}
	for range 100 { // an attacker hammering a locked account from one address
		l.reserve(alice, "198.51.100.1")
	}
	for i := range 20 {
		if _, wait := l.reserve(accountKey(fmt.Sprint("user", i)), "198.51.100.1"); wait != 0 {
			t.Fatalf("attempt #%d of the address limited: its refused attempts spent its budget", i+1)
		}
	}
}

func TestLoginLimiterSuccessSpendsNothing(t *testing.T) {
	clock := newFakeClock()
	l := newLoginLimiter(clock.now)
	alice := accountKey("alice@example.com")
	for range 100 {
		ticket, wait := l.reserve(alice, "192.0.2.1")
		if wait != 0 {
			t.Fatal("a login after successful ones is limited")
		}
		l.refund(ticket)
	}
	if a, b := l.size(); a != 0 || b != 0 {
		t.Fatalf("successful logins left %d account and %d address buckets", a, b)
	}
	for i := range 5 {
		if _, wait := l.reserve(alice, "192.0.2.1"); wait != 0 {
			t.Fatalf("failure #%d after the successes limited", i+1)
		}
	}
	if _, wait := l.reserve(alice, "192.0.2.1"); wait == 0 {
		t.Fatal("6th failure not limited")
	}
}

func TestAccountKey(t *testing.T) {
	if accountKey(" Alice@Example.COM ") != accountKey("alice@example.com") {
		t.Error("the account key depends on case or surrounding spaces")
	}
	if accountKey("alice@example.com") == accountKey("bob@example.com") {
		t.Error("two accounts share a key")
	}
	if n := len(accountKey(string(make([]byte, 4096)))); n != 16 {
		t.Errorf("account key of a 4 KiB email is %d bytes, want 16", n)
	}
}

func TestAddressKey(t *testing.T) {
	for in, want := range map[string]string{
		"192.0.2.1:1234":            "192.0.2.1",
		"[::ffff:192.0.2.1]:1234":   "192.0.2.1",
		"[2001:db8:1:2::1]:443":     "2001:db8:1:2::/64",
		"[2001:db8:1:2:ffff::9]:80": "2001:db8:1:2::/64",
		"[fe80::1%eth0]:80":         "fe80::/64",
		"127.0.0.1":                 "127.0.0.1", // no port
		"@":                         "other:@",
	} {
		if got := addressKey(in); got != want {
			t.Errorf("addressKey(%q) = %q, want %q", in, got, want)
		}
	}
	if addressKey("[2001:db8:1:2::1]:1") == addressKey("[2001:db8:1:3::1]:1") {
		t.Error("two /64 prefixes share a key")
	}
}

func TestRetryAfter(t *testing.T) {
	for wait, want := range map[time.Duration]int{
		time.Nanosecond:               1,
		time.Second:                   1,
		time.Second + time.Nanosecond: 2,
		179200 * time.Millisecond:     180,
		3 * time.Minute:               180,
	} {
		if got := retryAfter(wait); got != want {
			t.Errorf("retryAfter(%v) = %d, want %d", wait, got, want)
		}
	}
}
