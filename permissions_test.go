package guardian_test

// Tests of the permission declarations (NewPermissions, NewPermissionValues),
// of the pem claim they encode into tokens and read back from them, and of
// their All and Any requirements. The wire format is Elixir Guardian's
// (Guardian.Permissions with Guardian.Permissions.BitwiseEncoding): the
// vectors below come from its source, so that a token of either side reads
// the same on the other.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/guardian-go/guardian"
)

// mustPermissions declares groups in the list form and fails the test on
// error.
func mustPermissions(tb testing.TB, groups map[string][]string) *guardian.Permissions {
	tb.Helper()
	p, err := guardian.NewPermissions(groups)
	if err != nil {
		tb.Fatalf("NewPermissions(%v): %v", groups, err)
	}
	return p
}

// mustPermissionValues declares groups in the map form and fails the test
// on error.
func mustPermissionValues(tb testing.TB, groups map[string]map[string]int64) *guardian.Permissions {
	tb.Helper()
	p, err := guardian.NewPermissionValues(groups)
	if err != nil {
		tb.Fatalf("NewPermissionValues(%v): %v", groups, err)
	}
	return p
}

// pemOf returns the pem claim of raw's payload, read as the JSON on the
// wire (each group's value must be a JSON integer), and whether the
// payload has one.
func pemOf(tb testing.TB, raw string) (map[string]int64, bool) {
	tb.Helper()
	v, ok := payloadOf(tb, raw)["pem"]
	if !ok {
		return nil, false
	}
	m, ok := v.(map[string]any)
	if !ok {
		tb.Fatalf("got pem %#v, want a JSON object", v)
	}
	pem := make(map[string]int64, len(m))
	for group, x := range m {
		n, ok := x.(json.Number)
		if !ok {
			tb.Fatalf("got pem.%s = %#v, want a JSON number", group, x)
		}
		i, err := strconv.ParseInt(n.String(), 10, 64)
		if err != nil {
			tb.Fatalf("got pem.%s = %s, want a JSON integer: %v", group, n, err)
		}
		pem[group] = i
	}
	return pem, true
}

// pemToken is a fixture access token for "u1" whose payload has pem set to
// the given JSON, exactly as written, and whose other members are plain.
// With slow, the payload starts with a member whose name has an escape, so
// that it is decoded by encoding/json, not by the fast decoder.
func pemToken(pem string, slow bool) string {
	prefix := ""
	if slow {
		prefix = `"n\u0061me":"x",`
	}
	payload := fmt.Sprintf(`{%s"sub":"u1","typ":"access","jti":"crafted-jti-0000000000","fam":"crafted-family-0000000","iat":%d,"nbf":%d,"exp":%d,"pem":%s}`,
		prefix, t0.Unix(), t0.Unix(), t0.Add(15*time.Minute).Unix(), pem)
	return craft(testSecret, defaultHeader, payload)
}

