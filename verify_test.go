package guardian_test

// Verify refuses every attack of RFC 8725 with the sentinel that names it.
// Hand-made tokens are signed with the fixture's own secret (see craft), so
// each refusal is due to what the case changed, never to a bad signature;
// each table starts with a control case that the same construction passes.

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/guardian-go/guardian"
)

func TestAlgNoneRefused(t *testing.T) {
	f := newFixture(t, nil)
	noID := mustIssuer(t, mustKeySet(t, mustHMACKey(t, "", guardian.HS256, testSecret)), &guardian.IssuerOptions{Clock: f.clock.Now})
	payload := b64(payloadJSON(nil))
	header := func(alg, kid string) string {
		h := map[string]string{"alg": alg, "typ": "JWT"}
		if kid != "" {
			h["kid"] = kid
		}
		b, _ := json.Marshal(h)
		return b64(string(b))
	}
	tests := []struct {
		name   string
		issuer *guardian.Issuer
		raw    string
		want   error
	}{
		{name: "control: HS256", issuer: f.issuer, raw: signSegments(testSecret, header("HS256", testKID), payload)},
		{name: "none, empty signature", issuer: f.issuer, raw: header("none", testKID) + "." + payload + ".", want: guardian.ErrMalformedToken},
		{name: "none, no signature part", issuer: f.issuer, raw: header("none", testKID) + "." + payload, want: guardian.ErrMalformedToken},
		{name: "none, with a signature", issuer: f.issuer, raw: signSegments(testSecret, header("none", testKID), payload), want: guardian.ErrAlgorithm},
		{name: "None, with a signature", issuer: f.issuer, raw: signSegments(testSecret, header("None", testKID), payload), want: guardian.ErrAlgorithm},
		{name: "NONE, with a signature", issuer: f.issuer, raw: signSegments(testSecret, header("NONE", testKID), payload), want: guardian.ErrAlgorithm},
		{name: "nOnE, empty signature", issuer: f.issuer, raw: header("nOnE", testKID) + "." + payload + ".", want: guardian.ErrMalformedToken},
		{name: "none for a key without ID", issuer: noID, raw: signSegments(testSecret, header("none", ""), payload), want: guardian.ErrAlgorithm},
		{name: "none for a key without ID, empty signature", issuer: noID, raw: header("none", "") + "." + payload + ".", want: guardian.ErrMalformedToken},
		{name: "hs256 (case matters)", issuer: f.issuer, raw: signSegments(testSecret, header("hs256", testKID), payload), want: guardian.ErrAlgorithm},
		{name: "HS512 for an HS256 key", issuer: f.issuer, raw: signSegments(testSecret, header("HS512", testKID), payload), want: guardian.ErrAlgorithm},
		{name: "no alg", issuer: f.issuer, raw: craft(testSecret, `{"typ":"JWT","kid":"k1"}`, payloadJSON(nil)), want: guardian.ErrMalformedToken},
		{name: "empty alg", issuer: f.issuer, raw: signSegments(testSecret, header("", testKID), payload), want: guardian.ErrMalformedToken},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := tt.issuer.Verify(context.Background(), tt.raw)
			wantTokenErr(t, err, tt.want)
		})
	}
}

// TestKeyConfusion: the classic attack on libraries that take the algorithm
// from the token: an HS256 token whose HMAC key is the RSA public key (which
// is public), presented to a verifier whose key is RS256.
func TestKeyConfusion(t *testing.T) {
	ctx := context.Background()
	rsaKey := mustSigningKey(t, "rsa", guardian.RS256, loadSigner(t, "rsa2048_pkcs8.pem"))
	issuer := mustIssuer(t, mustKeySet(t, rsaKey), nil)
	noID := mustIssuer(t, mustKeySet(t, mustSigningKey(t, "", guardian.RS256, loadSigner(t, "rsa2048_pkcs8.pem"))), nil)
	ecIssuer := mustIssuer(t, mustKeySet(t, mustSigningKey(t, "ec", guardian.ES256, loadSigner(t, "ec_p256_pkcs8.pem"))), nil)

	legit, err := issuer.Issue(ctx, "u1", nil)
	if err != nil {
		t.Fatal(err)
	}
	_, legitPayload, _ := segments(t, legit.Raw)
	forged := payloadJSON(map[string]any{"sub": "admin", "iat": time.Now().Unix(), "nbf": time.Now().Unix(), "exp": time.Now().Add(time.Hour).Unix()})
	pkixPEM := readTestdata(t, "rsa2048_pub.pem")
	pkcs1PEM := readTestdata(t, "rsa2048_pub_pkcs1.pem")
	ecPEM := readTestdata(t, "ec_p256_pub.pem")

	tests := []struct {
		name   string
		issuer *guardian.Issuer
		raw    string
		want   error
	}{
		{name: "control: the issuer's own token", issuer: issuer, raw: legit.Raw},
		{name: "HS256 keyed with the PKIX PEM", issuer: issuer, raw: craft(pkixPEM, `{"alg":"HS256","typ":"JWT","kid":"rsa"}`, forged), want: guardian.ErrAlgorithm},
		{name: "HS256 keyed with the PKCS#1 PEM", issuer: issuer, raw: craft(pkcs1PEM, `{"alg":"HS256","typ":"JWT","kid":"rsa"}`, forged), want: guardian.ErrAlgorithm},
		{name: "HS512 keyed with the PKIX PEM", issuer: issuer, raw: craft(pkixPEM, `{"alg":"HS512","kid":"rsa"}`, forged), want: guardian.ErrAlgorithm},
		{name: "HS256 without kid, key without ID", issuer: noID, raw: craft(pkixPEM, `{"alg":"HS256","typ":"JWT"}`, forged), want: guardian.ErrAlgorithm},
		{name: "HS256 keyed with the EC PEM", issuer: ecIssuer, raw: craft(ecPEM, `{"alg":"HS256","kid":"ec"}`, forged), want: guardian.ErrAlgorithm},
		{name: "the legit signature relabelled PS256", issuer: issuer, raw: b64(`{"alg":"PS256","typ":"JWT","kid":"rsa"}`) + "." + legitPayload + "." + strings.Split(legit.Raw, ".")[2], want: guardian.ErrAlgorithm},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := tt.issuer.Verify(ctx, tt.raw)
			wantTokenErr(t, err, tt.want)
		})
	}
}

