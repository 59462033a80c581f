package guardian_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/guardian-go/guardian"
	"github.com/guardian-go/guardian/guardiantest"
)

var idPattern = regexp.MustCompile(`^[A-Za-z0-9_-]{22}$`)

// checkID checks that id is 128 random bits as unpadded base64url.
func checkID(t *testing.T, what, id string) {
	t.Helper()
	if !idPattern.MatchString(id) {
		t.Fatalf("%s = %q, want 22 base64url characters", what, id)
	}
	b, err := base64.RawURLEncoding.Strict().DecodeString(id)
	if err != nil || len(b) != 16 {
		t.Fatalf("%s = %q decodes to %d bytes (%v), want 16", what, id, len(b), err)
	}
}

func TestIssueWritesTheRegisteredClaims(t *testing.T) {
	f := newFixture(t, &guardian.IssuerOptions{Issuer: "https://issuer.example", Audience: []string{"app"}})
	f.clock.Set(t0.Add(700 * time.Millisecond)) // iat has whole seconds
	tok := f.issue(t, "u1", nil)

	p := payloadOf(t, tok.Raw)
	want := map[string]any{
		"iss": "https://issuer.example",
		"aud": "app",
		"sub": "u1",
		"typ": "access",
		"iat": json.Number(itoa64(t0.Unix())),
		"nbf": json.Number(itoa64(t0.Unix())),
		"exp": json.Number(itoa64(t0.Add(15 * time.Minute).Unix())),
		// A new login: auth_time is now.
		"auth_time": json.Number(itoa64(t0.Unix())),
	}
	for name, w := range want {
		if got := p[name]; got != w {
			t.Errorf("claim %s = %#v, want %#v", name, got, w)
		}
	}
	for _, name := range []string{"jti", "fam"} {
		s, _ := p[name].(string)
		checkID(t, name, s)
	}
	if len(p) != len(want)+2 {
		t.Errorf("payload has %d members, want %d: %v", len(p), len(want)+2, p)
	}
	if p["jti"] == p["fam"] {
		t.Errorf("jti and fam are both %v; a new login's family is its own random ID", p["jti"])
	}

	c := tok.Claims
	if c.Issuer != "https://issuer.example" || c.Subject != "u1" || c.Type != guardian.AccessToken ||
		!slices.Equal(c.Audience, []string{"app"}) || c.ID != p["jti"] || c.Family != p["fam"] ||
		!c.IssuedAt.Equal(t0) || !c.NotBefore.Equal(t0) || !c.ExpiresAt.Equal(t0.Add(15*time.Minute)) {
		t.Errorf("Token.Claims = %+v, do not match the payload %v", c, p)
	}
	verified, err := f.issuer.Verify(context.Background(), tok.Raw)
	if err != nil {
		t.Fatal(err)
	}
	if verified.ID != c.ID || verified.Family != c.Family || !verified.ExpiresAt.Equal(c.ExpiresAt) {
		t.Errorf("Verify returned %+v, Issue %+v", verified, c)
	}
}

func itoa64(n int64) string { return strconv.FormatInt(n, 10) }

func TestIssueHeader(t *testing.T) {
	tests := []struct {
		name string
		kid  string
		want map[string]any
	}{
		{name: "key with ID", kid: "2026-11", want: map[string]any{"alg": "HS256", "typ": "JWT", "kid": "2026-11"}},
		{name: "key without ID", kid: "", want: map[string]any{"alg": "HS256", "typ": "JWT"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			issuer := mustIssuer(t, mustKeySet(t, mustHMACKey(t, tt.kid, guardian.HS256, testSecret)), nil)
			tok, err := issuer.Issue(context.Background(), "u1", nil)
			if err != nil {
				t.Fatal(err)
			}
			h := headerOf(t, tok.Raw)
			if len(h) != len(tt.want) {
				t.Errorf("header = %v, want %v", h, tt.want)
			}
			for k, v := range tt.want {
				if h[k] != v {
					t.Errorf("header %s = %v, want %v", k, h[k], v)
				}
			}
		})
	}
}

func TestJTIUnique(t *testing.T) {
	f := newFixture(t, nil)
	const n = 10_000
	seen := make(map[string]bool, 2*n)
	for i := range n {
		tok := f.issue(t, "u1", nil)
		for _, id := range []string{tok.Claims.ID, tok.Claims.Family} {
			if seen[id] {
				t.Fatalf("token %d repeats the ID %s", i, id)
			}
			seen[id] = true
		}
		if i < 10 {
			checkID(t, "jti", tok.Claims.ID)
		}
	}
}

func TestTTL(t *testing.T) {
	tests := []struct {
		name  string
		opts  guardian.IssuerOptions
		issue guardian.IssueOptions
		want  time.Duration
	}{
		{name: "access default", want: 15 * time.Minute},
		{name: "refresh default", issue: guardian.IssueOptions{Type: guardian.RefreshToken}, want: 30 * 24 * time.Hour},
		{name: "access overridden", opts: guardian.IssuerOptions{TTL: map[guardian.TokenType]time.Duration{guardian.AccessToken: 5 * time.Minute}}, want: 5 * time.Minute},
		{name: "refresh kept when access overridden", opts: guardian.IssuerOptions{TTL: map[guardian.TokenType]time.Duration{guardian.AccessToken: 5 * time.Minute}}, issue: guardian.IssueOptions{Type: guardian.RefreshToken}, want: 30 * 24 * time.Hour},
		{name: "added type", opts: guardian.IssuerOptions{TTL: map[guardian.TokenType]time.Duration{"api": 2 * time.Hour}}, issue: guardian.IssueOptions{Type: "api"}, want: 2 * time.Hour},
		{name: "access kept when a type is added", opts: guardian.IssuerOptions{TTL: map[guardian.TokenType]time.Duration{"api": 2 * time.Hour}}, want: 15 * time.Minute},
		{name: "per-token TTL", issue: guardian.IssueOptions{TTL: 42 * time.Second}, want: 42 * time.Second},
		{name: "per-token TTL beats Options", opts: guardian.IssuerOptions{TTL: map[guardian.TokenType]time.Duration{guardian.RefreshToken: time.Hour}}, issue: guardian.IssueOptions{Type: guardian.RefreshToken, TTL: time.Minute}, want: time.Minute},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, &tt.opts)
			tok := f.issue(t, "u1", &tt.issue)
			if got := tok.Claims.ExpiresAt.Sub(tok.Claims.IssuedAt); got != tt.want {
				t.Errorf("exp - iat = %v, want %v", got, tt.want)
			}
			typ := tt.issue.Type
			if typ == "" {
				typ = guardian.AccessToken
			}
			if tt.issue.TTL == 0 {
				if got, ok := f.issuer.TTL(typ); !ok || got != tt.want {
					t.Errorf("TTL(%s) = %v, %v; want %v, true", typ, got, ok, tt.want)
				}
			}
		})
	}
}

