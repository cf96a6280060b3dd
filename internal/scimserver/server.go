// Package scimserver is the SCIM 2.0 HTTP surface of the bridge: routing,
// middleware (request id, access log, metrics, auth, body limit, panic
// recovery), the Users and Groups endpoints with every IdP quirk absorbed
// (one handler set, resource.go, driven by a descriptor per resource type),
// discovery endpoints, and the translation of directory errors into SCIM
// errors. The SCIM semantics themselves (filters, PATCH, list queries) are
// in the pure packages under internal/scim. It decides everything the IdP may do; what Sigma is told is
// decided behind directory.Directory.
//
// The handlers are the bridge's own. From github.com/elimity-com/scim only
// the error type (errors.ScimError, its JSON form) is used: its server
// cannot serve trailing slashes or lower-case paths, If-Match, sortBy,
// value-path filters on indexed lookups, PATCH in the IdPs' non-standard
// forms (string booleans, bare manager ids, dotted no-path keys), and it
// advertises etag and sort as unsupported.
package scimserver

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/scimbridge/scim-bridge/internal/directory"
	"github.com/scimbridge/scim-bridge/internal/mapping"
	"github.com/scimbridge/scim-bridge/internal/tokens"
)

// Options configure New. Zero values take the documented defaults.
type Options struct {
	// Directory answers every request. Required.
	Directory directory.Directory
	// Auth wraps the SCIM endpoints (the tokens middleware). nil means no
	// authentication: only for tests of the edge itself.
	Auth func(http.Handler) http.Handler
	// Rules decide account types from group membership ("members of group X
	// get account type Y", first match wins). Empty: no rules.
	Rules mapping.AccountTypeRules
	// UserNameFromEmail: when the IdP's userName is not an email address,
	// use the user's primary work email. Nil means true.
	UserNameFromEmail *bool
	// MaxBodyBytes limits request bodies; larger ones get 413. Default 1 MiB.
	MaxBodyBytes int64
	// MaxResults caps count on list and .search requests, and is advertised
	// as filter.maxResults. Default 1000.
	MaxResults int
	// BasePath is the path the handler is mounted at (e.g. "/scim/v2"). If
	// set and a request path starts with it, it is stripped; otherwise the
	// handler expects paths relative to its mount point (http.StripPrefix).
	// Either way meta.location uses the prefix the request actually had.
	BasePath string
	// BaseURL is the public SCIM base URL (e.g. "https://scim.example.com/scim/v2")
	// for meta.location. Empty: derived from each request (Host, TLS,
	// X-Forwarded-Proto) and the mount prefix.
	BaseURL string
	// RequestTimeout bounds the work done for one request, so an IdP gets a
	// 503 with Retry-After rather than a dropped connection when Sigma is
	// slow (Entra gives up after 60 s). Default 50s; negative: no bound.
	RequestTimeout time.Duration
	// Logger receives the access log and errors. Default: discard.
	Logger *slog.Logger
	// Registerer receives the scim_bridge_scim_* metrics. Default: none.
	Registerer prometheus.Registerer
}

const (
	defaultMaxBody        = 1 << 20
	defaultMaxResults     = 1000
	defaultRequestTimeout = 50 * time.Second
)

type server struct {
	dir               directory.Directory
	rules             mapping.AccountTypeRules
	userNameFromEmail bool
	maxBody           int64
	maxResults        int
	basePath          string
	baseURL           string
	timeout           time.Duration
	log               *slog.Logger
	metrics           *metrics
	userRes           *resource[directory.User, directory.User]
	groupRes          *resource[directory.Group, groupBody]
}

