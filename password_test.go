package guardian_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/guardian-go/guardian"
	"golang.org/x/crypto/bcrypt"
)

// testPasswords uses the lowest bcrypt cost, to keep tests fast.
var testPasswords = guardian.Passwords{Cost: bcrypt.MinCost}

func TestPasswordsRoundTrip(t *testing.T) {
	for _, pw := range []string{"correct horse battery staple", "", "ünïcødé 🔑", strings.Repeat("x", 72)} {
		hash, err := testPasswords.Hash(pw)
		if err != nil {
			t.Fatalf("Hash(%d bytes): %v", len(pw), err)
		}
		if cost, err := bcrypt.Cost([]byte(hash)); err != nil || cost != bcrypt.MinCost {
			t.Errorf("hash cost = %d, %v; want %d", cost, err, bcrypt.MinCost)
		}
		if err := testPasswords.Check(hash, pw); err != nil {
			t.Errorf("Check(the right password of %d bytes) = %v", len(pw), err)
		}
		again, _ := testPasswords.Hash(pw)
		if again == hash {
			t.Errorf("two hashes of one password are equal: no salt")
		}
	}
}

func TestPasswordsRefuse(t *testing.T) {
	const pw = "correct horse battery staple"
	hash, err := testPasswords.Hash(pw)
	if err != nil {
		t.Fatal(err)
	}
	long := strings.Repeat("p", 72)
	longHash, err := testPasswords.Hash(long)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		hash     string
		password string
	}{
		{name: "wrong password", hash: hash, password: "Correct horse battery staple"},
		{name: "empty password", hash: hash, password: ""},
		{name: "prefix of the password", hash: hash, password: pw[:10]},
		{name: "password and more", hash: hash, password: pw + "!"},
		{name: "unknown user", hash: "", password: pw},
		{name: "unknown user, empty password", hash: "", password: ""},
		// bcrypt reads 72 bytes only: a longer password that starts like a
		// 72-byte one would match it.
		{name: "72 bytes and more", hash: longHash, password: long + "extra"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := testPasswords.Check(tt.hash, tt.password); !errors.Is(err, guardian.ErrInvalidCredentials) {
				t.Fatalf("Check = %v, want ErrInvalidCredentials", err)
			}
		})
	}
}

func TestPasswordsHashRefusesLongPasswords(t *testing.T) {
	if _, err := testPasswords.Hash(strings.Repeat("x", 73)); err == nil {
		t.Fatal("Hash(73 bytes) = nil error, want a refusal: bcrypt would ignore the rest")
	}
	if _, err := testPasswords.Hash(strings.Repeat("é", 37)); err == nil { // 74 bytes
		t.Fatal("Hash(74 bytes of UTF-8) = nil error, want a refusal")
	}
}

func TestPasswordsCorruptHash(t *testing.T) {
	hash, err := testPasswords.Hash("pw")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		hash string
	}{
		{name: "garbage", hash: "not a hash"},
		{name: "truncated", hash: hash[:20]},
		{name: "unknown version", hash: "$9z" + hash[3:]},
		{name: "cost out of range", hash: hash[:4] + "99" + hash[6:]},
		{name: "plain text password stored", hash: "pw"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := testPasswords.Check(tt.hash, "pw")
			if err == nil {
				t.Fatal("Check against a corrupt hash = nil")
			}
			if errors.Is(err, guardian.ErrInvalidCredentials) {
				t.Fatalf("Check = %v: a corrupt stored hash is a server fault, not bad credentials", err)
			}
		})
	}
}