func TestIssueRefuses(t *testing.T) {
	f := newFixture(t, nil)
	type appClaims struct {
		Role string `json:"role"`
		Exp  int64  `json:"exp"`
	}
	tests := []struct {
		name    string
		subject string
		opts    *guardian.IssueOptions
	}{
		{name: "empty subject", subject: ""},
		{name: "unknown type", subject: "u1", opts: &guardian.IssueOptions{Type: "api"}},
		{name: "negative TTL", subject: "u1", opts: &guardian.IssueOptions{TTL: -time.Second}},
		{name: "custom: a number", subject: "u1", opts: &guardian.IssueOptions{Custom: 42}},
		{name: "custom: a string", subject: "u1", opts: &guardian.IssueOptions{Custom: "role=admin"}},
		{name: "custom: an array", subject: "u1", opts: &guardian.IssueOptions{Custom: []string{"admin"}}},
		{name: "custom: a boolean", subject: "u1", opts: &guardian.IssueOptions{Custom: true}},
		{name: "custom: invalid raw JSON", subject: "u1", opts: &guardian.IssueOptions{Custom: json.RawMessage(`{"a":`)}},
		{name: "custom: raw JSON array", subject: "u1", opts: &guardian.IssueOptions{Custom: json.RawMessage(`[{"a":1}]`)}},
		{name: "custom: unencodable", subject: "u1", opts: &guardian.IssueOptions{Custom: map[string]any{"f": func() {}}}},
		{name: "custom: struct with an exp field", subject: "u1", opts: &guardian.IssueOptions{Custom: appClaims{Role: "admin", Exp: 1 << 40}}},
		{name: "custom: escaped registered name", subject: "u1", opts: &guardian.IssueOptions{Custom: json.RawMessage(`{"\u0073ub":"admin"}`)}},
	}
	for _, name := range []string{"iss", "sub", "aud", "typ", "jti", "fam", "iat", "nbf", "exp"} {
		tests = append(tests, struct {
			name    string
			subject string
			opts    *guardian.IssueOptions
		}{name: "custom: registered name " + name, subject: "u1", opts: &guardian.IssueOptions{Custom: map[string]any{"role": "x", name: "admin"}}})
	}
	// encoding/json matches member names case-insensitively (with Unicode
	// folding: "ſ" is "s"), so these would set registered claims when the
	// token is decoded: a custom "EXP" would outlive the TTL.
	for _, name := range []string{"EXP", "Sub", "sUB", "Typ", "ſub", "iſs", "AUD"} {
		tests = append(tests, struct {
			name    string
			subject string
			opts    *guardian.IssueOptions
		}{name: "custom: registered name in another case " + name, subject: "u1", opts: &guardian.IssueOptions{Custom: map[string]any{name: 1 << 40}}})
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tok, err := f.issuer.Issue(context.Background(), tt.subject, tt.opts)
			if err == nil {
				t.Fatalf("Issue succeeded with payload %v, want an error", payloadOf(t, tok.Raw))
			}
			if tok.Raw != "" || tok.Claims != nil {
				t.Errorf("Issue returned a token with its error")
			}
		})
	}
}

func TestCustomClaimsRoundTrip(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, nil)
	type appClaims struct {
		Role   string   `json:"role"`
		Tenant int      `json:"tenant"`
		Scopes []string `json:"scopes,omitempty"`
	}
	tests := []struct {
		name   string
		custom any
		want   appClaims
	}{
		{name: "struct", custom: appClaims{Role: "admin", Tenant: 42, Scopes: []string{"a", "b"}}, want: appClaims{Role: "admin", Tenant: 42, Scopes: []string{"a", "b"}}},
		{name: "pointer to struct", custom: &appClaims{Role: "viewer"}, want: appClaims{Role: "viewer"}},
		{name: "map", custom: map[string]any{"role": "admin", "tenant": 7}, want: appClaims{Role: "admin", Tenant: 7}},
		{name: "raw JSON", custom: json.RawMessage(`{"role":"ops","tenant":3}`), want: appClaims{Role: "ops", Tenant: 3}},
		{name: "raw JSON with white space", custom: json.RawMessage(" {\n \"role\" : \"ops\" \n} "), want: appClaims{Role: "ops"}},
		{name: "empty raw object with white space", custom: json.RawMessage("{ }"), want: appClaims{}},
		{name: "empty map", custom: map[string]any{}, want: appClaims{}},
		{name: "nested registered names are data", custom: map[string]any{"role": "x", "meta": map[string]any{"sub": "admin", "exp": 1}}, want: appClaims{Role: "x"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tok, err := f.issuer.Issue(ctx, "u1", &guardian.IssueOptions{Custom: tt.custom})
			if err != nil {
				t.Fatalf("Issue: %v", err)
			}
			c, err := f.issuer.Verify(ctx, tok.Raw)
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			if c.Subject != "u1" || !c.ExpiresAt.Equal(t0.Add(guardian.DefaultAccessTTL)) {
				t.Errorf("registered claims changed by custom ones: %+v", c)
			}
			var got appClaims
			if err := c.Custom(&got); err != nil {
				t.Fatalf("Custom: %v", err)
			}
			if got.Role != tt.want.Role || got.Tenant != tt.want.Tenant || !slices.Equal(got.Scopes, tt.want.Scopes) {
				t.Errorf("Custom = %+v, want %+v", got, tt.want)
			}
			// The claims Issue returns read the same.
			var fromIssue appClaims
			if err := tok.Claims.Custom(&fromIssue); err != nil || fromIssue.Role != tt.want.Role {
				t.Errorf("Token.Claims.Custom = %+v, %v; want %+v", fromIssue, err, tt.want)
			}
		})
	}
	t.Run("claims without payload", func(t *testing.T) {
		var c guardian.Claims
		var v map[string]any
		if err := c.Custom(&v); err == nil {
			t.Errorf("Custom on zero Claims = nil, want an error")
		}
	})
}

func TestAudienceEncoding(t *testing.T) {
	tests := []struct {
		name     string
		audience []string
		want     any // the aud member as encoding/json decodes it; nil: absent
	}{
		{name: "none", audience: nil, want: nil},
		{name: "one", audience: []string{"app"}, want: "app"},
		{name: "several", audience: []string{"app", "admin"}, want: []any{"app", "admin"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, &guardian.IssuerOptions{Audience: tt.audience})
			tok := f.issue(t, "u1", nil)
			got, present := payloadOf(t, tok.Raw)["aud"]
			if tt.want == nil {
				if present {
					t.Fatalf("aud = %v, want absent", got)
				}
				return
			}
			if list, ok := tt.want.([]any); ok {
				gotList, ok := got.([]any)
				if !ok || !slices.Equal(gotList, list) {
					t.Fatalf("aud = %#v, want the array %#v", got, list)
				}
			} else if got != tt.want {
				t.Fatalf("aud = %#v, want the string %#v", got, tt.want)
			}
			c, err := f.issuer.Verify(context.Background(), tok.Raw)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(c.Audience, tt.audience) {
				t.Errorf("verified Audience = %v, want %v", c.Audience, tt.audience)
			}
			for _, a := range tt.audience {
				if !c.HasAudience(a) {
					t.Errorf("HasAudience(%q) = false", a)
				}
			}
			if c.HasAudience("other") {
				t.Errorf("HasAudience(other) = true")
			}
		})
	}
}

