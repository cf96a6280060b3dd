package provision

import (
	"errors"
	"fmt"

	"github.com/scimbridge/scim-bridge/internal/directory"
	"github.com/scimbridge/scim-bridge/internal/sigma"
)

// MaxMessage bounds how much of Sigma's own message reaches the IdP.
const MaxMessage = 200

// UpstreamErr turns a sigma client error into the directory's vocabulary:
// 404 is directory.ErrNotFound, 409 directory.ErrConflict, an unknown
// account type from the resolver an *InvalidValueError, anything else an
// *UpstreamError (retryable for 429, 5xx, transport and authentication
// failures: the IdP should come back when the bridge can reach Sigma
// again; otherwise carrying Sigma's message, cut to MaxMessage).
func UpstreamErr(op string, err error) error {
	if err == nil {
		return nil
	}
	var unknown *sigma.UnknownAccountTypeError
	if errors.As(err, &unknown) {
		return &directory.InvalidValueError{Attribute: "userType", Value: unknown.Name, Reason: "unknown account type", Valid: unknown.Valid}
	}
	switch {
	case errors.Is(err, sigma.ErrNotFound):
		return fmt.Errorf("%s: %w", op, directory.ErrNotFound)
	case errors.Is(err, sigma.ErrDuplicate):
		return fmt.Errorf("%s: %w", op, directory.ErrConflict)
	}
	ue := &directory.UpstreamError{Op: op, Retryable: true, Err: err}
	var ae *sigma.APIError
	if errors.As(err, &ae) {
		ue.Status, ue.RetryAfter = ae.Status, ae.RetryAfter
		ue.Retryable = ae.Retryable || errors.Is(err, sigma.ErrUnauthorized)
		if !ue.Retryable && ae.Message != "" {
			ue.Message = Truncate(ae.Message, MaxMessage)
		}
	}
	return ue
}

// UpstreamStatus is Sigma's HTTP status behind err (a *sigma.APIError or
// a *directory.UpstreamError in its chain), 0 if none.
func UpstreamStatus(err error) int {
	var ae *sigma.APIError
	if errors.As(err, &ae) {
		return ae.Status
	}
	var ue *directory.UpstreamError
	if errors.As(err, &ue) {
		return ue.Status
	}
	return 0
}
