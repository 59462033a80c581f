package guardian_test

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/guardian-go/guardian"
	"github.com/guardian-go/guardian/internal/testclock"
)

// dpopClient is a client holding a DPoP key, making proofs.
type dpopClient struct {
	key *ecdsa.PrivateKey
	jwk map[string]any
	jkt string
}

func newDPoPClient(tb testing.TB) *dpopClient {
	tb.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	pub, err := key.PublicKey.Bytes() // 0x04 || x || y
	if err != nil {
		tb.Fatal(err)
	}
	x, y := base64.RawURLEncoding.EncodeToString(pub[1:33]), base64.RawURLEncoding.EncodeToString(pub[33:])
	c := &dpopClient{key: key, jwk: map[string]any{"kty": "EC", "crv": "P-256", "x": x, "y": y}}
	canonical := `{"crv":"P-256","kty":"EC","x":"` + x + `","y":"` + y + `"}`
	sum := sha256.Sum256([]byte(canonical))
	c.jkt = base64.RawURLEncoding.EncodeToString(sum[:])
	return c
}

// proof signs a proof with header and claims changed by the edits (a nil
// value deletes a member), with signer (nil: the client's key).
func (c *dpopClient) proof(tb testing.TB, claims map[string]any, header map[string]any, signer crypto.Signer) string {
	tb.Helper()
	tok := jwt.NewWithClaims(jwt.SigningMethodES256, jwt.MapClaims(claims))
	tok.Header["typ"] = "dpop+jwt"
	tok.Header["jwk"] = c.jwk
	for k, v := range header {
		if v == nil {
			delete(tok.Header, k)
		} else {
			tok.Header[k] = v
		}
	}
	if signer == nil {
		signer = c.key
	}
	raw, err := tok.SignedString(signer)
	if err != nil {
		tb.Fatal(err)
	}
	return raw
}

// dpopClaims are the claims of a proof for POST https://api.example.com/items at t.
func dpopClaims(jti string, t time.Time) map[string]any {
	return map[string]any{"jti": jti, "htm": "POST", "htu": "https://api.example.com/items", "iat": t.Unix()}
}