// login issues an access and a refresh token of one family, with custom
// claims, as an app's login does.
func login(t *testing.T, f *fixture, sub string) (access, refresh guardian.Token) {
	t.Helper()
	custom := map[string]any{"role": "admin"}
	access = f.issue(t, sub, &guardian.IssueOptions{Custom: custom})
	refresh = f.issue(t, sub, &guardian.IssueOptions{Type: guardian.RefreshToken, Family: access.Claims.Family, Custom: custom})
	return access, refresh
}

func roleOf(t *testing.T, c *guardian.Claims) string {
	t.Helper()
	var v struct {
		Role string `json:"role"`
	}
	if err := c.Custom(&v); err != nil {
		t.Fatal(err)
	}
	return v.Role
}

func TestRefresh(t *testing.T) {
	ctx := context.Background()
	newF := func(t *testing.T) *fixture {
		return newFixture(t, &guardian.IssuerOptions{Audience: []string{"app", "admin"}, Revoker: guardian.NewMemoryRevoker(nil)})
	}
	// newClockedF has its revoker on the fixture's clock, for tests that
	// move time past the retry window.
	newClockedF := func(t *testing.T, opts *guardian.IssuerOptions) *fixture {
		f := newFixture(t, nil)
		var o guardian.IssuerOptions
		if opts != nil {
			o = *opts
		}
		o.Audience, o.Clock, o.Revoker = []string{"app", "admin"}, f.clock.Now, guardiantest.NewRevoker(f.clock)
		f.issuer = mustIssuer(t, f.keys, &o)
		return f
	}

	t.Run("rotates", func(t *testing.T) {
		f := newF(t)
		_, refresh := login(t, f, "u1")
		f.clock.Advance(time.Hour)
		pair, err := f.issuer.Refresh(ctx, refresh.Raw, &guardian.SuccessorOptions{
			Custom: func(ctx context.Context, old *guardian.Claims) (any, error) {
				return map[string]any{"role": "editor"}, nil // recomputed: the role changed since login
			},
		})
		if err != nil {
			t.Fatalf("Refresh: %v", err)
		}
		old := refresh.Claims
		for typ, tok := range map[guardian.TokenType]guardian.Token{guardian.AccessToken: pair.Access, guardian.RefreshToken: pair.Refresh} {
			c := tok.Claims
			if c.Type != typ || c.Subject != old.Subject || c.Family != old.Family || !slices.Equal(c.Audience, old.Audience) || !c.AuthTime.Equal(old.AuthTime) {
				t.Errorf("refreshed %s claims %+v do not carry on %+v", typ, c, old)
			}
			if c.ID == old.ID {
				t.Errorf("refreshed jti = old jti %s", c.ID)
			}
			verified, err := f.issuer.Verify(ctx, tok.Raw, typ)
			if err != nil {
				t.Fatalf("Verify(new %s): %v", typ, err)
			}
			if got := roleOf(t, verified); got != "editor" {
				t.Errorf("refreshed %s custom role = %q, want the recomputed editor", typ, got)
			}
		}
		now := t0.Add(time.Hour)
		if c := pair.Access.Claims; !c.IssuedAt.Equal(now) || !c.ExpiresAt.Equal(now.Add(guardian.DefaultAccessTTL)) {
			t.Errorf("refreshed access iat, exp = %v, %v; want %v and 15 minutes later", c.IssuedAt, c.ExpiresAt, now)
		}
		// The refresh token may not outlive the login's lifetime.
		if c := pair.Refresh.Claims; !c.ExpiresAt.Equal(t0.Add(guardian.DefaultFamilyLifetime)) {
			t.Errorf("refreshed refresh exp = %v, want the end of the family's lifetime %v", c.ExpiresAt, t0.Add(guardian.DefaultFamilyLifetime))
		}
		_, err = f.issuer.Verify(ctx, refresh.Raw, guardian.RefreshToken)
		wantTokenErr(t, err, guardian.ErrRevoked)
	})

	t.Run("custom claims are never copied", func(t *testing.T) {
		f := newF(t)
		_, refresh := login(t, f, "u1") // role admin at login
		pair, err := f.issuer.Refresh(ctx, refresh.Raw, nil)
		if err != nil {
			t.Fatal(err)
		}
		for _, tok := range []guardian.Token{pair.Access, pair.Refresh} {
			if got := roleOf(t, tok.Claims); got != "" {
				t.Errorf("refreshed %s token carries role %q from the old token; a withdrawn role must not survive", tok.Claims.Type, got)
			}
		}
	})

	t.Run("a family lives FamilyLifetime from its login", func(t *testing.T) {
		f := newFixture(t, &guardian.IssuerOptions{Audience: []string{"app", "admin"}, Revoker: guardian.NewMemoryRevoker(nil), FamilyLifetime: 3 * time.Hour})
		_, refresh := login(t, f, "u1")
		for range 2 {
			f.clock.Advance(time.Hour)
			pair, err := f.issuer.Refresh(ctx, refresh.Raw, nil)
			if err != nil {
				t.Fatalf("Refresh within the family's lifetime: %v", err)
			}
			if want := t0.Add(3 * time.Hour); !pair.Refresh.Claims.ExpiresAt.Equal(want) {
				t.Errorf("refresh exp = %v, want %v: refresh must not extend the login", pair.Refresh.Claims.ExpiresAt, want)
			}
			refresh = pair.Refresh
		}
		f.clock.Advance(time.Hour) // t0+3h: the login is over
		_, err := f.issuer.Refresh(ctx, refresh.Raw, nil)
		wantTokenErr(t, err, guardian.ErrExpired)
	})

	t.Run("a failed rotation leaves the old token usable", func(t *testing.T) {
		store := &flakyRevoker{MemoryRevoker: guardian.NewMemoryRevoker(nil)}
		f := newFixture(t, &guardian.IssuerOptions{Audience: []string{"app", "admin"}, Revoker: store})
		access, refresh := login(t, f, "u1")
		store.failConsume.Store(true)
		if _, err := f.issuer.Refresh(ctx, refresh.Raw, nil); !errors.Is(err, guardian.ErrUnavailable) {
			t.Fatalf("Refresh with the store failing = %v, want ErrUnavailable", err)
		}
		store.failConsume.Store(false)
		pair, err := f.issuer.Refresh(ctx, refresh.Raw, nil)
		if err != nil {
			t.Fatalf("the retry after a store blip = %v, want a new pair (not reuse)", err)
		}
		for name, tok := range map[string]guardian.Token{"login access": access, "new access": pair.Access, "new refresh": pair.Refresh} {
			if _, err := f.issuer.Verify(ctx, tok.Raw, tok.Claims.Type); err != nil {
				t.Errorf("%s token after the retry: %v, want valid (no family revocation)", name, err)
			}
		}
	})

	// reuse presents a refresh token again after its successor was used,
	// or after the retry window: either way the family must go.
	for _, reuse := range []struct {
		name   string
		before func(t *testing.T, f *fixture, pair guardian.TokenPair)
	}{
		{name: "after its successor was used", before: func(t *testing.T, f *fixture, pair guardian.TokenPair) {
			if _, err := f.issuer.Refresh(ctx, pair.Refresh.Raw, nil); err != nil {
				t.Fatal(err)
			}
		}},
		{name: "after the retry window", before: func(t *testing.T, f *fixture, pair guardian.TokenPair) {
			f.clock.Advance(guardian.DefaultRefreshRetryWindow + time.Second)
		}},
	} {
		t.Run("reuse "+reuse.name+" revokes the family", func(t *testing.T) {
			f := newClockedF(t, nil)
			access, refresh := login(t, f, "u1")
			otherAccess, otherRefresh := login(t, f, "u1") // another device
			pair, err := f.issuer.Refresh(ctx, refresh.Raw, nil)
			if err != nil {
				t.Fatal(err)
			}
			reuse.before(t, f, pair)
			_, err = f.issuer.Refresh(ctx, refresh.Raw, nil)
			wantTokenErr(t, err, guardian.ErrRevoked)
			for name, raw := range map[string]string{"the rotated refresh token": pair.Refresh.Raw, "the rotated access token": pair.Access.Raw, "the login's access token": access.Raw} {
				_, err := f.issuer.Verify(ctx, raw, guardian.AccessToken, guardian.RefreshToken)
				if !errors.Is(err, guardian.ErrRevoked) {
					t.Errorf("%s after reuse: got %v, want ErrRevoked", name, err)
				}
			}
			_, err = f.issuer.Refresh(ctx, pair.Refresh.Raw, nil)
			wantTokenErr(t, err, guardian.ErrRevoked)
			for name, raw := range map[string]string{"access": otherAccess.Raw, "refresh": otherRefresh.Raw} {
				if _, err := f.issuer.Verify(ctx, raw, guardian.AccessToken, guardian.RefreshToken); err != nil {
					t.Errorf("another login's %s token: got %v, want it untouched", name, err)
				}
			}
		})
	}

	t.Run("a retry within the window gets the same pair", func(t *testing.T) {
		f := newClockedF(t, nil)
		access, refresh := login(t, f, "u1")
		first, err := f.issuer.Refresh(ctx, refresh.Raw, nil)
		if err != nil {
			t.Fatal(err)
		}
		f.clock.Advance(10 * time.Second) // the client retries: the answer was lost
		again, err := f.issuer.Refresh(ctx, refresh.Raw, nil)
		if err != nil {
			t.Fatalf("the retry = %v, want the same pair again", err)
		}
		if again.Access.Claims.ID != first.Access.Claims.ID || again.Refresh.Claims.ID != first.Refresh.Claims.ID {
			t.Errorf("the retry's jtis %s/%s differ from the first answer's %s/%s: they would escape reuse detection",
				again.Access.Claims.ID, again.Refresh.Claims.ID, first.Access.Claims.ID, first.Refresh.Claims.ID)
		}
		for name, tok := range map[string]guardian.Token{"login access": access, "retried access": again.Access, "retried refresh": again.Refresh} {
			if _, err := f.issuer.Verify(ctx, tok.Raw, tok.Claims.Type); err != nil {
				t.Errorf("%s after the retry: %v", name, err)
			}
		}
		// Once the client moves on, the first pair's refresh token is spent
		// too: same jti.
		if _, err := f.issuer.Refresh(ctx, again.Refresh.Raw, nil); err != nil {
			t.Fatal(err)
		}
		_, err = f.issuer.Refresh(ctx, refresh.Raw, nil)
		wantTokenErr(t, err, guardian.ErrRevoked)
		_, err = f.issuer.Verify(ctx, first.Refresh.Raw, guardian.RefreshToken)
		wantTokenErr(t, err, guardian.ErrRevoked)
	})

	t.Run("a lost store answer is retried, not taken for reuse", func(t *testing.T) {
		store := &flakyRevoker{MemoryRevoker: guardian.NewMemoryRevoker(nil)}
		f := newFixture(t, &guardian.IssuerOptions{Audience: []string{"app", "admin"}, Revoker: store})
		access, refresh := login(t, f, "u1")
		store.loseConsumeAnswer.Store(true) // the write lands, its answer does not
		if _, err := f.issuer.Refresh(ctx, refresh.Raw, nil); !errors.Is(err, guardian.ErrUnavailable) {
			t.Fatalf("Refresh with the answer lost = %v, want ErrUnavailable", err)
		}
		store.loseConsumeAnswer.Store(false)
		pair, err := f.issuer.Refresh(ctx, refresh.Raw, nil)
		if err != nil {
			t.Fatalf("the retry = %v, want a pair (not reuse)", err)
		}
		for name, tok := range map[string]guardian.Token{"login access": access, "new access": pair.Access, "new refresh": pair.Refresh} {
			if _, err := f.issuer.Verify(ctx, tok.Raw, tok.Claims.Type); err != nil {
				t.Errorf("%s token after the retry: %v, want valid (no family revocation)", name, err)
			}
		}
	})

	t.Run("no retry for a logged-out family", func(t *testing.T) {
		f := newClockedF(t, nil)
		_, refresh := login(t, f, "u1")
		if _, err := f.issuer.Refresh(ctx, refresh.Raw, nil); err != nil {
			t.Fatal(err)
		}
		if err := f.issuer.RevokeFamily(ctx, refresh.Claims.Family); err != nil {
			t.Fatal(err)
		}
		pair, err := f.issuer.Refresh(ctx, refresh.Raw, nil)
		wantTokenErr(t, err, guardian.ErrRevoked)
		if pair.Access.Raw != "" {
			t.Fatal("a logged-out family got a new pair through the retry window")
		}
	})

	t.Run("strict: without a window, a second presentation is reuse", func(t *testing.T) {
		f := newClockedF(t, &guardian.IssuerOptions{RefreshRetryWindow: -1})
		access, refresh := login(t, f, "u1")
		if _, err := f.issuer.Refresh(ctx, refresh.Raw, nil); err != nil {
			t.Fatal(err)
		}
		_, err := f.issuer.Refresh(ctx, refresh.Raw, nil)
		wantTokenErr(t, err, guardian.ErrRevoked)
		_, err = f.issuer.Verify(ctx, access.Raw)
		wantTokenErr(t, err, guardian.ErrRevoked)
	})

	t.Run("access tokens refused by default", func(t *testing.T) {
		f := newF(t)
		access, _ := login(t, f, "u1")
		_, err := f.issuer.Refresh(ctx, access.Raw, nil)
		wantTokenErr(t, err, guardian.ErrTokenType)
		if _, err := f.issuer.Verify(ctx, access.Raw); err != nil {
			t.Fatalf("a refused refresh revoked the access token: %v", err)
		}
	})

	t.Run("expired", func(t *testing.T) {
		f := newF(t)
		_, refresh := login(t, f, "u1")
		f.clock.Advance(guardian.DefaultRefreshTTL)
		_, err := f.issuer.Refresh(ctx, refresh.Raw, nil)
		wantTokenErr(t, err, guardian.ErrExpired)
	})

	t.Run("without a Revoker", func(t *testing.T) {
		f := newFixture(t, nil)
		_, refresh := login(t, f, "u1")
		pair, err := f.issuer.Refresh(ctx, refresh.Raw, nil)
		if err != nil {
			t.Fatal(err)
		}
		if pair.Refresh.Claims.Family != refresh.Claims.Family {
			t.Errorf("family changed")
		}
	})

	t.Run("store down", func(t *testing.T) {
		f := newFixture(t, &guardian.IssuerOptions{Revoker: downRevoker{}})
		_, refresh := login(t, f, "u1")
		_, err := f.issuer.Refresh(ctx, refresh.Raw, nil)
		wantErr(t, err, guardian.ErrUnavailable)
	})
}