func TestUnknownKey(t *testing.T) {
	f := newFixture(t, nil)
	p := payloadJSON(nil)
	tests := []struct {
		name   string
		header string
		want   error
	}{
		{name: "control: kid k1", header: `{"alg":"HS256","typ":"JWT","kid":"k1"}`},
		{name: "unknown kid", header: `{"alg":"HS256","typ":"JWT","kid":"k2"}`, want: guardian.ErrUnknownKey},
		{name: "kid differs in case", header: `{"alg":"HS256","typ":"JWT","kid":"K1"}`, want: guardian.ErrUnknownKey},
		{name: "no kid, every key has an ID", header: `{"alg":"HS256","typ":"JWT"}`, want: guardian.ErrUnknownKey},
		{name: "empty kid, every key has an ID", header: `{"alg":"HS256","typ":"JWT","kid":""}`, want: guardian.ErrUnknownKey},
		{name: "very long kid", header: `{"alg":"HS256","kid":"` + strings.Repeat("k", 2000) + `"}`, want: guardian.ErrUnknownKey},
		{name: "kid is not a string", header: `{"alg":"HS256","kid":1}`, want: guardian.ErrMalformedToken},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := f.issuer.Verify(context.Background(), craft(testSecret, tt.header, p))
			wantTokenErr(t, err, tt.want)
			if err != nil && len(err.Error()) > 200 {
				t.Errorf("error text is %d bytes long; it must not echo the token's kid in full", len(err.Error()))
			}
		})
	}
}

// TestTamperedTokens changes one thing of a genuine token of each kind of
// algorithm.
func TestTamperedTokens(t *testing.T) {
	ctx := context.Background()
	keys := map[string]*guardian.Key{
		"HS256": mustHMACKey(t, "k", guardian.HS256, testSecret),
		"HS512": mustHMACKey(t, "k", guardian.HS512, append(testSecret, testSecret...)),
		"RS256": mustSigningKey(t, "k", guardian.RS256, loadSigner(t, "rsa2048_pkcs1.pem")),
		"PS256": mustSigningKey(t, "k", guardian.PS256, loadSigner(t, "rsa2048_pkcs1.pem")),
		"ES256": mustSigningKey(t, "k", guardian.ES256, loadSigner(t, "ec_p256_sec1.pem")),
		"ES512": mustSigningKey(t, "k", guardian.ES512, loadSigner(t, "ec_p521_sec1.pem")),
		"EdDSA": mustSigningKey(t, "k", guardian.EdDSA, loadSigner(t, "ed25519_pkcs8.pem")),
	}
	enc := base64.RawURLEncoding
	for alg, key := range keys {
		t.Run(alg, func(t *testing.T) {
			issuer := mustIssuer(t, mustKeySet(t, key), nil)
			tok, err := issuer.Issue(ctx, "u1", nil)
			if err != nil {
				t.Fatal(err)
			}
			other, err := issuer.Issue(ctx, "u2", nil)
			if err != nil {
				t.Fatal(err)
			}
			h, p, s := segments(t, tok.Raw)
			_, otherP, otherS := segments(t, other.Raw)
			sig, err := enc.DecodeString(s)
			if err != nil {
				t.Fatal(err)
			}
			flip := func(i int) string {
				b := append([]byte(nil), sig...)
				b[i] ^= 0x01
				return enc.EncodeToString(b)
			}
			payload := payloadOf(t, tok.Raw)
			payload["sub"] = "admin"
			forgedPayload, _ := json.Marshal(payload)
			tests := []struct {
				name string
				raw  string
				want error
			}{
				{name: "control", raw: tok.Raw},
				{name: "sub changed, signature kept", raw: h + "." + enc.EncodeToString(forgedPayload) + "." + s, want: guardian.ErrInvalidSignature},
				{name: "payload of another token", raw: h + "." + otherP + "." + s, want: guardian.ErrInvalidSignature},
				{name: "signature of another token", raw: h + "." + p + "." + otherS, want: guardian.ErrInvalidSignature},
				{name: "header changed", raw: b64(`{"alg":"`+alg+`","kid":"k"}`) + "." + p + "." + s, want: guardian.ErrInvalidSignature},
				{name: "first signature bit flipped", raw: h + "." + p + "." + flip(0), want: guardian.ErrInvalidSignature},
				{name: "middle signature bit flipped", raw: h + "." + p + "." + flip(len(sig)/2), want: guardian.ErrInvalidSignature},
				{name: "last signature bit flipped", raw: h + "." + p + "." + flip(len(sig)-1), want: guardian.ErrInvalidSignature},
				{name: "signature truncated by a byte", raw: h + "." + p + "." + enc.EncodeToString(sig[:len(sig)-1]), want: guardian.ErrInvalidSignature},
				{name: "signature halved", raw: h + "." + p + "." + enc.EncodeToString(sig[:len(sig)/2]), want: guardian.ErrInvalidSignature},
				{name: "signature extended by a byte", raw: h + "." + p + "." + enc.EncodeToString(append(sig[:len(sig):len(sig)], 0)), want: guardian.ErrInvalidSignature},
				{name: "signature all zero", raw: h + "." + p + "." + enc.EncodeToString(make([]byte, len(sig))), want: guardian.ErrInvalidSignature},
				{name: "signature removed", raw: h + "." + p + ".", want: guardian.ErrMalformedToken},
			}
			for _, tt := range tests {
				t.Run(tt.name, func(t *testing.T) {
					_, err := issuer.Verify(ctx, tt.raw)
					wantTokenErr(t, err, tt.want)
				})
			}
		})
	}
}