func ath(token string) string {
	sum := sha256.Sum256([]byte(token))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// TestDPoPVerify runs each check of RFC 9449 §4.3 with the attack it stops.
func TestDPoPVerify(t *testing.T) {
	ctx := context.Background()
	now := testclock.Now().Truncate(time.Second)
	client, other := newDPoPClient(t), newDPoPClient(t)
	const token = "an-access-token"
	target, _ := url.Parse("https://api.example.com/items?page=2")
	base := guardian.DPoPRequest{Method: "POST", URL: target, AccessToken: token, JKT: client.jkt}
	with := func(edit map[string]any) map[string]any {
		c := dpopClaims("", now)
		c["ath"] = ath(token)
		for k, v := range edit {
			if v == nil {
				delete(c, k)
			} else {
				c[k] = v
			}
		}
		return c
	}
	hmacProof := func() string {
		tok := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims(with(map[string]any{"jti": "hs"})))
		tok.Header["typ"] = "dpop+jwt"
		tok.Header["jwk"] = map[string]any{"kty": "oct", "k": "c2VjcmV0"}
		raw, _ := tok.SignedString([]byte("secret"))
		return raw
	}
	privateJWK := map[string]any{}
	for k, v := range client.jwk {
		privateJWK[k] = v
	}
	d, err := client.key.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	privateJWK["d"] = base64.RawURLEncoding.EncodeToString(d)
	noneProof := b64(`{"typ":"dpop+jwt","alg":"none","jwk":`+mustJSON(t, client.jwk)+`}`) + "." + b64(mustJSON(t, with(map[string]any{"jti": "none"}))) + "."

	tests := []struct {
		name  string
		proof func() string
		req   func(guardian.DPoPRequest) guardian.DPoPRequest
		want  error // nil: accepted
	}{
		{name: "a fresh proof", proof: func() string { return client.proof(t, with(map[string]any{"jti": "ok"}), nil, nil) }},
		{name: "query and fragment are ignored, scheme and host case too", proof: func() string {
			return client.proof(t, with(map[string]any{"jti": "q", "htu": "HTTPS://API.example.com:443/items#x"}), nil, nil)
		}},
		{name: "iat at the edge of the window", proof: func() string {
			return client.proof(t, with(map[string]any{"jti": "edge-old", "iat": now.Add(-300 * time.Second).Unix()}), nil, nil)
		}},
		{name: "iat within the leeway ahead", proof: func() string {
			return client.proof(t, with(map[string]any{"jti": "edge-new", "iat": now.Add(5 * time.Second).Unix()}), nil, nil)
		}},
		{name: "stale iat", want: guardian.ErrInvalidDPoPProof, proof: func() string {
			return client.proof(t, with(map[string]any{"jti": "old", "iat": now.Add(-301 * time.Second).Unix()}), nil, nil)
		}},
		{name: "future iat", want: guardian.ErrInvalidDPoPProof, proof: func() string {
			return client.proof(t, with(map[string]any{"jti": "future", "iat": now.Add(6 * time.Second).Unix()}), nil, nil)
		}},
		{name: "proof for another method", want: guardian.ErrInvalidDPoPProof, proof: func() string {
			return client.proof(t, with(map[string]any{"jti": "m", "htm": "GET"}), nil, nil)
		}},
		{name: "proof for another path", want: guardian.ErrInvalidDPoPProof, proof: func() string {
			return client.proof(t, with(map[string]any{"jti": "p", "htu": "https://api.example.com/admin"}), nil, nil)
		}},
		{name: "proof for another host", want: guardian.ErrInvalidDPoPProof, proof: func() string {
			return client.proof(t, with(map[string]any{"jti": "h", "htu": "https://evil.example.com/items"}), nil, nil)
		}},
		{name: "proof for http", want: guardian.ErrInvalidDPoPProof, proof: func() string {
			return client.proof(t, with(map[string]any{"jti": "s", "htu": "http://api.example.com/items"}), nil, nil)
		}},
		{name: "signed by another key than its jwk", want: guardian.ErrInvalidDPoPProof, proof: func() string {
			return client.proof(t, with(map[string]any{"jti": "k"}), nil, other.key)
		}},
		{name: "a proof of another key than the token's", want: guardian.ErrInvalidDPoPProof, proof: func() string {
			return other.proof(t, with(map[string]any{"jti": "o"}), nil, nil)
		}},
		{name: "ath of another token", want: guardian.ErrInvalidDPoPProof, proof: func() string {
			return client.proof(t, with(map[string]any{"jti": "a", "ath": ath("another token")}), nil, nil)
		}},
		{name: "no ath with a token", want: guardian.ErrInvalidDPoPProof, proof: func() string {
			return client.proof(t, with(map[string]any{"jti": "na", "ath": nil}), nil, nil)
		}},
		{name: "a private key in jwk", want: guardian.ErrInvalidDPoPProof, proof: func() string {
			return client.proof(t, with(map[string]any{"jti": "d"}), map[string]any{"jwk": privateJWK}, nil)
		}},
		{name: "alg none", want: guardian.ErrInvalidDPoPProof, proof: func() string { return noneProof }},
		{name: "HS256 with an oct jwk", want: guardian.ErrInvalidDPoPProof, proof: hmacProof},
		{name: "typ JWT", want: guardian.ErrInvalidDPoPProof, proof: func() string {
			return client.proof(t, with(map[string]any{"jti": "t"}), map[string]any{"typ": "JWT"}, nil)
		}},
		{name: "a kid instead of a jwk", want: guardian.ErrInvalidDPoPProof, proof: func() string {
			return client.proof(t, with(map[string]any{"jti": "kid"}), map[string]any{"jwk": nil, "kid": "k1"}, nil)
		}},
		{name: "no jti", want: guardian.ErrInvalidDPoPProof, proof: func() string {
			return client.proof(t, with(map[string]any{"jti": nil}), nil, nil)
		}},
		{name: "no iat", want: guardian.ErrInvalidDPoPProof, proof: func() string {
			return client.proof(t, with(map[string]any{"jti": "ni", "iat": nil}), nil, nil)
		}},
		{name: "a nonce required and missing", want: guardian.ErrUseDPoPNonce, proof: func() string {
			return client.proof(t, with(map[string]any{"jti": "n"}), nil, nil)
		}, req: func(r guardian.DPoPRequest) guardian.DPoPRequest { r.Nonce = "server-nonce"; return r }},
		{name: "the nonce required", proof: func() string {
			return client.proof(t, with(map[string]any{"jti": "n2", "nonce": "server-nonce"}), nil, nil)
		}, req: func(r guardian.DPoPRequest) guardian.DPoPRequest { r.Nonce = "server-nonce"; return r }},
		{name: "over the size bound", want: guardian.ErrInvalidDPoPProof, proof: func() string {
			return client.proof(t, with(map[string]any{"jti": "big", "pad": strings.Repeat("x", 5000)}), nil, nil)
		}},
		{name: "not a JWS", want: guardian.ErrInvalidDPoPProof, proof: func() string { return "not-a-proof" }},
	}
	v, err := guardian.NewDPoPVerifier(&guardian.DPoPOptions{Clock: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := base
			if tt.req != nil {
				req = tt.req(req)
			}
			p, err := v.Verify(ctx, tt.proof(), req)
			if tt.want == nil {
				if err != nil {
					t.Fatalf("got %v, want the proof accepted", err)
				}
				if p.JKT != client.jkt {
					t.Errorf("got jkt %q, want %q", p.JKT, client.jkt)
				}
				return
			}
			if !errors.Is(err, tt.want) {
				t.Fatalf("got %v, want %v", err, tt.want)
			}
			wantCode := "invalid_dpop_proof"
			if errors.Is(tt.want, guardian.ErrUseDPoPNonce) {
				wantCode = "use_dpop_nonce"
			}
			if status, code := guardian.ErrorStatus(err); status != 401 || code != wantCode || !errors.Is(err, guardian.ErrInvalidDPoPProof) {
				t.Errorf("ErrorStatus: got %d %q, want 401 %s (and ErrInvalidDPoPProof)", status, code, wantCode)
			}
		})
	}
}

