package guardian_test

import (
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/sha256"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
)

// BenchmarkDPoPChain compares a DPoP-bound request (the proof's ES256
// signature, its checks and the replay check in memory) with the same
// route's Bearer request, and with one ES256 verification alone: the
// issue's target is dpop <= bearer + es256 + 5 µs.
func BenchmarkDPoPChain(b *testing.B) {
	rt := newDPoPRoute(b, true, false)
	bearer, bound := rt.token(b, false), rt.token(b, true)
	serve := func(b *testing.B, r *http.Request) {
		w := httptest.NewRecorder()
		rt.h.ServeHTTP(w, r)
		if w.Code != http.StatusOK {
			b.Fatalf("status %d: %s", w.Code, w.Body)
		}
	}
	request := func(auth, proof string) *http.Request {
		r := httptest.NewRequest(http.MethodPost, "http://api.example.com/items", nil)
		r.Header.Set("Authorization", auth)
		if proof != "" {
			r.Header.Set("DPoP", proof)
		}
		return r
	}
	b.Run("bearer", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			serve(b, request("Bearer "+bearer, ""))
		}
	})
	made := 0 // proofs made: sub-benchmarks rerun with -count, on the same replay cache
	b.Run("dpop", func(b *testing.B) {
		proofs := make([]string, b.N)
		for i := range proofs {
			made++
			claims := map[string]any{"jti": "b" + strconv.Itoa(made), "htm": "POST", "htu": htu, "iat": rt.f.clock.Now().Unix(), "ath": ath(bound)}
			proofs[i] = rt.client.proof(b, claims, nil, nil)
		}
		b.ReportAllocs()
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			serve(b, request("DPoP "+bound, proofs[i]))
		}
	})
	b.Run("es256-verify", func(b *testing.B) {
		digest := sha256.Sum256([]byte("a proof's signing input"))
		sig, err := ecdsa.SignASN1(rand.Reader, rt.client.key, digest[:])
		if err != nil {
			b.Fatal(err)
		}
		b.ReportAllocs()
		for b.Loop() {
			if !ecdsa.VerifyASN1(&rt.client.key.PublicKey, digest[:], sig) {
				b.Fatal("does not verify")
			}
		}
	})
}
