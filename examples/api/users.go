package main

import (
	"fmt"
	"strings"
	"sync"

	"github.com/guardian-go/guardian"
)

// user is the example's user type; guardian.Guardian is generic over it.
type user struct {
	ID           string
	Email        string
	passwordHash string
}

// userStore stands in for a users table.
type userStore struct {
	mu     sync.RWMutex
	ids    map[string]*user
	emails map[string]*user
}

func newUserStore() *userStore {
	return &userStore{ids: map[string]*user{}, emails: map[string]*user{}}
}

func (s *userStore) add(id, email, password string, p guardian.Passwords) error {
	hash, err := p.Hash(password)
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	u := &user{ID: id, Email: email, passwordHash: hash}
	s.ids[id] = u
	s.emails[strings.ToLower(email)] = u
	return nil
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
