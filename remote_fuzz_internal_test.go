package guardian

import (
	"net/url"
	"strings"
	"testing"
)

// FuzzRemoteJWKS feeds arbitrary documents to the parser of fetched JWK
// sets: it never panics, and every key it keeps is a verification key
// pinned to an allowed algorithm, under a kid no other kept key has.
func FuzzRemoteJWKS(f *testing.F) {
	f.Add(`{"keys":[{"kty":"EC","crv":"P-256","x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU","y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0","kid":"1"}]}`)
	f.Add(`{"keys":[{"kty":"OKP","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo","alg":"EdDSA","use":"sig"},{"kty":"oct","k":"AAAA"}]}`)
	f.Add(`{"keys":[{"kty":"RSA","n":"AQAB","e":"AQAB","use":"enc"}]}`)
	f.Add(`{"keys":[]}`)
	f.Add(`{}`)
	f.Fuzz(func(t *testing.T, doc string) {
		r, err := newRemoteKeys("", &RemoteKeysOptions{
			Algorithms:   []Algorithm{ES256, EdDSA, RS256},
			OnKeySkipped: func(string, error) {},
		})
		if err != nil {
			t.Fatal(err)
		}
		set, err := r.parseSet([]byte(doc))
		if err != nil {
			return
		}
		seen := map[string]bool{}
		for _, k := range set.Keys() {
			if k.CanSign() || k.Public() == nil {
				t.Fatalf("kept a key that can sign or has no public key: %q", doc)
			}
			switch k.Algorithm() {
			case ES256, EdDSA, RS256:
			default:
				t.Fatalf("kept a key pinned to %s, not allowed: %q", k.Algorithm(), doc)
			}
			if seen[k.ID()] {
				t.Fatalf("kept two keys with kid %q", k.ID())
			}
			seen[k.ID()] = true
		}
	})
}

// FuzzDiscoveryDocument checks the rules of a discovery document: what is
// accepted names exactly the issuer asked about and an https jwks_uri
// (http only for an http issuer), on the issuer's origin when required.
func FuzzDiscoveryDocument(f *testing.F) {
	f.Add("https://as.example.com", "https://as.example.com", "https://as.example.com/jwks", false)
	f.Add("https://as.example.com", "https://as.example.com/", "https://as.example.com/jwks", false)
	f.Add("http://127.0.0.1:9000", "http://127.0.0.1:9000", "http://127.0.0.1:9000/jwks", true)
	f.Add("https://as.example.com", "https://as.example.com", "http://as.example.com/jwks", false)
	f.Add("https://as.example.com", "https://as.example.com", "https://keys.example.net/jwks", true)
	f.Fuzz(func(t *testing.T, issuer, docIssuer, jwksURI string, sameOrigin bool) {
		got, err := checkMetadata(providerMetadata{Issuer: docIssuer, JWKSURI: jwksURI}, issuer, sameOrigin)
		if err != nil {
			return
		}
		if docIssuer != issuer || got != jwksURI {
			t.Fatalf("accepted issuer %q for %q", docIssuer, issuer)
		}
		u, err := url.Parse(got)
		if err != nil || u.Host == "" {
			t.Fatalf("accepted jwks_uri %q", got)
		}
		iu, _ := url.Parse(issuer)
		if u.Scheme != "https" && !(u.Scheme == "http" && iu != nil && iu.Scheme == "http") {
			t.Fatalf("accepted jwks_uri %q for issuer %q", got, issuer)
		}
		if sameOrigin {
			if iu == nil || !strings.EqualFold(iu.Host, u.Host) || iu.Scheme != u.Scheme {
				t.Fatalf("accepted jwks_uri %q off the origin of %q", got, issuer)
			}
		}
	})
}
