package scimserver

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"time"

	scimerrors "github.com/elimity-com/scim/errors"

	"github.com/scimbridge/scim-bridge/internal/directory"
	"github.com/scimbridge/scim-bridge/internal/mapping"
	"github.com/scimbridge/scim-bridge/internal/store"
)

// scimType keywords (RFC 7644 section 3.12) used by the bridge.
const (
	typeInvalidFilter = "invalidFilter"
	typeInvalidValue  = "invalidValue"
	typeInvalidSyntax = "invalidSyntax"
	typeInvalidPath   = "invalidPath"
	typeUniqueness    = "uniqueness"
	typeMutability    = "mutability"
	typeNoTarget      = "noTarget"
	typeTooMany       = "tooMany"
)

// apiError is a failure the edge answers with a SCIM error body. detail
// is shown to the IdP and must never carry internal text.
type apiError struct {
	status     int
	scimType   string
	detail     string
	retryAfter time.Duration
	allow      string // Allow header for 405
}

func (e *apiError) Error() string {
	return fmt.Sprintf("%d %s: %s", e.status, e.scimType, e.detail)
}

func errorf(status int, scimType, format string, args ...any) *apiError {
	return &apiError{status: status, scimType: scimType, detail: fmt.Sprintf(format, args...)}
}

func badRequest(scimType, format string, args ...any) *apiError {
	return errorf(http.StatusBadRequest, scimType, format, args...)
}

// toAPIError classifies err. Errors the edge does not recognise become a
// 500 whose detail names only the request id: their text stays in the log.
func toAPIError(err error, what string) (*apiError, bool) {
	var ae *apiError
	if errors.As(err, &ae) {
		return ae, true
	}
	var me *mapping.Error
	if errors.As(err, &me) {
		return badRequest(me.ScimType, "%s", me.Detail), true
	}
	var iv *directory.InvalidValueError
	if errors.As(err, &iv) {
		return badRequest(typeInvalidValue, "%s", iv.Error()), true
	}
	var ue *directory.UpstreamError
	if errors.As(err, &ue) {
		switch {
		case ue.Retryable && (ue.Status == http.StatusUnauthorized || ue.Status == http.StatusForbidden):
			// What /readyz knows too: not an outage the IdP should wait out
			// quietly, but an operator's fix (client id/secret or SCIM token).
			return &apiError{status: http.StatusServiceUnavailable, detail: "the bridge's Sigma credentials were rejected (" + ue.Op + "); the bridge's operator must fix its Sigma client credentials or token; retry later", retryAfter: 30 * time.Second}, true
		case ue.Retryable:
			ra := ue.RetryAfter
			if ra < time.Second {
				ra = time.Second
			}
			return &apiError{status: http.StatusServiceUnavailable, detail: "Sigma is unavailable or rate-limiting the bridge (" + ue.Op + "); retry later", retryAfter: ra}, true
		case ue.Status == http.StatusConflict:
			return errorf(http.StatusConflict, typeUniqueness, "Sigma refused to %s: a record with these values already exists", ue.Op), true
		case ue.Status == http.StatusBadRequest || ue.Status == http.StatusNotFound || ue.Status == http.StatusUnprocessableEntity:
			return badRequest(typeInvalidValue, "Sigma rejected the request: %s", ue.Error()), true
		default:
			return errorf(http.StatusBadGateway, "", "Sigma failed: %s", ue.Error()), true
		}
	}
	switch {
	case errors.Is(err, directory.ErrNotFound):
		return errorf(http.StatusNotFound, "", "%s not found", what), true
	case errors.Is(err, directory.ErrConflict):
		return errorf(http.StatusConflict, typeUniqueness, "%s already exists: another resource has its userName (or email), displayName or externalId; each of those names one resource", what), true
	case errors.Is(err, store.ErrUnavailable):
		return &apiError{status: http.StatusServiceUnavailable, detail: "the bridge's store is unavailable; retry shortly", retryAfter: 5 * time.Second}, true
	case errors.Is(err, directory.ErrNotReady):
		return &apiError{status: http.StatusServiceUnavailable, detail: "the bridge is still loading Sigma's members and teams; retry shortly", retryAfter: 5 * time.Second}, true
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
		return &apiError{status: http.StatusServiceUnavailable, detail: "the request was cancelled or timed out before Sigma answered; retry", retryAfter: time.Second}, true
	}
	return nil, false
}

// writeError answers err as a SCIM error and logs what the IdP does not see.
func (s *server) writeError(w http.ResponseWriter, r *http.Request, err error, what string) {
	ae, known := toAPIError(err, what)
	log := loggerFrom(r.Context(), s.log)
	if !known {
		log.Error("scim request failed", "err", err)
		ae = &apiError{status: http.StatusInternalServerError, detail: "internal error; the bridge log has the cause under request id " + requestIDFrom(r.Context())}
	} else if ae.status >= 500 {
		log.Warn("scim request failed", "status", ae.status, "err", err)
	} else {
		log.Debug("scim request rejected", "status", ae.status, "scim_type", ae.scimType, "detail", ae.detail)
	}
	writeAPIError(w, ae)
}

func writeAPIError(w http.ResponseWriter, ae *apiError) {
	if ae.retryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(ae.retryAfter.Seconds()))))
	}
	if ae.allow != "" {
		w.Header().Set("Allow", ae.allow)
	}
	writeJSON(w, ae.status, scimerrors.ScimError{ScimType: scimerrors.ScimType(ae.scimType), Detail: ae.detail, Status: ae.status})
}