// New returns the SCIM handler. It serves /Users, /Groups (and their
// /.search), /ServiceProviderConfig, /Schemas and /ResourceTypes relative to
// its mount point; see Options.BasePath.
func New(opts Options) (http.Handler, error) {
	if opts.Directory == nil {
		return nil, errors.New("scimserver: Options.Directory is required")
	}
	s := &server{
		dir:               opts.Directory,
		rules:             opts.Rules,
		userNameFromEmail: opts.UserNameFromEmail == nil || *opts.UserNameFromEmail,
		maxBody:           opts.MaxBodyBytes,
		maxResults:        opts.MaxResults,
		basePath:          strings.TrimRight(opts.BasePath, "/"),
		baseURL:           strings.TrimRight(opts.BaseURL, "/"),
		timeout:           opts.RequestTimeout,
		log:               opts.Logger,
	}
	if s.timeout == 0 {
		s.timeout = defaultRequestTimeout
	}
	if s.maxBody <= 0 {
		s.maxBody = defaultMaxBody
	}
	if s.maxResults <= 0 {
		s.maxResults = defaultMaxResults
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	for _, r := range s.rules {
		if strings.TrimSpace(r.Group) == "" || strings.TrimSpace(r.AccountType) == "" {
			return nil, errors.New("scimserver: every account type rule needs a group and an account type")
		}
	}
	m, err := newMetrics(opts.Registerer)
	if err != nil {
		return nil, err
	}
	s.metrics = m
	s.userRes, s.groupRes = s.users(), s.groups()

	r := chi.NewRouter()
	r.NotFound(func(w http.ResponseWriter, r *http.Request) {
		writeAPIError(w, errorf(http.StatusNotFound, "", "no SCIM endpoint at %s; the bridge serves /Users, /Groups, /ServiceProviderConfig, /Schemas and /ResourceTypes", r.URL.Path))
	})
	notAllowed := func(w http.ResponseWriter, r *http.Request) {
		writeAPIError(w, &apiError{status: http.StatusMethodNotAllowed, detail: r.Method + " is not supported on " + r.URL.Path, allow: allowFor(r.URL.Path)})
	}
	r.MethodNotAllowed(notAllowed)
	r.Group(func(r chi.Router) {
		r.Use(s.actor, s.contentType)
		r.Get("/ServiceProviderConfig", s.serviceProviderConfig)
		r.Get("/Schemas", s.schemas)
		r.Get("/Schemas/{id}", s.schema)
		r.Get("/ResourceTypes", s.resourceTypes)
		r.Get("/ResourceTypes/{id}", s.resourceType)

		// chi would route GET /Users/.search to /Users/{id}.
		for _, p := range []string{"/Users/.search", "/Groups/.search", "/.search"} {
			for _, m := range []string{http.MethodGet, http.MethodPut, http.MethodPatch, http.MethodDelete} {
				r.Method(m, p, http.HandlerFunc(notAllowed))
			}
		}

		// Advertised as unsupported in /ServiceProviderConfig (bulk) or
		// meaningless for a bearer token that names an IdP, not a user (Me).
		r.HandleFunc("/Bulk", func(w http.ResponseWriter, r *http.Request) {
			writeAPIError(w, errorf(http.StatusNotImplemented, "", "bulk operations are not supported; send requests one by one"))
		})
		r.HandleFunc("/Me", func(w http.ResponseWriter, r *http.Request) {
			writeAPIError(w, errorf(http.StatusNotImplemented, "", "/Me is not supported: the bearer token identifies an identity provider, not a user"))
		})

		s.userRes.mount(r)
		s.groupRes.mount(r)
		r.Post("/.search", s.rootSearch)
	})

	// Outermost first: recovery must see panics of everything, the request
	// id must exist before logging, normalisation must run before routing.
	var h http.Handler = r
	if opts.Auth != nil {
		// Before routing: a caller without a valid token gets 401 on
		// every path and method, never a 404 or 405 that tells it which
		// endpoints exist.
		h = opts.Auth(h)
	}
	h = s.normalize(h)
	h = s.bodyLimit(h)
	h = s.observe(h)
	h = s.recoverer(h)
	h = s.requestID(h)
	return h, nil
}

func allowFor(path string) string {
	switch {
	case strings.HasSuffix(path, "/.search"):
		return "POST"
	case strings.HasPrefix(path, "/Users/"), strings.HasPrefix(path, "/Groups/"):
		return "GET, PUT, PATCH, DELETE"
	case path == "/Users", path == "/Groups":
		return "GET, POST"
	}
	return "GET"
}

type ctxKey int

const (
	keyRequestID ctxKey = iota
	keyLogger
	keyPrefix
	keyRecord
)

func requestIDFrom(ctx context.Context) string {
	id, _ := ctx.Value(keyRequestID).(string)
	return id
}

func loggerFrom(ctx context.Context, fallback *slog.Logger) *slog.Logger {
	if l, ok := ctx.Value(keyLogger).(*slog.Logger); ok {
		return l
	}
	return fallback
}

// saneRequestID accepts an incoming X-Request-Id only if it is short and
// made of characters that cannot forge log lines or headers.
func saneRequestID(id string) bool {
	if id == "" || len(id) > 128 {
		return false
	}
	for _, c := range id {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.ContainsRune("-_.:", c)) {
			return false
		}
	}
	return true
}

