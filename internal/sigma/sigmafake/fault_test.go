package sigmafake

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestFaultStatus500(t *testing.T) {
	s := startServer(t, Options{Members: 3})
	c := newREST(t, s)
	s.SetFault("/v2/members", Fault{Status500: 1})
	r := c.do(http.MethodGet, "/v2/members?limit=10", nil).want(t, http.StatusInternalServerError)
	if e := r.apiError(t); e.Code == "" || e.Message == "" || e.RequestID == "" {
		t.Fatalf("500 body %s", r.body)
	}
	c.do(http.MethodPost, "/v2/members", map[string]any{"email": "f@example.com", "firstName": "F", "lastName": "F"}).want(t, http.StatusInternalServerError)
	if _, ok := s.MemberByEmail("f@example.com"); ok {
		t.Fatal("a 500 fault performed the write")
	}
	c.do(http.MethodGet, "/v2/teams?limit=10", nil).want(t, http.StatusOK)
	s.ClearFaults()
	c.do(http.MethodGet, "/v2/members?limit=10", nil).want(t, http.StatusOK)
}

func TestFault429HasNoBodyNorRetryAfter(t *testing.T) {
	s := startServer(t, Options{Members: 3})
	c := newREST(t, s)
	s.SetFault("/v2/", Fault{Status429: 1})
	r := c.do(http.MethodGet, "/v2/members?limit=10", nil).want(t, http.StatusTooManyRequests)
	if len(r.body) != 0 || r.header.Get("Retry-After") != "" {
		t.Fatalf("429 body %q, Retry-After %q", r.body, r.header.Get("Retry-After"))
	}
	// Faults apply to the token endpoint too when the prefix covers it.
	requestToken(t, s, DefaultClientID, DefaultClientSecret).want(t, http.StatusTooManyRequests)
}

func TestFaultTimesAndRetryAfter(t *testing.T) {
	s := startServer(t, Options{Members: 2})
	c := newREST(t, s)
	s.SetFault("/v2/members", Fault{Status429: 1, RetryAfter: 1500 * time.Millisecond, Times: 2})
	for range 2 {
		r := c.do(http.MethodGet, "/v2/members?limit=1", nil).want(t, http.StatusTooManyRequests)
		if got := r.header.Get("Retry-After"); got != "2" {
			t.Fatalf("Retry-After = %q, want 2", got)
		}
	}
	c.do(http.MethodGet, "/v2/members?limit=1", nil).want(t, http.StatusOK)
	c.do(http.MethodGet, "/v2/members?limit=1", nil).want(t, http.StatusOK)
}

// TestFaultThen: a fault that has run out of Times hands its prefix to
// Then — here a create whose answer is dropped, and then the lookups of
// its outcome fail until the faults are cleared.
func TestFaultThen(t *testing.T) {
	s := startServer(t, Options{Members: 2})
	c := newREST(t, s)
	c.do(http.MethodGet, "/v2/members?limit=1", nil).want(t, http.StatusOK)
	s.SetFault("/v2/members", Fault{Method: http.MethodPost, Ambiguous: 1, Times: 1,
		Then: &Fault{Method: http.MethodGet, Status500: 1}})
	c.do(http.MethodGet, "/v2/members?limit=1", nil).want(t, http.StatusOK) // the POST's fault leaves reads alone
	req, _ := http.NewRequest(http.MethodPost, s.URL()+"/v2/members",
		strings.NewReader(`{"email":"then@example.com","firstName":"Th","lastName":"En"}`))
	req.Header.Set("Authorization", "Bearer "+c.token)
	req.Header.Set("Content-Type", "application/json")
	if resp, err := httpClient.Do(req); err == nil {
		resp.Body.Close()
		t.Fatalf("create answered %d, want a dropped connection", resp.StatusCode)
	}
	if _, ok := s.MemberByEmail("then@example.com"); !ok {
		t.Fatal("the create was not applied")
	}
	for range 3 {
		c.do(http.MethodGet, "/v2/members?limit=10&email=then%40example.com", nil).want(t, http.StatusInternalServerError)
	}
	c.do(http.MethodPost, "/v2/members", map[string]any{"email": "x@example.com", "firstName": "X", "lastName": "X"}).want(t, http.StatusOK) // writes go through
	s.ClearFaults()
	c.do(http.MethodGet, "/v2/members?limit=10&email=then%40example.com", nil).want(t, http.StatusOK)
}

