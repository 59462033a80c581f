package replaytest_test

import (
	"regexp"
	"testing"

	"github.com/guardian-go/guardian/replaytest"
)

func TestNewKey(t *testing.T) {
	shape := regexp.MustCompile(`^dpop\.[A-Za-z0-9_-]{22}$`)
	a, b := replaytest.NewKey(), replaytest.NewKey()
	if !shape.MatchString(a) || !shape.MatchString(b) {
		t.Fatalf("NewKey() = %q, %q; want dpop. and 22 base64url characters, as the DPoPVerifier's keys", a, b)
	}
	if a == b {
		t.Fatalf("two NewKey() calls returned %q", a)
	}
}
