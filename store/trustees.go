package store

// The trustees an officer invites before an election's manifest exists
// (issue 16): each invitation's name, address and hashed token, the
// identity it brought, and the roster made from them. None of it is in the
// election's record; several nodes sharing a PostgreSQL database see the
// same invitations.

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
)

// Errors of the trustees' invitations.
var (
	// ErrNoInvitation: no such invitation (removed, or invited again
	// with another token).
	ErrNoInvitation = errors.New("no such trustee invitation")
	// ErrIdentityTaken: the invitation already brought an identity.
	ErrIdentityTaken = errors.New("this invitation already brought an identity")
	// ErrNoRoster: no roster was made for the election.
	ErrNoRoster = errors.New("no roster made yet")
)

// TrusteeInvitation is one trustee the officer invited (or whose identity
// the officer added by hand).
type TrusteeInvitation struct {
	ID    int64 // from 1, in the order added, per election
	Name  string
	Email string // "" for an identity added by hand
	// TokenHash is the SHA-256 of the invitation's token; nil for an
	// identity added by hand.
	TokenHash []byte
	Expires   time.Time
	Created   time.Time
	// Identity is the identity received (identity.json), nil if none yet.
	Identity   []byte
	IdentityAt time.Time
}

// sqlRunner is what the trustees' statements need of a database; the
// statements are written with $1, $2, … and the same for both databases.
type sqlRunner interface {
	exec(ctx context.Context, q string, args ...any) (int64, error)
	// query calls row for each row, with a function that scans it.
	query(ctx context.Context, q string, row func(scan func(dest ...any) error) error, args ...any) error
}

func (d *sqliteDB) runner() sqlRunner   { return sqliteRunner{d} }
func (d *postgresDB) runner() sqlRunner { return postgresRunner{d} }

type sqliteRunner struct{ d *sqliteDB }

// sqliteQuery turns $n into SQLite's ?n.
func sqliteQuery(q string) string { return strings.ReplaceAll(q, "$", "?") }

func (r sqliteRunner) exec(ctx context.Context, q string, args ...any) (int64, error) {
	if err := r.d.lockWrite(ctx); err != nil {
		return 0, err
	}
	defer r.d.unlockWrite()
	res, err := r.d.db.ExecContext(ctx, sqliteQuery(q), args...)
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

func (r sqliteRunner) query(ctx context.Context, q string, row func(scan func(dest ...any) error) error, args ...any) error {
	if strings.HasPrefix(q, "INSERT") { // with RETURNING
		if err := r.d.lockWrite(ctx); err != nil {
			return err
		}
		defer r.d.unlockWrite()
	}
	rows, err := r.d.db.QueryContext(ctx, sqliteQuery(q), args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		if err := row(rows.Scan); err != nil {
			return err
		}
	}
	return rows.Err()
}

type postgresRunner struct{ d *postgresDB }

func (r postgresRunner) exec(ctx context.Context, q string, args ...any) (int64, error) {
	t, err := r.d.pool.Exec(ctx, q, args...)
	if err != nil {
		return 0, err
	}
	return t.RowsAffected(), nil
}

func (r postgresRunner) query(ctx context.Context, q string, row func(scan func(dest ...any) error) error, args ...any) error {
	rows, err := r.d.pool.Query(ctx, q, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		if err := row(rows.Scan); err != nil {
			return err
		}
	}
	return rows.Err()
}

func micros(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMicro()
}

func fromMicros(n int64) time.Time {
	if n == 0 {
		return time.Time{}
	}
	return time.UnixMicro(n).UTC()
}

// checkElection returns ErrNoElection unless the election exists.
func (db *DB) checkElection(ctx context.Context, election string) error {
	if err := CheckID(election); err != nil {
		return fmt.Errorf("%w: %w", ErrNoElection, err)
	}
	if db.isClosed() {
		return ErrClosed
	}
	found := false
	err := db.d.runner().query(ctx, `SELECT 1 FROM elections WHERE id = $1`, func(scan func(...any) error) error {
		found = true
		return nil
	}, election)
	if err == nil && !found {
		err = fmt.Errorf("%w: %s", ErrNoElection, election)
	}
	return err
}

// uniqueViolation reports a PostgreSQL unique violation (two nodes numbering
// an invitation at once).
func uniqueViolation(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == "23505"
}

// AddTrustee records an invitation (or an identity added by hand) for the
// election and returns its number.
func (db *DB) AddTrustee(ctx context.Context, election string, inv TrusteeInvitation) (int64, error) {
	if err := db.checkElection(ctx, election); err != nil {
		return 0, err
	}
	if inv.TokenHash != nil && len(inv.TokenHash) != 32 {
		return 0, errors.New("a token hash is 32 bytes")
	}
	var tok any
	if inv.TokenHash != nil {
		tok = inv.TokenHash
	}
	var ident any
	if inv.Identity != nil {
		ident = inv.Identity
	}
	for try := 0; ; try++ {
		var id int64
		err := db.d.runner().query(ctx, `INSERT INTO trustee_invitations (election, id, name, email, token_hash, expires_at, created_at, identity, identity_at)
			SELECT $1, COALESCE(MAX(id), 0) + 1, $2, $3, $4, $5, $6, $7, $8 FROM trustee_invitations WHERE election = $1 RETURNING id`,
			func(scan func(...any) error) error { return scan(&id) },
			election, inv.Name, inv.Email, tok, micros(inv.Expires), micros(inv.Created), ident, micros(inv.IdentityAt))
		if uniqueViolation(err) && try < 5 && ctx.Err() == nil {
			continue
		}
		if err == nil && id == 0 {
			err = errors.New("store: internal error: no invitation number returned")
		}
		return id, err
	}
}

// TrusteeInvitations returns the election's invitations, in the order
// added.
func (db *DB) TrusteeInvitations(ctx context.Context, election string) ([]TrusteeInvitation, error) {
	if err := CheckID(election); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrNoElection, err)
	}
	if db.isClosed() {
		return nil, ErrClosed
	}
	return retry(ctx, func() ([]TrusteeInvitation, error) {
		var out []TrusteeInvitation
		err := db.d.runner().query(ctx, `SELECT id, name, email, token_hash, expires_at, created_at, identity, identity_at FROM trustee_invitations WHERE election = $1 ORDER BY id`,
			func(scan func(...any) error) error {
				var inv TrusteeInvitation
				var exp, cre, iat int64
				if err := scan(&inv.ID, &inv.Name, &inv.Email, &inv.TokenHash, &exp, &cre, &inv.Identity, &iat); err != nil {
					return err
				}
				inv.Expires, inv.Created, inv.IdentityAt = fromMicros(exp), fromMicros(cre), fromMicros(iat)
				if len(inv.TokenHash) == 0 {
					inv.TokenHash = nil
				}
				if len(inv.Identity) == 0 {
					inv.Identity = nil
				}
				out = append(out, inv)
				return nil
			}, election)
		return out, err
	})
}

