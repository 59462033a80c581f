package testas

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/guardian-go/guardian/examples/resource/internal/dpoptest"
)

// Token gets an access token for client (ClientRS or ClientES) with the
// client_credentials grant at the token endpoint named by discovery. scope
// (e.g. "read write") and audience (the resource indicator, e.g. Audience)
// are sent when not empty; the provider defaults the audience to Audience.
// The token is a bearer token. It fails the test on any error.
func (p *Provider) Token(tb testing.TB, client, scope, audience string) string {
	tb.Helper()
	tok, err := p.requestToken(client, scope, audience, "")
	if err != nil {
		tb.Fatalf("testas: %v", err)
	}
	if tok.Status != http.StatusOK {
		tb.Fatalf("testas: token endpoint: %d: %s", tok.Status, tok.Body)
	}
	if !strings.EqualFold(tok.TokenType, "Bearer") {
		tb.Fatalf("testas: token_type %q, want Bearer: %s", tok.TokenType, tok.Body)
	}
	return tok.AccessToken
}

// DPoPToken is Token for an access token bound to key (RFC 9449 §5): the
// request carries a proof of key, and the token a cnf.jkt of its
// thumbprint. The provider's first answer asks for its nonce
// (use_dpop_nonce); the request is then made again, once, with a proof
// that carries it. Any client may ask; ClientDPoP must.
func (p *Provider) DPoPToken(tb testing.TB, key *dpoptest.Key, client, scope, audience string) string {
	tb.Helper()
	endpoint, err := p.tokenEndpoint()
	if err != nil {
		tb.Fatalf("testas: discovery: %v", err)
	}
	nonce := ""
	for attempt := 0; ; attempt++ {
		tok, err := p.requestToken(client, scope, audience, key.Proof(tb, http.MethodPost, endpoint, "", nonce))
		if err != nil {
			tb.Fatalf("testas: %v", err)
		}
		if tok.Error == "use_dpop_nonce" && tok.Nonce != "" && attempt == 0 {
			nonce = tok.Nonce
			continue
		}
		if tok.Status != http.StatusOK {
			tb.Fatalf("testas: token endpoint, with a DPoP proof: %d: %s", tok.Status, tok.Body)
		}
		if tok.TokenType != "DPoP" {
			tb.Fatalf("testas: token_type %q, want DPoP: %s", tok.TokenType, tok.Body)
		}
		return tok.AccessToken
	}
}

// tokenResponse is the token endpoint's answer.
type tokenResponse struct {
	Status      int    `json:"-"`
	Body        []byte `json:"-"`
	Nonce       string `json:"-"` // the DPoP-Nonce header
	AccessToken string `json:"access_token"`
	TokenType   string `json:"token_type"`
	Error       string `json:"error"`
}

// requestToken asks the token endpoint for a client_credentials token of
// client, with the DPoP proof when not empty. An answer other than 200 is
// not an error: it is returned with its error code.
func (p *Provider) requestToken(client, scope, audience, proof string) (*tokenResponse, error) {
	secret, ok := secrets[client]
	if !ok {
		return nil, fmt.Errorf("unknown client %q (want %q, %q or %q)", client, ClientRS, ClientES, ClientDPoP)
	}
	endpoint, err := p.tokenEndpoint()
	if err != nil {
		return nil, fmt.Errorf("discovery: %w", err)
	}
	form := url.Values{"grant_type": {"client_credentials"}}
	if scope != "" {
		form.Set("scope", scope)
	}
	if audience != "" {
		form.Set("resource", audience)
	}
	req, err := http.NewRequest(http.MethodPost, endpoint, strings.NewReader(form.Encode()))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(url.QueryEscape(client), url.QueryEscape(secret))
	if proof != "" {
		req.Header.Set("DPoP", proof)
	}
	resp, err := httpClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("token request: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("token response: %w", err)
	}
	tok := &tokenResponse{Status: resp.StatusCode, Body: body, Nonce: resp.Header.Get("DPoP-Nonce")}
	if err := json.Unmarshal(body, tok); err != nil {
		return nil, fmt.Errorf("token response %d is not JSON (%v): %s", resp.StatusCode, err, body)
	}
	if tok.Status == http.StatusOK && tok.AccessToken == "" {
		return nil, fmt.Errorf("token response without access_token: %s", body)
	}
	return tok, nil
}

// tokenEndpoint returns the token_endpoint of the discovery document,
// fetched once.
func (p *Provider) tokenEndpoint() (string, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.token != "" {
		return p.token, nil
	}
	resp, err := httpClient.Get(p.issuer + "/.well-known/openid-configuration")
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("discovery: %s", resp.Status)
	}
	var doc struct {
		TokenEndpoint string `json:"token_endpoint"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&doc); err != nil {
		return "", err
	}
	if doc.TokenEndpoint == "" {
		return "", errors.New("discovery document has no token_endpoint")
	}
	p.token = doc.TokenEndpoint
	return p.token, nil
}
