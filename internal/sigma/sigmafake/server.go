package sigmafake

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Defaults applied by New when the corresponding Options field is zero.
const (
	DefaultClientID     = "fake-client-id"
	DefaultClientSecret = "fake-client-secret"
	DefaultSCIMToken    = "fake-scim-token"
	DefaultTokenTTL     = time.Hour
	// DefaultAccountType is the built-in type Sigma uses for new members when
	// no memberType is given and no Invitation default is configured; we pick
	// the least-privileged built-in, "View".
	DefaultAccountType     = "View"
	DefaultRequestLogLimit = 100_000
)

// BuiltinAccountTypes are Sigma's built-in account types in the order
// /v2/accountTypes lists them.
var BuiltinAccountTypes = []string{"Admin", "Pro", "Essential", "View"}

// DefaultAccountTypes is what an org offers when Options.AccountTypes is
// empty: the built-ins plus one custom type, so tests meet a name with a
// space and mixed case.
var DefaultAccountTypes = []string{"Admin", "Pro", "Essential", "View", "Analyst Creator"}

// legacyBuiltins are older built-in names that some orgs still have; they
// count as built-in (isCustom=false, lower-case SCIM userType) when listed.
var legacyBuiltins = map[string]bool{"Creator": true, "Explorer": true, "Viewer": true}

// Options configure an emulated org. The zero value is a working org with
// the default credentials and no members.
type Options struct {
	// ClientID and ClientSecret are the accepted REST API credentials;
	// defaults DefaultClientID / DefaultClientSecret.
	ClientID, ClientSecret string
	// SCIMToken is the accepted Enterprise SCIM bearer token; default
	// DefaultSCIMToken.
	SCIMToken string
	// SCIMDisabled starts the org without Enterprise SCIM (/scim/v2 answers
	// 404) until SetSCIMEnabled(true).
	SCIMDisabled bool
	// TokenTTL is the access-token lifetime, measured on Now; default 1h.
	TokenTTL time.Duration
	// TokenRatePerSecond limits POST /v2/auth/token (wall clock, burst of
	// max(1, rate)); beyond it the answer is 429 with no body and no
	// Retry-After, like Sigma's CDN. 0 means the default of 1; <0 disables.
	TokenRatePerSecond float64
	// Capacity, when > 0, is the request rate (per second, wall clock) the
	// org's API absorbs: REST and SCIM requests beyond it, counted
	// together, are answered 429 with no body and no Retry-After, without
	// acting, as Sigma's CDN does. The bucket holds a tenth of a second's
	// worth, so short bursts pass. The token endpoint keeps its own limit
	// (TokenRatePerSecond) and does not count. SetCapacity changes it.
	Capacity float64
	// Members and Teams seed that many realistic members and teams.
	Members, Teams int
	// AccountTypes are the org's account type names; default
	// DefaultAccountTypes. Names in BuiltinAccountTypes (and the legacy
	// Creator/Explorer/Viewer) are built-in, the rest custom.
	AccountTypes []string
	// DefaultAccountType is used for members created without memberType;
	// default "View". It is added to AccountTypes when missing.
	DefaultAccountType string
	// Now is the clock for token expiry and timestamps; default time.Now.
	Now func() time.Time
	// Seed makes ids, seeded data and fault dice deterministic.
	Seed int64
	// Logger receives one debug line per request (method, path, status);
	// default discards.
	Logger *slog.Logger
	// RequestLogLimit caps the request log (oldest dropped); default
	// DefaultRequestLogLimit.
	RequestLogLimit int
}