// ReinviteTrustee gives an invitation a new token and expiry, and forgets
// the identity it brought, if any: the new token brings the replacement.
func (db *DB) ReinviteTrustee(ctx context.Context, election string, id int64, tokenHash []byte, expires time.Time) error {
	if len(tokenHash) != 32 {
		return errors.New("a token hash is 32 bytes")
	}
	return db.execOne(ctx, `UPDATE trustee_invitations SET token_hash = $3, expires_at = $4, identity = NULL, identity_at = 0 WHERE election = $1 AND id = $2 AND email <> ''`,
		election, id, tokenHash, micros(expires))
}

// RemoveTrustee removes an invitation (its token can no longer be used)
// and the identity it brought.
func (db *DB) RemoveTrustee(ctx context.Context, election string, id int64) error {
	return db.execOne(ctx, `DELETE FROM trustee_invitations WHERE election = $1 AND id = $2`, election, id)
}

// SetTrusteeIdentity stores the identity an invitation brought, if the
// invitation still has the token whose hash is given and has no identity
// yet: else ErrIdentityTaken, or ErrNoInvitation if it was removed or
// invited again meanwhile. The caller has checked the token and its
// expiry.
func (db *DB) SetTrusteeIdentity(ctx context.Context, election string, id int64, tokenHash, identity []byte, at time.Time) error {
	err := db.execOne(ctx, `UPDATE trustee_invitations SET identity = $4, identity_at = $5 WHERE election = $1 AND id = $2 AND token_hash = $3 AND identity IS NULL`,
		election, id, tokenHash, identity, micros(at))
	if !errors.Is(err, ErrNoInvitation) {
		return err
	}
	taken := false
	qerr := db.d.runner().query(ctx, `SELECT 1 FROM trustee_invitations WHERE election = $1 AND id = $2 AND token_hash = $3`, func(func(...any) error) error {
		taken = true
		return nil
	}, election, id, tokenHash)
	if qerr != nil {
		return qerr
	}
	if taken {
		return ErrIdentityTaken
	}
	return err
}

// execOne runs a statement that must change one row of an invitation.
func (db *DB) execOne(ctx context.Context, q string, args ...any) error {
	if err := CheckID(args[0].(string)); err != nil {
		return fmt.Errorf("%w: %w", ErrNoElection, err)
	}
	if db.isClosed() {
		return ErrClosed
	}
	n, err := db.d.runner().exec(ctx, q, args...)
	if err != nil {
		return err
	}
	if n == 0 {
		return ErrNoInvitation
	}
	return nil
}

// SaveTrusteeRoster records the roster the officer made for the election
// (roster.json), replacing any made before.
func (db *DB) SaveTrusteeRoster(ctx context.Context, election string, roster []byte, at time.Time) error {
	if err := db.checkElection(ctx, election); err != nil {
		return err
	}
	_, err := db.d.runner().exec(ctx, `INSERT INTO trustee_rosters (election, roster, made_at) VALUES ($1, $2, $3)
		ON CONFLICT (election) DO UPDATE SET roster = excluded.roster, made_at = excluded.made_at`, election, roster, micros(at))
	return err
}

// TrusteeRoster returns the roster last made for the election, or
// ErrNoRoster.
func (db *DB) TrusteeRoster(ctx context.Context, election string) ([]byte, time.Time, error) {
	if err := CheckID(election); err != nil {
		return nil, time.Time{}, fmt.Errorf("%w: %w", ErrNoElection, err)
	}
	if db.isClosed() {
		return nil, time.Time{}, ErrClosed
	}
	var roster []byte
	var at int64
	found := false
	err := db.d.runner().query(ctx, `SELECT roster, made_at FROM trustee_rosters WHERE election = $1`, func(scan func(...any) error) error {
		found = true
		return scan(&roster, &at)
	}, election)
	if err == nil && !found {
		err = ErrNoRoster
	}
	return roster, fromMicros(at), err
}