func newRequestID() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// requestRecord collects what the access log line needs from inner layers.
type requestRecord struct {
	tokenName string
}

func (s *server) requestID(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := r.Header.Get("X-Request-Id")
		if !saneRequestID(id) {
			id = newRequestID()
		}
		w.Header().Set("X-Request-Id", id)
		ctx := context.WithValue(r.Context(), keyRequestID, id)
		ctx = context.WithValue(ctx, keyLogger, s.log.With("request_id", id))
		ctx = context.WithValue(ctx, keyRecord, &requestRecord{})
		if s.timeout > 0 {
			var cancel context.CancelFunc
			ctx, cancel = context.WithTimeout(ctx, s.timeout)
			defer cancel()
		}
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}

// actor runs after authentication: it puts the token name and request id
// into the directory.Actor the directory audits with.
func (s *server) actor(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := r.Context()
		name := tokens.NameFrom(ctx)
		if rec, ok := ctx.Value(keyRecord).(*requestRecord); ok {
			rec.tokenName = name
		}
		ctx = directory.WithActor(ctx, directory.Actor{RequestID: requestIDFrom(ctx), TokenName: name})
		if name != "" {
			ctx = context.WithValue(ctx, keyLogger, loggerFrom(ctx, s.log).With("token", name))
		}
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}

// contentType lets every request body through as JSON, whatever its
// Content-Type: application/scim+json and application/json are what the
// RFC allows, Okta may send none at all, and HTTP clients that send none
// explicitly often default to text/plain. A body that is not JSON is
// answered invalidSyntax by the handler, which is the more useful error.
func (s *server) contentType(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if ct := r.Header.Get("Content-Type"); ct != "" && r.ContentLength != 0 {
			mt, _, _ := strings.Cut(strings.ToLower(ct), ";")
			mt = strings.TrimSpace(mt)
			if mt != "application/scim+json" && mt != "application/json" {
				loggerFrom(r.Context(), s.log).Debug("request body with an unusual Content-Type, read as JSON", "content_type", mt)
			}
		}
		next.ServeHTTP(w, r)
	})
}

type statusWriter struct {
	http.ResponseWriter
	status int
	bytes  int64
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	n, err := w.ResponseWriter.Write(b)
	w.bytes += int64(n)
	return n, err
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// observe writes one access log line and the request metrics.
func (s *server) observe(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w}
		resource := resourceLabel(r.URL.Path)
		method := r.Method
		path := r.URL.Path
		next.ServeHTTP(sw, r)
		if sw.status == 0 {
			sw.status = http.StatusOK
		}
		d := time.Since(start)
		s.metrics.observe(resource, method, sw.status, d)
		attrs := []any{"method", method, "path", path, "status", sw.status, "bytes", sw.bytes, "duration_ms", float64(d.Microseconds()) / 1000, "client", clientAddr(r)}
		if rec, ok := r.Context().Value(keyRecord).(*requestRecord); ok && rec.tokenName != "" {
			attrs = append(attrs, "token", rec.tokenName)
		}
		loggerFrom(r.Context(), s.log).Info("scim request", attrs...)
	})
}

// clientAddr is the address the request came from (the TCP peer: a proxy
// in front of the bridge shows as itself; X-Forwarded-For is not trusted).
func clientAddr(r *http.Request) string {
	if host, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
		return host
	}
	return r.RemoteAddr
}