func TestUnsupportedHeadersRefused(t *testing.T) {
	f := newFixture(t, nil)
	p := payloadJSON(nil)
	tests := []struct {
		name   string
		member string // added to the fixture's header; "" adds nothing
		want   error
	}{
		{name: "control: nothing added", member: ""},
		{name: "control: an unknown, non-critical member", member: `"foo":"bar"`},
		{name: "control: typ jwt in lower case", member: `"typ":"jwt"`},
		{name: "control: no typ", member: `"typ":""`},
		{name: "jku", member: `"jku":"https://attacker.example/jwks.json"`, want: guardian.ErrUnsupportedHeader},
		{name: "jku null", member: `"jku":null`, want: guardian.ErrUnsupportedHeader},
		{name: "x5u", member: `"x5u":"https://attacker.example/cert.pem"`, want: guardian.ErrUnsupportedHeader},
		{name: "x5c", member: `"x5c":["MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA"]`, want: guardian.ErrUnsupportedHeader},
		{name: "jwk", member: `"jwk":{"kty":"oct","k":"Z3VhcmRpYW4gdGVzdCBzZWNyZXQgb2YgMzIgYnl0ZXM"}`, want: guardian.ErrUnsupportedHeader},
		{name: "x5t", member: `"x5t":"dGh1bWJwcmludA"`, want: guardian.ErrUnsupportedHeader},
		{name: "x5t#S256", member: `"x5t#S256":"dGh1bWJwcmludA"`, want: guardian.ErrUnsupportedHeader},
		{name: "crit empty array", member: `"crit":[]`, want: guardian.ErrUnsupportedHeader},
		{name: "crit exp", member: `"crit":["exp"],"exp":1`, want: guardian.ErrUnsupportedHeader},
		{name: "crit b64", member: `"crit":["b64"],"b64":false`, want: guardian.ErrUnsupportedHeader},
		{name: "crit string", member: `"crit":"x"`, want: guardian.ErrUnsupportedHeader},
		{name: "crit null", member: `"crit":null`, want: guardian.ErrUnsupportedHeader},
		{name: "b64 false", member: `"b64":false`, want: guardian.ErrUnsupportedHeader},
		{name: "b64 true", member: `"b64":true`, want: guardian.ErrUnsupportedHeader},
		{name: "zip", member: `"zip":"DEF"`, want: guardian.ErrUnsupportedHeader},
		{name: "enc", member: `"enc":"A256GCM"`, want: guardian.ErrUnsupportedHeader},
		// at+jwt is an access token of another policy (TypeRFC9068): this
		// issuer types its tokens with the typ claim.
		{name: "typ at+jwt", member: `"typ":"at+jwt"`, want: guardian.ErrTokenType},
		{name: "typ dpop+jwt", member: `"typ":"dpop+jwt"`, want: guardian.ErrUnsupportedHeader},
		{name: "typ application/secevent+jwt", member: `"typ":"application/secevent+jwt"`, want: guardian.ErrUnsupportedHeader},
		{name: "typ JOSE", member: `"typ":"JOSE"`, want: guardian.ErrUnsupportedHeader},
		{name: "typ JWE", member: `"typ":"JWE"`, want: guardian.ErrUnsupportedHeader},
		{name: "typ refresh", member: `"typ":"refresh"`, want: guardian.ErrUnsupportedHeader},
		{name: "typ JWT with a space", member: `"typ":"JWT "`, want: guardian.ErrUnsupportedHeader},
		{name: "typ not a string", member: `"typ":1`, want: guardian.ErrMalformedToken},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			header := `{"alg":"HS256","kid":"k1"}`
			if tt.member != "" {
				header = `{"alg":"HS256","kid":"k1",` + tt.member + `}`
			}
			_, err := f.issuer.Verify(context.Background(), craft(testSecret, header, p))
			wantTokenErr(t, err, tt.want)
		})
	}
}

// nonCanonical changes the unused low bits of seg's last character, so that
// a lenient decoder would still read the same bytes. seg must not be a
// multiple of 4 characters long.
func nonCanonical(t *testing.T, seg string) string {
	t.Helper()
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	if len(seg)%4 == 0 || len(seg)%4 == 1 {
		t.Fatalf("segment of %d characters has no unused bits", len(seg))
	}
	last := strings.IndexByte(alphabet, seg[len(seg)-1])
	if last&1 != 0 {
		t.Fatalf("segment %q is not canonical to begin with", seg)
	}
	out := seg[:len(seg)-1] + string(alphabet[last|1])
	if lenient, err := base64.RawURLEncoding.DecodeString(out); err != nil || string(lenient) != string(mustB64(t, seg)) {
		t.Fatalf("nonCanonical(%q) does not decode leniently to the same bytes", seg)
	}
	return out
}

func mustB64(t *testing.T, seg string) []byte {
	t.Helper()
	b, err := base64.RawURLEncoding.Strict().DecodeString(seg)
	if err != nil {
		t.Fatalf("decode %q: %v", seg, err)
	}
	return b
}

// unalignedPayload returns a payload JSON (the fixture's, with a "pad" member)
// whose base64url form is not a multiple of 4 characters long.
func unalignedPayload(t *testing.T) string {
	t.Helper()
	for n := 0; n < 3; n++ {
		p := payloadJSON(map[string]any{"pad": strings.Repeat("x", n)})
		if len(b64(p))%4 >= 2 {
			return p
		}
	}
	t.Fatal("no unaligned payload")
	return ""
}

// stdPayload returns a payload whose standard base64 form contains both '+'
// and '/', the two characters base64url replaces.
func stdPayload(t *testing.T) string {
	t.Helper()
	for n := 0; n < 2000; n++ {
		p := payloadJSON(map[string]any{"pad": strings.Repeat("\u00ff\u00fe>?", n%7+1) + strings.Repeat("x", n/7)})
		enc := base64.RawStdEncoding.EncodeToString([]byte(p))
		if strings.ContainsAny(enc, "+") && strings.ContainsAny(enc, "/") {
			return p
		}
	}
	t.Fatal("no payload with + and / in standard base64")
	return ""
}

