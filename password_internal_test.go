package guardian

import (
	"errors"
	"testing"

	"golang.org/x/crypto/bcrypt"
)

// TestUnknownUserCostsTheConfiguredBcrypt: for an unknown user, Check
// compares with a dummy hash of the configured cost, so the answer takes as
// long as for a known user with a wrong password.
func TestUnknownUserCostsTheConfiguredBcrypt(t *testing.T) {
	for _, cost := range []int{bcrypt.MinCost, 5, 6} {
		p := Passwords{Cost: cost}
		if err := p.Check("", "whatever"); !errors.Is(err, ErrInvalidCredentials) {
			t.Fatalf("Check(unknown user) = %v, want ErrInvalidCredentials", err)
		}
		h, err := dummyHash(cost)
		if err != nil {
			t.Fatal(err)
		}
		if got, err := bcrypt.Cost(h); err != nil || got != cost {
			t.Errorf("dummy hash for cost %d has cost %d (%v)", cost, got, err)
		}
	}
	if got := (Passwords{}).cost(); got != DefaultPasswordCost || DefaultPasswordCost < 10 {
		t.Errorf("zero Passwords cost = %d, want DefaultPasswordCost (%d, at least 10)", got, DefaultPasswordCost)
	}
}

// TestUnknownUserWithTheDummyPassword: knowing the dummy password must not
// let anyone in as an unknown user.
func TestUnknownUserWithTheDummyPassword(t *testing.T) {
	const dummy = "guardian dummy password for unknown users"
	h, err := dummyHash(bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	if bcrypt.CompareHashAndPassword(h, []byte(dummy)) != nil {
		t.Fatal("the dummy password changed; update this test")
	}
	if err := (Passwords{Cost: bcrypt.MinCost}).Check("", dummy); !errors.Is(err, ErrInvalidCredentials) {
		t.Fatalf("Check(unknown user, the dummy password) = %v, want ErrInvalidCredentials", err)
	}
}
