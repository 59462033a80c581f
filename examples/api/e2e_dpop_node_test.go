package main

import (
	"context"
	"encoding/json"
	"net/http"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/guardian-go/guardian/examples/internal/nodetest"
)

// Interop: a DPoP client made with npm libraries (testdata/dpopclient:
// panva's "dpop" and "oauth4webapi", signing with WebCrypto) drives the
// built binary; its proofs must be accepted, and the server's tokens and
// challenges understood.

// dpopClientDir holds the Node client, its package.json and its
// package-lock.json; npm installs into its node_modules (ignored by git).
const dpopClientDir = "testdata/dpopclient"

// nodeTimeout bounds the client's run.
const nodeTimeout = time.Minute

// nodeAnswer is what the client's summary says of one answer.
type nodeAnswer struct {
	Status          int             `json:"status"`
	Authorization   string          `json:"authorization"`
	WWWAuthenticate string          `json:"www_authenticate"`
	CacheControl    string          `json:"cache_control"`
	Body            json.RawMessage `json:"body"`
	// Challenges are the WWW-Authenticate challenges as oauth4webapi
	// parsed them, when it refused the answer.
	Challenges []struct {
		Scheme     string            `json:"scheme"`
		Parameters map[string]string `json:"parameters"`
	} `json:"challenges"`
}

// body decodes the answer's JSON body.
func (a nodeAnswer) body(t *testing.T) (b struct {
	Token        string `json:"token"`
	TokenType    string `json:"token_type"`
	RefreshToken string `json:"refresh_token"`
	Email        string `json:"email"`
	Error        string `json:"error"`
}) {
	t.Helper()
	if len(a.Body) > 0 && string(a.Body) != "null" {
		if err := json.Unmarshal(a.Body, &b); err != nil {
			t.Fatalf("body %s: %v", a.Body, err)
		}
	}
	return b
}