func TestMalformedTokensRefused(t *testing.T) {
	f := newFixture(t, nil)
	ctx := context.Background()
	good := craft(testSecret, defaultHeader, payloadJSON(nil))
	h, p, s := segments(t, good)

	unaligned := unalignedPayload(t)
	uh := b64(defaultHeader)
	up := b64(unaligned)
	padded := func(seg string) string {
		b := mustB64(t, seg)
		out := base64.URLEncoding.EncodeToString(b)
		if !strings.HasSuffix(out, "=") {
			t.Fatalf("segment %q has no padding in padded form", seg)
		}
		return out
	}
	std := stdPayload(t)

	tests := []struct {
		name string
		raw  string
		want error
	}{
		{name: "control", raw: good},
		{name: "control: unaligned payload", raw: signSegments(testSecret, uh, up)},
		{name: "control: payload of + and / in base64url", raw: craft(testSecret, defaultHeader, std)},
		{name: "empty", raw: "", want: guardian.ErrMalformedToken},
		{name: "one part", raw: h, want: guardian.ErrMalformedToken},
		{name: "two parts", raw: h + "." + p, want: guardian.ErrMalformedToken},
		{name: "four parts", raw: good + "." + s, want: guardian.ErrMalformedToken},
		{name: "trailing dot", raw: good + ".", want: guardian.ErrMalformedToken},
		{name: "JWE, five parts", raw: b64(`{"alg":"dir","enc":"A256GCM"}`) + "..aXY.Y2lwaGVy.dGFn", want: guardian.ErrMalformedToken},
		{name: "JWE, five non-empty parts", raw: h + "." + p + "." + s + "." + s + "." + s, want: guardian.ErrMalformedToken},
		{name: "dots only", raw: "..", want: guardian.ErrMalformedToken},
		{name: "empty header", raw: "." + p + "." + s, want: guardian.ErrMalformedToken},
		{name: "empty payload", raw: signSegments(testSecret, h, ""), want: guardian.ErrMalformedToken},
		{name: "empty signature", raw: h + "." + p + ".", want: guardian.ErrMalformedToken},
		{name: "padded header", raw: signSegments(testSecret, padded(b64(`{"alg":"HS256","kid":"k1"}`)), p), want: guardian.ErrMalformedToken},
		{name: "padded payload", raw: signSegments(testSecret, uh, padded(up)), want: guardian.ErrMalformedToken},
		{name: "padded signature", raw: uh + "." + up + "." + padded(strings.Split(signSegments(testSecret, uh, up), ".")[2]), want: guardian.ErrMalformedToken},
		{name: "non-canonical header", raw: signSegments(testSecret, nonCanonical(t, b64(`{"alg":"HS256","kid":"k1"}`)), p), want: guardian.ErrMalformedToken},
		{name: "non-canonical payload", raw: signSegments(testSecret, uh, nonCanonical(t, up)), want: guardian.ErrMalformedToken},
		{name: "non-canonical signature", raw: h + "." + p + "." + nonCanonical(t, s), want: guardian.ErrMalformedToken},
		{name: "standard base64 payload (+ and /)", raw: signSegments(testSecret, uh, base64.RawStdEncoding.EncodeToString([]byte(std))), want: guardian.ErrMalformedToken},
		{name: "non-base64 header", raw: signSegments(testSecret, "eyJhbGciOi!IUzI1NiJ9", p), want: guardian.ErrMalformedToken},
		{name: "non-base64 payload", raw: signSegments(testSecret, h, p[:10]+"*"+p[11:]), want: guardian.ErrMalformedToken},
		{name: "non-base64 signature", raw: h + "." + p + "." + s[:10] + "$" + s[11:], want: guardian.ErrMalformedToken},
		{name: "NUL in payload", raw: signSegments(testSecret, h, p[:10]+"\x00"+p[10:]), want: guardian.ErrMalformedToken},
		{name: "space in payload", raw: signSegments(testSecret, h, p[:10]+" "+p[10:]), want: guardian.ErrMalformedToken},
		{name: "line feed in payload", raw: signSegments(testSecret, h, p[:8]+"\n"+p[8:]), want: guardian.ErrMalformedToken},
		{name: "CR LF in header", raw: signSegments(testSecret, h[:8]+"\r\n"+h[8:], p), want: guardian.ErrMalformedToken},
		{name: "line feed in signature", raw: h + "." + p + "." + s[:20] + "\n" + s[20:], want: guardian.ErrMalformedToken},
		{name: "carriage return in signature", raw: h + "." + p + "." + s[:20] + "\r" + s[20:], want: guardian.ErrMalformedToken},
		{name: "trailing line feed", raw: good + "\n", want: guardian.ErrMalformedToken},
		{name: "leading space", raw: " " + good, want: guardian.ErrMalformedToken},
		{name: "header is a JSON array", raw: craft(testSecret, `["HS256"]`, payloadJSON(nil)), want: guardian.ErrMalformedToken},
		{name: "header is a JSON string", raw: craft(testSecret, `"HS256"`, payloadJSON(nil)), want: guardian.ErrMalformedToken},
		{name: "header is null", raw: craft(testSecret, `null`, payloadJSON(nil)), want: guardian.ErrMalformedToken},
		{name: "header JSON truncated", raw: craft(testSecret, `{"alg":"HS256","kid":"k1"`, payloadJSON(nil)), want: guardian.ErrMalformedToken},
		{name: "header JSON with trailing data", raw: craft(testSecret, defaultHeader+`{}`, payloadJSON(nil)), want: guardian.ErrMalformedToken},
		{name: "payload is not JSON", raw: craft(testSecret, defaultHeader, "not json"), want: guardian.ErrMalformedToken},
		{name: "payload is a JSON array", raw: craft(testSecret, defaultHeader, `[{"exp":1}]`), want: guardian.ErrMalformedToken},
		{name: "payload is a JSON number", raw: craft(testSecret, defaultHeader, `1800000000`), want: guardian.ErrMalformedToken},
		{name: "payload JSON truncated", raw: craft(testSecret, defaultHeader, payloadJSON(nil)[:20]), want: guardian.ErrMalformedToken},
		{name: "payload JSON with trailing data", raw: craft(testSecret, defaultHeader, payloadJSON(nil)+"x"), want: guardian.ErrMalformedToken},
		{name: "payload deeply nested", raw: craft(testSecret, defaultHeader, strings.Repeat("[", 2000)+strings.Repeat("]", 2000)), want: guardian.ErrMalformedToken},
		{name: "payload is null", raw: craft(testSecret, defaultHeader, `null`), want: guardian.ErrInvalidToken},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := f.issuer.Verify(ctx, tt.raw)
			wantTokenErr(t, err, tt.want)
		})
	}
}

