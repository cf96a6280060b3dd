package sigmafake

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeClock is a settable clock for Options.Now.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *fakeClock {
	return &fakeClock{t: time.Date(2026, 3, 14, 15, 9, 26, 0, time.UTC)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// startServer starts an emulator on loopback with the token rate limit off
// unless the test sets one, and closes it at the end of the test.
func startServer(t *testing.T, opts Options) *Server {
	t.Helper()
	if opts.TokenRatePerSecond == 0 {
		opts.TokenRatePerSecond = -1
	}
	s, err := Start(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	return s
}

type response struct {
	status int
	header http.Header
	body   []byte
}

func (r response) decode(t testing.TB, v any) {
	t.Helper()
	if err := json.Unmarshal(r.body, v); err != nil {
		t.Fatalf("decode %q: %v", r.body, err)
	}
}

// apiErr is Sigma's REST error body.
type apiErrBody struct {
	Message   string `json:"message"`
	Code      string `json:"code"`
	RequestID string `json:"requestId"`
}

func (r response) apiError(t *testing.T) apiErrBody {
	t.Helper()
	var e apiErrBody
	r.decode(t, &e)
	return e
}

var httpClient = &http.Client{Timeout: 30 * time.Second}

func send(t testing.TB, method, rawURL, bearer, contentType string, body io.Reader) response {
	t.Helper()
	req, err := http.NewRequest(method, rawURL, body)
	if err != nil {
		t.Fatal(err)
	}
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := httpClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, rawURL, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return response{resp.StatusCode, resp.Header, b}
}

// sendNoFatal is send for goroutines other than the test's: transport
// errors come back as status 0.
func sendNoFatal(method, rawURL, bearer, contentType string, body []byte) response {
	req, err := http.NewRequest(method, rawURL, bytes.NewReader(body))
	if err != nil {
		return response{body: []byte(err.Error())}
	}
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := httpClient.Do(req)
	if err != nil {
		return response{body: []byte(err.Error())}
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return response{resp.StatusCode, resp.Header, b}
}

func jsonBytes(v any) []byte {
	if v == nil {
		return nil
	}
	b, _ := json.Marshal(v)
	return b
}

func (c *rest) doNoFatal(method, path string, body any) response {
	return sendNoFatal(method, c.s.URL()+path, c.token, "application/json", jsonBytes(body))
}

func requestToken(t testing.TB, s *Server, id, secret string) response {
	t.Helper()
	form := url.Values{"grant_type": {"client_credentials"}, "client_id": {id}, "client_secret": {secret}}
	return send(t, http.MethodPost, s.URL()+"/v2/auth/token", "", "application/x-www-form-urlencoded", strings.NewReader(form.Encode()))
}

// rest is a tiny REST client holding one access token.
type rest struct {
	t     testing.TB
	s     *Server
	token string
}

func newREST(t testing.TB, s *Server) *rest {
	t.Helper()
	r := requestToken(t, s, DefaultClientID, DefaultClientSecret)
	if r.status != http.StatusOK {
		t.Fatalf("token: %d %s", r.status, r.body)
	}
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	r.decode(t, &tok)
	return &rest{t: t, s: s, token: tok.AccessToken}
}

func (c *rest) do(method, path string, body any) response {
	c.t.Helper()
	var rd io.Reader
	ct := ""
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			c.t.Fatal(err)
		}
		rd, ct = bytes.NewReader(b), "application/json"
	}
	return send(c.t, method, c.s.URL()+path, c.token, ct, rd)
}

// want fails the test unless the response has the status.
func (r response) want(t testing.TB, status int) response {
	t.Helper()
	if r.status != status {
		t.Fatalf("status = %d, want %d; body %s", r.status, status, r.body)
	}
	return r
}

type memberJSON struct {
	OrganizationID string  `json:"organizationId"`
	MemberID       string  `json:"memberId"`
	MemberType     string  `json:"memberType"`
	FirstName      string  `json:"firstName"`
	LastName       string  `json:"lastName"`
	Email          string  `json:"email"`
	ProfileImgURL  *string `json:"profileImgUrl"`
	CreatedBy      string  `json:"createdBy"`
	UpdatedBy      string  `json:"updatedBy"`
	CreatedAt      string  `json:"createdAt"`
	UpdatedAt      string  `json:"updatedAt"`
	HomeFolderID   string  `json:"homeFolderId"`
	UserKind       string  `json:"userKind"`
	IsArchived     bool    `json:"isArchived"`
	IsInactive     bool    `json:"isInactive"`
}

type memberPage struct {
	Entries  []memberJSON `json:"entries"`
	NextPage *string      `json:"nextPage"`
	Total    *int         `json:"total"`
}