// Fault describes injected misbehaviour for requests whose path starts with a
// prefix. Probabilities are in 0..1 and are rolled independently, in this
// order: Latency, Status500, Status429, Ambiguous.
type Fault struct {
	Status500 float64 // answer 500 {"message","code","requestId"} without acting
	Status429 float64 // answer 429 with no body and no Retry-After, without acting
	// Ambiguous performs the request, then drops the connection without a
	// response (the client sees EOF/reset).
	Ambiguous       float64
	Latency         float64       // probability of sleeping LatencyDuration first
	LatencyDuration time.Duration // default 100ms when Latency > 0
	// RetryAfter, when > 0, adds a Retry-After header (whole seconds,
	// rounded up) to injected 429s; Sigma's CDN usually sends none.
	RetryAfter time.Duration
	// Times, when > 0, removes the fault after it has fired that many
	// times (a request where any of the dice hit counts once), so tests can
	// say "fail the next two calls" without racing ClearFaults.
	Times int
	// Method, when set, limits the fault to requests with that method
	// ("DELETE": the next delete is applied and its answer lost, while the
	// reads before it go through).
	Method string
	// Then, when set, replaces the fault on the same prefix once Times
	// has run out: "apply the next create and drop its answer, then fail
	// every lookup" is Fault{Method: "POST", Ambiguous: 1, Times: 1,
	// Then: &Fault{Method: "GET", Status500: 1}}.
	Then *Fault
}

// Request is one entry of the request log.
type Request struct {
	Time   time.Time
	Method string
	Path   string
	Query  url.Values
	// Status is the status the emulator produced; for an ambiguous fault it
	// is the status of the performed action, and Dropped is true.
	Status int
	// Header is a copy of the request headers (Authorization included: the
	// credentials are the emulator's own).
	Header http.Header
	// Body is the raw request body (a token request's includes the fake
	// client secret).
	Body    []byte
	Dropped bool
}

// Server is one emulated Sigma org.
type Server struct {
	opts    Options
	now     func() time.Time
	log     *slog.Logger
	handler http.Handler

	// mu guards the org state below.
	mu           sync.RWMutex
	rnd          *rand.Rand
	orgID        string
	ownerID      string // the member owning the API client credentials
	cursorSalt   string
	members      []*Member // insertion order; never shrinks (Sigma never deletes)
	memberByID   map[string]int
	memberByMail map[string]int // lower-cased email
	teams        []*teamRec     // insertion order; deleted teams keep their slot
	teamByID     map[string]int
	accountTypes []accountType
	defaultType  string

	// authMu guards credentials and issued tokens.
	authMu       sync.Mutex
	clientID     string
	clientSecret string
	scimToken    string
	scimEnabled  bool
	tokens       map[string]time.Time // access token -> expiry
	refresh      map[string]bool
	authRnd      *rand.Rand
	limiter      *limiter

	capMu    sync.Mutex
	capacity *limiter // nil: unlimited

	faultMu  sync.Mutex
	faults   map[string]Fault
	faultRnd *rand.Rand

	reqMu sync.Mutex
	reqs  []Request

	httpSrv *http.Server
	url     string
	done    chan struct{}
}

// New builds an org from opts, seeded and ready; it does not listen.
func New(opts Options) *Server {
	if opts.ClientID == "" {
		opts.ClientID = DefaultClientID
	}
	if opts.ClientSecret == "" {
		opts.ClientSecret = DefaultClientSecret
	}
	if opts.SCIMToken == "" {
		opts.SCIMToken = DefaultSCIMToken
	}
	if opts.TokenTTL <= 0 {
		opts.TokenTTL = DefaultTokenTTL
	}
	if opts.TokenRatePerSecond == 0 {
		opts.TokenRatePerSecond = 1
	}
	if len(opts.AccountTypes) == 0 {
		opts.AccountTypes = DefaultAccountTypes
	}
	if opts.DefaultAccountType == "" {
		opts.DefaultAccountType = DefaultAccountType
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.RequestLogLimit <= 0 {
		opts.RequestLogLimit = DefaultRequestLogLimit
	}
	seed := uint64(opts.Seed)
	s := &Server{
		opts:         opts,
		now:          opts.Now,
		log:          opts.Logger,
		rnd:          rand.New(rand.NewPCG(seed, 0x5167a)),
		memberByID:   map[string]int{},
		memberByMail: map[string]int{},
		teamByID:     map[string]int{},
		clientID:     opts.ClientID,
		clientSecret: opts.ClientSecret,
		scimToken:    opts.SCIMToken,
		scimEnabled:  !opts.SCIMDisabled,
		tokens:       map[string]time.Time{},
		refresh:      map[string]bool{},
		authRnd:      rand.New(rand.NewPCG(seed, 0x70c3)),
		faults:       map[string]Fault{},
		faultRnd:     rand.New(rand.NewPCG(seed, 0xfa17)),
	}
	if opts.TokenRatePerSecond > 0 {
		s.limiter = newLimiter(opts.TokenRatePerSecond, max(1, opts.TokenRatePerSecond))
	}
	s.SetCapacity(opts.Capacity)
	s.orgID = s.uuid()
	s.ownerID = s.opaqueID()
	s.cursorSalt = s.randString(6, alnum)
	s.defaultType = opts.DefaultAccountType
	seen := map[string]bool{}
	for _, name := range opts.AccountTypes {
		if name == "" || seen[name] {
			continue
		}
		seen[name] = true
		s.accountTypes = append(s.accountTypes, s.newAccountType(name))
	}
	if !seen[s.defaultType] {
		s.accountTypes = append(s.accountTypes, s.newAccountType(s.defaultType))
	}
	s.seed(opts.Members, opts.Teams)
	s.handler = s.routes()
	return s
}

// Start builds an org and serves it on 127.0.0.1 with a free port.
func Start(opts Options) (*Server, error) {
	return Listen(opts, "127.0.0.1:0")
}

// Listen builds an org and serves it on addr (host:port).
func Listen(opts Options, addr string) (*Server, error) {
	s := New(opts)
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("sigmafake listen on %s: %w", addr, err)
	}
	s.url = "http://" + ln.Addr().String()
	s.httpSrv = &http.Server{
		Handler:           s.handler,
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelDebug),
	}
	s.done = make(chan struct{})
	go func() {
		defer close(s.done)
		_ = s.httpSrv.Serve(ln) // returns http.ErrServerClosed on Close
	}()
	return s, nil
}