func TestNewPermissionsRefuses(t *testing.T) {
	tooMany := make([]string, guardian.MaxGroupPermissions+1)
	for i := range tooMany {
		tooMany[i] = "p" + strconv.Itoa(i)
	}
	tests := []struct {
		name   string
		groups map[string][]string
	}{
		{name: "nil", groups: nil},
		{name: "no group", groups: map[string][]string{}},
		{name: "group without permission", groups: map[string][]string{"admin": {}}},
		{name: "nil list", groups: map[string][]string{"admin": nil}},
		{name: "group name with a dot", groups: map[string][]string{"ad.min": {"read"}}},
		{name: "group named *", groups: map[string][]string{"*": {"read"}}},
		{name: "empty group name", groups: map[string][]string{"": {"read"}}},
		{name: "group name with a space", groups: map[string][]string{"ad min": {"read"}}},
		{name: "permission name with a dot", groups: map[string][]string{"admin": {"users.read"}}},
		{name: "permission named *", groups: map[string][]string{"admin": {"*"}}},
		{name: "permission name with a space", groups: map[string][]string{"admin": {"users read"}}},
		{name: "empty permission name", groups: map[string][]string{"admin": {""}}},
		{name: "permission name with a quote", groups: map[string][]string{"admin": {`users"read`}}},
		{name: "permission name with a backslash", groups: map[string][]string{"admin": {`users\read`}}},
		{name: "permission name with a control character", groups: map[string][]string{"admin": {"users\x7fread"}}},
		{name: "non-ASCII permission name", groups: map[string][]string{"admin": {"lecture_é"}}},
		{name: "permission declared twice", groups: map[string][]string{"admin": {"read", "write", "read"}}},
		{name: "more than 63 permissions", groups: map[string][]string{"admin": tooMany}},
		{name: "one bad group among good ones", groups: map[string][]string{"admin": {"read"}, "user": {"read", "read"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := guardian.NewPermissions(tt.groups)
			wantErr(t, err, guardian.ErrConfig)
			if p != nil {
				t.Errorf("got %v with the error, want nil", p)
			}
		})
	}
}

func TestNewPermissionValuesRefuses(t *testing.T) {
	tests := []struct {
		name   string
		groups map[string]map[string]int64
	}{
		{name: "nil", groups: nil},
		{name: "no group", groups: map[string]map[string]int64{}},
		{name: "group without permission", groups: map[string]map[string]int64{"admin": {}}},
		{name: "group name with a dot", groups: map[string]map[string]int64{"ad.min": {"read": 1}}},
		{name: "group named *", groups: map[string]map[string]int64{"*": {"read": 1}}},
		{name: "group name with a space", groups: map[string]map[string]int64{"ad min": {"read": 1}}},
		{name: "permission name with a dot", groups: map[string]map[string]int64{"admin": {"users.read": 1}}},
		{name: "permission named *", groups: map[string]map[string]int64{"admin": {"*": 1}}},
		{name: "permission name with a space", groups: map[string]map[string]int64{"admin": {"users read": 1}}},
		{name: "empty permission name", groups: map[string]map[string]int64{"admin": {"": 1}}},
		{name: "zero value", groups: map[string]map[string]int64{"admin": {"read": 0}}},
		{name: "negative value", groups: map[string]map[string]int64{"admin": {"read": -2}}},
		{name: "the value -1", groups: map[string]map[string]int64{"admin": {"read": guardian.AllPermissions}}},
		{name: "the smallest int64", groups: map[string]map[string]int64{"admin": {"read": -1 << 63}}},
		{name: "two permissions with one value", groups: map[string]map[string]int64{"admin": {"read": 0b10, "write": 0b10}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := guardian.NewPermissionValues(tt.groups)
			wantErr(t, err, guardian.ErrConfig)
			if p != nil {
				t.Errorf("got %v with the error, want nil", p)
			}
		})
	}
}

// TestNewPermissionsLimits: a list of 63 permissions is the most a group
// holds; its last one takes bit 62, and -1 grants them all.
func TestNewPermissionsLimits(t *testing.T) {
	names := make([]string, guardian.MaxGroupPermissions)
	for i := range names {
		names[i] = "p" + strconv.Itoa(i)
	}
	perms := mustPermissions(t, map[string][]string{"big": names})
	f := newFixture(t, &guardian.IssuerOptions{Permissions: perms})
	tests := []struct {
		name   string
		grants []string
		want   int64
	}{
		{name: "first", grants: []string{"big.p0"}, want: 1},
		{name: "last", grants: []string{"big.p62"}, want: 1 << 62},
		{name: "first and last", grants: []string{"big.p62", "big.p0"}, want: 1<<62 | 1},
		{name: "all", grants: []string{"big.*"}, want: -1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tok := f.issue(t, "u1", &guardian.IssueOptions{Permissions: tt.grants})
			pem, _ := pemOf(t, tok.Raw)
			if got := pem["big"]; got != tt.want {
				t.Errorf("got pem.big %d, want %d", got, tt.want)
			}
		})
	}
	c := &guardian.Claims{Permissions: []guardian.PermissionBits{{Group: "big", Bits: guardian.AllPermissions}}}
	if got := perms.Granted(c); len(got) != guardian.MaxGroupPermissions || got[0] != "big.p0" || got[62] != "big.p62" {
		t.Errorf("got Granted %d permissions %v, want the 63, p0 to p62 in order", len(got), got)
	}
}