// craftOfLength returns a valid fixture token exactly n bytes long.
func craftOfLength(t *testing.T, n int, header string) string {
	t.Helper()
	base := len(craft(testSecret, header, payloadJSON(map[string]any{"pad": ""})))
	for extra := 0; extra < 8; extra++ {
		for pad := max(0, (n-base)*3/4-8); pad < (n-base)*3/4+8; pad++ {
			hdr := header[:len(header)-1] + `,"x":"` + strings.Repeat("y", extra) + `"}`
			raw := craft(testSecret, hdr, payloadJSON(map[string]any{"pad": strings.Repeat("p", pad)}))
			if len(raw) == n {
				return raw
			}
		}
	}
	t.Fatalf("cannot craft a token of %d bytes", n)
	return ""
}

func TestTokenSizeBound(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, nil)
	small := newFixture(t, &guardian.IssuerOptions{MaxTokenSize: 600})
	large := newFixture(t, &guardian.IssuerOptions{MaxTokenSize: 1 << 20})
	atDefault := craftOfLength(t, guardian.DefaultMaxTokenSize, defaultHeader)
	overDefault := craftOfLength(t, guardian.DefaultMaxTokenSize+1, defaultHeader)
	// A token over the bound whose header would be refused for another
	// reason: the size check comes first, before any decoding.
	overWithJKU := craftOfLength(t, guardian.DefaultMaxTokenSize+1, `{"alg":"HS256","kid":"k1","jku":"https://attacker.example"}`)
	hugeSeg := strings.Repeat("A", 1<<20)

	tests := []struct {
		name   string
		issuer *guardian.Issuer
		raw    string
		want   error
	}{
		{name: "default: exactly 8 KiB", issuer: f.issuer, raw: atDefault},
		{name: "default: 8 KiB + 1", issuer: f.issuer, raw: overDefault, want: guardian.ErrMalformedToken},
		{name: "default: 8 KiB + 1 with a jku header", issuer: f.issuer, raw: overWithJKU, want: guardian.ErrMalformedToken},
		{name: "default: 1 MiB", issuer: f.issuer, raw: b64(defaultHeader) + "." + hugeSeg + "." + hugeSeg[:43], want: guardian.ErrMalformedToken},
		{name: "default: 1 MiB without dots", issuer: f.issuer, raw: hugeSeg, want: guardian.ErrMalformedToken},
		{name: "larger bound: 8 KiB + 1", issuer: large.issuer, raw: overDefault},
		{name: "custom bound: exactly 600", issuer: small.issuer, raw: craftOfLength(t, 600, defaultHeader)},
		{name: "custom bound: 601", issuer: small.issuer, raw: craftOfLength(t, 601, defaultHeader), want: guardian.ErrMalformedToken},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := tt.issuer.Verify(ctx, tt.raw)
			wantTokenErr(t, err, tt.want)
			_, _, err = tt.issuer.Peek(ctx, tt.raw)
			if tt.want != nil && !errors.Is(err, guardian.ErrMalformedToken) {
				t.Errorf("Peek: got %v, want ErrMalformedToken", err)
			}
		})
	}
}

func TestOptionsValidated(t *testing.T) {
	keys := mustKeySet(t, mustHMACKey(t, "k", guardian.HS256, testSecret))
	tests := []struct {
		name string
		opts guardian.IssuerOptions
	}{
		{name: "negative leeway", opts: guardian.IssuerOptions{Leeway: -time.Second}},
		{name: "negative MaxTokenSize", opts: guardian.IssuerOptions{MaxTokenSize: -1}},
		{name: "zero TTL", opts: guardian.IssuerOptions{TTL: map[guardian.TokenType]time.Duration{guardian.AccessToken: 0}}},
		{name: "negative TTL", opts: guardian.IssuerOptions{TTL: map[guardian.TokenType]time.Duration{"api": -time.Minute}}},
		{name: "TTL for the empty type", opts: guardian.IssuerOptions{TTL: map[guardian.TokenType]time.Duration{"": time.Minute}}},
		{name: "empty audience", opts: guardian.IssuerOptions{Audience: []string{"a", ""}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			iss, err := guardian.NewIssuer(keys, &tt.opts)
			if err == nil || iss != nil {
				t.Fatalf("NewIssuer = %v, %v; want an error", iss, err)
			}
		})
	}
}

