package guardian_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/guardian-go/guardian"
	"github.com/guardian-go/guardian/guardiantest"
)

// nonceSecret is a server nonce secret of the tests (32 bytes).
var nonceSecret = []byte("0123456789abcdef0123456789abcdef")

// toPeriodStart advances clock to the start of the next nonce period of
// rotation, so that a test does not depend on where in a period the
// fixture's instant falls.
func toPeriodStart(clock *guardiantest.Clock, rotation time.Duration) {
	into := time.Duration(clock.Now().UnixNano() % int64(rotation))
	if into < 0 {
		into += rotation
	}
	clock.Advance(rotation - into)
}

// nonceVerifier is a DPoP verifier with server nonces on clock.
func nonceVerifier(t *testing.T, secret []byte, clock func() time.Time) *guardian.DPoPVerifier {
	t.Helper()
	v, err := guardian.NewDPoPVerifier(&guardian.DPoPOptions{NonceSecret: secret, NonceRotation: time.Minute, Clock: clock})
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// TestDPoPNonces: with server nonces on (RFC 9449 §8, §9), a proof
// needs a nonce the server handed out and that is still current, and the
// refusal hands out the one to use; instances sharing the secret accept
// each other's nonces across the leeway of their clocks.
func TestDPoPNonces(t *testing.T) {
	ctx := context.Background()
	clock := guardiantest.NewClock(t0)
	toPeriodStart(clock, time.Minute)
	v := nonceVerifier(t, nonceSecret, clock.Now)
	client := newDPoPClient(t)
	n := 0
	proof := func(nonce string, at time.Time) string {
		n++
		c := dpopClaims("nonce-"+strconv.Itoa(n), at)
		if nonce != "" {
			c["nonce"] = nonce
		}
		return client.proof(t, c, nil, nil)
	}
	req := guardian.DPoPRequest{Method: "POST", URL: &url.URL{Scheme: "https", Host: "api.example.com", Path: "/items"}}
	verify := func(v *guardian.DPoPVerifier, nonce string, at time.Time) (*guardian.DPoPProof, error) {
		return v.Verify(ctx, proof(nonce, at), req)
	}
	wantNonceRefusal := func(what string, err error, want string) {
		t.Helper()
		got, ok := guardian.DPoPNonceOf(err)
		switch {
		case !errors.Is(err, guardian.ErrUseDPoPNonce) || !errors.Is(err, guardian.ErrInvalidDPoPProof):
			t.Errorf("%s: got %v, want ErrUseDPoPNonce and ErrInvalidDPoPProof", what, err)
		case !ok || got != want:
			t.Errorf("%s: DPoPNonceOf = %q, %v; want %q", what, got, ok, want)
		}
		if status, code := guardian.ErrorStatus(err); status != 401 || code != "use_dpop_nonce" {
			t.Errorf("%s: ErrorStatus = %d %q, want 401 use_dpop_nonce", what, status, code)
		}
	}

	first := v.Nonce()
	if len(first) != 32 || strings.ContainsAny(first, "\" \\") {
		t.Fatalf("Nonce() = %q, want 32 characters of NQCHAR", first)
	}
	_, err := verify(v, "", clock.Now())
	wantNonceRefusal("a proof without a nonce", err, first)
	if p, err := verify(v, first, clock.Now()); err != nil || p.NextNonce != "" {
		t.Fatalf("a proof with the current nonce: %+v, %v; want accepted, no NextNonce", p, err)
	}

	// Rotation: the nonce is accepted for the next period, which hands out
	// a newer one; after that it is refused, with the newest.
	clock.Advance(time.Minute + 30*time.Second)
	second := v.Nonce()
	if second == first {
		t.Fatal("the nonce did not rotate")
	}
	if p, err := verify(v, first, clock.Now()); err != nil || p.NextNonce != second {
		t.Fatalf("the previous period's nonce: %+v, %v; want accepted with NextNonce %q", p, err, second)
	}
	clock.Advance(30*time.Second + 5*time.Second) // the end of the next period, plus the leeway
	if _, err := verify(v, first, clock.Now()); err != nil {
		t.Fatalf("a nonce at the end of its leeway: %v", err)
	}
	clock.Advance(time.Second)
	_, err = verify(v, first, clock.Now())
	wantNonceRefusal("a nonce two periods old, past the leeway", err, v.Nonce())

	// Nonces are made with the secret: another's, or a forged one, fail.
	other := nonceVerifier(t, []byte("another secret of thirty-two b.."), clock.Now)
	_, err = verify(v, other.Nonce(), clock.Now())
	wantNonceRefusal("the nonce of a server with another secret", err, v.Nonce())
	cur := v.Nonce()
	for _, forged := range []string{cur[:31], cur + "A", strings.Repeat("A", 32), "x", cur[:8] + strings.Repeat("A", 24)} {
		_, err = verify(v, forged, clock.Now())
		wantNonceRefusal("a forged nonce "+forged, err, cur)
	}

	// Across instances: B's clock runs 4 s ahead of A's (within the 5 s
	// leeway). Near the end of A's period, B hands out the next period's
	// nonce, which A accepts; and a nonce A still accepts at the end of
	// its window, B accepts too.
	toPeriodStart(clock, time.Minute)
	clock.Advance(time.Minute - 2*time.Second)
	ahead := func() time.Time { return clock.Now().Add(4 * time.Second) }
	b := nonceVerifier(t, nonceSecret, ahead)
	if b.Nonce() == v.Nonce() {
		t.Fatal("B, 4 s ahead, 2 s before the end of A's period, should hand out the next nonce")
	}
	if _, err := verify(v, b.Nonce(), clock.Now()); err != nil {
		t.Errorf("A refused the nonce B (4 s ahead) handed out: %v", err)
	}
	old := v.Nonce()
	clock.Advance(time.Minute)
	if _, err := verify(v, old, clock.Now()); err != nil {
		t.Fatalf("A, at the end of its previous nonce's period: %v", err)
	}
	if _, err := verify(b, old, ahead()); err != nil {
		t.Errorf("B (4 s ahead, past that period by 2 s) refused the nonce A still accepts: %v", err)
	}

	// An app's own nonce (DPoPRequest.Nonce) is a nonce refusal too.
	plain, err := guardian.NewDPoPVerifier(&guardian.DPoPOptions{Clock: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	if plain.Nonce() != "" {
		t.Errorf("Nonce() without NonceSecret = %q, want empty", plain.Nonce())
	}
	appReq := req
	appReq.Nonce = "the-app-nonce"
	_, err = plain.Verify(ctx, proof("another-nonce", clock.Now()), appReq)
	wantNonceRefusal("a proof without the app's own nonce", err, "the-app-nonce")
}

// TestDPoPNonceOptions: the nonce settings that cannot work are refused.
func TestDPoPNonceOptions(t *testing.T) {
	for _, tt := range []struct {
		name string
		opts guardian.DPoPOptions
	}{
		{"a secret of 31 bytes", guardian.DPoPOptions{NonceSecret: nonceSecret[:31]}},
		{"an empty secret", guardian.DPoPOptions{NonceSecret: []byte{}}},
		{"a rotation under 10 s", guardian.DPoPOptions{NonceSecret: nonceSecret, NonceRotation: 9 * time.Second}},
		{"a rotation under twice the leeway", guardian.DPoPOptions{NonceSecret: nonceSecret, NonceRotation: 15 * time.Second, Leeway: 8 * time.Second}},
		{"a negative rotation", guardian.DPoPOptions{NonceSecret: nonceSecret, NonceRotation: -time.Minute}},
		{"a rotation without a secret", guardian.DPoPOptions{NonceRotation: time.Minute}},
	} {
		if _, err := guardian.NewDPoPVerifier(&tt.opts); !errors.Is(err, guardian.ErrConfig) {
			t.Errorf("%s: got %v, want ErrConfig", tt.name, err)
		}
	}
	// The secret is copied: changing the caller's slice changes nothing.
	secret := append([]byte(nil), nonceSecret...)
	clock := guardiantest.NewClock(t0)
	v := nonceVerifier(t, secret, clock.Now)
	before := v.Nonce()
	secret[0] ^= 1
	clock.Advance(time.Hour)
	v.Nonce() // computed anew for another period
	clock.Advance(-time.Hour)
	if v.Nonce() != before {
		t.Error("the nonce changed with the caller's copy of the secret")
	}
}

// TestDPoPNonceMiddleware: a resource request without the nonce is
// refused 401 use_dpop_nonce with a DPoP-Nonce header, and passes with it;
// a request whose nonce is about to expire gets the newer one. Token
// requests (SignIn, Refresh) are refused 400 (RFC 9449 §8), without
// spending the refresh token.
func TestDPoPNonceMiddleware(t *testing.T) {
	rt := newDPoPRouteWith(t, &guardian.DPoPOptions{NonceSecret: nonceSecret, NonceRotation: time.Minute}, false)
	toPeriodStart(rt.f.clock, time.Minute)
	nonce := rt.v.Nonce()
	tok := rt.token(t, true)
	mk := func(target, token, nonce string) string {
		rt.n++
		c := map[string]any{"jti": "nm" + strconv.Itoa(rt.n), "htm": "POST", "htu": target, "iat": rt.f.clock.Now().Unix()}
		if token != "" {
			c["ath"] = ath(token)
		}
		if nonce != "" {
			c["nonce"] = nonce
		}
		return rt.client.proof(t, c, nil, nil)
	}
	w := rt.serve("DPoP "+tok, mk(htu, tok, ""))
	if w.Code != 401 || w.Header().Get("DPoP-Nonce") != nonce ||
		!strings.Contains(w.Header().Get("WWW-Authenticate"), `DPoP realm="api", algs="ES256", error="use_dpop_nonce"`) {
		t.Fatalf("a proof without the nonce: %d, DPoP-Nonce %q, WWW-Authenticate %q; want 401 use_dpop_nonce with the nonce",
			w.Code, w.Header().Get("DPoP-Nonce"), w.Header().Get("WWW-Authenticate"))
	}
	if w := rt.serve("DPoP "+tok, mk(htu, tok, nonce)); w.Code != 200 || w.Header().Get("DPoP-Nonce") != "" {
		t.Fatalf("a proof with the nonce: %d, DPoP-Nonce %q; want 200 and no new nonce", w.Code, w.Header().Get("DPoP-Nonce"))
	}
	rt.f.clock.Advance(time.Minute)
	newer := rt.v.Nonce()
	if w := rt.serve("DPoP "+tok, mk(htu, tok, nonce)); w.Code != 200 || w.Header().Get("DPoP-Nonce") != newer {
		t.Fatalf("a proof with last period's nonce: %d, DPoP-Nonce %q; want 200 and the newer nonce %q", w.Code, w.Header().Get("DPoP-Nonce"), newer)
	}
	nonce = newer

	// SignIn: the app refuses with g.Refuse, which answers 400.
	const loginURL, refreshURL = "http://api.example.com/login", "http://api.example.com/refresh"
	_, _, err := rt.g.SignIn(httptest.NewRecorder(), dpopPost(loginURL, mk(loginURL, "", "")), "u1")
	w = httptest.NewRecorder()
	rt.g.Refuse(w, dpopPost(loginURL), err)
	wantTokenRequestRefusal(t, "a login's proof without the nonce", w, "use_dpop_nonce", nonce)
	_, _, err = rt.g.SignIn(httptest.NewRecorder(), dpopPost(loginURL, mk("http://api.example.com/other", "", nonce)), "u1")
	w = httptest.NewRecorder()
	rt.g.Refuse(w, dpopPost(loginURL), err)
	wantTokenRequestRefusal(t, "a login's proof for another URL", w, "invalid_dpop_proof", "")
	pair, _, err := rt.g.SignIn(httptest.NewRecorder(), dpopPost(loginURL, mk(loginURL, "", nonce)), "u1")
	if err != nil || pair.Access.Claims.Confirmation.JWKThumbprint != rt.client.jkt {
		t.Fatalf("a login with the nonce: %v, cnf %+v", err, pair.Access.Claims.Confirmation)
	}

	// Refresh answers itself; a refused refresh spends nothing.
	refresh := func(proof string) *httptest.ResponseRecorder {
		r := dpopPost(refreshURL, proof)
		r.Header.Set("Authorization", "Bearer "+pair.Refresh.Raw)
		w := httptest.NewRecorder()
		rt.g.Refresh(w, r)
		return w
	}
	wantTokenRequestRefusal(t, "a refresh's proof without the nonce", refresh(mk(refreshURL, "", "")), "use_dpop_nonce", nonce)
	wantTokenRequestRefusal(t, "a refresh with a thief's proof", refresh(newDPoPClient(t).proof(t, map[string]any{
		"jti": "thief", "htm": "POST", "htu": refreshURL, "iat": rt.f.clock.Now().Unix(), "nonce": nonce}, nil, nil)), "invalid_dpop_proof", "")
	if w := refresh(mk(refreshURL, "", nonce)); w.Code != 200 {
		t.Fatalf("the refresh with the nonce, after the refused tries: %d %s", w.Code, w.Body)
	}
}

// wantTokenRequestRefusal checks a token request's refusal of a proof:
// 400 with the error code in the body and, for use_dpop_nonce, the nonce
// in DPoP-Nonce.
func wantTokenRequestRefusal(t *testing.T, what string, w *httptest.ResponseRecorder, code, nonce string) {
	t.Helper()
	var body struct {
		Error string `json:"error"`
	}
	if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil || w.Code != http.StatusBadRequest || body.Error != code {
		t.Errorf("%s: %d %s; want 400 with error %q", what, w.Code, w.Body, code)
	}
	if got := w.Header().Get("DPoP-Nonce"); got != nonce {
		t.Errorf("%s: DPoP-Nonce %q, want %q", what, got, nonce)
	}
}