// elixirTestPermissions is the declaration of Elixir Guardian's
// test/guardian/permissions/bitwise_encoding_test.exs:
//
//	permissions: %{user: [:read, :write], profile: %{read: 0b1, write: 0b10}}
//
// in both forms that file mixes: user as a list, profile as a map.
func elixirTestPermissions(tb testing.TB) map[string]*guardian.Permissions {
	tb.Helper()
	return map[string]*guardian.Permissions{
		"list form": mustPermissions(tb, map[string][]string{"user": {"read", "write"}, "profile": {"read", "write"}}),
		"map form":  mustPermissionValues(tb, map[string]map[string]int64{"user": {"read": 1, "write": 2}, "profile": {"read": 0b1, "write": 0b10}}),
	}
}

// elixirDocPermissions is the declaration of the moduledoc of Elixir
// Guardian's lib/guardian/permissions.ex:
//
//	permissions: %{default: [:public_profile, :user_about_me],
//	               user_actions: %{books: 0b1, fitness: 0b100, music: 0b1000}}
func elixirDocPermissions(tb testing.TB) *guardian.Permissions {
	tb.Helper()
	// default is a list there: index i has the value 1<<i.
	return mustPermissionValues(tb, map[string]map[string]int64{
		"default":      {"public_profile": 1, "user_about_me": 2},
		"user_actions": {"books": 0b1, "fitness": 0b100, "music": 0b1000},
	})
}

// TestPermissionsEncodeElixirVectors: the pem claim of the tokens guardian
// issues is what Elixir Guardian's encode_permissions! returns for the
// same grants.
func TestPermissionsEncodeElixirVectors(t *testing.T) {
	type vector struct {
		name   string
		perms  *guardian.Permissions
		grants []string
		want   map[string]int64
	}
	var tests []vector
	for form, p := range elixirTestPermissions(t) {
		tests = append(tests,
			// bitwise_encoding_test.exs, "it encodes when provided with an atom map":
			// %{profile: [:read, :write], user: [:read]} → %{profile: 0b11, user: 0b1}
			vector{name: form + ": atom map", perms: p, grants: []string{"profile.read", "profile.write", "user.read"}, want: map[string]int64{"profile": 3, "user": 1}},
			// "it is ok with using max permissions": %{profile: max(), user: 0b1} → %{profile: -1, user: 0b1}
			vector{name: form + ": max", perms: p, grants: []string{"profile.*", "user.read"}, want: map[string]int64{"profile": -1, "user": 1}},
			vector{name: form + ": max and more", perms: p, grants: []string{"profile.read", "profile.*"}, want: map[string]int64{"profile": -1}},
			vector{name: form + ": repeated grant", perms: p, grants: []string{"user.write", "user.write"}, want: map[string]int64{"user": 2}},
		)
	}
	// lib/guardian/permissions.ex, encode_permissions!:
	// %{user_actions: [:books, :music]} → %{user_actions: 9}
	tests = append(tests, vector{name: "docs: books and music", perms: elixirDocPermissions(t), grants: []string{"user_actions.books", "user_actions.music"}, want: map[string]int64{"user_actions": 9}})
	tests = append(tests, vector{name: "docs: default max", perms: elixirDocPermissions(t), grants: []string{"default.*"}, want: map[string]int64{"default": -1}})

	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, &guardian.IssuerOptions{Permissions: tt.perms})
			tok := f.issue(t, "u1", &guardian.IssueOptions{Permissions: tt.grants})
			pem, ok := pemOf(t, tok.Raw)
			if !ok {
				t.Fatalf("got a payload without pem, want pem %v", tt.want)
			}
			if !maps.Equal(pem, tt.want) {
				t.Errorf("got pem %v, want %v", pem, tt.want)
			}
			// The claims Issue returns, and those Verify reads, agree with the wire.
			verified, err := f.issuer.Verify(context.Background(), tok.Raw)
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			for name, c := range map[string]*guardian.Claims{"issued": tok.Claims, "verified": verified} {
				if got := bitsMap(c); !maps.Equal(got, tt.want) {
					t.Errorf("%s: got Claims.Permissions %v, want %v", name, c.Permissions, tt.want)
				}
				if !slices.IsSortedFunc(c.Permissions, func(a, b guardian.PermissionBits) int { return strings.Compare(a.Group, b.Group) }) {
					t.Errorf("%s: got Claims.Permissions %v, want them sorted by group", name, c.Permissions)
				}
			}
		})
	}
}