// Handler serves the REST API under /v2 and /v2.1 (token at /v2/auth/token)
// and Enterprise SCIM under /scim/v2.
func (s *Server) Handler() http.Handler { return s.handler }

// URL is the REST host ("http://127.0.0.1:port"); clients append /v2/....
// It is empty for a Server built with New that is not listening.
func (s *Server) URL() string { return s.url }

// SCIMURL is the Directory Base URL of the org's Enterprise SCIM endpoint.
func (s *Server) SCIMURL() string { return s.url + "/scim/v2" }

// Close stops the listener and closes open connections; it is a no-op for
// a Server built with New.
func (s *Server) Close() error {
	if s.httpSrv == nil {
		return nil
	}
	err := s.httpSrv.Close()
	<-s.done
	return err
}

// OrganizationID is the org's id, as found in every member.
func (s *Server) OrganizationID() string { return s.orgID }

// OwnerID is the memberId of the admin owning the API credentials: it is
// createdBy/addedBy of API writes and receives the documents of members
// deleted through the API. When Members > 0 it is the first seeded member.
func (s *Server) OwnerID() string { return s.ownerID }

// ---- control -------------------------------------------------------------

// ExpireTokens makes every access token issued so far answer 401.
func (s *Server) ExpireTokens() {
	s.authMu.Lock()
	defer s.authMu.Unlock()
	clear(s.tokens)
}

// SetClientSecret rotates the accepted REST client secret. Access tokens
// already issued stay valid until they expire.
func (s *Server) SetClientSecret(secret string) {
	s.authMu.Lock()
	defer s.authMu.Unlock()
	s.clientSecret = secret
}

// SetSCIMToken replaces the accepted SCIM bearer token.
func (s *Server) SetSCIMToken(token string) {
	s.authMu.Lock()
	defer s.authMu.Unlock()
	s.scimToken = token
}

// SetSCIMEnabled turns the Enterprise SCIM endpoint on or off; off, every
// /scim/v2 path answers 404 like an org without Enterprise SCIM.
func (s *Server) SetSCIMEnabled(on bool) {
	s.authMu.Lock()
	defer s.authMu.Unlock()
	s.scimEnabled = on
}

// SetCapacity sets the API's capacity in requests per second (see
// Options.Capacity); 0 or less removes the limit.
func (s *Server) SetCapacity(perSecond float64) {
	s.capMu.Lock()
	defer s.capMu.Unlock()
	if perSecond <= 0 {
		s.capacity = nil
		return
	}
	s.capacity = newLimiter(perSecond, max(1, perSecond/10))
}

