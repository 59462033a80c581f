package benchmarks

import (
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/guardian-go/guardian"
)

// A probe is a token presented to a case, and what the case must do with
// it.
type probe struct {
	name  string
	token string
	// accept: the case must answer 200; otherwise it must answer with a
	// status outside 2xx.
	accept bool
	// weakest is the weakest kind of case the probe applies to: a probe for
	// floor applies to verifiers and the floor, one for baseline to all.
	weakest caseKind
}

// probes are the tokens every case of alg is checked with.
func probes(fs fixtureSet, alg guardian.Algorithm) []probe {
	f := fs[alg]
	ps := []probe{
		{name: "good token", token: f.good, accept: true, weakest: baseline},
		{name: "flipped signature bit", token: f.badSig, weakest: floor},
		{name: `alg "none"`, token: f.algNone, weakest: floor},
		{name: "expired", token: f.expired, weakest: verifier},
		{name: "wrong iss", token: f.wrongIss, weakest: verifier},
		{name: "wrong aud", token: f.wrongAud, weakest: verifier},
	}
	for _, other := range algs {
		if other != alg {
			ps = append(ps, probe{name: string(other) + " token", token: fs[other].good, weakest: floor})
		}
	}
	for i, tok := range f.confused {
		ps = append(ps, probe{name: fmt.Sprintf("HS256 keyed with the public key (spelling %d)", i+1), token: tok, weakest: floor})
	}
	return ps
}

// serve presents tok to h and returns the status.
func serve(h http.Handler, tok string) int {
	r := httptest.NewRequest(http.MethodGet, path, nil)
	r.Header.Set("Authorization", "Bearer "+tok)
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w.Code
}

func accepted(status int) bool { return status == http.StatusOK }
func refused(status int) bool  { return status < 200 || status > 299 }

// failedChecks presents every probe that applies to c and describes each
// answer that is wrong.
func failedChecks(c benchCase, h http.Handler, fs fixtureSet, alg guardian.Algorithm) []string {
	var fails []string
	for _, p := range probes(fs, alg) {
		if c.kind > p.weakest {
			continue
		}
		status := serve(h, p.token)
		switch {
		case p.accept && !accepted(status):
			fails = append(fails, fmt.Sprintf("%s: got %d, want 200", p.name, status))
		case !p.accept && !refused(status):
			fails = append(fails, fmt.Sprintf("%s: got %d, want it refused", p.name, status))
		}
	}
	return fails
}

// gate builds c for alg and checks it. skip is why the cell posts no
// number: the case cannot do the algorithm, is excluded, or failed a check.
func gate(c benchCase, fs fixtureSet, alg guardian.Algorithm) (h http.Handler, skip string, err error) {
	h, err = c.build(fs[alg])
	if errors.Is(err, errUnsupported) {
		return nil, fmt.Sprintf("%s cannot verify %s: %v", c.name, alg, err), nil
	}
	if err != nil {
		return nil, "", fmt.Errorf("build %s/%s: %w", c.name, alg, err)
	}
	if c.excluded != "" {
		return nil, "excluded: " + c.excluded, nil
	}
	if fails := failedChecks(c, h, fs, alg); len(fails) > 0 {
		return nil, fmt.Sprintf("excluded: fails checks: %q", fails), nil
	}
	return h, "", nil
}

// TestEveryCaseChecks proves, before any number is taken, that every case
// accepts the good token and refuses the bad ones that apply to it: a
// case that skips checks must not post a fast number. BenchmarkChain runs
// the same checks and refuses to time a case that fails them.
func TestEveryCaseChecks(t *testing.T) {
	fs := fixtures(t)
	for _, c := range cases {
		for _, alg := range algs {
			t.Run(c.name+"/"+string(alg), func(t *testing.T) {
				h, err := c.build(fs[alg])
				if errors.Is(err, errUnsupported) {
					t.Skipf("%s cannot verify %s", c.name, alg)
				}
				if err != nil {
					t.Fatal(err)
				}
				fails := failedChecks(c, h, fs, alg)
				if c.excluded != "" {
					if len(fails) == 0 {
						t.Errorf("excluded (%s), but passes every check now: include it", c.excluded)
					}
					t.Skipf("excluded: %s; fails %q", c.excluded, fails)
				}
				for _, f := range fails {
					t.Error(f)
				}
				if c.kind != verifier {
					return
				}
				// Reported in README.md; not reasons to exclude.
				for _, p := range []struct {
					what, token string
					refuses     bool
				}{
					{what: "token without exp", token: fs[alg].noExp, refuses: c.requiresExp},
					{what: "token with an unknown kid", token: fs[alg].otherKid, refuses: c.checksKid},
				} {
					switch status := serve(h, p.token); {
					case p.refuses && !refused(status):
						t.Errorf("%s: got %d; the case is documented to refuse it", p.what, status)
					case !p.refuses && !accepted(status):
						t.Errorf("%s: got %d; the case is documented to accept it (update cases and README.md)", p.what, status)
					}
				}
			})
		}
	}
}

// TestFixtures checks that the shared tokens are what the benchmark says
// they are.
func TestFixtures(t *testing.T) {
	fs := fixtures(t)
	for _, alg := range algs {
		f := fs[alg]
		hdr, payload, err := decodeParts(f.good)
		if err != nil {
			t.Fatalf("%s: %v", alg, err)
		}
		if hdr["alg"] != string(alg) || hdr["kid"] != kid || hdr["typ"] != "JWT" {
			t.Errorf("%s header: got %v", alg, hdr)
		}
		for _, name := range []string{"sub", "iss", "aud", "iat", "nbf", "exp", "jti", "typ"} {
			if _, ok := payload[name]; !ok {
				t.Errorf("%s payload: no %s in %v", alg, name, payload)
			}
		}
		if payload["typ"] != "access" || payload["sub"] != subject || payload["iss"] != issuer {
			t.Errorf("%s payload: got %v", alg, payload)
		}
		exp, iat := payload["exp"].(float64), payload["iat"].(float64)
		if exp-iat != 3600 {
			t.Errorf("%s payload: exp - iat = %v, want 3600", alg, exp-iat)
		}
		if f.pub != nil && len(f.confused) == 0 {
			t.Errorf("%s: no algorithm-confusion tokens", alg)
		}
	}
}

// TestChecksCatchCheats proves the checks have teeth: posing as verifiers,
// the floor (signature only) and no middleware at all fail them.
func TestChecksCatchCheats(t *testing.T) {
	fs := fixtures(t)
	for _, alg := range algs {
		for _, c := range []benchCase{
			{name: "floor as verifier", kind: verifier, build: buildFloor},
			{name: "none as floor", kind: floor, build: buildNone},
		} {
			h, err := c.build(fs[alg])
			if err != nil {
				t.Fatal(err)
			}
			fails := failedChecks(c, h, fs, alg)
			want := 0
			for _, p := range probes(fs, alg) {
				if !p.accept && p.weakest == c.kind {
					want++
				}
			}
			if len(fails) != want {
				t.Errorf("%s/%s: got %d failed checks %q, want %d", c.name, alg, len(fails), fails, want)
			}
		}
	}
}
