package sigma

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Sentinels matched by errors.Is against an *APIError.
var (
	// ErrNotFound matches a 404 other than "Member type name is not found".
	ErrNotFound = errors.New("sigma: not found")
	// ErrDuplicate matches a 409 (Sigma's "Duplicate record"; SCIM uniqueness).
	ErrDuplicate = errors.New("sigma: duplicate")
	// ErrUnknownMemberType matches Sigma's 404 "Member type name is not
	// found", answered when a create or patch names an account type the org
	// does not have.
	ErrUnknownMemberType = errors.New("sigma: member type not found")
	// ErrUnauthorized matches a 401 or 403 that survived the re-auth, and a
	// token endpoint that rejects the client credentials.
	ErrUnauthorized = errors.New("sigma: unauthorized")
)

// Reasons classify an upstream outcome for metrics and for the retry verdict.
const (
	ReasonOK          = "ok"
	ReasonAuth        = "auth"
	ReasonRateLimited = "rate_limited"
	ReasonClient      = "client"
	ReasonServer      = "server"
	ReasonTransport   = "transport"
)

// APIError is a failed upstream call. It never carries a secret: no
// Authorization header, no token, no client secret, and transport errors are
// stripped of the request URL's query.
type APIError struct {
	Status    int    // HTTP status; 0 for a transport error
	Code      string // Sigma "code" (or SCIM scimType); derived from Status when absent
	Message   string // Sigma "message" (or SCIM detail)
	RequestID string // Sigma "requestId" or the X-Request-Id header
	Method    string
	Endpoint  string // path template, e.g. /v2/members/{memberId}
	// Reason is one of ok, auth, rate_limited, client, server, transport.
	Reason string
	// Retryable is the verdict: 429, 5xx and transport errors are.
	Retryable bool
	// RetryAfter is the server's Retry-After, zero when absent.
	RetryAfter time.Duration
	// Err is the transport cause, if any.
	Err error
}

// Error implements error.
func (e *APIError) Error() string {
	var b strings.Builder
	b.WriteString(e.Method)
	b.WriteByte(' ')
	b.WriteString(e.Endpoint)
	b.WriteString(": ")
	if e.Status == 0 {
		b.WriteString("transport error")
		if e.Err != nil {
			b.WriteString(": ")
			b.WriteString(e.Err.Error())
		}
		return b.String()
	}
	b.WriteString(strconv.Itoa(e.Status))
	if e.Code != "" {
		b.WriteByte(' ')
		b.WriteString(e.Code)
	}
	if e.Message != "" {
		b.WriteString(": ")
		b.WriteString(e.Message)
	}
	if e.RequestID != "" {
		b.WriteString(" (request id ")
		b.WriteString(e.RequestID)
		b.WriteByte(')')
	}
	return b.String()
}

// Unwrap returns the transport cause.
func (e *APIError) Unwrap() error { return e.Err }

// Is makes errors.Is(err, ErrNotFound / ErrDuplicate / ErrUnknownMemberType
// / ErrUnauthorized) work on an *APIError.
func (e *APIError) Is(target error) bool {
	switch target {
	case ErrNotFound:
		return e.Status == http.StatusNotFound && !e.isMemberType()
	case ErrUnknownMemberType:
		return e.Status == http.StatusNotFound && e.isMemberType()
	case ErrDuplicate:
		return e.Status == http.StatusConflict
	case ErrUnauthorized:
		return e.Status == http.StatusUnauthorized || e.Status == http.StatusForbidden
	}
	return false
}

func (e *APIError) isMemberType() bool {
	m := strings.ToLower(e.Message)
	return strings.Contains(m, "member type") || strings.Contains(m, "membertype") || strings.Contains(m, "account type")
}

// UnknownAccountTypeError is returned by ResolveAccountType for a name that
// is neither an account type of the org nor an alias of one.
type UnknownAccountTypeError struct {
	Name  string
	Valid []string // the org's account type names, sorted
}

// Error implements error.
func (e *UnknownAccountTypeError) Error() string {
	return fmt.Sprintf("unknown account type %q (valid: %s)", e.Name, strings.Join(e.Valid, ", "))
}

// Is makes errors.Is(err, ErrUnknownMemberType) true.
func (e *UnknownAccountTypeError) Is(target error) bool { return target == ErrUnknownMemberType }

// reasonFor classifies an HTTP status.
func reasonFor(status int) (reason string, retryable bool) {
	switch {
	case status >= 200 && status < 300:
		return ReasonOK, false
	case status == http.StatusUnauthorized || status == http.StatusForbidden:
		return ReasonAuth, false
	case status == http.StatusTooManyRequests:
		return ReasonRateLimited, true
	case status >= 500:
		return ReasonServer, true
	default:
		return ReasonClient, false
	}
}

func statusClass(status int) string {
	if status == 0 {
		return "none"
	}
	return strconv.Itoa(status/100) + "xx"
}

// errorBody holds both Sigma's {message, code, requestId} and SCIM's
// {status, scimType, detail}.
type errorBody struct {
	Message   string `json:"message"`
	Code      string `json:"code"`
	RequestID string `json:"requestId"`
	ScimType  string `json:"scimType"`
	Detail    string `json:"detail"`
}

// newHTTPError builds the APIError for a non-2xx answer. body may be empty
// (CDN 429s) or not JSON (proxies); then a short, printable prefix of it
// becomes the message.
func newHTTPError(method, endpoint string, resp *http.Response, body []byte) *APIError {
	e := &APIError{Status: resp.StatusCode, Method: method, Endpoint: endpoint}
	e.Reason, e.Retryable = reasonFor(resp.StatusCode)
	var eb errorBody
	if len(body) > 0 && json.Unmarshal(body, &eb) == nil {
		e.Message = firstNonEmpty(eb.Message, eb.Detail)
		e.Code = firstNonEmpty(eb.Code, eb.ScimType)
		e.RequestID = eb.RequestID
	} else if len(body) > 0 {
		e.Message = printablePrefix(body, 200)
	}
	if e.RequestID == "" {
		e.RequestID = firstNonEmpty(resp.Header.Get("X-Request-Id"), resp.Header.Get("X-Sigma-Request-Id"))
	}
	if e.Code == "" {
		e.Code = defaultCode(resp.StatusCode)
	}
	e.RetryAfter = parseRetryAfter(resp.Header.Get("Retry-After"), time.Now())
	return e
}

func defaultCode(status int) string {
	switch status {
	case http.StatusBadRequest:
		return "bad_request"
	case http.StatusUnauthorized:
		return "unauthorized"
	case http.StatusForbidden:
		return "forbidden"
	case http.StatusNotFound:
		return "not_found"
	case http.StatusConflict:
		return "conflict"
	case http.StatusTooManyRequests:
		return "rate_limited"
	}
	if status >= 500 {
		return "server_error"
	}
	return ""
}

// parseRetryAfter reads delta-seconds or an HTTP date; zero when absent or
// unparsable.
func parseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if n, err := strconv.Atoi(v); err == nil {
		if n < 0 {
			return 0
		}
		return time.Duration(n) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		if d := t.Sub(now); d > 0 {
			return d
		}
	}
	return 0
}

func firstNonEmpty(s ...string) string {
	for _, v := range s {
		if v != "" {
			return v
		}
	}
	return ""
}

func printablePrefix(b []byte, n int) string {
	if len(b) > n {
		b = b[:n]
	}
	s := strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return ' '
		}
		return r
	}, string(b))
	return strings.TrimSpace(s)
}