func TestExchange(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, &guardian.IssuerOptions{Revoker: guardian.NewMemoryRevoker(nil)})
	access, refresh := login(t, f, "u1")

	next, err := f.issuer.Exchange(ctx, refresh.Raw, []guardian.TokenType{guardian.RefreshToken}, guardian.AccessToken, nil)
	if err != nil {
		t.Fatalf("Exchange: %v", err)
	}
	c := next.Claims
	if c.Type != guardian.AccessToken || c.Subject != "u1" || c.Family != refresh.Claims.Family || c.ID == refresh.Claims.ID {
		t.Errorf("exchanged claims = %+v", c)
	}
	if !c.ExpiresAt.Equal(t0.Add(guardian.DefaultAccessTTL)) {
		t.Errorf("exchanged exp = %v, want the access TTL", c.ExpiresAt)
	}
	if got := roleOf(t, c); got != "" {
		t.Errorf("exchanged custom role = %q, want none: custom claims are never copied", got)
	}
	if _, err := f.issuer.Verify(ctx, next.Raw); err != nil {
		t.Errorf("Verify(exchanged): %v", err)
	}
	if _, err := f.issuer.Verify(ctx, refresh.Raw, guardian.RefreshToken); err != nil {
		t.Errorf("the presented refresh token after Exchange: got %v, want still valid", err)
	}
	if _, err := f.issuer.Exchange(ctx, refresh.Raw, []guardian.TokenType{guardian.RefreshToken}, guardian.AccessToken, nil); err != nil {
		t.Errorf("a second Exchange: %v", err)
	}

	tests := []struct {
		name string
		raw  string
		from []guardian.TokenType
		to   guardian.TokenType
		want error // nil: any error
	}{
		{name: "type not in from", raw: access.Raw, from: []guardian.TokenType{guardian.RefreshToken}, to: guardian.AccessToken, want: guardian.ErrTokenType},
		{name: "empty from", raw: refresh.Raw, from: nil, to: guardian.AccessToken},
		{name: "to an unknown type", raw: refresh.Raw, from: []guardian.TokenType{guardian.RefreshToken}, to: "api"},
		{name: "bad signature", raw: tamperSignature(refresh.Raw), from: []guardian.TokenType{guardian.RefreshToken}, to: guardian.AccessToken, want: guardian.ErrInvalidToken},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tok, err := f.issuer.Exchange(ctx, tt.raw, tt.from, tt.to, nil)
			if err == nil || tok.Raw != "" {
				t.Fatalf("Exchange = %q, %v; want an error", tok.Raw, err)
			}
			if tt.want != nil && !errors.Is(err, tt.want) {
				t.Fatalf("got %v, want %v", err, tt.want)
			}
		})
	}
	t.Run("revoked", func(t *testing.T) {
		if err := f.issuer.Revoke(ctx, refresh.Raw); err != nil {
			t.Fatal(err)
		}
		_, err := f.issuer.Exchange(ctx, refresh.Raw, []guardian.TokenType{guardian.RefreshToken}, guardian.AccessToken, nil)
		wantTokenErr(t, err, guardian.ErrRevoked)
	})
}

