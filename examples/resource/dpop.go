package main

import "github.com/guardian-go/guardian"

// newDPoP returns the checker of DPoP proofs (RFC 9449 §4.3) for tokens
// bound to a client's key (cnf.jkt): the library's defaults, proofs by
// ES256, EdDSA (also as Ed25519), ES384, PS256 or RS256 keys, at most 300 s old and 5 s
// ahead. The jti of every proof accepted is remembered for as long, so
// that none is accepted twice, in this process's memory: the server keeps
// no other state, and it runs as one process. Instances behind one load
// balancer would each accept a proof once; they would need a shared
// guardian.ReplayCache (redisstore, sqlstore) for a proof to be refused by
// all once seen by one.
func newDPoP() (*guardian.DPoPVerifier, error) {
	return guardian.NewDPoPVerifier(&guardian.DPoPOptions{
		Replay: guardian.NewMemoryReplayCache(0),
	})
}
