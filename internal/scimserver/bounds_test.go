package scimserver_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/scimbridge/scim-bridge/internal/directory"
	"github.com/scimbridge/scim-bridge/internal/scimserver/scimtest"
	"github.com/scimbridge/scim-bridge/internal/store"
)

// Hostile input and faults at the edge (issue 10 items 1, 4, 6, 7; 11; 12.8).

// nested returns a filter nested depth parentheses deep.
func nested(depth int) string {
	return strings.Repeat("(", depth) + `userName eq "a@example.com"` + strings.Repeat(")", depth)
}

func TestFilterBoundsBeforeParsing(t *testing.T) {
	ts := newTestServer(t)
	uid := ts.createUser(t, "bounds@example.com")
	g := ts.createGroup(t, "bounded")
	ts.Fake.ResetRequests()
	// 100,000 deep overflowed the process's stack before the bound.
	deep, _ := json.Marshal(map[string]string{"filter": nested(100000)})
	ts.do(t, "POST", "/Users/.search", string(deep)).wantError(t, 400, "invalidFilter")
	ts.do(t, "GET", "/Users?filter="+urlq(nested(20)), nil).wantError(t, 400, "invalidFilter")
	ts.do(t, "GET", "/Users?filter="+urlq(nested(16)), nil).want(t, 200)
	long := `userName eq "` + strings.Repeat("a", 9000) + `"`
	r := ts.do(t, "GET", "/Users?filter="+urlq(long), nil)
	r.wantError(t, 400, "invalidFilter")
	if d := r.Body["detail"].(string); !strings.Contains(d, "8192") || len(d) > 600 {
		t.Errorf("detail should name the limit and not echo the filter: %.300s", d)
	}
	// PATCH value paths are filters too.
	path, _ := json.Marshal(`emails[` + nested(50) + `].value`)
	ts.do(t, "PATCH", "/Users/"+uid, `{"Operations":[{"op":"replace","path":`+string(path)+`,"value":"x"}]}`).wantError(t, 400, "invalidFilter")
	mpath, _ := json.Marshal(`members[` + nested(50) + `]`)
	ts.do(t, "PATCH", "/Groups/"+g, `{"Operations":[{"op":"remove","path":`+string(mpath)+`}]}`).wantError(t, 400, "invalidFilter")
	for _, c := range scimtest.Calls(ts.Fake) {
		if !strings.HasPrefix(c, "GET ") {
			t.Errorf("a rejected request reached Sigma: %s", c)
		}
	}
}

// orTerms returns n OR-ed userName eq terms.
func orTerms(n int) string {
	terms := make([]string, n)
	for i := range terms {
		terms[i] = fmt.Sprintf(`userName eq "nobody%d@example.com"`, i)
	}
	return strings.Join(terms, " or ")
}

func TestRequestAmplificationBounded(t *testing.T) {
	ts := newTestServer(t)
	g := ts.createGroup(t, "amplified")
	ts.Fake.ResetRequests()
	// 5,000 OR-ed terms cost ~1,000 Sigma calls before the bound.
	body, _ := json.Marshal(map[string]string{"filter": orTerms(5000)})
	r := ts.do(t, "POST", "/Users/.search", string(body))
	r.wantError(t, 400, "invalidFilter")
	if d := r.Body["detail"].(string); !strings.Contains(d, "at most 8192 bytes") {
		t.Errorf("detail does not say the limit: %s", d)
	}
	body, _ = json.Marshal(map[string]string{"filter": orTerms(100)}) // within the length bound
	r = ts.do(t, "POST", "/Users/.search", string(body))
	r.wantError(t, 400, "invalidFilter")
	if d := r.Body["detail"].(string); !strings.Contains(d, "at most 50") {
		t.Errorf("detail does not say the limit: %s", d)
	}
	// A PATCH naming 10,000 unknown member ids cost ~1,000.
	var ids []string
	for i := 0; i < 10000; i++ {
		ids = append(ids, fmt.Sprintf(`{"value":"unknown%d"}`, i))
	}
	r = ts.do(t, "PATCH", "/Groups/"+g, `{"Operations":[{"op":"remove","path":"members","value":[`+strings.Join(ids, ",")+`]}]}`)
	r.wantError(t, 400, "tooMany")
	if d := r.Body["detail"].(string); !strings.Contains(d, "1000") {
		t.Errorf("detail does not say the limit: %s", d)
	}
	ops := strings.TrimSuffix(strings.Repeat(`{"op":"add","path":"members","value":[]},`, 101), ",")
	ts.do(t, "PATCH", "/Groups/"+g, `{"Operations":[`+ops+`]}`).wantError(t, 400, "tooMany")
	if calls := scimtest.Calls(ts.Fake); len(calls) != 0 {
		t.Errorf("rejected requests made %d Sigma calls: %q", len(calls), calls[:min(len(calls), 3)])
	}
	// Within the bounds: at most one lookup per term.
	body, _ = json.Marshal(map[string]string{"filter": orTerms(50)})
	ts.do(t, "POST", "/Users/.search", string(body)).want(t, 200)
	if n := len(scimtest.Calls(ts.Fake)); n > 50 {
		t.Errorf("50 terms made %d Sigma calls", n)
	}
}