func TestRevoke(t *testing.T) {
	ctx := context.Background()
	newF := func(t *testing.T) (*fixture, *guardian.MemoryRevoker) {
		m := guardian.NewMemoryRevoker(nil)
		return newFixture(t, &guardian.IssuerOptions{Revoker: m, Issuer: "https://a.example"}), m
	}
	t.Run("then refused", func(t *testing.T) {
		f, _ := newF(t)
		access, refresh := login(t, f, "u1")
		for _, tok := range []guardian.Token{access, refresh} {
			if err := f.issuer.Revoke(ctx, tok.Raw); err != nil {
				t.Fatalf("Revoke(%s): %v", tok.Claims.Type, err)
			}
			_, err := f.issuer.Verify(ctx, tok.Raw, tok.Claims.Type)
			wantTokenErr(t, err, guardian.ErrRevoked)
		}
	})
	t.Run("twice", func(t *testing.T) {
		f, _ := newF(t)
		tok := f.issue(t, "u1", nil)
		for range 2 {
			if err := f.issuer.Revoke(ctx, tok.Raw); err != nil {
				t.Fatal(err)
			}
		}
	})
	t.Run("expired token needs no record", func(t *testing.T) {
		f, m := newF(t)
		tok := f.issue(t, "u1", nil)
		// Past its exp, and past the later exp a refresh retry's copy of it
		// (same jti) could have.
		f.clock.Advance(guardian.DefaultAccessTTL + guardian.DefaultRefreshRetryWindow + time.Second)
		if err := f.issuer.Revoke(ctx, tok.Raw); err != nil {
			t.Fatalf("Revoke(expired) = %v, want nil", err)
		}
		if n := m.Len(); n != 0 {
			t.Errorf("revoker holds %d records, want 0", n)
		}
	})
	t.Run("refused tokens record nothing", func(t *testing.T) {
		f, m := newF(t)
		tok := f.issue(t, "u1", nil)
		h, p, s := segments(t, tok.Raw)
		sig, _ := base64.RawURLEncoding.DecodeString(s)
		sig[0] ^= 1
		other := newFixture(t, &guardian.IssuerOptions{Issuer: "https://b.example"}).issue(t, "u1", nil)
		tests := []struct {
			name string
			raw  string
			want error
		}{
			{name: "bad signature", raw: h + "." + p + "." + base64.RawURLEncoding.EncodeToString(sig), want: guardian.ErrInvalidSignature},
			{name: "malformed", raw: "not.a.token", want: guardian.ErrMalformedToken},
			{name: "another issuer", raw: other.Raw, want: guardian.ErrIssuer},
			{name: "no jti", raw: craft(testSecret, defaultHeader, payloadJSON(map[string]any{"iss": "https://a.example"}, "jti")), want: guardian.ErrMissingClaim},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				err := f.issuer.Revoke(ctx, tt.raw)
				wantTokenErr(t, err, tt.want)
				if n := m.Len(); n != 0 {
					t.Errorf("revoker holds %d records, want 0", n)
				}
			})
		}
	})
	t.Run("without a Revoker", func(t *testing.T) {
		f := newFixture(t, nil)
		tok := f.issue(t, "u1", nil)
		wantErr(t, f.issuer.Revoke(ctx, tok.Raw), guardian.ErrNoRevoker)
		wantErr(t, f.issuer.RevokeSubject(ctx, "u1"), guardian.ErrNoRevoker)
		wantErr(t, f.issuer.RevokeFamily(ctx, tok.Claims.Family), guardian.ErrNoRevoker)
	})
	t.Run("store down", func(t *testing.T) {
		f := newFixture(t, &guardian.IssuerOptions{Revoker: downRevoker{}})
		tok := f.issue(t, "u1", nil)
		wantErr(t, f.issuer.Revoke(ctx, tok.Raw), guardian.ErrUnavailable, errStoreDown)
		wantErr(t, f.issuer.RevokeSubject(ctx, "u1"), guardian.ErrUnavailable)
		wantErr(t, f.issuer.RevokeFamily(ctx, "fam"), guardian.ErrUnavailable)
	})
}