// TestPermissionsDecodeElixirVectors: Granted reads a pem claim as Elixir
// Guardian's decode_permissions does.
func TestPermissionsDecodeElixirVectors(t *testing.T) {
	type vector struct {
		name  string
		perms *guardian.Permissions
		pem   string
		want  []string
	}
	var tests []vector
	for form, p := range elixirTestPermissions(t) {
		tests = append(tests,
			// bitwise_encoding_test.exs, decode_permissions:
			// %{profile: 0b1, user: 0} → %{profile: [:read], user: []}
			vector{name: form + ": empty group", perms: p, pem: `{"profile":1,"user":0}`, want: []string{"profile.read"}},
			// %{profile: ["read"], user: -1} → user: [:read, :write]
			vector{name: form + ": max", perms: p, pem: `{"user":-1}`, want: []string{"user.read", "user.write"}},
			// %{profile: 0b1111, user: -1} → profile: [:read, :write] (extra bits ignored)
			vector{name: form + ": extra resolution", perms: p, pem: `{"profile":15,"user":-1}`, want: []string{"profile.read", "profile.write", "user.read", "user.write"}},
			// %{profile: 0b11, unknown: -1} → %{profile: [:read, :write]}
			vector{name: form + ": unknown set", perms: p, pem: `{"profile":3,"unknown":-1}`, want: []string{"profile.read", "profile.write"}},
			vector{name: form + ": empty pem", perms: p, pem: `{}`, want: nil},
			vector{name: form + ": null pem", perms: p, pem: `null`, want: nil},
			vector{name: form + ": negative zero", perms: p, pem: `{"user":-0}`, want: nil},
			vector{name: form + ": only bits no permission has", perms: p, pem: `{"user":4}`, want: nil},
		)
	}
	docs := elixirDocPermissions(t)
	tests = append(tests,
		// lib/guardian/permissions.ex, decode_permissions:
		// %{"default" => -1} → %{default: [:public_profile, :user_about_me]}
		vector{name: "docs: default max", perms: docs, pem: `{"default":-1}`, want: []string{"default.public_profile", "default.user_about_me"}},
		// %{"default" => 1, "user_actions" => 1} → %{default: [:public_profile], user_actions: [:books]}
		vector{name: "docs: one of each", perms: docs, pem: `{"default":1,"user_actions":1}`, want: []string{"default.public_profile", "user_actions.books"}},
		vector{name: "docs: books and music", perms: docs, pem: `{"user_actions":9}`, want: []string{"user_actions.books", "user_actions.music"}},
		vector{name: "docs: bit 1 is nobody's", perms: docs, pem: `{"user_actions":2}`, want: nil},
		vector{name: "docs: groups in any order", perms: docs, pem: `{"user_actions":12,"default":2}`, want: []string{"default.user_about_me", "user_actions.fitness", "user_actions.music"}},
	)
	f := newFixture(t, nil)
	for _, tt := range tests {
		for _, slow := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/slow=%v", tt.name, slow), func(t *testing.T) {
				c, err := f.issuer.Verify(context.Background(), pemToken(tt.pem, slow))
				if err != nil {
					t.Fatalf("Verify: %v", err)
				}
				if got := tt.perms.Granted(c); !slices.Equal(got, tt.want) {
					t.Errorf("got Granted %q, want %q", got, tt.want)
				}
				for _, perm := range tt.want {
					if !tt.perms.Has(c, perm) {
						t.Errorf("got Has(%q) false, want true", perm)
					}
				}
			})
		}
	}
}

