package guardian_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/guardian-go/guardian"
	"github.com/guardian-go/guardian/internal/testclock"
)

// TestDPoPEd25519: proofs signed with alg "Ed25519" (RFC 9864's name for
// EdDSA with an Ed25519 key, which DPoP client libraries use) verify, as
// "EdDSA" ones do; the challenge lists both.
func TestDPoPEd25519(t *testing.T) {
	now := testclock.Now().Truncate(time.Second)
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	x := base64.RawURLEncoding.EncodeToString(pub)
	v, err := guardian.NewDPoPVerifier(&guardian.DPoPOptions{Clock: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	if got := v.Algorithms(); !strings.Contains(algNames(got), "EdDSA Ed25519") {
		t.Errorf("default algorithms %v, want EdDSA and Ed25519", got)
	}
	req := guardian.DPoPRequest{Method: "POST", URL: &url.URL{Scheme: "https", Host: "api.example.com", Path: "/items"}}
	for _, alg := range []string{"Ed25519", "EdDSA"} {
		tok := jwt.NewWithClaims(jwt.SigningMethodEdDSA, jwt.MapClaims(dpopClaims("ed-"+alg, now)))
		tok.Header["typ"], tok.Header["alg"] = "dpop+jwt", alg
		tok.Header["jwk"] = map[string]any{"kty": "OKP", "crv": "Ed25519", "x": x}
		proof, err := tok.SignedString(priv)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := v.Verify(context.Background(), proof, req); err != nil {
			t.Errorf("an %s proof: %v", alg, err)
		}
	}
	only, err := guardian.NewDPoPVerifier(&guardian.DPoPOptions{Algorithms: []guardian.Algorithm{guardian.Ed25519}})
	if err != nil || algNames(only.Algorithms()) != "Ed25519" {
		t.Errorf("Algorithms [Ed25519]: %v, %v", only, err)
	}
}

func algNames(algs []guardian.Algorithm) string {
	s := make([]string, len(algs))
	for i, a := range algs {
		s[i] = string(a)
	}
	return strings.Join(s, " ")
}

// hangingReplay is a ReplayCache whose store never answers.
type hangingReplay struct{}

func (hangingReplay) Use(ctx context.Context, _ string, _ time.Duration) (bool, error) {
	<-ctx.Done()
	return false, ctx.Err()
}

// TestDPoPReplayTimeout: a replay store that hangs fails the proof within
// ReplayTimeout (503), rather than holding the request.
func TestDPoPReplayTimeout(t *testing.T) {
	now := testclock.Now().Truncate(time.Second)
	v, err := guardian.NewDPoPVerifier(&guardian.DPoPOptions{Clock: func() time.Time { return now }, Replay: hangingReplay{}, ReplayTimeout: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	req := guardian.DPoPRequest{Method: "POST", URL: &url.URL{Scheme: "https", Host: "api.example.com", Path: "/items"}}
	done := make(chan error, 1)
	go func() {
		_, err := v.Verify(context.Background(), newDPoPClient(t).proof(t, dpopClaims("hang", now), nil, nil), req)
		done <- err
	}()
	select {
	case err := <-done:
		if status, _ := guardian.ErrorStatus(err); !errors.Is(err, guardian.ErrUnavailable) || status != 503 {
			t.Errorf("a hanging replay store: %v (status %d), want ErrUnavailable, 503", err, status)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Verify still waiting on a hanging replay store after 10s; ReplayTimeout is 50ms")
	}
	if _, err := guardian.NewDPoPVerifier(&guardian.DPoPOptions{ReplayTimeout: -time.Second}); !errors.Is(err, guardian.ErrConfig) {
		t.Errorf("a negative ReplayTimeout: %v, want ErrConfig", err)
	}
}

// TestDPoPSignInWhileSignedIn: SignIn on a route whose request carries a
// DPoP-bound token (a password change, say) binds the new login to the
// same key, without checking the proof the token already spent.
func TestDPoPSignInWhileSignedIn(t *testing.T) {
	rt := newDPoPRoute(t, true, false)
	tok := rt.token(t, true)
	var pair guardian.TokenPair
	var err error
	h := rt.g.Authenticated()(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		pair, _, err = rt.g.SignIn(w, r, "u1")
	}))
	r := dpopPost(htu, rt.proofFor(t, htu, tok))
	r.Header.Set("Authorization", "DPoP "+tok)
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	if err != nil {
		t.Fatalf("SignIn on a bound request: %v (status %d)", err, w.Code)
	}
	if pair.Access.Claims.Confirmation.JWKThumbprint != rt.client.jkt || pair.TokenType() != "DPoP" {
		t.Errorf("new login bound to %q (%s), want %q", pair.Access.Claims.Confirmation.JWKThumbprint, pair.TokenType(), rt.client.jkt)
	}
}

// TestDPoPRefreshWithAnAccessToken: a bound access token sent to Refresh
// is refused for its type (401 invalid_token), not for a missing proof.
func TestDPoPRefreshWithAnAccessToken(t *testing.T) {
	rt := newDPoPRoute(t, true, false)
	r := dpopPost("http://api.example.com/refresh")
	r.Header.Set("Authorization", "Bearer "+rt.token(t, true))
	w := httptest.NewRecorder()
	_, err := rt.g.Refresh(w, r)
	if !errors.Is(err, guardian.ErrTokenType) || w.Code != 401 {
		t.Errorf("Refresh with a bound access token: %v, %d; want ErrTokenType, 401", err, w.Code)
	}
}