func (s *server) recoverer(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				loggerFrom(r.Context(), s.log).Error("panic in scim handler", "panic", v)
				writeAPIError(w, &apiError{status: http.StatusInternalServerError, detail: "internal error; the bridge log has the cause under request id " + requestIDFrom(r.Context())})
			}
		}()
		next.ServeHTTP(w, r)
	})
}

func (s *server) bodyLimit(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ContentLength > s.maxBody {
			writeAPIError(w, tooLarge(s.maxBody))
			return
		}
		if r.Body != nil {
			r.Body = http.MaxBytesReader(w, r.Body, s.maxBody)
		}
		next.ServeHTTP(w, r)
	})
}

func tooLarge(limit int64) *apiError {
	return errorf(http.StatusRequestEntityTooLarge, typeInvalidValue, "request body larger than %d bytes; send smaller requests (e.g. fewer members per PATCH)", limit)
}

// canonicalSegments are the endpoint names, matched case-insensitively.
var canonicalSegments = []string{"Users", "Groups", "ServiceProviderConfig", "Schemas", "ResourceTypes", "Bulk", "Me", ".search"}

// normalize strips the base path and trailing slashes and fixes the case
// of endpoint names, so "/scim/v2/users/?filter=" reaches GET /Users. The
// mount prefix the request had is remembered for meta.location.
func (s *server) normalize(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p := r.URL.Path
		prefix := ""
		// Under http.StripPrefix the original path is still in RequestURI
		// (possibly in absolute form).
		if u, err := url.ParseRequestURI(r.RequestURI); err == nil && strings.HasSuffix(u.Path, p) && len(u.Path) > len(p) {
			prefix = strings.TrimSuffix(u.Path, p)
		}
		if s.basePath != "" && (p == s.basePath || strings.HasPrefix(p, s.basePath+"/")) {
			prefix += s.basePath
			p = strings.TrimPrefix(p, s.basePath)
		}
		for len(p) > 1 && strings.HasSuffix(p, "/") {
			p = strings.TrimSuffix(p, "/")
		}
		if !strings.HasPrefix(p, "/") {
			p = "/" + p
		}
		segs := strings.Split(p, "/")
		for i, seg := range segs {
			if i != 1 && !(i == 2 && strings.EqualFold(seg, ".search")) {
				continue
			}
			for _, c := range canonicalSegments {
				if strings.EqualFold(seg, c) {
					segs[i] = c
				}
			}
		}
		p = strings.Join(segs, "/")
		r2 := new(http.Request)
		*r2 = *r
		u := *r.URL
		u.Path, u.RawPath = p, ""
		r2.URL = &u
		ctx := context.WithValue(r.Context(), keyPrefix, prefix)
		// A fresh chi routing context: when the app mounts us in its own chi
		// router, its RoutePath must not short-circuit our normalisation.
		ctx = context.WithValue(ctx, chi.RouteCtxKey, (*chi.Context)(nil))
		next.ServeHTTP(w, r2.WithContext(ctx))
	})
}

// base returns the SCIM base URL for links in responses to r.
func (s *server) base(r *http.Request) string {
	if s.baseURL != "" {
		return s.baseURL
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	if p := r.Header.Get("X-Forwarded-Proto"); p == "https" || p == "http" {
		scheme = p
	}
	prefix, _ := r.Context().Value(keyPrefix).(string)
	return scheme + "://" + r.Host + prefix
}

const jsonContentType = "application/scim+json; charset=utf-8"

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		writeEncodeFailure(w)
		return
	}
	w.Header().Set("Content-Type", jsonContentType)
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// writeEncodeFailure answers 500 for a response that could not be encoded.
func writeEncodeFailure(w http.ResponseWriter) {
	w.Header().Set("Content-Type", jsonContentType)
	w.WriteHeader(http.StatusInternalServerError)
	_, _ = w.Write([]byte(`{"schemas":["urn:ietf:params:scim:api:messages:2.0:Error"],"status":"500","detail":"internal error encoding the response"}`))
}