// TestPermissionsElixirToken: a token whose pem claim was written by
// Elixir Guardian (%{user: [:read], profile: [:read, :write]} encodes to
// {"user":1,"profile":3}, in the order Jason wrote it) verifies, and grants
// what Elixir Guardian says it grants.
func TestPermissionsElixirToken(t *testing.T) {
	f := newFixture(t, nil)
	raw := craft(testSecret, defaultHeader, payloadJSON(map[string]any{"pem": json.RawMessage(`{"user":1,"profile":3}`)}))
	c, err := f.issuer.Verify(context.Background(), raw)
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	wantBits := []guardian.PermissionBits{{Group: "profile", Bits: 3}, {Group: "user", Bits: 1}}
	if !slices.Equal(c.Permissions, wantBits) {
		t.Errorf("got Claims.Permissions %v, want %v", c.Permissions, wantBits)
	}
	for form, perms := range elixirTestPermissions(t) {
		t.Run(form, func(t *testing.T) {
			has := map[string]bool{"user.read": true, "user.write": false, "profile.read": true, "profile.write": true,
				"profile.*": false, "user": false, "other.read": false, "": false}
			for perm, want := range has {
				if got := perms.Has(c, perm); got != want {
					t.Errorf("got Has(%q) %v, want %v", perm, got, want)
				}
			}
			if got, want := perms.Granted(c), []string{"profile.read", "profile.write", "user.read"}; !slices.Equal(got, want) {
				t.Errorf("got Granted %q, want %q", got, want)
			}
			wantErr(t, perms.All("user.read", "profile.write").Check(c))
			var se *guardian.ScopeError
			if err := perms.All("user.read", "user.write").Check(c); !errors.As(err, &se) || !slices.Equal(se.Missing, []string{"user.write"}) {
				t.Errorf("got All(user.read, user.write) error %v, want a *ScopeError missing user.write", err)
			}
		})
	}
	// And guardian's own token for the same grants carries the same pem.
	p := elixirTestPermissions(t)["list form"]
	ours := newFixture(t, &guardian.IssuerOptions{Permissions: p}).issue(t, "u1", &guardian.IssueOptions{Permissions: []string{"user.read", "profile.read", "profile.write"}})
	if pem, _ := pemOf(t, ours.Raw); !maps.Equal(pem, map[string]int64{"user": 1, "profile": 3}) {
		t.Errorf("got guardian's pem %v, want Elixir Guardian's {user: 1, profile: 3}", pem)
	}
}

func TestIssuePermissionsRefuses(t *testing.T) {
	perms := mustPermissions(t, map[string][]string{"admin": {"users_read", "users_write"}})
	declared := newFixture(t, &guardian.IssuerOptions{Permissions: perms})
	undeclared := newFixture(t, nil)
	tests := []struct {
		name   string
		f      *fixture
		grants []string
	}{
		{name: "unknown permission", f: declared, grants: []string{"admin.users_delete"}},
		{name: "unknown group", f: declared, grants: []string{"billing.read"}},
		{name: "unknown group, all of it", f: declared, grants: []string{"billing.*"}},
		{name: "no dot", f: declared, grants: []string{"admin"}},
		{name: "empty", f: declared, grants: []string{""}},
		{name: "empty name", f: declared, grants: []string{"admin."}},
		{name: "one unknown among known ones", f: declared, grants: []string{"admin.users_read", "admin.nope"}},
		{name: "case differs", f: declared, grants: []string{"Admin.users_read"}},
		{name: "no declaration", f: undeclared, grants: []string{"admin.users_read"}},
		{name: "no declaration, all", f: undeclared, grants: []string{"admin.*"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tok, err := tt.f.issuer.Issue(context.Background(), "u1", &guardian.IssueOptions{Permissions: tt.grants})
			wantErr(t, err, guardian.ErrInvalidArgument)
			if tok.Raw != "" {
				t.Errorf("got token %q with the error, want none", tok.Raw)
			}
		})
	}
	// Granting nothing needs no declaration, and writes no pem.
	for _, grants := range [][]string{nil, {}} {
		tok := undeclared.issue(t, "u1", &guardian.IssueOptions{Permissions: grants})
		if pem, ok := pemOf(t, tok.Raw); ok {
			t.Errorf("Permissions %#v: got pem %v, want none", grants, pem)
		}
		if tok.Claims.Permissions != nil {
			t.Errorf("Permissions %#v: got Claims.Permissions %v, want nil", grants, tok.Claims.Permissions)
		}
	}
}

