package benchmarks

import (
	"bytes"
	"encoding/asn1"
	"math/big"
	"testing"
)

func TestASN1Signature(t *testing.T) {
	pad := func(b ...byte) []byte { return append(make([]byte, 32-len(b)), b...) }
	full := bytes.Repeat([]byte{0xff}, 32)
	low := bytes.Repeat([]byte{0x7f}, 32)
	for _, tc := range []struct {
		name string
		r, s []byte
	}{
		{name: "high bits set", r: full, s: full},
		{name: "high bits clear", r: low, s: low},
		{name: "leading zeros", r: pad(1), s: pad(0x80, 0)},
		{name: "zero", r: pad(0), s: pad(0)},
	} {
		var want struct{ R, S *big.Int }
		want.R, want.S = new(big.Int).SetBytes(tc.r), new(big.Int).SetBytes(tc.s)
		der, err := asn1.Marshal(want)
		if err != nil {
			t.Fatal(err)
		}
		if got := asn1Signature(nil, tc.r, tc.s); !bytes.Equal(got, der) {
			t.Errorf("%s: got %x, want %x", tc.name, got, der)
		}
	}
}
