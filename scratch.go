package guardian

import "sync"

// scratch holds the buffers one verification needs, reused across requests
// so that the hot path does not allocate them.
type scratch struct {
	in  []byte // a base64 segment, copied from the token
	out []byte // decoded bytes; valid until the next decode
	mac []byte // HMAC input and output, or the signing input
	sum []byte // a digest
	der []byte // an ASN.1 ECDSA signature
}

var scratchPool = sync.Pool{New: func() any {
	return &scratch{
		in: make([]byte, 0, 1024), out: make([]byte, 0, 1024), mac: make([]byte, 0, 1024),
		sum: make([]byte, 0, 64), der: make([]byte, 0, 160),
	}
}}

func getScratch() *scratch { return scratchPool.Get().(*scratch) }

// putScratch returns sc to the pool, unless a huge token grew it.
func putScratch(sc *scratch) {
	if cap(sc.in) <= 16<<10 && cap(sc.out) <= 16<<10 && cap(sc.mac) <= 16<<10 {
		scratchPool.Put(sc)
	}
}

// decode decodes a strict base64url segment into sc.out and returns it; the
// result is overwritten by the next decode.
func (sc *scratch) decode(seg string) ([]byte, error) {
	sc.in = append(sc.in[:0], seg...)
	n := b64.DecodedLen(len(sc.in))
	if cap(sc.out) < n {
		sc.out = make([]byte, n)
	}
	m, err := b64.Decode(sc.out[:n], sc.in)
	if err != nil {
		return nil, err
	}
	return sc.out[:m], nil
}
