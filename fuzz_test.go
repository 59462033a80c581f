package guardian_test

import (
	"context"
	"encoding/base64"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/guardian-go/guardian"
	"github.com/guardian-go/guardian/internal/testclock"
)

// fuzzIssuer is the issuer of the fuzz targets: the fixture's HS256 key
// (kid k1) on a stopped clock, with an issuer and an audience to check, and
// the ES256 testdata key as a second, verification-only key (kid "ec"). Its
// key and clock are fixed, so that tokens it issued in an earlier run (in
// the corpus) still verify.
func fuzzIssuer(tb testing.TB) (verifier, ecIssuer *guardian.Issuer) {
	tb.Helper()
	opts := &guardian.IssuerOptions{
		Issuer:   "https://fuzz.example",
		Audience: []string{"app"},
	}
	clock := func() time.Time { return t0 }
	opts.Clock = clock
	ecKey := mustSigningKey(tb, "ec", guardian.ES256, loadSigner(tb, "ec_p256_sec1.pem"))
	ecPublic, err := guardian.NewVerificationKey("ec", guardian.ES256, ecKey.Public())
	if err != nil {
		tb.Fatal(err)
	}
	verifier = mustIssuer(tb, mustKeySet(tb, mustHMACKey(tb, testKID, guardian.HS256, testSecret), ecPublic), opts)
	ecIssuer = mustIssuer(tb, mustKeySet(tb, ecKey), opts)
	return verifier, ecIssuer
}

// fuzzSeeds are tokens the fuzz issuers issued, and near misses of them.
func fuzzSeeds(tb testing.TB, verifier, ecIssuer *guardian.Issuer) (seeds []string, issued map[string]bool) {
	tb.Helper()
	ctx := context.Background()
	issued = map[string]bool{}
	for _, iss := range []*guardian.Issuer{verifier, ecIssuer} {
		for _, opts := range []*guardian.IssueOptions{
			nil,
			{Type: guardian.RefreshToken},
			{Custom: map[string]any{"role": "admin", "tags": []any{"a", 1.5, nil, map[string]any{"x": true}}}},
		} {
			tok, err := iss.Issue(ctx, "u1", opts)
			if err != nil {
				tb.Fatal(err)
			}
			issued[tok.Raw] = true
			seeds = append(seeds, tok.Raw)
		}
	}
	good := seeds[0]
	h, p, s := strings.Split(good, ".")[0], strings.Split(good, ".")[1], strings.Split(good, ".")[2]
	aud := map[string]any{"iss": "https://fuzz.example", "aud": "app"}
	seeds = append(seeds,
		good[:len(good)-1]+"A",
		good[:len(good)-1],
		good+".",
		good+"\n",
		good[:len(good)-10]+"\n"+good[len(good)-10:],
		good[:len(good)-10]+"\r"+good[len(good)-10:],
		h+"."+p,
		h+"."+p+".",
		h+".."+s,
		h+"."+p+"."+s+"."+s+"."+s,
		b64(`{"alg":"none","typ":"JWT","kid":"k1"}`)+"."+p+".",
		b64(`{"alg":"none","kid":"k1"}`)+"."+p+"."+s,
		b64(`{"alg":"HS256","kid":"ec"}`)+"."+p+"."+s,
		b64(`{"alg":"HS256","kid":"k2"}`)+"."+p+"."+s,
		craft(testSecret, `{"alg":"HS256","kid":"k1","jku":"https://x"}`, payloadJSON(aud)),
		craft(testSecret, `{"alg":"HS256","kid":"k1","crit":[]}`, payloadJSON(aud)),
		craft(testSecret, `{"alg":"HS256","kid":"k1","typ":"at+jwt"}`, payloadJSON(aud)),
		craft(testSecret, `{"alg":"HS256","kid":"k1"}`, payloadJSON(aud)),
		craft(testSecret, `{"alg":"HS256","kid":"k1"}`, payloadJSON(aud, "exp")),
		craft(testSecret, `{"alg":"HS256","kid":"k1"}`, payloadJSON(map[string]any{"iss": "https://fuzz.example", "aud": []string{"x", "app"}, "exp": 1.5e9})),
		craft(testSecret, `{"alg":"HS256","kid":"k1"}`, `{"exp":null,"iat":"x"}`),
		craft(testSecret, `{"alg":"HS256","kid":"k1"}`, `[]`),
		base64.URLEncoding.EncodeToString([]byte(`{"alg":"HS256"}`))+"."+p+"."+s,
		strings.Repeat("A", 9000),
		"",
		"..",
	)
	return seeds, issued
}

