package main

import (
	"time"

	"github.com/guardian-go/guardian"
)

// DPoP (RFC 9449): a login or a refresh whose request carries a DPoP proof
// gets tokens bound to the proof's key (cnf.jkt), handed out as
// "Authorization: DPoP <token>" and "token_type": "DPoP"; from then on
// every request with them needs "Authorization: DPoP <token>" and a fresh
// proof of that key, and a bound refresh token is refused without one,
// before it is spent. Logins without a proof get bearer tokens, as before.
// The library does the checks (guardian.GuardianOptions.DPoP); this file
// gives its verifier the server's store, so that every instance sharing the
// store refuses a proof any of them has seen.
//
// The server listens directly, so a proof's htu is checked against the
// request's own scheme, host and path. Behind a proxy that changes them,
// GuardianOptions.RequestURL would have to say what the client used
// (guardian.PublicURL or guardian.ForwardedURL), from a flag of its own.

// newDPoP returns the verifier of the server's DPoP proofs: the library's
// algorithms and lifetimes, clock for the proofs' iat, and the store as the
// replay cache, timed into m; each call is bounded by the library's
// ReplayTimeout (300 ms), so that a hung store costs a request with a
// proof a 503, not a hang. A store without a replay cache of its own (a
// test's in-memory revoker) gets a MemoryReplayCache.
func newDPoP(st *store, m *metrics, clock func() time.Time) (*guardian.DPoPVerifier, error) {
	var replay guardian.ReplayCache = guardian.NewMemoryReplayCache(0)
	if st.replay != nil {
		replay = st.replay
	}
	return guardian.NewDPoPVerifier(&guardian.DPoPOptions{
		Replay: m.timeReplay(replay),
		Clock:  clock,
	})
}
