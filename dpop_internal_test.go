package guardian

import (
	"context"
	"crypto/sha256"
	"net/url"
	"testing"
	"time"
)

// TestThumbprintRFC7638 is the example of RFC 7638 §3.1.
func TestThumbprintRFC7638(t *testing.T) {
	j := jwk{Kty: "RSA", E: "AQAB", Alg: "RS256", Kid: "2011-04-29",
		N: "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw"}
	got, err := thumbprint(j)
	if err != nil {
		t.Fatal(err)
	}
	if want := "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"; got != want {
		t.Errorf("got %s, want %s", got, want)
	}
}

// TestAccessTokenHashRFC9449 is the ath example of RFC 9449 §4.2 and §7,
// checked by the code Verify runs (athMatches) and by the reference
// accessTokenHash the other tests compare it with.
func TestAccessTokenHashRFC9449(t *testing.T) {
	const token, ath = "Kz~8mXK1EalYznwH-LC-1fBAo.4Ljp~zsPE_NeO.gxU", "fUHyO2r2Z3DZ53EsNrWBb0xWXoaNy59IiKCAqksmQEo"
	want := ath
	if !athMatches(&want, token) {
		t.Errorf("athMatches refuses the RFC's ath %s", ath)
	}
	if got := accessTokenHash(token); got != ath {
		t.Errorf("got %s, want %s", got, ath)
	}
}

// accessTokenHash is ath written out: the base64url SHA-256 of the token's
// ASCII, the reference athMatches is tested against.
func accessTokenHash(token string) string {
	sum := sha256.Sum256([]byte(token))
	return b64.EncodeToString(sum[:])
}

// replayKey is the replay key written out, the reference proofReplayKey is
// tested against.
func replayKey(jkt, jti string) string {
	sum := sha256.Sum256([]byte("guardian dpop\x00" + jkt + "\x00" + jti))
	return "dpop." + b64.EncodeToString(sum[:16])
}

func TestSameHTU(t *testing.T) {
	req, _ := url.Parse("https://api.example.com/a%7eb/c?x=1")
	tests := []struct {
		htu  string
		want bool
	}{
		{htu: "https://api.example.com/a~b/c", want: true},
		{htu: "https://API.EXAMPLE.COM:443/a%7Eb/c#f", want: true},
		{htu: "https://api.example.com/a~b/c?y=2", want: true},
		{htu: "https://api.example.com:8443/a~b/c", want: false},
		{htu: "https://api.example.com/a~b/C", want: false},
		{htu: "http://api.example.com/a~b/c", want: false},
		{htu: "https://user@api.example.com/a~b/c", want: false},
		{htu: "/a~b/c", want: false},
		{htu: "mailto:a@example.com", want: false},
		{htu: "%", want: false},
	}
	for _, tt := range tests {
		if got := sameHTU(tt.htu, req); got != tt.want {
			t.Errorf("sameHTU(%q): got %v, want %v", tt.htu, got, tt.want)
		}
	}
	root, _ := url.Parse("http://localhost:80")
	if !sameHTU("http://localhost/", root) {
		t.Error("an empty path and the default port: want the same URL")
	}
}

func TestMemoryReplayCacheExpires(t *testing.T) {
	now := time.Unix(1_000_000, 0)
	m := NewMemoryReplayCache(2)
	m.now = func() time.Time { return now }
	ctx := context.Background()
	use := func(k string) bool {
		first, err := m.Use(ctx, k, time.Minute)
		if err != nil {
			t.Fatalf("Use(%s): %v", k, err)
		}
		return first
	}
	if !use("a") || use("a") || !use("b") {
		t.Fatal("first uses and a replay")
	}
	if _, err := m.Use(ctx, "c", time.Minute); err == nil {
		t.Fatal("a full cache: want an error")
	}
	now = now.Add(time.Minute)
	if !use("c") || !use("a") {
		t.Fatal("after the ttl, keys are forgotten and room is made")
	}
	if n := m.Len(); n != 2 {
		t.Errorf("Len %d, want 2", n)
	}
}

// FuzzDPoPVerify: no proof makes Verify panic, and none is accepted for a
// request it was not made for without a valid signature of its own key.
func FuzzDPoPVerify(f *testing.F) {
	f.Add("eyJ0eXAiOiJkcG9wK2p3dCIsImFsZyI6IkVTMjU2IiwiandrIjp7Imt0eSI6IkVDIn19.e30.AA")
	f.Add("a.b.c")
	f.Add("..")
	target, _ := url.Parse("https://api.example.com/items")
	v, err := NewDPoPVerifier(&DPoPOptions{Clock: func() time.Time { return time.Unix(1_700_000_000, 0) }})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, proof string) {
		p, err := v.Verify(context.Background(), proof, DPoPRequest{Method: "POST", URL: target})
		if err == nil && p.JKT == "" {
			t.Fatalf("accepted %q without a key", proof)
		}
	})
}