// TestMalformedPemRefused: a pem claim that Elixir Guardian's bitwise
// encoding would never write is a malformed token, whether the payload is
// read by the fast decoder or by encoding/json.
func TestMalformedPemRefused(t *testing.T) {
	tests := []struct {
		name string
		pem  string
	}{
		{name: "string value", pem: `{"user":"1"}`},
		{name: "float", pem: `{"user":1.5}`},
		{name: "integral float", pem: `{"user":1.0}`},
		{name: "exponent", pem: `{"user":1e3}`},
		{name: "negative exponent", pem: `{"user":1E-3}`},
		{name: "2^63 overflows", pem: `{"user":9223372036854775808}`},
		{name: "-2^63-1 overflows", pem: `{"user":-9223372036854775809}`},
		{name: "huge", pem: `{"user":123456789012345678901234567890}`},
		{name: "leading zero", pem: `{"user":01}`},
		{name: "plus sign", pem: `{"user":+1}`},
		{name: "boolean", pem: `{"user":true}`},
		{name: "null value", pem: `{"user":null}`},
		{name: "list value", pem: `{"user":["read"]}`},
		{name: "object value", pem: `{"user":{"read":1}}`},
		{name: "array", pem: `[1,2]`},
		{name: "string", pem: `"user"`},
		{name: "number", pem: `3`},
		{name: "true", pem: `true`},
		{name: "trailing comma", pem: `{"user":1,}`},
	}
	f := newFixture(t, nil)
	for _, tt := range tests {
		for _, slow := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/slow=%v", tt.name, slow), func(t *testing.T) {
				c, err := f.issuer.Verify(context.Background(), pemToken(tt.pem, slow))
				wantTokenErr(t, err, guardian.ErrMalformedToken)
				if c != nil {
					t.Errorf("got claims %+v with the error, want nil", c)
				}
			})
		}
	}
	// The largest and smallest int64 are fine.
	for _, pem := range []string{`{"user":9223372036854775807}`, `{"user":-9223372036854775808}`} {
		for _, slow := range []bool{false, true} {
			if _, err := f.issuer.Verify(context.Background(), pemToken(pem, slow)); err != nil {
				t.Errorf("pem %s, slow=%v: got error %v, want nil", pem, slow, err)
			}
		}
	}
}

// TestPemDuplicates: encoding/json keeps the last of repeated members, and
// so does the fast decoder; a repeated pem claim is read like encoding/json
// reads it too.
func TestPemDuplicates(t *testing.T) {
	f := newFixture(t, nil)
	tests := []struct {
		name string
		pem  string
		want []guardian.PermissionBits
	}{
		{name: "repeated group", pem: `{"user":1,"user":2}`, want: []guardian.PermissionBits{{Group: "user", Bits: 2}}},
		{name: "repeated group among others", pem: `{"b":1,"a":4,"b":8}`, want: []guardian.PermissionBits{{Group: "a", Bits: 4}, {Group: "b", Bits: 8}}},
		{name: "spaces", pem: ` { "b" : 1 , "a" : -1 } `, want: []guardian.PermissionBits{{Group: "a", Bits: -1}, {Group: "b", Bits: 1}}},
		{name: "escaped group name", pem: `{"\u0075ser":1}`, want: []guardian.PermissionBits{{Group: "user", Bits: 1}}},
	}
	for _, tt := range tests {
		for _, slow := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/slow=%v", tt.name, slow), func(t *testing.T) {
				c, err := f.issuer.Verify(context.Background(), pemToken(tt.pem, slow))
				if err != nil {
					t.Fatalf("Verify: %v", err)
				}
				if !slices.Equal(c.Permissions, tt.want) {
					t.Errorf("got Claims.Permissions %v, want %v", c.Permissions, tt.want)
				}
			})
		}
	}
	// A repeated pem claim: the last one counts.
	raw := craft(testSecret, defaultHeader, strings.Replace(payloadJSON(nil), `{`, `{"pem":{"user":1},"pem":{"user":2},`, 1))
	c, err := f.issuer.Verify(context.Background(), raw)
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	if want := []guardian.PermissionBits{{Group: "user", Bits: 2}}; !slices.Equal(c.Permissions, want) {
		t.Errorf("repeated pem: got Claims.Permissions %v, want %v", c.Permissions, want)
	}
}