// FuzzVerify feeds arbitrary strings to Verify. It must never panic, every
// failure must be a token failure (there is no Revoker), and it must never
// succeed unless the string is a token signed with our key, spelled exactly
// as we spell it: for HS256, the signature segment is the canonical
// encoding of our HMAC over exactly the first two segments, which are
// canonical base64url too. A success must verify again to the same claims,
// and Peek must report the same claims.
func FuzzVerify(f *testing.F) {
	verifier, ecIssuer := fuzzIssuer(f)
	seeds, issued := fuzzSeeds(f, verifier, ecIssuer)
	for _, s := range seeds {
		f.Add(s)
	}
	ctx := context.Background()
	f.Fuzz(func(t *testing.T, raw string) {
		c, err := verifier.Verify(ctx, raw, guardian.AccessToken, guardian.RefreshToken)
		if err != nil {
			if c != nil {
				t.Fatalf("Verify returned claims with error %v", err)
			}
			if !errors.Is(err, guardian.ErrInvalidToken) {
				t.Fatalf("Verify(%q) = %v, not a token failure", raw, err)
			}
			if issued[raw] {
				t.Fatalf("Verify refused a token it issued: %v", err)
			}
			return
		}
		parts := strings.Split(raw, ".")
		if len(parts) != 3 {
			t.Fatalf("Verify accepted %q, of %d parts", raw, len(parts))
		}
		for i, seg := range parts {
			b, err := base64.RawURLEncoding.Strict().DecodeString(seg)
			if err != nil || base64.RawURLEncoding.EncodeToString(b) != seg {
				t.Fatalf("Verify accepted %q, whose segment %d is not canonical base64url", raw, i)
			}
		}
		switch kid := headerOf(t, raw)["kid"]; kid {
		case testKID:
			if want := signSegments(testSecret, parts[0], parts[1]); raw != want {
				t.Fatalf("Verify accepted %q, which is not our signature's spelling %q", raw, want)
			}
		case "ec":
			// ECDSA signatures are randomized: the signature segment cannot
			// be recomputed; it was checked canonical above.
		default:
			t.Fatalf("Verify accepted a token of kid %v", kid)
		}
		again, err := verifier.Verify(ctx, raw, guardian.AccessToken, guardian.RefreshToken)
		if err != nil || !reflect.DeepEqual(c, again) {
			t.Fatalf("verifying %q again: %+v, %v; first %+v", raw, again, err, c)
		}
		_, peeked, err := verifier.Peek(ctx, raw)
		if err != nil || !sameClaims(c, peeked) {
			t.Fatalf("Peek(%q) = %+v, %v; Verify said %+v", raw, peeked, err, c)
		}
	})
}

