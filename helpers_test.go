package guardian_test

// Shared helpers of the package's tests: keys from testdata, issuers on a
// fixed clock, and hand-made tokens. Hand-made tokens are signed with the
// test issuer's own HMAC secret, so their signature is valid and a refusal
// is provably due to what the test put in them, never to the signature.

import (
	"context"
	"crypto"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/guardian-go/guardian"
	"github.com/guardian-go/guardian/guardiantest"
	"github.com/guardian-go/guardian/internal/testclock"
)

// t0 is the time every fixture's clock starts at: the test clock's now, in
// whole seconds, so that no test depends on the machine's date (run with
// GUARDIAN_TEST_CLOCK_OFFSET to move it a year away from every default
// clock).
var t0 = testclock.Now().Truncate(time.Second).UTC()

// testSecret is the HS256 secret of the fixture issuer (32 bytes).
var testSecret = []byte("guardian test secret of 32 bytes")

// testKID is the kid of the fixture's HS256 key.
const testKID = "k1"

// defaultHeader is the JOSE header the fixture issuer writes.
const defaultHeader = `{"alg":"HS256","typ":"JWT","kid":"k1"}`

func readTestdata(tb testing.TB, name string) []byte {
	tb.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

func loadSigner(tb testing.TB, name string) crypto.Signer {
	tb.Helper()
	k, err := guardian.ParsePrivateKeyPEM(readTestdata(tb, name))
	if err != nil {
		tb.Fatalf("ParsePrivateKeyPEM(%s): %v", name, err)
	}
	return k
}

func loadPublic(tb testing.TB, name string) crypto.PublicKey {
	tb.Helper()
	k, err := guardian.ParsePublicKeyPEM(readTestdata(tb, name))
	if err != nil {
		tb.Fatalf("ParsePublicKeyPEM(%s): %v", name, err)
	}
	return k
}

func mustHMACKey(tb testing.TB, id string, alg guardian.Algorithm, secret []byte) *guardian.Key {
	tb.Helper()
	k, err := guardian.NewHMACKey(id, alg, secret)
	if err != nil {
		tb.Fatalf("NewHMACKey(%q, %s): %v", id, alg, err)
	}
	return k
}

func mustSigningKey(tb testing.TB, id string, alg guardian.Algorithm, priv crypto.Signer) *guardian.Key {
	tb.Helper()
	k, err := guardian.NewSigningKey(id, alg, priv)
	if err != nil {
		tb.Fatalf("NewSigningKey(%q, %s): %v", id, alg, err)
	}
	return k
}

func mustKeySet(tb testing.TB, signing *guardian.Key, others ...*guardian.Key) *guardian.KeySet {
	tb.Helper()
	ks, err := guardian.NewKeySet(signing, others...)
	if err != nil {
		tb.Fatalf("NewKeySet: %v", err)
	}
	return ks
}

func mustIssuer(tb testing.TB, keys *guardian.KeySet, opts *guardian.IssuerOptions) *guardian.Issuer {
	tb.Helper()
	iss, err := guardian.NewIssuer(keys, opts)
	if err != nil {
		tb.Fatalf("NewIssuer: %v", err)
	}
	return iss
}

// fixture is an HS256 issuer (kid "k1", testSecret) on a stopped clock.
type fixture struct {
	issuer *guardian.Issuer
	keys   *guardian.KeySet
	clock  *guardiantest.Clock
}

// newFixture builds the fixture issuer. opts may be nil; its Clock, when
// unset, is the fixture's clock, stopped at t0.
func newFixture(tb testing.TB, opts *guardian.IssuerOptions) *fixture {
	tb.Helper()
	f := &fixture{clock: guardiantest.NewClock(t0)}
	var o guardian.IssuerOptions
	if opts != nil {
		o = *opts
	}
	if o.Clock == nil {
		o.Clock = f.clock.Now
	}
	f.keys = mustKeySet(tb, mustHMACKey(tb, testKID, guardian.HS256, testSecret))
	f.issuer = mustIssuer(tb, f.keys, &o)
	return f
}

// issue issues a token for sub and fails the test on error.
func (f *fixture) issue(tb testing.TB, sub string, opts *guardian.IssueOptions) guardian.Token {
	tb.Helper()
	tok, err := f.issuer.Issue(context.Background(), sub, opts)
	if err != nil {
		tb.Fatalf("Issue(%q): %v", sub, err)
	}
	return tok
}

// b64 is the unpadded base64url of s.
func b64(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }

// hs256 returns the base64url HMAC-SHA256 of input under secret.
func hs256(secret []byte, input string) string {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(input))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// signSegments returns hSeg.pSeg.<valid HS256 signature over them>. The
// segments are used as given, so they may be deliberately malformed.
func signSegments(secret []byte, hSeg, pSeg string) string {
	input := hSeg + "." + pSeg
	return input + "." + hs256(secret, input)
}

// craft returns a token with the given header and payload JSON, correctly
// signed with HS256 under secret.
func craft(secret []byte, header, payload string) string {
	return signSegments(secret, b64(header), b64(payload))
}

// payloadJSON returns the JSON of a payload that the fixture issuer would
// accept at t0 (an access token for "u1"), with set members replaced or
// added (values are marshaled; use json.RawMessage for exact JSON) and
// drop members removed.
func payloadJSON(set map[string]any, drop ...string) string {
	m := map[string]any{
		"sub": "u1",
		"typ": "access",
		"jti": "crafted-jti-0000000000",
		"fam": "crafted-family-0000000",
		"iat": t0.Unix(),
		"nbf": t0.Unix(),
		"exp": t0.Add(15 * time.Minute).Unix(),
	}
	for k, v := range set {
		m[k] = v
	}
	for _, k := range drop {
		delete(m, k)
	}
	b, err := json.Marshal(m)
	if err != nil {
		panic(err)
	}
	return string(b)
}

// segments splits a compact JWS.
func segments(tb testing.TB, raw string) (h, p, s string) {
	tb.Helper()
	parts := strings.Split(raw, ".")
	if len(parts) != 3 {
		tb.Fatalf("token has %d parts, want 3: %q", len(parts), raw)
	}
	return parts[0], parts[1], parts[2]
}

// decodeSegment decodes a base64url JSON object segment into a map.
func decodeSegment(tb testing.TB, seg string) map[string]any {
	tb.Helper()
	b, err := base64.RawURLEncoding.DecodeString(seg)
	if err != nil {
		tb.Fatalf("decode segment %q: %v", seg, err)
	}
	var m map[string]any
	d := json.NewDecoder(strings.NewReader(string(b)))
	d.UseNumber()
	if err := d.Decode(&m); err != nil {
		tb.Fatalf("segment is not a JSON object: %v: %s", err, b)
	}
	return m
}

func headerOf(tb testing.TB, raw string) map[string]any {
	tb.Helper()
	h, _, _ := segments(tb, raw)
	return decodeSegment(tb, h)
}

func payloadOf(tb testing.TB, raw string) map[string]any {
	tb.Helper()
	_, p, _ := segments(tb, raw)
	return decodeSegment(tb, p)
}

// wantErr checks that err matches every sentinel of want. With no want, err
// must be nil.
func wantErr(tb testing.TB, err error, want ...error) {
	tb.Helper()
	if len(want) == 0 {
		if err != nil {
			tb.Fatalf("got error %v, want nil", err)
		}
		return
	}
	if err == nil {
		tb.Fatalf("got nil error, want %v", want)
	}
	for _, w := range want {
		if !errors.Is(err, w) {
			tb.Fatalf("got error %q, want it to match %q", err, w)
		}
	}
}

// wantTokenErr checks that err is a token failure of kind want: it matches
// want and ErrInvalidToken. A nil want means err must be nil.
func wantTokenErr(tb testing.TB, err error, want error) {
	tb.Helper()
	if want == nil {
		wantErr(tb, err)
		return
	}
	wantErr(tb, err, want, guardian.ErrInvalidToken)
}

// downRevoker is a Revoker whose store cannot answer.
type downRevoker struct{}

var errStoreDown = errors.New("store down")

func (downRevoker) Revoke(context.Context, guardian.Revocation) error { return errStoreDown }
func (downRevoker) Revoked(context.Context, *guardian.Claims) (bool, error) {
	return false, errStoreDown
}

// flakyRevoker is a MemoryRevoker whose Consume can be made to fail, as a
// store blip would.
type flakyRevoker struct {
	*guardian.MemoryRevoker
	failConsume       atomic.Bool // fail before writing
	loseConsumeAnswer atomic.Bool // write, then fail
}

func (f *flakyRevoker) Consume(ctx context.Context, r guardian.Revocation) (bool, error) {
	if f.failConsume.Load() {
		return false, errStoreDown
	}
	first, err := f.MemoryRevoker.Consume(ctx, r)
	if f.loseConsumeAnswer.Load() {
		return false, errStoreDown
	}
	return first, err
}

// member is the user type of the Guardian tests.
type member struct {
	ID   string
	Name string
}

// Members of the test "database". "gone" has tokens but no record, and
// loading "broken" fails with an internal error.
var members = map[string]*member{
	"u1": {ID: "u1", Name: "Ada"},
	"u2": {ID: "u2", Name: "Grace"},
}

// errSecretDB is what the broken loader returns: its text must never reach
// a client.
var errSecretDB = errors.New("pq: password authentication failed for user hunter2")

func loadMember(_ context.Context, c *guardian.Claims) (*member, error) {
	if c.Subject == "broken" {
		return nil, errSecretDB
	}
	if m, ok := members[c.Subject]; ok {
		return m, nil
	}
	return nil, guardian.ErrResourceNotFound
}

func memberSubject(m *member) (string, error) { return m.ID, nil }

// gfixture is a Guardian over the fixture issuer.
type gfixture struct {
	*fixture
	g *guardian.Guardian[*member]
}

// newTestGuardian builds a Guardian for members. opts and aopts may be nil.
func newTestGuardian(tb testing.TB, opts *guardian.IssuerOptions, aopts *guardian.GuardianOptions[*member]) *gfixture {
	tb.Helper()
	f := newFixture(tb, opts)
	if aopts == nil || aopts.Logger == nil { // keep 5xx causes out of the test output
		var o guardian.GuardianOptions[*member]
		if aopts != nil {
			o = *aopts
		}
		o.Logger = slog.New(slog.DiscardHandler)
		aopts = &o
	}
	g, err := guardian.New(f.issuer, memberSubject, loadMember, aopts)
	if err != nil {
		tb.Fatalf("New: %v", err)
	}
	return &gfixture{fixture: f, g: g}
}

// token issues a token for the member with ID sub (who need not exist),
// through the fixture's issuer.
func (gf *gfixture) token(tb testing.TB, sub string, opts *guardian.IssueOptions) string {
	tb.Helper()
	tok, err := gf.issuer.Issue(context.Background(), sub, opts)
	if err != nil {
		tb.Fatalf("Issue(%s): %v", sub, err)
	}
	return tok.Raw
}

// randomSecret returns 32 random bytes: an HMAC secret for one test.
func randomSecret(tb testing.TB) []byte {
	tb.Helper()
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		tb.Fatal(err)
	}
	return b
}

// tamperSignature changes one character well inside raw's signature (its
// last characters may carry unused bits, and may already be what a fixed
// replacement writes), so that the signature no longer verifies.
func tamperSignature(raw string) string {
	k := len(raw) - 10
	swap := byte('A')
	if raw[k] == 'A' {
		swap = 'B'
	}
	return raw[:k] + string(swap) + raw[k+1:]
}