func TestClaimTypesChecked(t *testing.T) {
	f := newFixture(t, nil)
	raw := func(s string) json.RawMessage { return json.RawMessage(s) }
	// An hour after t0, in the two less usual spellings of a NumericDate;
	// the exponent form keeps 7 significant digits (within 1000 s).
	later := t0.Add(time.Hour).Unix()
	fractional := strconv.FormatInt(later, 10) + ".5"
	exponent := strconv.FormatFloat(float64(later/1000+1)*1000, 'e', -1, 64)
	tests := []struct {
		name string
		set  map[string]any
		drop []string
		want error
	}{
		{name: "control"},
		{name: "control: fractional exp", set: map[string]any{"exp": raw(fractional)}},
		{name: "control: exp with an exponent", set: map[string]any{"exp": raw(exponent)}},
		{name: "control: aud as an empty array", set: map[string]any{"aud": raw("[]")}},
		{name: "exp missing", drop: []string{"exp"}, want: guardian.ErrMissingClaim},
		{name: "exp a string", set: map[string]any{"exp": "1795868000"}, want: guardian.ErrMalformedToken},
		{name: "exp a boolean", set: map[string]any{"exp": true}, want: guardian.ErrMalformedToken},
		{name: "exp an object", set: map[string]any{"exp": raw(`{}`)}, want: guardian.ErrMalformedToken},
		{name: "exp an array", set: map[string]any{"exp": raw(`[1795868000]`)}, want: guardian.ErrMalformedToken},
		{name: "exp null", set: map[string]any{"exp": nil}, want: guardian.ErrMalformedToken},
		{name: "exp negative", set: map[string]any{"exp": -1}, want: guardian.ErrMalformedToken},
		{name: "exp beyond 2^53", set: map[string]any{"exp": raw("9007199254740994")}, want: guardian.ErrMalformedToken},
		{name: "exp 1e16", set: map[string]any{"exp": raw("1e16")}, want: guardian.ErrMalformedToken},
		{name: "exp 1e300", set: map[string]any{"exp": raw("1e300")}, want: guardian.ErrMalformedToken},
		{name: "iat null", set: map[string]any{"iat": nil}, want: guardian.ErrMalformedToken},
		{name: "iat a string", set: map[string]any{"iat": "now"}, want: guardian.ErrMalformedToken},
		{name: "nbf null", set: map[string]any{"nbf": nil}, want: guardian.ErrMalformedToken},
		{name: "nbf a string", set: map[string]any{"nbf": "1795867200"}, want: guardian.ErrMalformedToken},
		{name: "aud a number", set: map[string]any{"aud": 5}, want: guardian.ErrMalformedToken},
		{name: "aud an array of numbers", set: map[string]any{"aud": raw(`[1,2]`)}, want: guardian.ErrMalformedToken},
		{name: "aud an object", set: map[string]any{"aud": raw(`{"a":1}`)}, want: guardian.ErrMalformedToken},
		{name: "sub a number", set: map[string]any{"sub": 5}, want: guardian.ErrMalformedToken},
		{name: "iss an object", set: map[string]any{"iss": raw(`{}`)}, want: guardian.ErrMalformedToken},
		{name: "typ a number", set: map[string]any{"typ": 1}, want: guardian.ErrMalformedToken},
		{name: "jti an array", set: map[string]any{"jti": raw(`["a"]`)}, want: guardian.ErrMalformedToken},
		{name: "fam a boolean", set: map[string]any{"fam": false}, want: guardian.ErrMalformedToken},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := f.issuer.Verify(context.Background(), craft(testSecret, defaultHeader, payloadJSON(tt.set, tt.drop...)))
			wantTokenErr(t, err, tt.want)
		})
	}
}

func TestTimeClaims(t *testing.T) {
	ctx := context.Background()
	exp := t0.Add(guardian.DefaultAccessTTL)
	future := func(d time.Duration) map[string]any {
		return map[string]any{"iat": t0.Add(d).Unix(), "nbf": t0.Add(d).Unix(), "exp": exp.Add(d).Unix()}
	}
	iatOnly := func(d time.Duration) map[string]any {
		return map[string]any{"iat": t0.Add(d).Unix(), "exp": exp.Add(d).Unix()}
	}
	tests := []struct {
		name   string
		leeway time.Duration
		now    time.Time
		set    map[string]any
		drop   []string
		want   error
	}{
		{name: "at issue", now: t0},
		{name: "one second before exp", now: exp.Add(-time.Second)},
		{name: "a nanosecond before exp", now: exp.Add(-time.Nanosecond)},
		{name: "at exp", now: exp, want: guardian.ErrExpired},
		{name: "after exp", now: exp.Add(time.Hour), want: guardian.ErrExpired},
		{name: "leeway: after exp, within leeway", leeway: 30 * time.Second, now: exp.Add(29 * time.Second)},
		{name: "leeway: at exp + leeway", leeway: 30 * time.Second, now: exp.Add(30 * time.Second), want: guardian.ErrExpired},
		{name: "exp missing", now: t0, drop: []string{"exp"}, want: guardian.ErrMissingClaim},
		{name: "exp missing, leeway", leeway: time.Hour, now: t0, drop: []string{"exp"}, want: guardian.ErrMissingClaim},
		{name: "nbf now", now: t0, set: future(0)},
		{name: "nbf in a second", now: t0, set: future(time.Second), want: guardian.ErrNotYetValid},
		{name: "nbf in an hour", now: t0, set: future(time.Hour), want: guardian.ErrNotYetValid},
		{name: "leeway: nbf within leeway", leeway: 10 * time.Second, now: t0, set: future(10 * time.Second)},
		{name: "leeway: nbf beyond leeway", leeway: 10 * time.Second, now: t0, set: future(11 * time.Second), want: guardian.ErrNotYetValid},
		{name: "iat in a second, no nbf", now: t0, set: iatOnly(time.Second), drop: []string{"nbf"}, want: guardian.ErrIssuedInFuture},
		{name: "leeway: iat within leeway", leeway: 10 * time.Second, now: t0, set: iatOnly(10 * time.Second), drop: []string{"nbf"}},
		{name: "leeway: iat beyond leeway", leeway: 10 * time.Second, now: t0, set: iatOnly(11 * time.Second), drop: []string{"nbf"}, want: guardian.ErrIssuedInFuture},
		{name: "no iat, no nbf", now: t0, drop: []string{"iat", "nbf"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			now := tt.now
			f := newFixture(t, &guardian.IssuerOptions{Leeway: tt.leeway, Clock: func() time.Time { return now }})
			_, err := f.issuer.Verify(ctx, craft(testSecret, defaultHeader, payloadJSON(tt.set, tt.drop...)))
			wantTokenErr(t, err, tt.want)
		})
	}
}