// overCapacity reports whether a request to path exceeds the capacity.
func (s *Server) overCapacity(path string) bool {
	if path == "/v2/auth/token" {
		return false
	}
	s.capMu.Lock()
	l := s.capacity
	s.capMu.Unlock()
	return l != nil && !l.allow()
}

// SetFault installs f for request paths starting with pathPrefix, replacing
// any fault on the same prefix. The longest matching prefix applies.
func (s *Server) SetFault(pathPrefix string, f Fault) {
	s.faultMu.Lock()
	defer s.faultMu.Unlock()
	s.faults[pathPrefix] = f
}

// ClearFaults removes every injected fault.
func (s *Server) ClearFaults() {
	s.faultMu.Lock()
	defer s.faultMu.Unlock()
	clear(s.faults)
}

// ---- request log ---------------------------------------------------------

// Requests returns a copy of the request log, oldest first.
func (s *Server) Requests() []Request {
	s.reqMu.Lock()
	defer s.reqMu.Unlock()
	out := make([]Request, len(s.reqs))
	copy(out, s.reqs)
	return out
}

// ResetRequests empties the request log.
func (s *Server) ResetRequests() {
	s.reqMu.Lock()
	defer s.reqMu.Unlock()
	s.reqs = nil
}

// CountRequests counts logged requests with the method ("" = any) whose
// path starts with pathPrefix.
func (s *Server) CountRequests(method, pathPrefix string) int {
	s.reqMu.Lock()
	defer s.reqMu.Unlock()
	n := 0
	for _, r := range s.reqs {
		if (method == "" || r.Method == method) && strings.HasPrefix(r.Path, pathPrefix) {
			n++
		}
	}
	return n
}

func (s *Server) record(r Request) {
	s.reqMu.Lock()
	defer s.reqMu.Unlock()
	if len(s.reqs) >= s.opts.RequestLogLimit {
		drop := len(s.reqs) - s.opts.RequestLogLimit + 1
		s.reqs = append(s.reqs[:0], s.reqs[drop:]...)
	}
	s.reqs = append(s.reqs, r)
}

// ---- middleware ----------------------------------------------------------

const maxBody = 4 << 20

// statusWriter remembers the status; when buffer is set it holds the
// response back instead of sending it (for ambiguous faults).
type statusWriter struct {
	http.ResponseWriter
	status int
	buffer bool
	header http.Header
}

func (w *statusWriter) Header() http.Header {
	if w.buffer {
		if w.header == nil {
			w.header = http.Header{}
		}
		return w.header
	}
	return w.ResponseWriter.Header()
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	if !w.buffer {
		w.ResponseWriter.WriteHeader(code)
	}
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	if w.buffer {
		return len(b), nil
	}
	return w.ResponseWriter.Write(b)
}

// serve is the outermost handler: it logs the request, applies faults and
// dispatches.
func (s *Server) serve(mux http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(io.LimitReader(r.Body, maxBody))
		if err != nil {
			http.Error(w, "read body", http.StatusBadRequest)
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		entry := Request{Time: s.now(), Method: r.Method, Path: r.URL.Path, Query: r.URL.Query(), Header: r.Header.Clone(), Body: body}
		sw := &statusWriter{ResponseWriter: w}
		recorded := false
		finish := func() {
			if recorded {
				return
			}
			recorded = true
			if sw.status == 0 {
				sw.status = http.StatusOK
			}
			entry.Status = sw.status
			s.record(entry)
			s.log.Debug("sigmafake request", "method", r.Method, "path", r.URL.Path, "status", sw.status, "dropped", entry.Dropped)
		}
		defer finish()

		if s.overCapacity(r.URL.Path) {
			sw.WriteHeader(http.StatusTooManyRequests)
			return
		}
		f, dice, ok := s.rollFault(r.Method, r.URL.Path)
		if !ok {
			mux.ServeHTTP(sw, r)
			return
		}
		if dice.latency {
			d := f.LatencyDuration
			if d <= 0 {
				d = 100 * time.Millisecond
			}
			t := time.NewTimer(d)
			select {
			case <-t.C:
			case <-r.Context().Done():
				t.Stop()
			}
		}
		switch {
		case dice.fail500:
			writeError(sw, http.StatusInternalServerError, "internal_error", "Internal server error")
			return
		case dice.fail429:
			if f.RetryAfter > 0 {
				sw.Header().Set("Retry-After", strconv.Itoa(int((f.RetryAfter+time.Second-1)/time.Second)))
			}
			sw.WriteHeader(http.StatusTooManyRequests)
			return
		case dice.ambiguous:
			sw.buffer = true
			mux.ServeHTTP(sw, r)
			entry.Dropped = true
			finish() // log before the client can observe the drop
			dropConnection(w)
			return
		}
		mux.ServeHTTP(sw, r)
	})
}

