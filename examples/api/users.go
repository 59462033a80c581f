package main

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/guardian-go/guardian"
)

// user is the example's user type; guardian.Guardian is generic over it.
// A stored user is never changed: a password change stores a new copy, so
// a request that loaded the user reads it without a lock.
type user struct {
	ID           string
	Email        string
	passwordHash string
	// perms are the permissions the user's tokens grant
	// (GuardianOptions.Permissions).
	perms []string
	// pwv is the password version, carried in every token as the pwv
	// claim: a password change increments it, and tokens of another
	// version are refused (see server.loadUser).
	pwv int
}

// userStore stands in for a users table. It lives in memory: a restart
// brings back the demo users with their original passwords.
type userStore struct {
	mu     sync.RWMutex
	ids    map[string]*user
	emails map[string]*user
}

func newUserStore() *userStore {
	return &userStore{ids: map[string]*user{}, emails: map[string]*user{}}
}

// add stores a user with the password hash and permissions given.
func (s *userStore) add(id, email, hash string, perms []string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	u := &user{ID: id, Email: email, passwordHash: hash, perms: perms}
	s.ids[id] = u
	s.emails[strings.ToLower(email)] = u
}

// byID loads the user a token names; a missing user is
// guardian.ErrResourceNotFound, which the middleware answers with 401.
func (s *userStore) byID(id string) (*user, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if u, ok := s.ids[id]; ok {
		return u, nil
	}
	return nil, fmt.Errorf("user %q: %w", id, guardian.ErrResourceNotFound)
}

func (s *userStore) byEmail(email string) (*user, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	u, ok := s.emails[strings.ToLower(email)]
	return u, ok
}

// list returns every user, sorted by ID.
func (s *userStore) list() []*user {
	s.mu.RLock()
	defer s.mu.RUnlock()
	users := make([]*user, 0, len(s.ids))
	for _, u := range s.ids {
		users = append(users, u)
	}
	slices.SortFunc(users, func(a, b *user) int { return cmp.Compare(a.ID, b.ID) })
	return users
}

// setPassword stores hash as the password of user id, whose password
// version must still be pwv (else another change came first:
// guardian.ErrResourceNotFound), and returns the user with the next
// version.
func (s *userStore) setPassword(id string, pwv int, hash string) (*user, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	old, ok := s.ids[id]
	if !ok || old.pwv != pwv {
		return nil, fmt.Errorf("user %q: password changed meanwhile: %w", id, guardian.ErrResourceNotFound)
	}
	u := *old
	u.passwordHash, u.pwv = hash, old.pwv+1
	s.ids[id] = &u
	s.emails[strings.ToLower(u.Email)] = &u
	return &u, nil
}
