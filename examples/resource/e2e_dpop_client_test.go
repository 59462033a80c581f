package main

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"

	"github.com/guardian-go/guardian/examples/resource/internal/testas"
)

// dpopClientSummary is what testdata/dpopclient/client.mjs prints.
type dpopClientSummary struct {
	Library struct {
		Name    string `json:"name"`
		Version string `json:"version"`
	} `json:"library"`
	Thumbprint string `json:"thumbprint"`
	Token      struct {
		TokenType string `json:"token_type"`
		Scope     string `json:"scope"`
		CnfJKT    string `json:"cnf_jkt"`
	} `json:"token"`
	NonceRetries map[string]int `json:"nonce_retries"`
	Calls        []dpopClientCall
}

// dpopClientCall is one request of the client to the server.
type dpopClientCall struct {
	Name            string          `json:"name"`
	Scheme          string          `json:"scheme"`
	Status          int             `json:"status"`
	WWWAuthenticate string          `json:"www_authenticate"`
	Challenges      []challenge     `json:"challenges"` // as oauth4webapi parsed them
	Body            json.RawMessage `json:"body"`
}

// challenge is a WWW-Authenticate challenge as oauth4webapi parses it: the
// scheme in lower case.
type challenge struct {
	Scheme     string            `json:"scheme"`
	Parameters map[string]string `json:"parameters"`
}

// testDPoPClient: interoperability with a DPoP client library of the npm
// registry, oauth4webapi. It gets a token from oidc-provider bound to its
// own key (after the provider's use_dpop_nonce), and the server accepts
// its proofs on every route, and refuses its token as Bearer with
// challenges the library understands: Bearer invalid_token, and DPoP with
// the algorithms.
func testDPoPClient(t *testing.T, bin string) {
	p := testas.Start(t)
	rs := startResource(t, bin, "-issuer", p.Issuer(), "-audience", testas.Audience)
	rs.waitHealth(t, http.StatusOK)
	sum := runDPoPClient(t, p, rs, testas.ClientDPoP, "read write")
	t.Logf("%s %s", sum.Library.Name, sum.Library.Version)

	if sum.Token.TokenType != "dpop" || sum.Thumbprint == "" || sum.Token.CnfJKT != sum.Thumbprint {
		t.Errorf("token_type %q, cnf.jkt %q, want dpop bound to the client's key %q", sum.Token.TokenType, sum.Token.CnfJKT, sum.Thumbprint)
	}
	if sum.NonceRetries["token"] != 1 {
		t.Errorf("nonce retries %v, want one at the token endpoint (the provider requires its nonce)", sum.NonceRetries)
	}
	if len(sum.NonceRetries) != 1 {
		t.Errorf("nonce retries %v: the resource server asks for no nonce", sum.NonceRetries)
	}

	want := []struct {
		name   string
		status int
	}{
		{"whoami with DPoP", http.StatusOK},
		{"items with DPoP", http.StatusOK},
		{"add an item with DPoP", http.StatusCreated},
		{"whoami as Bearer", http.StatusUnauthorized},
		{"items as Bearer", http.StatusUnauthorized},
	}
	if len(sum.Calls) != len(want) {
		t.Fatalf("%d calls, want %d: %+v", len(sum.Calls), len(want), sum.Calls)
	}
	for i, c := range sum.Calls {
		if c.Name != want[i].name || c.Status != want[i].status {
			t.Errorf("call %d: %s %d (%s, %s), want %s %d", i, c.Name, c.Status, c.WWWAuthenticate, c.Body, want[i].name, want[i].status)
		}
	}

	var who whoamiJSON
	if mustJSON(t, sum.Calls[0].Body, &who); who.Issuer != p.Issuer() || who.ClientID != testas.ClientDPoP || !slices.Equal(who.Scope, []string{"read", "write"}) {
		t.Errorf("whoami with DPoP: %s", sum.Calls[0].Body)
	}
	var created item
	if mustJSON(t, sum.Calls[2].Body, &created); created.Name != "oauth4webapi item" || created.CreatedBy != testas.ClientDPoP {
		t.Errorf("POST /api/items with DPoP: %s", sum.Calls[2].Body)
	}
	for _, c := range sum.Calls[3:] {
		if !strings.HasPrefix(c.WWWAuthenticate, `Bearer realm="api", error="invalid_token"`) {
			t.Errorf("%s: WWW-Authenticate %q", c.Name, c.WWWAuthenticate)
		}
		var bearer, dpop *challenge
		for i := range c.Challenges {
			switch c.Challenges[i].Scheme {
			case "bearer":
				bearer = &c.Challenges[i]
			case "dpop":
				dpop = &c.Challenges[i]
			}
		}
		if bearer == nil || bearer.Parameters["error"] != "invalid_token" || bearer.Parameters["realm"] != "api" {
			t.Errorf("%s: no Bearer invalid_token challenge in %+v", c.Name, c.Challenges)
		}
		if dpop == nil || !slices.Contains(strings.Fields(dpop.Parameters["algs"]), "ES256") || dpop.Parameters["realm"] != "api" {
			t.Errorf("%s: no DPoP challenge with algs ES256 in %+v", c.Name, c.Challenges)
		}
	}
	rs.wantRunning(t)
}

// runDPoPClient runs testdata/dpopclient/client.mjs for client against p
// and rs, and returns its summary.
func runDPoPClient(t *testing.T, p *testas.Provider, rs *resource, client, scope string) dpopClientSummary {
	t.Helper()
	dir, node := testas.NodeProject(t, "dpopclient")
	ctx, cancel := context.WithTimeout(t.Context(), e2eWait)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, "client.mjs")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(),
		"ISSUER="+p.Issuer(),
		"CLIENT_ID="+client,
		"CLIENT_SECRET="+testas.Secret(client),
		"RESOURCE="+testas.Audience,
		"SCOPE="+scope,
		"API="+rs.base,
	)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("node client.mjs: %v\n%s", err, stderr.String())
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("client.mjs printed:\n%s\n%s", out, stderr.String())
		}
	})
	var sum dpopClientSummary
	if err := json.Unmarshal(out, &sum); err != nil {
		t.Fatalf("client.mjs printed %q: %v\n%s", out, err, stderr.String())
	}
	return sum
}