// dropConnection closes the client connection without a response. It
// hijacks when it can; otherwise it aborts the handler, which makes
// net/http close the connection without writing anything.
func dropConnection(w http.ResponseWriter) {
	if hj, ok := w.(http.Hijacker); ok {
		if conn, _, err := hj.Hijack(); err == nil {
			if tc, ok := conn.(*net.TCPConn); ok {
				_ = tc.SetLinger(0) // reset rather than a clean FIN: the client must not mistake it for an answer
			}
			_ = conn.Close()
			return
		}
	}
	panic(http.ErrAbortHandler)
}

type faultDice struct {
	latency, fail500, fail429, ambiguous bool
}

// rollFault picks the fault of the longest prefix matching path and rolls
// its dice; a fault with Times > 0 is removed (or replaced by its Then)
// once it has fired that often.
func (s *Server) rollFault(method, path string) (Fault, faultDice, bool) {
	s.faultMu.Lock()
	defer s.faultMu.Unlock()
	best, prefix := -1, ""
	for p, f := range s.faults {
		if f.Method != "" && f.Method != method {
			continue
		}
		if strings.HasPrefix(path, p) && len(p) > best {
			best, prefix = len(p), p
		}
	}
	if best < 0 {
		return Fault{}, faultDice{}, false
	}
	f := s.faults[prefix]
	hit := func(p float64) bool { return p > 0 && s.faultRnd.Float64() < p }
	d := faultDice{latency: hit(f.Latency), fail500: hit(f.Status500), fail429: hit(f.Status429), ambiguous: hit(f.Ambiguous)}
	if f.Times > 0 && (d.latency || d.fail500 || d.fail429 || d.ambiguous) {
		f.Times--
		switch {
		case f.Times == 0 && f.Then != nil:
			s.faults[prefix] = *f.Then
		case f.Times == 0:
			delete(s.faults, prefix)
		default:
			s.faults[prefix] = f
		}
	}
	return f, d, true
}

// ---- token endpoint and REST auth ---------------------------------------

type limiter struct {
	mu     sync.Mutex
	rate   float64
	burst  float64
	tokens float64
	last   time.Time
}

func newLimiter(rate, burst float64) *limiter {
	return &limiter{rate: rate, burst: burst, tokens: burst}
}

// allow uses the wall clock, not Options.Now: the limits belong to the CDN in
// front of Sigma, and a frozen test clock must not lock the endpoint forever.
func (l *limiter) allow() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := time.Now()
	if !l.last.IsZero() {
		l.tokens = min(l.burst, l.tokens+now.Sub(l.last).Seconds()*l.rate)
	}
	l.last = now
	if l.tokens >= 1 {
		l.tokens--
		return true
	}
	return false
}

type tokenResponse struct {
	AccessToken  string `json:"access_token"`
	RefreshToken string `json:"refresh_token"`
	TokenType    string `json:"token_type"`
	ExpiresIn    int64  `json:"expires_in"`
}