// FuzzPeek feeds arbitrary strings to Peek: it never panics, fails only
// with ErrMalformedToken, and whenever Verify succeeds, Peek reports the
// same claims; whenever Peek fails, Verify fails too.
func FuzzPeek(f *testing.F) {
	verifier, ecIssuer := fuzzIssuer(f)
	seeds, _ := fuzzSeeds(f, verifier, ecIssuer)
	for _, s := range seeds {
		f.Add(s)
	}
	ctx := context.Background()
	f.Fuzz(func(t *testing.T, raw string) {
		h, c, err := verifier.Peek(ctx, raw)
		verified, verr := verifier.Verify(ctx, raw, guardian.AccessToken, guardian.RefreshToken)
		if err != nil {
			if c != nil || h != (guardian.Header{}) {
				t.Fatalf("Peek returned a header or claims with error %v", err)
			}
			if !errors.Is(err, guardian.ErrMalformedToken) || !errors.Is(err, guardian.ErrInvalidToken) {
				t.Fatalf("Peek(%q) = %v, want ErrMalformedToken", raw, err)
			}
			if verr == nil {
				t.Fatalf("Peek(%q) failed (%v) where Verify succeeded", raw, err)
			}
			return
		}
		if c == nil {
			t.Fatalf("Peek(%q) returned no claims and no error", raw)
		}
		if verr == nil {
			if !sameClaims(verified, c) {
				t.Fatalf("Peek(%q) = %+v, Verify = %+v", raw, c, verified)
			}
			if kid := headerOf(t, raw)["kid"]; h.KeyID != kid || string(h.Algorithm) != headerOf(t, raw)["alg"] {
				t.Fatalf("Peek header = %+v for header %v", h, headerOf(t, raw))
			}
		}
	})
}

// sameClaims compares the registered claims and the custom ones.
func sameClaims(a, b *guardian.Claims) bool {
	if a == nil || b == nil {
		return a == b
	}
	if a.Issuer != b.Issuer || a.Subject != b.Subject || a.Type != b.Type || a.ID != b.ID || a.Family != b.Family ||
		!a.IssuedAt.Equal(b.IssuedAt) || !a.NotBefore.Equal(b.NotBefore) || !a.ExpiresAt.Equal(b.ExpiresAt) ||
		len(a.Audience) != len(b.Audience) {
		return false
	}
	for i := range a.Audience {
		if a.Audience[i] != b.Audience[i] {
			return false
		}
	}
	var ca, cb map[string]any
	ea, eb := a.Custom(&ca), b.Custom(&cb)
	return (ea == nil) == (eb == nil) && reflect.DeepEqual(ca, cb)
}

// FuzzVerifierVerify feeds arbitrary strings to a Verifier of two issuers
// (HS256 first-party, ES256 external): it never panics, fails only with
// token failures, and accepts only the tokens the issuers signed.
func FuzzVerifierVerify(f *testing.F) {
	own := newFixture(f, &guardian.IssuerOptions{Issuer: "https://us.example.com", Audience: []string{"api"}, Clock: testclock.Now})
	v, err := guardian.NewVerifier(own.issuer, externalIssuer(f, nil))
	if err != nil {
		f.Fatal(err)
	}
	verified := 0
	for _, raw := range []string{
		own.issue(f, "u1", nil).Raw,
		externalToken(f, nil, nil),
		externalToken(f, nil, map[string]any{"iss": "https://us.example.com"}),
		externalToken(f, nil, map[string]any{"iss": "https://evil.example.com"}),
		externalToken(f, map[string]any{"typ": "JWT"}, nil),
	} {
		f.Add(raw)
		if _, err := v.Verify(context.Background(), raw); err == nil {
			verified++
		}
	}
	if verified != 2 {
		f.Fatalf("%d seed tokens verify, want 2", verified)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		c, err := v.Verify(context.Background(), raw)
		if err != nil {
			if c != nil || !errors.Is(err, guardian.ErrInvalidToken) {
				t.Fatalf("Verify(%q) = %v, %v: want a token failure and no claims", raw, c, err)
			}
			return
		}
		parts := strings.Split(raw, ".")
		switch kid := headerOf(t, raw)["kid"]; {
		case kid == testKID && c.Issuer == "https://us.example.com":
			if raw != signSegments(testSecret, parts[0], parts[1]) {
				t.Fatalf("Verify accepted %q, not our HMAC's spelling", raw)
			}
		case kid == "as-1" && c.Issuer == extIssuer:
			// ECDSA signatures are randomized and cannot be recomputed;
			// only the external issuer's private key makes one.
		default:
			t.Fatalf("Verify accepted %q: kid %v, iss %q", raw, kid, c.Issuer)
		}
	})
}
