package guardian

import (
	"encoding/json"
	"fmt"
)

// A KeySet holds the one key that signs new tokens and every key that may
// verify them, looked up by kid. Rotate keys by building a new set whose
// signing key is the new key and whose verification keys include the old
// one until its last token has expired.
type KeySet struct {
	signing *Key
	byID    map[string]*Key
	ordered []*Key // signing key first, then the others in the given order
	// signing is nil in a set that only verifies.
	// bySegment maps the encoded JOSE header this library writes for each
	// key to the key: tokens we issued skip header decoding.
	bySegment map[string]*Key
}

// NewKeySet returns a key set that signs with signing (which must be able to
// sign) and verifies with signing and every key in verifyOnly. Key IDs must
// be unique; at most one key may have the empty ID, and tokens without a kid
// header are verified with it alone.
func NewKeySet(signing *Key, verifyOnly ...*Key) (*KeySet, error) {
	if signing == nil || !signing.CanSign() {
		return nil, fmt.Errorf("%w: the signing key must hold a private or secret key (for a set that only verifies, use NewVerifyKeySet)", ErrKey)
	}
	return newKeySet(signing, append([]*Key{signing}, verifyOnly...))
}

// NewVerifyKeySet returns a key set that only verifies: with the public
// keys of another service, parsed from PEM or a JWK set ([ParseJWKS]). An
// [Issuer] built on it verifies tokens and refuses to issue any, with an
// error wrapping ErrKey. Key IDs must be unique, as for [NewKeySet]; keys
// holding a private or secret key are accepted and used only to verify.
func NewVerifyKeySet(keys ...*Key) (*KeySet, error) {
	if len(keys) == 0 {
		return nil, fmt.Errorf("%w: a key set needs at least one key", ErrKey)
	}
	return newKeySet(nil, keys)
}

// emptyKeySet is a set without keys: a remote issuer's before its keys
// are loaded.
func emptyKeySet() *KeySet {
	return &KeySet{byID: map[string]*Key{}, bySegment: map[string]*Key{}}
}

func newKeySet(signing *Key, keys []*Key) (*KeySet, error) {
	s := &KeySet{signing: signing, byID: make(map[string]*Key, len(keys)), bySegment: make(map[string]*Key, len(keys))}
	for _, k := range keys {
		if k == nil {
			return nil, fmt.Errorf("%w: nil key", ErrKey)
		}
		if _, dup := s.byID[k.id]; dup {
			return nil, fmt.Errorf("%w: two keys with kid %q", ErrKey, k.id)
		}
		s.byID[k.id] = k
		s.bySegment[k.headerSegment()] = k
		s.ordered = append(s.ordered, k)
	}
	return s, nil
}

// SigningKey returns the key that signs new tokens, or nil for a set that
// only verifies.
func (s *KeySet) SigningKey() *Key { return s.signing }

// CanSign reports whether the set has a signing key.
func (s *KeySet) CanSign() bool { return s.signing != nil }

// Keys returns every key of the set, the signing key first.
func (s *KeySet) Keys() []*Key { return append([]*Key(nil), s.ordered...) }

// lookup returns the verification key for kid.
func (s *KeySet) lookup(kid string) (*Key, bool) {
	k, ok := s.byID[kid]
	return k, ok
}

// headerSegment is the encoded JOSE header of the tokens k signs.
func (k *Key) headerSegment() string {
	h, _ := json.Marshal(joseHeader{Alg: string(k.alg), Typ: "JWT", Kid: k.id}) // cannot fail
	return b64.EncodeToString(h)
}