func (s *Server) handleToken(w http.ResponseWriter, r *http.Request) {
	if s.limiter != nil && !s.limiter.allow() {
		w.WriteHeader(http.StatusTooManyRequests)
		return
	}
	params := map[string]string{}
	ct := r.Header.Get("Content-Type")
	if strings.HasPrefix(ct, "application/json") {
		var m map[string]any
		if err := json.NewDecoder(r.Body).Decode(&m); err != nil {
			writeError(w, http.StatusBadRequest, "bad_request", "Invalid JSON body")
			return
		}
		for k, v := range m {
			if str, ok := v.(string); ok {
				params[k] = str
			}
		}
	} else {
		if err := r.ParseForm(); err != nil {
			writeError(w, http.StatusBadRequest, "bad_request", "Invalid form body")
			return
		}
		for k := range r.PostForm {
			params[k] = r.PostForm.Get(k)
		}
	}
	id, secret := params["client_id"], params["client_secret"]
	if u, p, ok := r.BasicAuth(); ok {
		// RFC 6749 2.3.1: Basic credentials are form-urlencoded first.
		if v, err := url.QueryUnescape(u); err == nil {
			u = v
		}
		if v, err := url.QueryUnescape(p); err == nil {
			p = v
		}
		id, secret = u, p
	}
	s.authMu.Lock()
	defer s.authMu.Unlock()
	switch params["grant_type"] {
	case "client_credentials":
		if id != s.clientID || secret != s.clientSecret {
			writeError(w, http.StatusUnauthorized, "unauthorized", "Invalid client credentials")
			return
		}
	case "refresh_token":
		if !s.refresh[params["refresh_token"]] {
			writeError(w, http.StatusUnauthorized, "unauthorized", "Invalid refresh token")
			return
		}
		delete(s.refresh, params["refresh_token"])
	case "":
		writeError(w, http.StatusBadRequest, "bad_request", "grant_type is required")
		return
	default:
		writeError(w, http.StatusBadRequest, "bad_request", "Unsupported grant_type")
		return
	}
	now := s.now()
	for t, exp := range s.tokens {
		if !now.Before(exp) {
			delete(s.tokens, t)
		}
	}
	access := s.authString(64)
	refresh := s.authString(48)
	s.tokens[access] = now.Add(s.opts.TokenTTL)
	s.refresh[refresh] = true
	writeJSON(w, http.StatusOK, tokenResponse{
		AccessToken:  access,
		RefreshToken: refresh,
		TokenType:    "bearer",
		ExpiresIn:    int64(s.opts.TokenTTL / time.Second),
	})
}

func (s *Server) authString(n int) string {
	b := make([]byte, n)
	for i := range b {
		b[i] = alnum[s.authRnd.IntN(len(alnum))]
	}
	return string(b)
}

// validAccessToken reports whether the request carries a live access token.
func (s *Server) validAccessToken(r *http.Request) bool {
	tok, ok := bearer(r)
	if !ok {
		return false
	}
	s.authMu.Lock()
	defer s.authMu.Unlock()
	exp, ok := s.tokens[tok]
	return ok && s.now().Before(exp)
}

func bearer(r *http.Request) (string, bool) {
	h := r.Header.Get("Authorization")
	if len(h) < 7 || !strings.EqualFold(h[:7], "bearer ") {
		return "", false
	}
	tok := strings.TrimSpace(h[7:])
	return tok, tok != ""
}

func (s *Server) requireREST(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !s.validAccessToken(r) {
			writeError(w, http.StatusUnauthorized, "unauthorized", "Token missing or malformed")
			return
		}
		next.ServeHTTP(w, r)
	})
}

// ---- JSON helpers --------------------------------------------------------

type apiError struct {
	Message   string `json:"message"`
	Code      string `json:"code"`
	RequestID string `json:"requestId"`
}

var reqIDMu sync.Mutex
var reqIDRnd = rand.New(rand.NewPCG(1, 2))

func requestID() string {
	reqIDMu.Lock()
	defer reqIDMu.Unlock()
	b := make([]byte, 20)
	for i := range b {
		b[i] = alnum[reqIDRnd.IntN(len(alnum))]
	}
	return string(b)
}

func writeError(w http.ResponseWriter, status int, code, msg string) {
	writeJSON(w, status, apiError{Message: msg, Code: code, RequestID: requestID()})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	writeJSONType(w, status, "application/json; charset=utf-8", v)
}

func writeJSONType(w http.ResponseWriter, status int, ct string, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status, b = http.StatusInternalServerError, []byte(`{"message":"encode","code":"internal_error"}`)
	}
	w.Header().Set("Content-Type", ct)
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// decodeBody decodes a JSON request body into v; an empty body is an error.
func decodeBody(r *http.Request, v any) error {
	dec := json.NewDecoder(r.Body)
	if err := dec.Decode(v); err != nil {
		if errors.Is(err, io.EOF) {
			return errors.New("request body is empty")
		}
		return fmt.Errorf("invalid JSON body: %w", err)
	}
	return nil
}
