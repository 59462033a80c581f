package guardian

import (
	"errors"
	"fmt"
	"sync"

	"golang.org/x/crypto/bcrypt"
)

// DefaultPasswordCost is the bcrypt cost of [Passwords] when none is set.
const DefaultPasswordCost = 12

// Passwords hashes and checks passwords with bcrypt. The zero value uses
// DefaultPasswordCost; it is safe for concurrent use.
type Passwords struct {
	// Cost is the bcrypt cost of new hashes, from 4 to 31. Default: 12.
	// Use the cost of the stored hashes, so that unknown users cost as much
	// time as known ones.
	Cost int
}

func (p Passwords) cost() int {
	if p.Cost == 0 {
		return DefaultPasswordCost
	}
	return p.Cost
}

// Hash returns the bcrypt hash of password. Passwords over 72 bytes are
// refused (bcrypt would ignore the rest).
func (p Passwords) Hash(password string) (string, error) {
	h, err := bcrypt.GenerateFromPassword([]byte(password), p.cost())
	if err != nil {
		return "", fmt.Errorf("guardian: hash password: %w", err)
	}
	return string(h), nil
}

// Check reports whether password matches hash, returning nil or
// ErrInvalidCredentials. Pass an empty hash for a user that does not exist:
// the password is then compared with a dummy hash of the same cost, so the
// answer takes as long and is the same as for a wrong password, and login
// timing does not tell who has an account.
func (p Passwords) Check(hash, password string) error {
	// The dummy hash is made on the first Check of a cost, whoever it is
	// for, so that this one-time cost does not single out unknown users.
	dummy, err := dummyHash(p.cost())
	if err != nil {
		return err
	}
	target := []byte(hash)
	if hash == "" {
		target = dummy
	}
	err = bcrypt.CompareHashAndPassword(target, []byte(password))
	switch {
	// bcrypt reads 72 bytes only, and Hash refuses longer passwords: a
	// longer one that starts like the stored password must not match it.
	case err == nil && hash != "" && len(password) <= 72:
		return nil
	case err == nil, errors.Is(err, bcrypt.ErrMismatchedHashAndPassword), errors.Is(err, bcrypt.ErrPasswordTooLong):
		return ErrInvalidCredentials
	default:
		return fmt.Errorf("guardian: stored password hash is unusable: %w", err)
	}
}

// dummies holds one dummy hash per cost, made on first use.
var dummies sync.Map // int -> func() ([]byte, error)

func dummyHash(cost int) ([]byte, error) {
	f, _ := dummies.LoadOrStore(cost, sync.OnceValues(func() ([]byte, error) {
		return bcrypt.GenerateFromPassword([]byte("guardian dummy password for unknown users"), cost)
	}))
	return f.(func() ([]byte, error))()
}