// TestDPoPReplay: a proof is accepted once, by every verifier sharing the
// cache; a failing cache refuses it (fail closed).
func TestDPoPReplay(t *testing.T) {
	ctx := context.Background()
	now := testclock.Now().Truncate(time.Second)
	client := newDPoPClient(t)
	target, _ := url.Parse("https://api.example.com/items")
	req := guardian.DPoPRequest{Method: "POST", URL: target}
	shared := guardian.NewMemoryReplayCache(0)
	clock := func() time.Time { return now }
	a, _ := guardian.NewDPoPVerifier(&guardian.DPoPOptions{Clock: clock, Replay: shared})
	b, _ := guardian.NewDPoPVerifier(&guardian.DPoPOptions{Clock: clock, Replay: shared})
	proof := client.proof(t, dpopClaims("once", now), nil, nil)
	if _, err := a.Verify(ctx, proof, req); err != nil {
		t.Fatalf("first use on A: %v", err)
	}
	if _, err := b.Verify(ctx, proof, req); !errors.Is(err, guardian.ErrInvalidDPoPProof) {
		t.Fatalf("replay on B: got %v, want ErrInvalidDPoPProof", err)
	}
	if _, err := a.Verify(ctx, proof, req); !errors.Is(err, guardian.ErrInvalidDPoPProof) {
		t.Fatalf("replay on A: got %v, want ErrInvalidDPoPProof", err)
	}
	// Another client's proof with the same jti is its own.
	if _, err := a.Verify(ctx, newDPoPClient(t).proof(t, dpopClaims("once", now), nil, nil), req); err != nil {
		t.Fatalf("same jti, another key: %v", err)
	}
	full := guardian.NewMemoryReplayCache(1)
	c, _ := guardian.NewDPoPVerifier(&guardian.DPoPOptions{Clock: clock, Replay: full})
	if _, err := c.Verify(ctx, client.proof(t, dpopClaims("fill", now), nil, nil), req); err != nil {
		t.Fatal(err)
	}
	_, err := c.Verify(ctx, client.proof(t, dpopClaims("overflow", now), nil, nil), req)
	if !errors.Is(err, guardian.ErrUnavailable) {
		t.Fatalf("a full cache: got %v, want ErrUnavailable", err)
	}
	if status, _ := guardian.ErrorStatus(err); status != 503 {
		t.Errorf("a full cache: status %d, want 503", status)
	}
}

