package guardian

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"net/url"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"
)

// proofHeaderSeeds are proof headers of the shapes the fast decoder must
// take, and near misses it must hand to encoding/json.
var proofHeaderSeeds = []string{
	`{"alg":"ES256","jwk":{"crv":"P-256","kty":"EC","x":"l8tFrhx-34tV3hRICRDY9zCkDlpBhF42UQUfWVAWBFs","y":"9VE4jf_Ok_o64zbTTlcuNJajHmt6v9TDVrU0CdvGRDA"},"typ":"dpop+jwt"}`,
	`{"typ":"dpop+jwt","alg":"EdDSA","jwk":{"kty":"OKP","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}}`,
	` { "typ" : "dpop+jwt" , "alg" : "ES256" , "jwk" : { "kty" : "EC" , "x" : "a" } } `,
	"\t\r\n{\"typ\":\"dpop+jwt\"}\n",
	`{}`,
	`{ }`,
	`{"typ":"dpop+jwt","alg":"ES256","jwk":{"kty":"EC"},"kid":"k1"}`,
	`{"typ":"dpop+jwt","jku":"https://x","x5u":"https://y","x5c":["MIIB"],"crit":["b64"],"b64":false,"zip":"DEF"}`,
	`{"typ":"dpop+jwt","kid":null,"jwk":null}`,
	`{"typ":null,"alg":null}`,
	`{"typ":"dpop+jwt","jwk":[1,2.5e3,-0.1,true,false,null,{"a":[]}]}`,
	`{"typ":"dpop+jwt","jwk":"a string","kid":12,"b64":true}`,
	`{"typ":"dpop+jwt","extra":{"deep":[[[{"x":"\u00e9\"\\"}]]]},"alg":"ES256"}`,
	`{"TYP":"dpop+jwt"}`,
	`{"Alg":"none","alg":"ES256"}`,
	`{"JWK":{"kty":"EC"}}`,
	`{"jwK":{}}`,
	`{"Crit":["x"]}`,
	`{"jw\u212a":{}}`,
	"{\"jw\u212a\":{}}",
	`{"typ":"a","typ":"b"}`,
	`{"jwk":{"a":1},"jwk":{"b":2}}`,
	`{"typ":"dpop\u002bjwt"}`,
	`{"t\u0079p":"dpop+jwt"}`,
	`{"typ":"dpop+jwt\n"}`,
	`{"typ":"é"}`,
	"{\"typ\":\"\xff\"}",
	"{\"x\xff\":1}",
	`{"typ":1}`,
	`{"alg":["ES256"]}`,
	`{"typ":true}`,
	`{"jwk":{"kty":"EC",}}`,
	`{"jwk":{"kty" "EC"}}`,
	`{"typ":"dpop+jwt",}`,
	`{"typ":"dpop+jwt"}x`,
	`{"typ":"dpop+jwt"}{}`,
	`[]`,
	`null`,
	``,
	` `,
	`{"jwk":nul}`,
	`{"jwk":nullx}`,
	`{"jwk":-}`,
	`{"jwk":01}`,
	`{"jwk":1.}`,
	`{"jwk":"\u12"}`,
	`{"jwk":"\x"}`,
	`{"jwk":` + strings.Repeat("[", 40) + strings.Repeat("]", 40) + `}`,
	`{"jwk":` + strings.Repeat("[", 20) + strings.Repeat("]", 20) + `}`,
	`{"typ":"dpop+jwt","pad":"` + strings.Repeat("x", 1200) + `"}`,
}

