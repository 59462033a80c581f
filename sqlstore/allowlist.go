package sqlstore

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/guardian-go/guardian"
)

// TokenInfo describes a recorded, active token: one session of a subject in
// allow-list mode.
type TokenInfo struct {
	// ID is the token's jti; revoke the token with a [guardian.RevokeToken]
	// revocation of this ID.
	ID string
	// Subject is the token's sub.
	Subject string
	// Type is the token's typ (access, refresh, ...).
	Type guardian.TokenType
	// Family is the login the token descends from; empty if none.
	Family string
	// IssuedAt is the token's iat, in whole seconds, UTC.
	IssuedAt time.Time
	// ExpiresAt is the token's exp, UTC.
	ExpiresAt time.Time
}

// Record records the token c as issued, so that it passes Revoked in
// allow-list mode. Its signature is that of the issuer's after-issue hook:
// wire it there so that every issued token is recorded before it is handed
// out. Recording the same jti again is a no-op. c must have a jti and an
// exp; the row is swept once exp has passed.
//
// Record returns [ErrNotAllowList] on a deny-list store: recording there
// would be pointless, and a hook wired to the wrong store should be loud.
func (s *Store) Record(ctx context.Context, c *guardian.Claims) error {
	if !s.allowList {
		return ErrNotAllowList
	}
	switch {
	case c == nil:
		return errors.New("sqlstore: Record with nil claims")
	case c.ID == "":
		return fmt.Errorf("%w: sqlstore: cannot record a token without jti", guardian.ErrMissingClaim)
	case c.ExpiresAt.IsZero():
		return fmt.Errorf("%w: sqlstore: cannot record a token without exp", guardian.ErrMissingClaim)
	case len(c.Type) > maxTypeLength:
		return fmt.Errorf("%w: token type is %d bytes long, more than %d", ErrInvalidID, len(c.Type), maxTypeLength)
	}
	if err := checkID("jti", c.ID); err != nil {
		return err
	}
	if err := checkID("subject", c.Subject); err != nil {
		return err
	}
	if err := checkID("family", c.Family); err != nil {
		return err
	}
	if err := checkID("token type", string(c.Type)); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if s.closed.Load() {
		return ErrClosed
	}
	st, err := s.record.get(ctx, s)
	if err != nil {
		return s.fail(ctx, "record token", err)
	}
	args := s.q.record.args(c.ID, c.Subject, string(c.Type), c.Family, c.IssuedAt.Unix(), c.ExpiresAt.UnixMilli())
	if _, err := st.ExecContext(ctx, args...); err != nil {
		return s.fail(ctx, "record token", err)
	}
	return nil
}

// ActiveTokens lists the subject's active tokens in allow-list mode, oldest
// first: recorded, unexpired, and not revoked by jti, family or subject
// cut-off. Every token it lists passes Revoked; every other token of the
// subject does not. It returns [ErrNotAllowList] on a deny-list store.
func (s *Store) ActiveTokens(ctx context.Context, subject string) ([]TokenInfo, error) {
	if !s.allowList {
		return nil, ErrNotAllowList
	}
	if err := checkID("subject", subject); err != nil {
		return nil, err
	}
	if s.closed.Load() {
		return nil, ErrClosed
	}
	rows, err := s.db.QueryContext(ctx, s.q.active.text, s.q.active.args(subject, s.now().UnixMilli())...)
	if err != nil {
		return nil, s.fail(ctx, "list active tokens", err)
	}
	defer rows.Close()
	var out []TokenInfo
	for rows.Next() {
		var (
			t            TokenInfo
			typ          string
			issued, exps int64
		)
		if err := rows.Scan(&t.ID, &typ, &t.Family, &issued, &exps); err != nil {
			return nil, s.fail(ctx, "list active tokens", err)
		}
		t.Subject = subject
		t.Type = guardian.TokenType(typ)
		t.IssuedAt = time.Unix(issued, 0).UTC()
		t.ExpiresAt = time.UnixMilli(exps).UTC()
		out = append(out, t)
	}
	if err := rows.Err(); err != nil {
		return nil, s.fail(ctx, "list active tokens", err)
	}
	return out, nil
}

// RevokeAll revokes every active recorded token of subject in allow-list
// mode by deleting their rows, in one statement, and returns how many it
// deleted. Once it returns, none of them passes Revoked, and tokens issued
// (and recorded) afterwards do. It leaves no record behind: to also refuse
// tokens whose recording races with it, or to keep the revocation should
// the store later leave allow-list mode, revoke the subject with a
// [guardian.RevokeSubject] revocation instead. It returns [ErrNotAllowList]
// on a deny-list store.
func (s *Store) RevokeAll(ctx context.Context, subject string) (int64, error) {
	if !s.allowList {
		return 0, ErrNotAllowList
	}
	if subject == "" {
		return 0, errors.New("sqlstore: RevokeAll with empty subject")
	}
	if err := checkID("subject", subject); err != nil {
		return 0, err
	}
	if s.closed.Load() {
		return 0, ErrClosed
	}
	res, err := s.db.ExecContext(ctx, s.q.revokeAll.text, s.q.revokeAll.args(subject, s.now().UnixMilli())...)
	if err != nil {
		return 0, s.fail(ctx, "revoke all", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, s.fail(ctx, "revoke all", err)
	}
	return n, nil
}