func TestNewDPoPVerifierRefuses(t *testing.T) {
	for _, opts := range []*guardian.DPoPOptions{
		{Algorithms: []guardian.Algorithm{guardian.HS256}},
		{Algorithms: []guardian.Algorithm{"none"}},
		{MaxAge: time.Millisecond},
		{Leeway: -time.Second},
		{MaxProofSize: -1},
	} {
		if _, err := guardian.NewDPoPVerifier(opts); !errors.Is(err, guardian.ErrConfig) {
			t.Errorf("%+v: got %v, want ErrConfig", opts, err)
		}
	}
}

func mustJSON(tb testing.TB, v any) string {
	tb.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		tb.Fatal(err)
	}
	return string(b)
}

// TestDPoPRFC9449Example verifies the proof of RFC 9449 Figure 2 (a token
// request to https://server.example.com/token), at its own time, and
// checks its key's thumbprint against the cnf.jkt of the RFC's §6.1.
func TestDPoPRFC9449Example(t *testing.T) {
	const proof = "eyJ0eXAiOiJkcG9wK2p3dCIsImFsZyI6IkVTMjU2IiwiandrIjp7Imt0eSI6IkVDIiwieCI6Imw4dEZyaHgtMzR0VjNoUklDUkRZOXpDa0RscEJoRjQyVVFVZldWQVdCRnMiLCJ5IjoiOVZFNGpmX09rX282NHpiVFRsY3VOSmFqSG10NnY5VERWclUwQ2R2R1JEQSIsImNydiI6IlAtMjU2In19" +
		".eyJqdGkiOiItQndDM0VTYzZhY2MybFRjIiwiaHRtIjoiUE9TVCIsImh0dSI6Imh0dHBzOi8vc2VydmVyLmV4YW1wbGUuY29tL3Rva2VuIiwiaWF0IjoxNTYyMjYyNjE2fQ" +
		".2-GxA6T8lP4vfrg8v-FdWP0A0zdrj8igiMLvqRMUvwnQg4PtFLbdLXiOSsX0x7NVY-FNyJK70nfbV37xRZT3Lg"
	at := time.Unix(1562262616, 0).Add(10 * time.Second)
	v, err := guardian.NewDPoPVerifier(&guardian.DPoPOptions{Clock: func() time.Time { return at }})
	if err != nil {
		t.Fatal(err)
	}
	req := guardian.DPoPRequest{Method: "POST", URL: &url.URL{Scheme: "https", Host: "server.example.com", Path: "/token"},
		JKT: "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I"}
	p, err := v.Verify(context.Background(), proof, req)
	if err != nil {
		t.Fatalf("the RFC's proof: %v", err)
	}
	if p.ID != "-BwC3ESc6acc2lTc" || !p.IssuedAt.Equal(time.Unix(1562262616, 0)) {
		t.Errorf("got %+v", p)
	}
	if _, err := v.Verify(context.Background(), proof, req); !errors.Is(err, guardian.ErrInvalidDPoPProof) {
		t.Errorf("the RFC's proof again: %v, want a replay refused", err)
	}
}