// TestIssuedTokensExpire checks exp as Issue writes it, on the fixture clock.
func TestIssuedTokensExpire(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, &guardian.IssuerOptions{Leeway: 5 * time.Second})
	tok := f.issue(t, "u1", nil)
	f.clock.Advance(guardian.DefaultAccessTTL + 4*time.Second)
	if _, err := f.issuer.Verify(ctx, tok.Raw); err != nil {
		t.Fatalf("within the leeway after exp: got %v, want nil", err)
	}
	f.clock.Advance(time.Second)
	_, err := f.issuer.Verify(ctx, tok.Raw)
	wantTokenErr(t, err, guardian.ErrExpired)

	// Issued by a server whose clock runs ahead: nbf is in our future.
	ahead := newFixture(t, nil)
	ahead.clock.Advance(6 * time.Second)
	early := ahead.issue(t, "u1", nil)
	strict := newFixture(t, nil)
	_, err = strict.issuer.Verify(ctx, early.Raw)
	wantTokenErr(t, err, guardian.ErrNotYetValid)
	lenient := newFixture(t, &guardian.IssuerOptions{Leeway: 6 * time.Second})
	if _, err := lenient.issuer.Verify(ctx, early.Raw); err != nil {
		t.Fatalf("clock skew within the leeway: got %v, want nil", err)
	}
}

func TestIssuerAndAudienceChecked(t *testing.T) {
	ctx := context.Background()
	raw := func(set map[string]any, drop ...string) string {
		return craft(testSecret, defaultHeader, payloadJSON(set, drop...))
	}
	tests := []struct {
		name string
		opts guardian.IssuerOptions
		raw  string
		want error
	}{
		{name: "no issuer configured: any iss", raw: raw(map[string]any{"iss": "https://elsewhere.example"})},
		{name: "iss matches", opts: guardian.IssuerOptions{Issuer: "https://a.example"}, raw: raw(map[string]any{"iss": "https://a.example"})},
		{name: "iss differs", opts: guardian.IssuerOptions{Issuer: "https://a.example"}, raw: raw(map[string]any{"iss": "https://b.example"}), want: guardian.ErrIssuer},
		{name: "iss differs in case", opts: guardian.IssuerOptions{Issuer: "https://a.example"}, raw: raw(map[string]any{"iss": "https://A.example"}), want: guardian.ErrIssuer},
		{name: "iss missing", opts: guardian.IssuerOptions{Issuer: "https://a.example"}, raw: raw(nil), want: guardian.ErrIssuer},
		{name: "aud: one of several matches", opts: guardian.IssuerOptions{Audience: []string{"x", "y"}}, raw: raw(map[string]any{"aud": []string{"z", "y"}})},
		{name: "aud: string matches", opts: guardian.IssuerOptions{Audience: []string{"x", "y"}}, raw: raw(map[string]any{"aud": "x"})},
		{name: "aud: no match", opts: guardian.IssuerOptions{Audience: []string{"x", "y"}}, raw: raw(map[string]any{"aud": []string{"z", "w"}}), want: guardian.ErrAudience},
		{name: "aud: differs in case", opts: guardian.IssuerOptions{Audience: []string{"x"}}, raw: raw(map[string]any{"aud": "X"}), want: guardian.ErrAudience},
		{name: "aud: missing while configured", opts: guardian.IssuerOptions{Audience: []string{"x"}}, raw: raw(nil), want: guardian.ErrAudience},
		{name: "aud: empty array while configured", opts: guardian.IssuerOptions{Audience: []string{"x"}}, raw: raw(map[string]any{"aud": []string{}}), want: guardian.ErrAudience},
		{name: "aud: named while none configured", raw: raw(map[string]any{"aud": "x"}), want: guardian.ErrAudience},
		{name: "aud: array named while none configured", raw: raw(map[string]any{"aud": []string{"x", "y"}}), want: guardian.ErrAudience},
		{name: "aud: empty string while none configured", raw: raw(map[string]any{"aud": ""}), want: guardian.ErrAudience},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, &tt.opts)
			_, err := f.issuer.Verify(ctx, tt.raw)
			wantTokenErr(t, err, tt.want)
		})
	}
}

func TestTokenTypeChecked(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, &guardian.IssuerOptions{TTL: map[guardian.TokenType]time.Duration{"api": time.Hour}})
	access := f.issue(t, "u1", nil)
	refresh := f.issue(t, "u1", &guardian.IssueOptions{Type: guardian.RefreshToken})
	api := f.issue(t, "u1", &guardian.IssueOptions{Type: "api"})
	untyped := craft(testSecret, defaultHeader, payloadJSON(nil, "typ"))
	tests := []struct {
		name  string
		raw   string
		types []guardian.TokenType
		want  error
	}{
		{name: "access at the default", raw: access.Raw},
		{name: "refresh at the default", raw: refresh.Raw, want: guardian.ErrTokenType},
		{name: "app type at the default", raw: api.Raw, want: guardian.ErrTokenType},
		{name: "no typ at the default", raw: untyped, want: guardian.ErrTokenType},
		{name: "refresh where refresh is accepted", raw: refresh.Raw, types: []guardian.TokenType{guardian.RefreshToken}},
		{name: "access where refresh only is accepted", raw: access.Raw, types: []guardian.TokenType{guardian.RefreshToken}, want: guardian.ErrTokenType},
		{name: "either accepted: access", raw: access.Raw, types: []guardian.TokenType{guardian.AccessToken, guardian.RefreshToken}},
		{name: "either accepted: refresh", raw: refresh.Raw, types: []guardian.TokenType{guardian.AccessToken, guardian.RefreshToken}},
		{name: "app type accepted", raw: api.Raw, types: []guardian.TokenType{"api"}},
		{name: "app type, case differs", raw: api.Raw, types: []guardian.TokenType{"API"}, want: guardian.ErrTokenType},
		{name: "no typ where the empty type is accepted", raw: untyped, types: []guardian.TokenType{""}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := f.issuer.Verify(ctx, tt.raw, tt.types...)
			wantTokenErr(t, err, tt.want)
		})
	}
}