func TestUserNameValuesBounded(t *testing.T) {
	ts := newTestServer(t)
	ts.Fake.ResetRequests()
	for name, body := range map[string]string{
		"1 MB userName":   `{"userName":"` + strings.Repeat("a", 1<<20-100) + `@example.com"}`,
		"255-byte email":  `{"userName":"` + strings.Repeat("a", 243) + `@example.com"}`,
		"NUL in userName": `{"userName":"nul\u0000@example.com"}`,
		"NUL in a name":   `{"userName":"nul@example.com","name":{"givenName":"A\u0000","familyName":"B"}}`,
		"lone surrogate":  `{"userName":"sur\ud800@example.com"}`,
		"long givenName":  `{"userName":"long@example.com","name":{"givenName":"` + strings.Repeat("g", 1025) + `","familyName":"B"}}`,
	} {
		t.Run(name, func(t *testing.T) {
			r := ts.do(t, "POST", "/Users", body)
			r.wantError(t, 400, "invalidValue")
			if len(r.Raw) > 1000 {
				t.Errorf("the error echoes the value: %d bytes", len(r.Raw))
			}
		})
	}
	// Invalid UTF-8 was replaced silently: two different userNames collided.
	for _, raw := range []string{"caf\xe9@example.com", "caf\xff@example.com"} {
		ts.do(t, "POST", "/Users", `{"userName":"`+raw+`"}`).wantError(t, 400, "invalidValue")
	}
	if calls := scimtest.Calls(ts.Fake); len(calls) != 0 {
		t.Errorf("rejected values reached Sigma: %d calls", len(calls))
	}
	// Line breaks in an attribute Sigma does not keep are fine (Entra).
	ts.do(t, "POST", "/Users", `{"userName":"lf@example.com","addresses":[{"formatted":"1 Navy Way\nArlington"}]}`).want(t, http.StatusCreated)
}

func TestStoreOutageAnswers503(t *testing.T) {
	fd := &flakyDir{}
	ts := newTestServer(t, withWrappedDir(func(d directory.Directory) directory.Directory { fd.Directory = d; return fd }))
	fd.err = fmt.Errorf("restdir: read record: %w", fmt.Errorf("sqlite: query: %w", store.ErrUnavailable))
	r := ts.do(t, "GET", "/Users/x", nil)
	r.wantError(t, 503, "")
	if r.Header.Get("Retry-After") == "" || strings.Contains(r.Body["detail"].(string), "internal") {
		t.Errorf("store outage: Retry-After %q, detail %q", r.Header.Get("Retry-After"), r.Body["detail"])
	}
}

func TestRejectedSigmaCredentialsSaySo(t *testing.T) {
	ts := newTestServer(t)
	id := ts.createUser(t, "creds@example.com")
	ts.Fake.SetClientSecret("rotated-without-telling-the-bridge")
	ts.Fake.ExpireTokens()
	r := ts.do(t, "GET", "/Users/"+id, nil)
	r.wantError(t, 503, "")
	if d := r.Body["detail"].(string); !strings.Contains(d, "credentials were rejected") || strings.Contains(d, "rate-limiting") {
		t.Errorf("detail %q", d)
	}
	if r.Header.Get("Retry-After") == "" {
		t.Error("no Retry-After")
	}
}

func TestUnsupportedCountedApartFromServerErrors(t *testing.T) {
	ts := newTestServer(t)
	ts.do(t, "POST", "/Bulk", `{}`).wantError(t, 501, "")
	if v := counterValue(t, ts, "other", "POST", "unsupported"); v != 1 {
		t.Errorf("unsupported = %v, want 1", v)
	}
	if v := counterValue(t, ts, "other", "POST", "5xx"); v != 0 {
		t.Errorf("5xx = %v, want 0: a 501 is no server error", v)
	}
}

func counterValue(t *testing.T, ts *testServer, resource, method, class string) float64 {
	t.Helper()
	return testutil.ToFloat64(counter(t, ts, resource, method, class))
}

func TestRequestLogHasClientAddress(t *testing.T) {
	ts := newTestServer(t)
	ts.do(t, "GET", "/Users?filter="+urlq(`userName eq "someone@example.com"`), nil).want(t, 200)
	for _, line := range strings.Split(ts.Log.String(), "\n") {
		if !strings.Contains(line, `"msg":"scim request"`) {
			continue
		}
		if !strings.Contains(line, `"client":"127.0.0.1"`) {
			t.Errorf("no client address: %s", line)
		}
		if strings.Contains(line, "someone@example.com") {
			t.Errorf("an email in the request log: %s", line)
		}
		return
	}
	t.Fatal("no request log line")
}