// TestPermissionsAllAny checks the requirements' semantics on claims,
// multi-bit values and -1 included.
func TestPermissionsAllAny(t *testing.T) {
	perms := mustPermissionValues(t, map[string]map[string]int64{
		"files": {"read": 0b1, "write": 0b10, "manage": 0b11, "share": 0b100},
		"admin": {"users": 1},
	})
	claims := func(bits ...guardian.PermissionBits) *guardian.Claims { return &guardian.Claims{Permissions: bits} }
	files := func(b int64) guardian.PermissionBits { return guardian.PermissionBits{Group: "files", Bits: b} }
	tests := []struct {
		name        string
		req         guardian.Requirement
		claims      *guardian.Claims
		wantMissing []string // nil: the check passes
		wantAny     bool
	}{
		{name: "all: granted", req: perms.All("files.read"), claims: claims(files(1))},
		{name: "all: not granted", req: perms.All("files.write"), claims: claims(files(1)), wantMissing: []string{"files.write"}},
		{name: "all: no pem", req: perms.All("files.read"), claims: claims(), wantMissing: []string{"files.read"}},
		{name: "all: other group only", req: perms.All("files.read"), claims: claims(guardian.PermissionBits{Group: "admin", Bits: -1}), wantMissing: []string{"files.read"}},
		{name: "all: two of two", req: perms.All("files.read", "files.share"), claims: claims(files(0b101))},
		{name: "all: one of two", req: perms.All("files.read", "files.share", "files.write"), claims: claims(files(0b100)), wantMissing: []string{"files.read", "files.write"}},
		{name: "all: two groups", req: perms.All("files.read", "admin.users"), claims: claims(guardian.PermissionBits{Group: "admin", Bits: 1}, files(1))},
		{name: "all: two groups, one missing", req: perms.All("files.read", "admin.users"), claims: claims(files(1)), wantMissing: []string{"admin.users"}},
		{name: "multi-bit: both bits", req: perms.All("files.manage"), claims: claims(files(0b11))},
		{name: "multi-bit: low bit only", req: perms.All("files.manage"), claims: claims(files(0b01)), wantMissing: []string{"files.manage"}},
		{name: "multi-bit: high bit only", req: perms.All("files.manage"), claims: claims(files(0b10)), wantMissing: []string{"files.manage"}},
		{name: "multi-bit any: one bit is not enough", req: perms.Any("files.manage"), claims: claims(files(0b10)), wantMissing: []string{"files.manage"}, wantAny: true},
		{name: "-1 grants all", req: perms.All("files.read", "files.write", "files.manage", "files.share"), claims: claims(files(-1))},
		{name: "-1 of one group only", req: perms.All("files.read", "admin.users"), claims: claims(files(-1)), wantMissing: []string{"admin.users"}},
		{name: "0 grants none", req: perms.Any("files.read", "files.write"), claims: claims(files(0)), wantMissing: []string{"files.read", "files.write"}, wantAny: true},
		{name: "any: first", req: perms.Any("files.read", "admin.users"), claims: claims(files(1))},
		{name: "any: last", req: perms.Any("files.read", "admin.users"), claims: claims(guardian.PermissionBits{Group: "admin", Bits: 1})},
		{name: "any: none", req: perms.Any("files.write", "admin.users"), claims: claims(files(1)), wantMissing: []string{"files.write", "admin.users"}, wantAny: true},
		{name: "repeated requirement", req: perms.All("files.write", "files.write"), claims: claims(files(1)), wantMissing: []string{"files.write", "files.write"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.req.Check(tt.claims)
			if tt.wantMissing == nil {
				wantErr(t, err)
				return
			}
			wantErr(t, err, guardian.ErrInsufficientScope)
			var se *guardian.ScopeError
			if !errors.As(err, &se) {
				t.Fatalf("got error %T %v, want a *ScopeError", err, err)
			}
			if !slices.Equal(se.Missing, tt.wantMissing) {
				t.Errorf("got Missing %q, want %q", se.Missing, tt.wantMissing)
			}
			if !se.Permissions || se.Any != tt.wantAny {
				t.Errorf("got Permissions %v Any %v, want true %v", se.Permissions, se.Any, tt.wantAny)
			}
			if errors.Is(err, guardian.ErrInsufficientUserAuthentication) || errors.Is(err, guardian.ErrInvalidToken) {
				t.Errorf("got error %v matching another sentinel, want insufficient scope only", err)
			}
		})
	}
	if got := perms.All("files.read").Check(nil); !errors.Is(got, guardian.ErrMissingToken) {
		t.Errorf("got Check(nil) %v, want ErrMissingToken", got)
	}
	// Has agrees with the requirements.
	c := claims(files(0b110))
	for perm, want := range map[string]bool{"files.read": false, "files.write": true, "files.share": true, "files.manage": false, "files.*": false, "admin.users": false, "files.nope": false} {
		if got := perms.Has(c, perm); got != want {
			t.Errorf("got Has(%q) %v, want %v", perm, got, want)
		}
	}
	// Granted lists by group, then by value; a multi-bit value after its bits.
	if got, want := perms.Granted(claims(guardian.PermissionBits{Group: "admin", Bits: 1}, files(-1))), []string{"admin.users", "files.read", "files.write", "files.manage", "files.share"}; !slices.Equal(got, want) {
		t.Errorf("got Granted %q, want %q", got, want)
	}
}