func TestRevokeSubject(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, &guardian.IssuerOptions{Revoker: guardian.NewMemoryRevoker(nil)})
	before := f.issue(t, "u1", nil) // t0
	f.clock.Advance(400 * time.Millisecond)
	sameSecond := f.issue(t, "u1", nil)
	bystander := f.issue(t, "u2", nil)
	f.clock.Advance(500 * time.Millisecond) // t0 + 0.9s
	if err := f.issuer.RevokeSubject(ctx, "u1"); err != nil {
		t.Fatal(err)
	}
	// Issued after the revocation, but within the same whole second as its
	// cut-off: iat cannot tell it from an earlier token, so it is refused.
	f.clock.Advance(50 * time.Millisecond)
	afterSameSecond := f.issue(t, "u1", nil)
	f.clock.Set(t0.Add(time.Second)) // the next second
	later := f.issue(t, "u1", nil)

	tests := []struct {
		name string
		tok  guardian.Token
		want error
	}{
		{name: "issued before", tok: before, want: guardian.ErrRevoked},
		{name: "issued in the same second, before", tok: sameSecond, want: guardian.ErrRevoked},
		{name: "issued in the same second, after", tok: afterSameSecond, want: guardian.ErrRevoked},
		{name: "issued the next second", tok: later},
		{name: "another subject", tok: bystander},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := f.issuer.Verify(ctx, tt.tok.Raw)
			wantTokenErr(t, err, tt.want)
		})
	}
}

func TestRevokeFamily(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, &guardian.IssuerOptions{Revoker: guardian.NewMemoryRevoker(nil)})
	access, refresh := login(t, f, "u1")
	otherAccess, otherRefresh := login(t, f, "u1")
	if err := f.issuer.RevokeFamily(ctx, access.Claims.Family); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		tok  guardian.Token
		want error
	}{
		{name: "access of the family", tok: access, want: guardian.ErrRevoked},
		{name: "refresh of the family", tok: refresh, want: guardian.ErrRevoked},
		{name: "access of another login", tok: otherAccess},
		{name: "refresh of another login", tok: otherRefresh},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := f.issuer.Verify(ctx, tt.tok.Raw, tt.tok.Claims.Type)
			wantTokenErr(t, err, tt.want)
		})
	}
}

func TestPeek(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, nil)
	tok := f.issue(t, "u1", &guardian.IssueOptions{Custom: map[string]any{"role": "admin"}})
	h, p, s := segments(t, tok.Raw)
	badSig := h + "." + p + "." + strings.Repeat("A", len(s))
	// A token that fails every check: unknown key, alg none, a jku header,
	// expired long ago, another issuer, an unknown type.
	hostile := b64(`{"alg":"none","kid":"nobody","jku":"https://attacker.example","typ":"JWT"}`) + "." +
		b64(`{"sub":"admin","iss":"evil","typ":"god","exp":1,"role":"root"}`) + ".c2ln"

	t.Run("bad signature", func(t *testing.T) {
		hdr, c, err := f.issuer.Peek(ctx, badSig)
		if err != nil {
			t.Fatalf("Peek: %v", err)
		}
		if hdr != (guardian.Header{Algorithm: guardian.HS256, KeyID: testKID, Type: "JWT"}) {
			t.Errorf("header = %+v", hdr)
		}
		if c.Subject != "u1" || c.ID != tok.Claims.ID || !c.ExpiresAt.Equal(tok.Claims.ExpiresAt) || roleOf(t, c) != "admin" {
			t.Errorf("claims = %+v, want those of the token", c)
		}
		_, err = f.issuer.Verify(ctx, badSig)
		wantTokenErr(t, err, guardian.ErrInvalidSignature)
	})
	t.Run("nothing is verified", func(t *testing.T) {
		hdr, c, err := f.issuer.Peek(ctx, hostile)
		if err != nil {
			t.Fatalf("Peek: %v", err)
		}
		if hdr.Algorithm != "none" || hdr.KeyID != "nobody" || c.Subject != "admin" || c.Issuer != "evil" || c.Type != "god" || c.ExpiresAt.Unix() != 1 {
			t.Errorf("Peek = %+v, %+v", hdr, c)
		}
		if _, err := f.issuer.Verify(ctx, hostile); err == nil {
			t.Fatal("Verify accepted the hostile token")
		}
	})
	t.Run("malformed", func(t *testing.T) {
		for _, raw := range []string{"", "a.b", "a.b.c.d", "!!.e30.c2ln", b64("{}") + ".!!.c2ln", b64("[]") + "." + b64("{}") + ".c2ln", b64("{}") + "." + b64(`{"exp":"x"}`) + ".c2ln"} {
			_, c, err := f.issuer.Peek(ctx, raw)
			if !errors.Is(err, guardian.ErrMalformedToken) || c != nil {
				t.Errorf("Peek(%q) = %v, %v; want ErrMalformedToken", raw, c, err)
			}
		}
	})
	t.Run("canceled context", func(t *testing.T) {
		cctx, cancel := context.WithCancel(ctx)
		cancel()
		if _, _, err := f.issuer.Peek(cctx, tok.Raw); !errors.Is(err, context.Canceled) {
			t.Errorf("Peek = %v, want context.Canceled", err)
		}
	})
}