func TestRevocationChecks(t *testing.T) {
	ctx := context.Background()
	t.Run("jti and iat required", func(t *testing.T) {
		f := newFixture(t, &guardian.IssuerOptions{Revoker: guardian.NewMemoryRevoker(nil)})
		tests := []struct {
			name string
			drop []string
			want error
		}{
			{name: "control"},
			{name: "no jti", drop: []string{"jti"}, want: guardian.ErrMissingClaim},
			{name: "no iat", drop: []string{"iat"}, want: guardian.ErrMissingClaim},
			{name: "neither", drop: []string{"iat", "jti"}, want: guardian.ErrMissingClaim},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				_, err := f.issuer.Verify(ctx, craft(testSecret, defaultHeader, payloadJSON(nil, tt.drop...)))
				wantTokenErr(t, err, tt.want)
			})
		}
		// Without a Revoker the same tokens pass: the rule is about
		// revocability.
		plain := newFixture(t, nil)
		if _, err := plain.issuer.Verify(ctx, craft(testSecret, defaultHeader, payloadJSON(nil, "jti", "iat"))); err != nil {
			t.Fatalf("no jti, no iat, no Revoker: got %v, want nil", err)
		}
	})
	t.Run("revoked", func(t *testing.T) {
		f := newFixture(t, &guardian.IssuerOptions{Revoker: guardian.NewMemoryRevoker(nil)})
		tok := f.issue(t, "u1", nil)
		other := f.issue(t, "u1", nil)
		if err := f.issuer.Revoke(ctx, tok.Raw); err != nil {
			t.Fatal(err)
		}
		_, err := f.issuer.Verify(ctx, tok.Raw)
		wantTokenErr(t, err, guardian.ErrRevoked)
		if _, err := f.issuer.Verify(ctx, other.Raw); err != nil {
			t.Fatalf("another token of the same subject: got %v, want nil", err)
		}
	})
	t.Run("store down fails closed", func(t *testing.T) {
		f := newFixture(t, &guardian.IssuerOptions{Revoker: downRevoker{}})
		tok := f.issue(t, "u1", nil)
		_, err := f.issuer.Verify(ctx, tok.Raw)
		wantErr(t, err, guardian.ErrUnavailable, errStoreDown)
		if errors.Is(err, guardian.ErrInvalidToken) {
			t.Fatalf("got %v matching ErrInvalidToken; an outage is not a bad token", err)
		}
	})
	t.Run("store down, fail open", func(t *testing.T) {
		f := newFixture(t, &guardian.IssuerOptions{Revoker: downRevoker{}, RevokerFailOpen: true})
		tok := f.issue(t, "u1", nil)
		if _, err := f.issuer.Verify(ctx, tok.Raw); err != nil {
			t.Fatalf("RevokerFailOpen: got %v, want nil", err)
		}
		// Failing open is about the store only: a bad token still fails.
		_, err := f.issuer.Verify(ctx, tok.Raw+"x")
		wantTokenErr(t, err, guardian.ErrInvalidToken)
	})
	t.Run("canceled context fails closed", func(t *testing.T) {
		f := newFixture(t, &guardian.IssuerOptions{Revoker: guardian.NewMemoryRevoker(nil)})
		tok := f.issue(t, "u1", nil)
		cctx, cancel := context.WithCancel(ctx)
		cancel()
		_, err := f.issuer.Verify(cctx, tok.Raw)
		wantErr(t, err, guardian.ErrUnavailable, context.Canceled)
	})
}

// TestVerifiedTokenCache: with the cache on, a token presented again skips
// the signature check, but nothing else: type, revocation, expiry and the
// key set are still checked every time.
func TestVerifiedTokenCache(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, &guardian.IssuerOptions{CacheSize: 64, Revoker: guardian.NewMemoryRevoker(nil)})
	verify := func(raw string, types ...guardian.TokenType) error {
		_, err := f.issuer.Verify(ctx, raw, types...)
		return err
	}
	tok := f.issue(t, "u1", nil)
	for i := range 3 {
		if err := verify(tok.Raw); err != nil {
			t.Fatalf("Verify #%d: %v", i+1, err)
		}
	}
	h, p, s := segments(t, tok.Raw)
	sig := mustB64(t, s)
	sig[0] ^= 1
	wantTokenErr(t, verify(h+"."+p+"."+base64.RawURLEncoding.EncodeToString(sig)), guardian.ErrInvalidSignature)
	wantTokenErr(t, verify(tok.Raw, guardian.RefreshToken), guardian.ErrTokenType)
	if err := f.issuer.Revoke(ctx, tok.Raw); err != nil {
		t.Fatal(err)
	}
	wantTokenErr(t, verify(tok.Raw), guardian.ErrRevoked)

	short := f.issue(t, "u1", &guardian.IssueOptions{TTL: time.Minute})
	if err := verify(short.Raw); err != nil {
		t.Fatal(err)
	}
	f.clock.Advance(time.Minute)
	wantTokenErr(t, verify(short.Raw), guardian.ErrExpired)

	cached := f.issue(t, "u1", nil)
	if err := verify(cached.Raw); err != nil {
		t.Fatal(err)
	}
	if err := f.issuer.Rotate(mustKeySet(t, mustHMACKey(t, "k2", guardian.HS256, testSecret))); err != nil {
		t.Fatal(err)
	}
	wantTokenErr(t, verify(cached.Raw), guardian.ErrUnknownKey)
	wantErr(t, f.issuer.Rotate(nil), guardian.ErrKey)
}