// TestPermissionsRequirementRefuses: a requirement built with settings it
// cannot use is an ErrConfig error, from Check and from Require.
func TestPermissionsRequirementRefuses(t *testing.T) {
	perms := mustPermissions(t, map[string][]string{"admin": {"users_read"}})
	var none *guardian.Permissions
	gf := newTestGuardian(t, nil, nil)
	tests := []struct {
		name string
		req  guardian.Requirement
	}{
		{name: "all of nothing", req: perms.All()},
		{name: "any of nothing", req: perms.Any()},
		{name: "undeclared permission", req: perms.All("admin.users_write")},
		{name: "undeclared group", req: perms.Any("billing.read")},
		{name: "group only", req: perms.All("admin")},
		{name: "all of a group", req: perms.All("admin.*")},
		{name: "empty", req: perms.Any("")},
		{name: "one bad among good ones", req: perms.All("admin.users_read", "admin.nope")},
		{name: "nil declaration", req: none.All("admin.users_read")},
		{name: "nil declaration, any", req: none.Any("admin.users_read")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := &guardian.Claims{Permissions: []guardian.PermissionBits{{Group: "admin", Bits: -1}}}
			wantErr(t, tt.req.Check(c), guardian.ErrConfig)
			mw, err := gf.g.Require(tt.req)
			wantErr(t, err, guardian.ErrConfig)
			if mw != nil {
				t.Error("got middleware with the error, want nil")
			}
		})
	}
}

// bitsMap is c.Permissions as a map.
func bitsMap(c *guardian.Claims) map[string]int64 {
	m := make(map[string]int64, len(c.Permissions))
	for _, pb := range c.Permissions {
		m[pb.Group] = pb.Bits
	}
	return m
}