func TestHooks(t *testing.T) {
	ctx := context.Background()
	errVeto := errors.New("vetoed by the app")
	type calls struct {
		afterIssue, onVerify, onRefresh, onExchange, onRevoke []string // jti seen
		refreshOld, exchangeOld                               []string
		veto                                                  map[string]bool
	}
	newF := func(t *testing.T) (*fixture, *calls, *guardian.MemoryRevoker) {
		c := &calls{veto: map[string]bool{}}
		m := guardian.NewMemoryRevoker(nil)
		hooks := guardian.Hooks{
			AfterIssue: func(_ context.Context, cl *guardian.Claims) error {
				c.afterIssue = append(c.afterIssue, cl.ID)
				if c.veto["AfterIssue"] {
					return errVeto
				}
				return nil
			},
			OnVerify: func(_ context.Context, cl *guardian.Claims) error {
				c.onVerify = append(c.onVerify, cl.ID)
				if c.veto["OnVerify"] {
					return errVeto
				}
				return nil
			},
			OnRefresh: func(_ context.Context, old, new *guardian.Claims) error {
				c.refreshOld = append(c.refreshOld, old.ID)
				c.onRefresh = append(c.onRefresh, new.ID)
				if c.veto["OnRefresh"] {
					return errVeto
				}
				return nil
			},
			OnExchange: func(_ context.Context, old, new *guardian.Claims) error {
				c.exchangeOld = append(c.exchangeOld, old.ID)
				c.onExchange = append(c.onExchange, new.ID)
				if c.veto["OnExchange"] {
					return errVeto
				}
				return nil
			},
			OnRevoke: func(_ context.Context, cl *guardian.Claims) error {
				c.onRevoke = append(c.onRevoke, cl.ID)
				if c.veto["OnRevoke"] {
					return errVeto
				}
				return nil
			},
		}
		return newFixture(t, &guardian.IssuerOptions{Revoker: m, Hooks: hooks}), c, m
	}
	last := func(s []string) string {
		if len(s) == 0 {
			return ""
		}
		return s[len(s)-1]
	}

	t.Run("AfterIssue", func(t *testing.T) {
		f, c, _ := newF(t)
		tok := f.issue(t, "u1", nil)
		if !slices.Equal(c.afterIssue, []string{tok.Claims.ID}) {
			t.Errorf("AfterIssue saw %v, want [%s]", c.afterIssue, tok.Claims.ID)
		}
		c.veto["AfterIssue"] = true
		tok, err := f.issuer.Issue(ctx, "u1", nil)
		wantErr(t, err, errVeto)
		if tok.Raw != "" || tok.Claims != nil {
			t.Errorf("vetoed Issue returned a token")
		}
	})
	t.Run("OnVerify", func(t *testing.T) {
		f, c, _ := newF(t)
		tok := f.issue(t, "u1", nil)
		if _, err := f.issuer.Verify(ctx, tok.Raw); err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(c.onVerify, []string{tok.Claims.ID}) {
			t.Errorf("OnVerify saw %v, want [%s]", c.onVerify, tok.Claims.ID)
		}
		// Called only once every other check has passed.
		f.issuer.Verify(ctx, tok.Raw, guardian.RefreshToken)
		f.issuer.Verify(ctx, tok.Raw+"x")
		if len(c.onVerify) != 1 {
			t.Errorf("OnVerify called for refused tokens: %v", c.onVerify)
		}
		c.veto["OnVerify"] = true
		claims, err := f.issuer.Verify(ctx, tok.Raw)
		wantErr(t, err, errVeto)
		if claims != nil {
			t.Errorf("vetoed Verify returned claims")
		}
	})
	t.Run("OnRefresh", func(t *testing.T) {
		f, c, m := newF(t)
		_, refresh := login(t, f, "u1")
		c.veto["OnRefresh"] = true
		next, err := f.issuer.Refresh(ctx, refresh.Raw, nil)
		wantErr(t, err, errVeto)
		if next.Refresh.Raw != "" || next.Access.Raw != "" {
			t.Errorf("vetoed Refresh returned a token")
		}
		if last(c.refreshOld) != refresh.Claims.ID || last(c.onRefresh) == "" || last(c.onRefresh) == refresh.Claims.ID {
			t.Errorf("OnRefresh saw old %v new %v", c.refreshOld, c.onRefresh)
		}
		if m.Len() != 0 || len(c.onRevoke) != 0 {
			t.Fatalf("a vetoed refresh revoked something: %d records, OnRevoke %v", m.Len(), c.onRevoke)
		}
		if _, err := f.issuer.Verify(ctx, refresh.Raw, guardian.RefreshToken); err != nil {
			t.Fatalf("the old token after a vetoed refresh: %v", err)
		}
		c.veto["OnRefresh"] = false
		next, err = f.issuer.Refresh(ctx, refresh.Raw, nil)
		if err != nil {
			t.Fatalf("Refresh once the veto is lifted: %v", err)
		}
		if last(c.onRefresh) != next.Refresh.Claims.ID || last(c.onRevoke) != refresh.Claims.ID {
			t.Errorf("OnRefresh saw %v, OnRevoke %v; want %s and %s", c.onRefresh, c.onRevoke, next.Refresh.Claims.ID, refresh.Claims.ID)
		}
	})
	t.Run("OnExchange", func(t *testing.T) {
		f, c, _ := newF(t)
		_, refresh := login(t, f, "u1")
		next, err := f.issuer.Exchange(ctx, refresh.Raw, []guardian.TokenType{guardian.RefreshToken}, guardian.AccessToken, nil)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(c.exchangeOld, []string{refresh.Claims.ID}) || !slices.Equal(c.onExchange, []string{next.Claims.ID}) {
			t.Errorf("OnExchange saw old %v new %v", c.exchangeOld, c.onExchange)
		}
		c.veto["OnExchange"] = true
		next, err = f.issuer.Exchange(ctx, refresh.Raw, []guardian.TokenType{guardian.RefreshToken}, guardian.AccessToken, nil)
		wantErr(t, err, errVeto)
		if next.Raw != "" {
			t.Errorf("vetoed Exchange returned a token")
		}
	})
	t.Run("OnRevoke", func(t *testing.T) {
		f, c, m := newF(t)
		tok := f.issue(t, "u1", nil)
		c.veto["OnRevoke"] = true
		wantErr(t, f.issuer.Revoke(ctx, tok.Raw), errVeto)
		if !slices.Equal(c.onRevoke, []string{tok.Claims.ID}) {
			t.Errorf("OnRevoke saw %v", c.onRevoke)
		}
		if m.Len() != 0 {
			t.Fatalf("a vetoed revocation recorded %d records", m.Len())
		}
		if _, err := f.issuer.Verify(ctx, tok.Raw); err != nil {
			t.Fatalf("the token after a vetoed revocation: %v", err)
		}
		c.veto["OnRevoke"] = false
		if err := f.issuer.Revoke(ctx, tok.Raw); err != nil {
			t.Fatal(err)
		}
		_, err := f.issuer.Verify(ctx, tok.Raw)
		wantTokenErr(t, err, guardian.ErrRevoked)
	})
}

