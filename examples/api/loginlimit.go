package main

import (
	"crypto/sha256"
	"net"
	"net/netip"
	"strings"
	"sync"
	"time"
)

// Failed logins are limited twice, with token buckets kept in memory:
//
//   - per account (the normalized email, known or not): 5 failures, then
//     one more every 3 minutes (5 per 15 minutes). This stops a password
//     guesser who targets one account from many addresses.
//   - per client address (the host of RemoteAddr; an IPv6 address counts
//     by its /64, what one machine is usually given): 20 failures, then one
//     more every 45 seconds (20 per 15 minutes). This stops one client
//     trying a common password on many accounts.
//
// Every attempt takes a token from both buckets before the password is
// checked, and a successful login gives both back: only failures spend
// budget, and concurrent attempts cannot overdraw it. An attempt when
// either bucket is empty is answered 429 with Retry-After and the same
// body for every account, known or not, without checking the password.
//
// X-Forwarded-For is not trusted: behind a proxy every client would have
// the proxy's address. An app behind a proxy it trusts takes the client
// address from that proxy's header instead.
var (
	accountRule = bucketRule{burst: 5, per: 15 * time.Minute}
	addressRule = bucketRule{burst: 20, per: 15 * time.Minute}
)

const (
	// limiterMaxKeys bounds each table (accounts, addresses): with keys
	// of at most 70 bytes, a full table takes a few megabytes.
	limiterMaxKeys = 50_000
	// limiterSweepEvery is how often the tables drop the buckets that
	// have filled up again.
	limiterSweepEvery = time.Minute
)

// loginLimiter is the two tables behind one lock; it is safe for
// concurrent use.
type loginLimiter struct {
	now func() time.Time

	mu        sync.Mutex
	accounts  *bucketTable
	addresses *bucketTable
}

func newLoginLimiter(now func() time.Time) *loginLimiter {
	return &loginLimiter{
		now:       now,
		accounts:  newBucketTable(accountRule, limiterMaxKeys, limiterSweepEvery),
		addresses: newBucketTable(addressRule, limiterMaxKeys, limiterSweepEvery),
	}
}

// loginTicket is the budget one attempt reserved.
type loginTicket struct{ account, address string }

// reserve takes a token from the bucket of the account and from that of the
// address, or from neither, and then reports how long the client must wait
// for the one that is empty (the longer, when both are).
func (l *loginLimiter) reserve(account, address string) (loginTicket, time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	if wait := max(l.accounts.peek(account, now), l.addresses.peek(address, now)); wait > 0 {
		return loginTicket{}, wait
	}
	l.accounts.take(account, now)
	l.addresses.take(address, now)
	return loginTicket{account: account, address: address}, 0
}

// refund gives back what t reserved: the login succeeded.
func (l *loginLimiter) refund(t loginTicket) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	l.accounts.give(t.account, now)
	l.addresses.give(t.address, now)
}

// size is the number of buckets held, for the metrics.
func (l *loginLimiter) size() (accounts, addresses int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.accounts.len(), l.addresses.len()
}

// accountKey names the account of a login attempt: the email as the user
// store matches it (case-insensitively), and without surrounding spaces,
// so that no spelling of one account gets a budget of its own. It is
// hashed, so that every key has the same small size whatever the client
// sent and no email is kept in the table.
func accountKey(email string) string {
	sum := sha256.Sum256([]byte(strings.ToLower(strings.TrimSpace(email))))
	return string(sum[:16])
}

// addressKey names the client of r.RemoteAddr: its IPv4 address, or the
// /64 prefix of its IPv6 address.
func addressKey(remoteAddr string) string {
	host, _, err := net.SplitHostPort(remoteAddr)
	if err != nil {
		host = remoteAddr
	}
	addr, err := netip.ParseAddr(host)
	if err != nil { // not an IP address (a Unix socket): one client
		if len(host) > 64 {
			host = host[:64]
		}
		return "other:" + host
	}
	addr = addr.Unmap().WithZone("")
	if addr.Is4() {
		return addr.String()
	}
	p, _ := addr.Prefix(64)
	return p.String()
}

// retryAfter is wait in whole seconds, rounded up, for Retry-After.
func retryAfter(wait time.Duration) int {
	return int(max(1, (wait+time.Second-1)/time.Second))
}