func TestFaultLongestPrefixWins(t *testing.T) {
	s := startServer(t, Options{Members: 2, Teams: 1})
	c := newREST(t, s)
	s.SetFault("/v2/", Fault{Status500: 1})
	s.SetFault("/v2/teams", Fault{})
	c.do(http.MethodGet, "/v2/teams?limit=1", nil).want(t, http.StatusOK)
	c.do(http.MethodGet, "/v2/members?limit=1", nil).want(t, http.StatusInternalServerError)
}

func TestFaultAmbiguousWriteIsPerformedThenDropped(t *testing.T) {
	s := startServer(t, Options{Members: 1})
	c := newREST(t, s)
	s.SetFault("/v2/members", Fault{Ambiguous: 1})
	req, _ := http.NewRequest(http.MethodPost, s.URL()+"/v2/members",
		strings.NewReader(`{"email":"amb@example.com","firstName":"Am","lastName":"Big"}`))
	req.Header.Set("Authorization", "Bearer "+c.token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := httpClient.Do(req)
	if err == nil {
		resp.Body.Close()
		t.Fatalf("ambiguous write answered %d, want a dropped connection", resp.StatusCode)
	}
	m, ok := s.MemberByEmail("amb@example.com")
	if !ok {
		t.Fatal("ambiguous write was not performed")
	}
	reqs := s.Requests()
	last := reqs[len(reqs)-1]
	if !last.Dropped || last.Status != http.StatusOK || last.Method != http.MethodPost {
		t.Fatalf("log entry %+v", last)
	}
	// Retrying blindly now gives 409: the first attempt did create.
	s.ClearFaults()
	c.do(http.MethodPost, "/v2/members", map[string]any{"email": "amb@example.com", "firstName": "Am", "lastName": "Big"}).want(t, http.StatusConflict)
	var p memberPage
	c.do(http.MethodGet, "/v2/members?limit=10&email=amb%40example.com", nil).want(t, http.StatusOK).decode(t, &p)
	if len(p.Entries) != 1 || p.Entries[0].MemberID != m.MemberID {
		t.Fatalf("lookup after ambiguous create %+v", p)
	}
}

func TestFaultAmbiguousOverHandlerWithoutHijack(t *testing.T) {
	// Through Handler() under a server without hijacking (HTTP/2 style),
	// the emulator aborts the handler instead.
	s := New(Options{Members: 1, TokenRatePerSecond: -1})
	s.SetFault("/v2/teams", Fault{Ambiguous: 1})
	w := &noHijackWriter{header: http.Header{}}
	req, _ := http.NewRequest(http.MethodPost, "/v2/teams", strings.NewReader(`{"name":"X"}`))
	s.authMu.Lock()
	s.tokens["tok"] = s.now().Add(time.Hour)
	s.authMu.Unlock()
	req.Header.Set("Authorization", "Bearer tok")
	defer func() {
		if v := recover(); v != http.ErrAbortHandler {
			t.Fatalf("recovered %v, want http.ErrAbortHandler", v)
		}
		if w.wrote {
			t.Fatal("response written before abort")
		}
		if len(s.Teams()) != 1 {
			t.Fatal("write not performed")
		}
	}()
	s.Handler().ServeHTTP(w, req)
}

type noHijackWriter struct {
	header http.Header
	wrote  bool
}

func (w *noHijackWriter) Header() http.Header         { return w.header }
func (w *noHijackWriter) WriteHeader(int)             { w.wrote = true }
func (w *noHijackWriter) Write(b []byte) (int, error) { w.wrote = true; return len(b), nil }

func TestFaultLatencyDelaysResponse(t *testing.T) {
	s := startServer(t, Options{Members: 1})
	c := newREST(t, s)
	s.SetFault("/v2/members", Fault{Latency: 1, LatencyDuration: time.Minute})
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, s.URL()+"/v2/members?limit=1", nil)
	req.Header.Set("Authorization", "Bearer "+c.token)
	resp, err := httpClient.Do(req)
	if err == nil {
		resp.Body.Close()
		t.Fatalf("answered %d within the deadline despite a minute of latency", resp.StatusCode)
	}
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v", err)
	}
	c.do(http.MethodGet, "/v2/teams?limit=1", nil).want(t, http.StatusOK)
}

