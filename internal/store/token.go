package store

import (
	"fmt"
	"time"
)

// PrepareToken checks a token about to be created by op (an id, a name, a
// hash) and gives it CreatedAt = now when it has none. Both backends call
// it for CreateToken.
func PrepareToken(op string, t *Token, now time.Time) error {
	switch {
	case t.ID == "":
		return fmt.Errorf("%s: empty id", op)
	case t.Name == "":
		return fmt.Errorf("%s: empty name", op)
	case len(t.Hash) == 0:
		return fmt.Errorf("%s: empty hash", op)
	}
	if t.CreatedAt.IsZero() {
		t.CreatedAt = now
	}
	return nil
}

// PrepareSuccessor checks the token a RotateToken by op puts in place:
// what PrepareToken checks, and it must be current (neither superseded
// nor revoked).
func PrepareSuccessor(op string, next *Token, now time.Time) error {
	if err := PrepareToken(op, next, now); err != nil {
		return err
	}
	if !next.SupersededAt.IsZero() || !next.RevokedAt.IsZero() {
		return fmt.Errorf("%s: successor must be current (not superseded, not revoked)", op)
	}
	return nil
}