// proofClaimSeeds are proof payloads likewise.
var proofClaimSeeds = []string{
	`{"ath":"fUHyO2r2Z3DZ53EsNrWBb0xWXoaNy59IiKCAqksmQEo","htm":"POST","htu":"https://api.example.com/items","iat":1800000000,"jti":"b1"}`,
	`{"jti":"e1j3V_bKic8-LAEB","htm":"GET","htu":"https://resource.example.org/protectedresource","iat":1562262618,"nonce":"eyJ7S_zG.eyJH0-Z.HX4w-7v"}`,
	` { "jti" : "a" , "iat" : 0 } `,
	`{}`,
	`{"iat":null,"ath":null,"nonce":null,"jti":null,"htm":null,"htu":null}`,
	`{"jti":"a","jti":"b"}`,
	`{"iat":1,"iat":2}`,
	`{"ath":"a","ath":null}`,
	`{"JTI":"a"}`,
	`{"Iat":1}`,
	`{"NONCE":"n"}`,
	`{"nonce":"n","Nonce":"m"}`,
	`{"ıat":1}`,
	`{"iat":1.5}`,
	`{"iat":1.0}`,
	`{"iat":1e9}`,
	`{"iat":1E9}`,
	`{"iat":-1}`,
	`{"iat":-0}`,
	`{"iat":01}`,
	`{"iat":123456789012345}`,
	`{"iat":1234567890123456}`,
	`{"iat":9007199254740992}`,
	`{"iat":9007199254740991}`,
	`{"iat":"1"}`,
	`{"iat":true}`,
	`{"iat":{}}`,
	`{"jti":1}`,
	`{"ath":1}`,
	`{"nonce":["a"]}`,
	`{"jti":"\u0061"}`,
	`{"jti":"a\tb"}`,
	`{"htu":"https://api.example.com/a%7Eb?x=1#f"}`,
	`{"htm":"é"}`,
	"{\"htm\":\"\xc3\"}",
	`{"other":{"iat":5},"iat":6}`,
	`{"jti":"a"}]`,
	`{"jti":"a",}`,
	`{"jti":"a" "htm":"b"}`,
	`{"jti"}`,
	`{"jti":}`,
	`{`,
	`"jti"`,
}

// proofSeg is the base64url segment of s.
func proofSeg(s string) string { return b64.EncodeToString([]byte(s)) }

// checkProofDecoders checks that both fast decoders agree with
// decodeSegment on seg: the same decision and, when it accepts, the same
// values.
func checkProofDecoders(t *testing.T, seg string) {
	t.Helper()
	var hStd, hFast dpopHeader
	errStd, errFast := decodeSegment(seg, &hStd), decodeProofHeader(seg, &hFast)
	if (errStd == nil) != (errFast == nil) {
		t.Fatalf("header %q: encoding/json %v, fast %v", seg, errStd, errFast)
	}
	if errStd == nil && !reflect.DeepEqual(hStd, hFast) {
		t.Fatalf("header %q:\nfast %#v\nstd  %#v", seg, hFast, hStd)
	}
	var cStd, cFast dpopClaims
	errStd, errFast = decodeSegment(seg, &cStd), decodeProofClaims(seg, &cFast)
	if (errStd == nil) != (errFast == nil) {
		t.Fatalf("claims %q: encoding/json %v, fast %v", seg, errStd, errFast)
	}
	if errStd == nil && !reflect.DeepEqual(cStd, cFast) {
		t.Fatalf("claims %q:\nfast %#v\nstd  %#v", seg, cFast, cStd)
	}
}

// realProofHeaders are headers as clients write them, with real keys.
func realProofHeaders(tb testing.TB) []string {
	tb.Helper()
	ec, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	pub, err := ec.PublicKey.Bytes()
	if err != nil {
		tb.Fatal(err)
	}
	x, y := b64.EncodeToString(pub[1:33]), b64.EncodeToString(pub[33:])
	rk, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		tb.Fatal(err)
	}
	n := b64.EncodeToString(rk.N.Bytes())
	return []string{
		// golang-jwt: members sorted (a map), the jwk a map too.
		`{"alg":"ES256","jwk":{"crv":"P-256","kty":"EC","x":"` + x + `","y":"` + y + `"},"typ":"dpop+jwt"}`,
		// RFC 9449 §4.2's order.
		`{"typ":"dpop+jwt","alg":"ES256","jwk":{"kty":"EC","x":"` + x + `","y":"` + y + `","crv":"P-256"}}`,
		`{"typ":"dpop+jwt","alg":"PS256","jwk":{"kty":"RSA","e":"AQAB","n":"` + n + `"}}`,
	}
}