func TestDPoPInteropNode(t *testing.T) {
	dir, err := filepath.Abs(dpopClientDir)
	if err != nil {
		t.Fatal(err)
	}
	node := nodetest.Install(t, dir)
	s := startServer(t, "-store", filepath.Join(t.TempDir(), "r.db"))
	defer s.stop()

	ctx, cancel := context.WithTimeout(context.Background(), nodeTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, "client.mjs", s.base)
	cmd.Dir = dir
	var stderr strings.Builder
	cmd.Stderr = &stderr
	start := time.Now()
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("node client.mjs: %v\n%s", err, stderr.String())
	}
	t.Logf("the Node client ran in %v", time.Since(start).Round(time.Millisecond))
	var sum struct {
		JKT                       string     `json:"jkt"`
		Login                     nodeAnswer `json:"login"`
		Me                        nodeAnswer `json:"me"`
		MeReplayed                nodeAnswer `json:"me_replayed"`
		MeAsBearer                nodeAnswer `json:"me_as_bearer"`
		Refresh                   nodeAnswer `json:"refresh"`
		MeRefreshed               nodeAnswer `json:"me_refreshed"`
		OAuth4WebAPIMe            nodeAnswer `json:"oauth4webapi_me"`
		OAuth4WebAPIMeWithoutDPoP nodeAnswer `json:"oauth4webapi_me_without_dpop"`
		OAuth4WebAPIRefresh       nodeAnswer `json:"oauth4webapi_refresh"`
		OAuth4WebAPIMeRefreshed   nodeAnswer `json:"oauth4webapi_me_refreshed"`
		Logout                    nodeAnswer `json:"logout"`
		MeAfterLogout             nodeAnswer `json:"me_after_logout"`
		Ed25519Alg                string     `json:"ed25519_alg"`
		Ed25519Login              nodeAnswer `json:"ed25519_login"`
	}
	if err := json.Unmarshal(out, &sum); err != nil {
		t.Fatalf("the client's summary %s: %v", out, err)
	}

	// A pair bound to the client's key, its thumbprint computed by "dpop".
	bound := func(what string, a nodeAnswer) {
		t.Helper()
		b := a.body(t)
		if a.Status != http.StatusOK || b.TokenType != "DPoP" || a.Authorization != "DPoP "+b.Token || a.CacheControl != "no-store" {
			t.Fatalf("%s: %d, token_type %q, Authorization %.30q…, Cache-Control %q; want 200, DPoP, DPoP + the token, no-store (body %s)",
				what, a.Status, b.TokenType, a.Authorization, a.CacheControl, a.Body)
		}
		if got := jktOf(t, b.Token); got != sum.JKT {
			t.Errorf("%s: the token's cnf.jkt %q, want the thumbprint dpop computed, %q", what, got, sum.JKT)
		}
	}
	alice := func(what string, a nodeAnswer) {
		t.Helper()
		if b := a.body(t); a.Status != http.StatusOK || b.Email != aliceEmail {
			t.Errorf("%s: %d %s, want 200 with alice", what, a.Status, a.Body)
		}
	}
	refused := func(what string, a nodeAnswer, status int, code string) {
		t.Helper()
		if b := a.body(t); a.Status != status || b.Error != code || !strings.Contains(a.WWWAuthenticate, `error="`+code+`"`) {
			t.Errorf("%s: %d %q %s, want %d %s", what, a.Status, a.WWWAuthenticate, a.Body, status, code)
		}
	}

	bound("dpop: login", sum.Login)
	alice("dpop: me", sum.Me)
	refused("dpop: me with the same proof again", sum.MeReplayed, http.StatusUnauthorized, "invalid_dpop_proof")
	refused("dpop: the bound token as Bearer", sum.MeAsBearer, http.StatusUnauthorized, "invalid_token")
	bound("dpop: refresh (JSON body)", sum.Refresh)
	alice("dpop: me with the refreshed token", sum.MeRefreshed)

	alice("oauth4webapi: protectedResourceRequest with DPoP", sum.OAuth4WebAPIMe)
	// oauth4webapi parses both challenges: Bearer with the error, and DPoP
	// with the algs it may use.
	if c := sum.OAuth4WebAPIMeWithoutDPoP.Challenges; sum.OAuth4WebAPIMeWithoutDPoP.Status != http.StatusUnauthorized || len(c) != 2 ||
		c[0].Scheme != "bearer" || c[0].Parameters["realm"] != "api" || c[0].Parameters["error"] != "invalid_token" ||
		c[1].Scheme != "dpop" || c[1].Parameters["realm"] != "api" || !slices.Contains(strings.Fields(c[1].Parameters["algs"]), "ES256") {
		t.Errorf("oauth4webapi: the bound token without DPoP: %d, challenges %+v; want 401, Bearer (realm api, invalid_token) and DPoP (realm api, algs with ES256)",
			sum.OAuth4WebAPIMeWithoutDPoP.Status, c)
	}
	bound("oauth4webapi: refreshTokenGrantRequest with DPoP (form body)", sum.OAuth4WebAPIRefresh)
	alice("oauth4webapi: protectedResourceRequest with the granted token", sum.OAuth4WebAPIMeRefreshed)

	if sum.Logout.Status != http.StatusNoContent {
		t.Errorf("dpop: logout: %d %s, want 204", sum.Logout.Status, sum.Logout.Body)
	}
	refused("dpop: me after logout", sum.MeAfterLogout, http.StatusUnauthorized, "invalid_token")

	// An Ed25519 key's proofs, which "dpop" signs with the alg "Ed25519"
	// (RFC 9864): accepted, and that alg is in the challenges' algs.
	algs := regexp.MustCompile(`algs="([^"]*)"`).FindStringSubmatch(sum.MeReplayed.WWWAuthenticate)
	if algs == nil {
		t.Fatalf("no algs in the DPoP challenge %q", sum.MeReplayed.WWWAuthenticate)
	}
	if !slices.Contains(strings.Fields(algs[1]), sum.Ed25519Alg) {
		t.Errorf("dpop signs Ed25519 proofs with alg %q, which the server's algs=%q does not list", sum.Ed25519Alg, algs[1])
	}
	if b := sum.Ed25519Login.body(t); sum.Ed25519Login.Status != http.StatusOK || b.TokenType != "DPoP" {
		t.Errorf("dpop: login with an %s proof: %d %s, want 200 with a DPoP pair", sum.Ed25519Alg, sum.Ed25519Login.Status, sum.Ed25519Login.Body)
	}
}