func TestFaultProbabilityIsSeeded(t *testing.T) {
	count := func(seed int64) int {
		s := startServer(t, Options{Members: 1, Seed: seed})
		c := newREST(t, s)
		s.SetFault("/v2/members", Fault{Status500: 0.5})
		n := 0
		for range 100 {
			if c.do(http.MethodGet, "/v2/members?limit=1", nil).status == http.StatusInternalServerError {
				n++
			}
		}
		return n
	}
	a, b := count(9), count(9)
	if a != b {
		t.Fatalf("same seed gave %d and %d failures", a, b)
	}
	if a < 20 || a > 80 {
		t.Fatalf("p=0.5 gave %d/100 failures", a)
	}
}

func TestRequestLog(t *testing.T) {
	s := startServer(t, Options{Members: 3})
	c := newREST(t, s)
	c.do(http.MethodGet, "/v2/members?limit=2&includeArchived=true", nil)
	c.do(http.MethodPatch, "/v2/members/nope", map[string]any{"firstName": "x"})
	if n := s.CountRequests("", "/v2/"); n != 3 {
		t.Fatalf("CountRequests any = %d, want 3", n)
	}
	if n := s.CountRequests(http.MethodPost, "/v2/auth/token"); n != 1 {
		t.Fatalf("token requests = %d", n)
	}
	reqs := s.Requests()
	if q := reqs[1].Query; q.Get("limit") != "2" || q.Get("includeArchived") != "true" || reqs[1].Status != http.StatusOK {
		t.Fatalf("entry %+v", reqs[1])
	}
	if reqs[2].Status != http.StatusNotFound || !strings.Contains(string(reqs[2].Body), "firstName") ||
		reqs[2].Header.Get("Content-Type") != "application/json" || reqs[2].Header.Get("Authorization") != "Bearer "+c.token {
		t.Fatalf("entry %+v", reqs[2])
	}
	s.ResetRequests()
	if len(s.Requests()) != 0 {
		t.Fatal("reset did not empty the log")
	}
}

func TestRequestLogIsCapped(t *testing.T) {
	s := startServer(t, Options{RequestLogLimit: 3})
	for i := range 5 {
		send(t, http.MethodGet, s.URL()+fmt.Sprintf("/v2/x%d", i), "", "", nil)
	}
	reqs := s.Requests()
	if len(reqs) != 3 || reqs[0].Path != "/v2/x2" || reqs[2].Path != "/v2/x4" {
		t.Fatalf("log %+v", reqs)
	}
}

func TestConcurrentUse(t *testing.T) {
	s := startServer(t, Options{Members: 20, Teams: 3})
	c := newREST(t, s)
	sc := newSCIM(t, s)
	teamID := s.Teams()[0].TeamID
	var wg sync.WaitGroup
	// Goroutines report with Errorf: FailNow is for the test goroutine only.
	check := func(r response, status int) bool {
		if r.status != status {
			t.Errorf("status %d, want %d: %s", r.status, status, r.body)
			return false
		}
		return true
	}
	for g := range 8 {
		wg.Go(func() {
			for i := range 10 {
				email := fmt.Sprintf("c%d-%d@example.com", g, i)
				var id string
				if i%2 == 0 {
					r := c.doNoFatal(http.MethodPost, "/v2/members", map[string]any{"email": email, "firstName": "C", "lastName": "C"})
					if !check(r, http.StatusOK) {
						return
					}
					var m memberJSON
					_ = json.Unmarshal(r.body, &m)
					id = m.MemberID
				} else {
					r := sc.doNoFatal(http.MethodPost, "/Users", newUserBody(email, "view"))
					if !check(r, http.StatusCreated) {
						return
					}
					var u scimUserJSON
					_ = json.Unmarshal(r.body, &u)
					id = u.ID
				}
				check(c.doNoFatal(http.MethodPatch, "/v2/teams/"+teamID+"/members", map[string]any{"add": []string{id}}), http.StatusOK)
				check(c.doNoFatal(http.MethodGet, "/v2/members?limit=7", nil), http.StatusOK)
				check(sc.doNoFatal(http.MethodGet, "/Groups/"+teamID, nil), http.StatusOK)
				_ = s.Members()
				s.SetFault("/v2/nothing", Fault{})
			}
		})
	}
	wg.Wait()
	if n := len(s.Members()); n != 20+80 {
		t.Fatalf("%d members, want 100", n)
	}
	seeded := 0
	for _, m := range s.Members()[1:20] {
		if tm, _ := s.Team(teamID); contains(tm.Members, m.MemberID) {
			seeded++
		}
	}
	if tm, _ := s.Team(teamID); len(tm.Members) != seeded+80 {
		t.Fatalf("team has %d members, want %d", len(tm.Members), seeded+80)
	}
}

func contains(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}