func TestDecodeProof(t *testing.T) {
	headers := realProofHeaders(t)
	tests := []struct {
		name   string
		json   string
		header *dpopHeader // nil: refused
		claims *dpopClaims // nil: refused
		fast   bool        // the fast path must answer the header
	}{
		{name: "a header as golang-jwt writes it", json: headers[0], fast: true,
			header: &dpopHeader{Typ: "dpop+jwt", Alg: "ES256", Jwk: json.RawMessage(headers[0][len(`{"alg":"ES256","jwk":`) : len(headers[0])-len(`,"typ":"dpop+jwt"}`)])},
			claims: &dpopClaims{}},
		{name: "refused members are kept raw", json: `{"typ":"dpop+jwt","kid":"k","x5c":["a"],"crit":null,"jwk":{ "kty" : "EC" } }`, fast: true,
			header: &dpopHeader{Typ: "dpop+jwt", Kid: json.RawMessage(`"k"`), X5c: json.RawMessage(`["a"]`), Crit: json.RawMessage(`null`), Jwk: json.RawMessage(`{ "kty" : "EC" }`)},
			claims: &dpopClaims{}},
		{name: "a null string member is no member", json: `{"typ":null,"alg":"ES256"}`, fast: true,
			header: &dpopHeader{Alg: "ES256"}, claims: &dpopClaims{}},
		{name: "names match case-insensitively", json: `{"TYP":"dpop+jwt","Jwk":{}}`,
			header: &dpopHeader{Typ: "dpop+jwt", Jwk: json.RawMessage(`{}`)}, claims: &dpopClaims{}},
		{name: "the Kelvin sign folds to k", json: `{"jw` + "\u212a" + `":{}}`,
			header: &dpopHeader{Jwk: json.RawMessage(`{}`)}, claims: &dpopClaims{}},
		{name: "the last of repeated members", json: `{"typ":"a","typ":"dpop+jwt","jwk":1,"jwk":2}`,
			header: &dpopHeader{Typ: "dpop+jwt", Jwk: json.RawMessage(`2`)}, claims: &dpopClaims{}},
		{name: "escapes", json: `{"t\u0079p":"dpop\u002bjwt"}`,
			header: &dpopHeader{Typ: "dpop+jwt"}, claims: &dpopClaims{}},
		{name: "a claims payload", json: `{"jti":"j","htm":"POST","htu":"https://a/b","iat":1800000000,"ath":"h","nonce":"n"}`, fast: true,
			header: &dpopHeader{},
			claims: &dpopClaims{Jti: "j", Htm: "POST", Htu: "https://a/b", Iat: &numericDate{unixUTC(1800000000)}, Ath: ptr("h"), Nonce: ptr("n")}},
		{name: "null claims", json: `{"jti":null,"iat":null,"ath":null}`, fast: true,
			header: &dpopHeader{}, claims: &dpopClaims{}},
		{name: "a fractional iat", json: `{"iat":1.5}`,
			header: &dpopHeader{}, claims: &dpopClaims{Iat: &numericDate{time.Unix(1, 500_000_000).UTC()}}},
		{name: "a negative iat", json: `{"iat":-1}`, header: &dpopHeader{}},
		{name: "a string of the wrong type", json: `{"typ":1,"jti":1}`},
		{name: "not an object", json: `["typ"]`},
		{name: "trailing data", json: `{"typ":"dpop+jwt"}{}`},
		{name: "invalid JSON in an unknown member", json: `{"typ":"dpop+jwt","x":[1,]}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			seg := proofSeg(tt.json)
			checkProofDecoders(t, seg)
			var h dpopHeader
			err := decodeProofHeader(seg, &h)
			switch {
			case tt.header == nil && err == nil:
				t.Errorf("header: got %#v, want an error", h)
			case tt.header != nil && err != nil:
				t.Errorf("header: got %v, want %#v", err, *tt.header)
			case tt.header != nil && !reflect.DeepEqual(h, *tt.header):
				t.Errorf("header: got %#v, want %#v", h, *tt.header)
			}
			var c dpopClaims
			err = decodeProofClaims(seg, &c)
			switch {
			case tt.claims == nil && err == nil:
				t.Errorf("claims: got %#v, want an error", c)
			case tt.claims != nil && err != nil:
				t.Errorf("claims: got %v, want %#v", err, *tt.claims)
			case tt.claims != nil && !reflect.DeepEqual(c, *tt.claims):
				t.Errorf("claims: got %#v, want %#v", c, *tt.claims)
			}
			if tt.fast && !decodeProofHeaderFast(seg, new(dpopHeader)) && !decodeProofClaimsFast(seg, new(dpopClaims)) {
				t.Error("the fast path handed it to encoding/json")
			}
		})
	}
}

func unixUTC(sec int64) time.Time { return time.Unix(sec, 0).UTC() }

func ptr(s string) *string { return &s }

// TestDecodeProofFastPaths: the shapes clients send take the fast path,
// and the kept jwk shares no memory with the next decode.
func TestDecodeProofFastPaths(t *testing.T) {
	for _, hdr := range realProofHeaders(t) {
		if !decodeProofHeaderFast(proofSeg(hdr), new(dpopHeader)) {
			t.Errorf("header %s: the fast path handed it to encoding/json", hdr)
		}
	}
	for _, p := range proofClaimSeeds[:2] {
		if !decodeProofClaimsFast(proofSeg(p), new(dpopClaims)) {
			t.Errorf("claims %s: the fast path handed it to encoding/json", p)
		}
	}
	var first dpopHeader
	if err := decodeProofHeader(proofSeg(`{"jwk":{"a":"first"}}`), &first); err != nil {
		t.Fatal(err)
	}
	var second dpopHeader
	if err := decodeProofHeader(proofSeg(`{"jwk":{"b":"other"}}`), &second); err != nil {
		t.Fatal(err)
	}
	if got, want := string(first.Jwk), `{"a":"first"}`; got != want {
		t.Errorf("the first jwk after a second decode: got %s, want %s", got, want)
	}
}

// TestDecodeProofSeeds runs the fuzz seeds, so that go test checks them
// all without -fuzz.
func TestDecodeProofSeeds(t *testing.T) {
	seeds := append(append(realProofHeaders(t), proofHeaderSeeds...), proofClaimSeeds...)
	for _, s := range seeds {
		checkProofDecoders(t, proofSeg(s))
	}
	for _, seg := range []string{"", "e30", "e30=", "e30\n", "e3\r0", "e31", "!!!", "eyJ0eXAiOiJkcG9wK2p3dCJ9"} {
		checkProofDecoders(t, seg)
	}
}

// FuzzDecodeProof checks the fast proof decoders differentially against
// decodeSegment (encoding/json): for every segment, both decide alike
// and, when they accept, yield the same header and the same claims. raw
// takes data as the segment itself (to reach base64 errors); otherwise
// data is the JSON, encoded.
func FuzzDecodeProof(f *testing.F) {
	seeds := append(append(realProofHeaders(f), proofHeaderSeeds...), proofClaimSeeds...)
	for _, s := range seeds {
		f.Add(s, false)
	}
	f.Add("eyJ0eXAiOiJkcG9wK2p3dCJ9", true)
	f.Add("e30=", true)
	f.Add("e3\n0", true)
	f.Fuzz(func(t *testing.T, data string, raw bool) {
		seg := data
		if !raw {
			seg = proofSeg(data)
		}
		checkProofDecoders(t, seg)
	})
}

func TestAthMatches(t *testing.T) {
	long := strings.Repeat("t", 3000)
	for _, token := range []string{"Kz~8mXK1EalYznwH-LC-1fBAo.4Ljp~zsPE_NeO.gxU", "", long} {
		good := accessTokenHash(token)
		tests := []struct {
			name string
			ath  *string
			want bool
		}{
			{name: "its hash", ath: &good, want: true},
			{name: "none", ath: nil, want: false},
			{name: "empty", ath: ptr(""), want: false},
			{name: "another", ath: ptr(accessTokenHash(token + "x")), want: false},
			{name: "a prefix", ath: ptr(good[:42]), want: false},
			{name: "longer", ath: ptr(good + "A"), want: false},
		}
		for _, tt := range tests {
			if got := athMatches(tt.ath, token); got != tt.want {
				t.Errorf("token of %d bytes, %s: got %v, want %v", len(token), tt.name, got, tt.want)
			}
		}
	}
}

func TestProofReplayKey(t *testing.T) {
	for _, jti := range []string{"", "a", "\x00", strings.Repeat("j", maxProofIDLength), strings.Repeat("j", 5000)} {
		for _, jkt := range []string{"", "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs", strings.Repeat("k", 100)} {
			if got, want := proofReplayKey(jkt, jti), replayKey(jkt, jti); got != want {
				t.Errorf("jkt of %d bytes, jti of %d: got %s, want %s", len(jkt), len(jti), got, want)
			}
		}
	}
}

func TestProofKeysLookup(t *testing.T) {
	var p proofKeys
	small := json.RawMessage(realProofHeaders(t)[0])
	big := json.RawMessage(`{"pad":"` + strings.Repeat("x", 1000) + `"}`)
	if _, ok := p.lookup(small, ES256); ok {
		t.Fatal("an empty cache: got an entry")
	}
	key := &Key{}
	p.byID = map[string]proofKeyEntry{
		string(ES256) + "\x00" + string(small): {key, "small"},
		string(ES256) + "\x00" + string(big):   {key, "big"},
	}
	for _, tt := range []struct {
		jwk  json.RawMessage
		alg  Algorithm
		want string
	}{{small, ES256, "small"}, {big, ES256, "big"}, {small, ES384, ""}, {small[1:], ES256, ""}} {
		e, ok := p.lookup(tt.jwk, tt.alg)
		if ok != (tt.want != "") || e.jkt != tt.want {
			t.Errorf("lookup(%.20s…, %s): got %q %v, want %q", tt.jwk, tt.alg, e.jkt, ok, tt.want)
		}
	}
}

// BenchmarkDecodeProof compares the fast decoders with decodeSegment on a
// real proof's header and claims.
func BenchmarkDecodeProof(b *testing.B) {
	hSeg := proofSeg(realProofHeaders(b)[0])
	cSeg := proofSeg(proofClaimSeeds[0])
	b.Run("header/json", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			var h dpopHeader
			if err := decodeSegment(hSeg, &h); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("header/fast", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			var h dpopHeader
			if err := decodeProofHeader(hSeg, &h); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("claims/json", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			var c dpopClaims
			if err := decodeSegment(cSeg, &c); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("claims/fast", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			var c dpopClaims
			if err := decodeProofClaims(cSeg, &c); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkDPoPParts measures the other steps of Verify that neither
// JSON nor the signature account for.
func BenchmarkDPoPParts(b *testing.B) {
	token := strings.Repeat("t", 600)
	good := accessTokenHash(token)
	b.Run("ath/accessTokenHash", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if !equalStrings(good, accessTokenHash(token)) {
				b.Fatal("no match")
			}
		}
	})
	b.Run("ath/athMatches", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if !athMatches(&good, token) {
				b.Fatal("no match")
			}
		}
	})
	jkt := "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"
	b.Run("replayKey/replayKey", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_ = replayKey(jkt, "b123456")
		}
	})
	b.Run("replayKey/proofReplayKey", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_ = proofReplayKey(jkt, "b123456")
		}
	})
	req, _ := url.Parse("http://api.example.com/items")
	req = &url.URL{Scheme: req.Scheme, Host: req.Host, Path: req.Path}
	b.Run("sameHTU", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if !sameHTU("http://api.example.com/items", req) {
				b.Fatal("not the same")
			}
		}
	})
	jwk := json.RawMessage(`{"crv":"P-256","kty":"EC","x":"l8tFrhx-34tV3hRICRDY9zCkDlpBhF42UQUfWVAWBFs","y":"9VE4jf_Ok_o64zbTTlcuNJajHmt6v9TDVrU0CdvGRDA"}`)
	var keys proofKeys
	if _, _, err := keys.get(jwk, ES256); err != nil {
		b.Fatal(err)
	}
	b.Run("proofKeys/get", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, _, err := keys.get(jwk, ES256); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("proofKeys/lookup", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, ok := keys.lookup(jwk, ES256); !ok {
				b.Fatal("missed")
			}
		}
	})
	var headers proofHeaders
	hSeg := proofSeg(`{"alg":"ES256","jwk":` + string(jwk) + `,"typ":"dpop+jwt"}`)
	headers.put(hSeg, &Key{}, jkt)
	b.Run("proofHeaders/get", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, _, ok := headers.get(hSeg); !ok {
				b.Fatal("missed")
			}
		}
	})
	b.Run("replay/Use", func(b *testing.B) {
		// A cache holding 100k keys, as after 5 minutes at 333 proofs/s.
		const held = 100_000
		m := NewMemoryReplayCache(held + b.N)
		ctx := context.Background()
		for i := range held {
			if _, err := m.Use(ctx, proofReplayKey(jkt, "h"+strconv.Itoa(i)), 305*time.Second); err != nil {
				b.Fatal(err)
			}
		}
		keys := make([]string, b.N)
		for i := range keys {
			keys[i] = proofReplayKey(jkt, strconv.Itoa(i))
		}
		b.ReportAllocs()
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			if first, err := m.Use(ctx, keys[i], 305*time.Second); err != nil || !first {
				b.Fatal(first, err)
			}
		}
	})
}

// TestSameHTUPieces: comparing targets piece by piece is comparing them
// written out, whatever the boundaries between the pieces.
func TestSameHTUPieces(t *testing.T) {
	tests := []struct {
		a, b target
		want bool
	}{
		{a: target{"http", "://", "", "a", "", "", "", "/"}, b: target{"http", "://", "", "a", "", "", "", "/"}, want: true},
		{a: target{"http", "://", "", "a", "", ":", "8", "/"}, b: target{"http", "://", "", "a:8", "", "", "", "/"}, want: true},
		{a: target{"", "", "", "", "", "", "", ""}, b: target{}, want: true},
		{a: target{"ab"}, b: target{"a", "b"}, want: true},
		{a: target{"ab"}, b: target{"a"}, want: false},
		{a: target{"a"}, b: target{"ab"}, want: false},
		{a: target{"", "", "", "", "", "", "", "x"}, b: target{"x"}, want: true},
		{a: target{"", "", "", "", "", "", "", "x"}, b: target{"y"}, want: false},
		{a: target{"http", "://", "[", "::1", "]", "", "", "/"}, b: target{"http", "://", "", "[::1]", "", "", "", "/"}, want: true},
	}
	for _, tt := range tests {
		if got := tt.a.equal(tt.b); got != tt.want || got != (tt.a.String() == tt.b.String()) {
			t.Errorf("%q equal %q: got %v, want %v", tt.a, tt.b, got, tt.want)
		}
	}
}

// FuzzSameHTU checks sameHTU against the comparison of the targets
// written out, as it was made before it compared them in pieces.
func FuzzSameHTU(f *testing.F) {
	for _, s := range []string{"https://api.example.com/a~b/c", "https://API.EXAMPLE.COM:443/a%7Eb/c#f", "http://[::1]:80/x", "http://[::1]/x", "https://a:8443", "https://user@a/", "http://a%41/", "/x", "%"} {
		f.Add(s, "https://api.example.com/a%7eb/c?x=1")
		f.Add(s, s)
	}
	f.Fuzz(func(t *testing.T, htu, reqURL string) {
		req, err := url.Parse(reqURL)
		if err != nil {
			return
		}
		want := false
		if u, err := url.Parse(htu); err == nil && u.IsAbs() && u.Opaque == "" && u.User == nil {
			a, okA := normalizedTarget(u)
			b, okB := normalizedTarget(req)
			want = okA && okB && a.String() == b.String()
		}
		if got := sameHTU(htu, req); got != want {
			t.Fatalf("sameHTU(%q, %q): got %v, want %v", htu, reqURL, got, want)
		}
	})
}

func TestProofHeaders(t *testing.T) {
	var p proofHeaders
	if _, _, ok := p.get("seg"); ok {
		t.Fatal("an empty cache: got an entry")
	}
	key := &Key{}
	proof := "hdr.payload.sig"
	p.put(proof[:3], key, "jkt")
	if k, jkt, ok := p.get("hdr"); !ok || k != key || jkt != "jkt" {
		t.Errorf("got %p %q %v, want %p jkt true", k, jkt, ok, key)
	}
	if _, _, ok := p.get("hd"); ok {
		t.Error("another segment: got an entry")
	}
	for i := range maxProofKeys {
		p.put(strconv.Itoa(i), key, "")
	}
	if n := len(p.bySeg); n > maxProofKeys {
		t.Errorf("%d entries, want at most %d", n, maxProofKeys)
	}
}

func TestDecodeProofSignature(t *testing.T) {
	sig := make([]byte, maxProofSignature)
	for i := range sig {
		sig[i] = byte(i)
	}
	for _, seg := range []string{"", "AA", "AAA", "AB", "A", "AA==", "A\nA", "!!", b64.EncodeToString(sig[:64]), b64.EncodeToString(sig), b64.EncodeToString(append(sig, 1))} {
		var buf [maxProofSignature]byte
		got, err := decodeProofSignature(buf[:], seg)
		want, wantErr := b64.DecodeString(seg)
		if !reflect.DeepEqual(err, wantErr) || (err == nil && string(got) != string(want)) {
			t.Errorf("%.20q: got %x, %v; want %x, %v", seg, got, err, want, wantErr)
		}
	}
}