// TestRefreshConcurrent: a refresh token refreshes once, even when the
// same token is presented by many requests at the same time (a stolen token
// raced against its owner). The losers see ErrRevoked, and the reuse
// revokes the family.
func TestRefreshConcurrent(t *testing.T) {
	for _, tt := range []struct {
		name   string
		window time.Duration
	}{
		{name: "retry window: every request gets the same pair", window: 0},
		{name: "strict: one winner, reuse revokes the family", window: -1},
	} {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			f := newFixture(t, &guardian.IssuerOptions{Revoker: guardian.NewMemoryRevoker(nil), RefreshRetryWindow: tt.window})
			_, refresh := login(t, f, "u1")
			const n = 16
			type result struct {
				pair guardian.TokenPair
				err  error
			}
			results := make(chan result, n)
			start := make(chan struct{})
			for range n {
				go func() {
					<-start
					pair, err := f.issuer.Refresh(ctx, refresh.Raw, nil)
					results <- result{pair, err}
				}()
			}
			close(start)
			wins, jtis := 0, map[string]bool{}
			for range n {
				r := <-results
				switch {
				case r.err == nil:
					wins++
					jtis[r.pair.Refresh.Claims.ID] = true
				case !errors.Is(r.err, guardian.ErrRevoked):
					t.Errorf("a losing refresh: got %v, want ErrRevoked", r.err)
				}
			}
			if tt.window < 0 {
				// At most one consumes the token; the others' reuse revokes
				// the family, which also covers the winner's pair (signed
				// before). Either way no pair of the family survives.
				if wins > 1 {
					t.Fatalf("%d of %d concurrent refreshes of one token succeeded, want at most 1", wins, n)
				}
				if _, err := f.issuer.Verify(ctx, refresh.Raw, guardian.RefreshToken); !errors.Is(err, guardian.ErrRevoked) {
					t.Fatalf("the raced token after the race: %v, want ErrRevoked", err)
				}
				for id := range jtis {
					if got, _ := f.issuer.Revoker().Revoked(ctx, &guardian.Claims{ID: id, Family: refresh.Claims.Family}); !got {
						t.Fatalf("the winner's refresh token %s survived the reuse race", id)
					}
				}
			}
			if tt.window == 0 && (wins != n || len(jtis) != 1) {
				t.Fatalf("%d of %d concurrent refreshes succeeded with %d distinct refresh jtis; want all, with one jti", wins, n, len(jtis))
			}
		})
	}
}

func TestIssuerAccessors(t *testing.T) {
	m := guardian.NewMemoryRevoker(nil)
	f := newFixture(t, &guardian.IssuerOptions{Revoker: m})
	if f.issuer.Revoker() != m {
		t.Errorf("Revoker() is not the configured one")
	}
	if f.issuer.Keys() != f.keys {
		t.Errorf("Keys() is not the key set given")
	}
	if newFixture(t, nil).issuer.Revoker() != nil {
		t.Errorf("Revoker() without one configured is not nil")
	}
}

// TestRevocationsOutliveTheTokens: subject and family revocations are kept
// for the longest lifetime a token can have (their Revocation.Until), and
// then forgotten. A token may not outlive them, or it would come back to
// life once they are forgotten: Issue refuses a per-token TTL longer than
// the longest type TTL.
func TestRevocationsOutliveTheTokens(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, nil)
	m := guardian.NewMemoryRevoker(&guardian.MemoryRevokerOptions{Clock: f.clock.Now, SweepInterval: time.Nanosecond})
	f = newFixtureWithClock(t, f, &guardian.IssuerOptions{Revoker: m})

	longest := guardian.DefaultRefreshTTL
	if _, err := f.issuer.Issue(ctx, "u1", &guardian.IssueOptions{TTL: longest + time.Second}); err == nil {
		t.Fatalf("Issue with a TTL over the longest type TTL (%v) succeeded", longest)
	}
	tok := f.issue(t, "u1", &guardian.IssueOptions{TTL: longest})
	other := f.issue(t, "u2", &guardian.IssueOptions{TTL: longest})
	if err := f.issuer.RevokeSubject(ctx, "u1"); err != nil {
		t.Fatal(err)
	}
	if err := f.issuer.RevokeFamily(ctx, other.Claims.Family); err != nil {
		t.Fatal(err)
	}
	for _, d := range []time.Duration{0, longest / 2, longest - time.Second} {
		f.clock.Set(t0.Add(d))
		m.Sweep()
		for _, tk := range []guardian.Token{tok, other} {
			_, err := f.issuer.Verify(ctx, tk.Raw)
			wantTokenErr(t, err, guardian.ErrRevoked)
		}
	}
	f.clock.Set(t0.Add(longest))
	m.Sweep()
	_, err := f.issuer.Verify(ctx, tok.Raw)
	wantTokenErr(t, err, guardian.ErrExpired)
}

// newFixtureWithClock builds a fixture issuer sharing f's clock and keys.
func newFixtureWithClock(tb testing.TB, f *fixture, opts *guardian.IssuerOptions) *fixture {
	tb.Helper()
	o := *opts
	o.Clock = f.clock.Now
	return &fixture{issuer: mustIssuer(tb, f.keys, &o), keys: f.keys, clock: f.clock}
}

// TestRevokeTokenNotYetValid revokes a token issued by a server whose clock
// runs ahead: it is not valid here yet, but it will be, so it must be
// revocable now.
func TestRevokeTokenNotYetValid(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, &guardian.IssuerOptions{Revoker: guardian.NewMemoryRevoker(nil)})
	early := craft(testSecret, defaultHeader, payloadJSON(map[string]any{
		"iat": t0.Add(time.Minute).Unix(), "nbf": t0.Add(time.Minute).Unix(), "exp": t0.Add(time.Hour).Unix(),
	}))
	if _, err := f.issuer.Verify(ctx, early); !errors.Is(err, guardian.ErrNotYetValid) {
		t.Fatalf("Verify(not yet valid) = %v, want ErrNotYetValid", err)
	}
	if err := f.issuer.Revoke(ctx, early); err != nil {
		t.Fatalf("Revoke(not yet valid) = %v, want nil", err)
	}
	f.clock.Advance(2 * time.Minute)
	if _, err := f.issuer.Verify(ctx, early); !errors.Is(err, guardian.ErrRevoked) {
		t.Fatalf("Verify once valid = %v, want ErrRevoked", err)
	}
}

// TestPayloadNotAnObject refuses payloads that are JSON but not objects.
func TestPayloadNotAnObject(t *testing.T) {
	f := newFixture(t, nil)
	for _, p := range []string{`null`, ` null`, `[]`, `"x"`, `1`, `true`} {
		_, err := f.issuer.Verify(context.Background(), craft(testSecret, defaultHeader, p))
		if !errors.Is(err, guardian.ErrMalformedToken) {
			t.Errorf("payload %s: got %v, want ErrMalformedToken", p, err)
		}
	}
}
