package testas

import (
	"net/http"
	"testing"

	"github.com/guardian-go/guardian/examples/resource/internal/dpoptest"
)

// TestDPoPToken: the provider binds a token to the key of the request's
// proof once the proof carries its nonce; ClientDPoP gets no token without
// a proof, and a token request without a proof stays a bearer one.
func TestDPoPToken(t *testing.T) {
	p := Start(t)
	endpoint, err := p.tokenEndpoint()
	if err != nil {
		t.Fatal(err)
	}
	key := dpoptest.NewKey(t)

	for _, tc := range []struct {
		name   string
		client string
		proof  string
		error  string // the answer's error code
		nonce  bool   // whether it hands out a nonce
	}{
		{name: "a bound-only client without a proof", client: ClientDPoP, error: "invalid_grant"},
		{name: "a proof without the nonce", client: ClientDPoP, proof: key.Proof(t, "POST", endpoint, "", ""), error: "use_dpop_nonce", nonce: true},
		{name: "a proof with a made-up nonce", client: ClientES, proof: key.Proof(t, "POST", endpoint, "", "made-up"), error: "use_dpop_nonce", nonce: true},
		{name: "a proof for another URL", client: ClientES, proof: key.Proof(t, "POST", p.Issuer()+"/other", "", ""), error: "invalid_dpop_proof"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tok, err := p.requestToken(tc.client, "read", Audience, tc.proof)
			if err != nil {
				t.Fatal(err)
			}
			if tok.Status != http.StatusBadRequest || tok.Error != tc.error {
				t.Errorf("%d %s, want 400 %s", tok.Status, tok.Body, tc.error)
			}
			if got := tok.Nonce != ""; got != tc.nonce {
				t.Errorf("DPoP-Nonce %q, want one: %v", tok.Nonce, tc.nonce)
			}
		})
	}

	for _, client := range []string{ClientDPoP, ClientES} {
		header, claims := decode(t, p.DPoPToken(t, key, client, "read write", Audience))
		cnf, _ := claims["cnf"].(map[string]any)
		if header["typ"] != "at+jwt" || header["alg"] != "ES256" || claims["client_id"] != client {
			t.Errorf("%s: header %v, claims %v", client, header, claims)
		}
		if cnf["jkt"] != key.Thumbprint() {
			t.Errorf("%s: cnf %v, want jkt %s", client, claims["cnf"], key.Thumbprint())
		}
	}
	if _, claims := decode(t, p.Token(t, ClientES, "read", Audience)); claims["cnf"] != nil {
		t.Errorf("a token requested without a proof has cnf %v", claims["cnf"])
	}
}
