package sigma_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/scimbridge/scim-bridge/internal/secret"
	"github.com/scimbridge/scim-bridge/internal/sigma"
)

func TestResolveHost(t *testing.T) {
	tests := []struct {
		in, want, wantErr string
	}{
		{in: "aws-us-west", want: "https://aws-api.sigmacomputing.com"},
		{in: "AWS-EU", want: "https://api.eu.aws.sigmacomputing.com"},
		{in: " gcp-us ", want: "https://api.sigmacomputing.com"},
		{in: "azure-us", want: "https://api.us.azure.sigmacomputing.com"},
		{in: "https://aws-api.sigmacomputing.com/", want: "https://aws-api.sigmacomputing.com"},
		{in: "https://aws-api.sigmacomputing.com/v2", want: "https://aws-api.sigmacomputing.com"},
		{in: "http://127.0.0.1:8080/proxy/v2/", want: "http://127.0.0.1:8080/proxy"},
		{in: "", wantErr: "empty"},
		{in: "mars-north", wantErr: "neither a URL nor a region"},
		{in: "ftp://example.com", wantErr: "scheme"},
		{in: "https://user:pw@example.com", wantErr: "credentials"},
		{in: "https://example.com/?x=1", wantErr: "query"},
		{in: "https://", wantErr: "no host"},
	}
	for _, tt := range tests {
		got, err := sigma.ResolveHost(tt.in)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("ResolveHost(%q) = %q, %v; want error containing %q", tt.in, got, err, tt.wantErr)
			}
			if err != nil && strings.Contains(err.Error(), "pw@") {
				t.Errorf("ResolveHost error leaks URL credentials: %v", err)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("ResolveHost(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
}

func TestRegionsAreTheThirteenServers(t *testing.T) {
	rs := sigma.Regions()
	if len(rs) != 13 {
		t.Fatalf("got %d regions, want the 13 servers of the description", len(rs))
	}
	names, urls := map[string]bool{}, map[string]bool{}
	for _, r := range rs {
		if names[r.Name] || urls[r.URL] {
			t.Errorf("duplicate region %+v", r)
		}
		names[r.Name], urls[r.URL] = true, true
		got, err := sigma.ResolveHost(r.Name)
		if err != nil || got != r.URL {
			t.Errorf("ResolveHost(%q) = %q, %v; want %q", r.Name, got, err, r.URL)
		}
	}
}

func TestAPIErrorSentinels(t *testing.T) {
	nf := &sigma.APIError{Status: 404, Code: "not_found", Message: "Member not found", Method: "GET", Endpoint: "/v2/members/{memberId}", RequestID: "r1"}
	mt := &sigma.APIError{Status: 404, Code: "not_found", Message: "Member type name is not found"}
	dup := &sigma.APIError{Status: 409, Code: "conflict", Message: "Duplicate record"}
	un := &sigma.APIError{Status: 401, Code: "unauthorized"}
	wrapped := fmt.Errorf("create: %w", dup)
	cases := []struct {
		err    error
		target error
		want   bool
	}{
		{nf, sigma.ErrNotFound, true},
		{nf, sigma.ErrUnknownMemberType, false},
		{mt, sigma.ErrNotFound, false},
		{mt, sigma.ErrUnknownMemberType, true},
		{dup, sigma.ErrDuplicate, true},
		{wrapped, sigma.ErrDuplicate, true},
		{dup, sigma.ErrNotFound, false},
		{un, sigma.ErrUnauthorized, true},
		{&sigma.UnknownAccountTypeError{Name: "x"}, sigma.ErrUnknownMemberType, true},
	}
	for i, c := range cases {
		if got := errors.Is(c.err, c.target); got != c.want {
			t.Errorf("case %d: errors.Is(%v, %v) = %v, want %v", i, c.err, c.target, got, c.want)
		}
	}
	if got, want := nf.Error(), "GET /v2/members/{memberId}: 404 not_found: Member not found (request id r1)"; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
}

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	cases := map[string]time.Duration{
		"":     0,
		"7":    7 * time.Second,
		"-1":   0,
		"soon": 0,
		now.Add(90 * time.Second).Format(http.TimeFormat): 90 * time.Second,
		now.Add(-time.Hour).Format(http.TimeFormat):       0,
	}
	for in, want := range cases {
		if got := sigma.ParseRetryAfter(in, now); got != want {
			t.Errorf("parseRetryAfter(%q) = %v, want %v", in, got, want)
		}
	}
}

func TestBackoffIsCappedExponentialFullJitterOrRetryAfter(t *testing.T) {
	c, err := sigma.NewClient(sigma.Config{BaseURL: "http://127.0.0.1:1", ClientID: "id",
		ClientSecret: secret.NewStatic("s"), RetryBaseDelay: 100 * time.Millisecond, RetryMaxDelay: time.Second}, nil)
	if err != nil {
		t.Fatal(err)
	}
	var ceilings []time.Duration
	sigma.SetRetryHooks(c, nil, func(d time.Duration) time.Duration { ceilings = append(ceilings, d); return d / 2 })
	var got []time.Duration
	for i := range 6 {
		got = append(got, sigma.Backoff(c, i, 0))
	}
	wantCeil := []time.Duration{100, 200, 400, 800, 1000, 1000}
	for i := range wantCeil {
		wantCeil[i] *= time.Millisecond
		if ceilings[i] != wantCeil[i] || got[i] != wantCeil[i]/2 {
			t.Errorf("retry %d: ceiling %v slept %v; want ceiling %v (jitter applied to it)", i, ceilings[i], got[i], wantCeil[i])
		}
	}
	if d := sigma.Backoff(c, 0, 7*time.Second); d != 7*time.Second {
		t.Errorf("Retry-After 7s gave backoff %v", d)
	}
}

func TestNewClientRejectsIncompleteConfig(t *testing.T) {
	_, err := sigma.NewClient(sigma.Config{BaseURL: "aws-us-west"}, nil)
	if err == nil || !strings.Contains(err.Error(), "client id is empty") || !strings.Contains(err.Error(), "client secret source is missing") {
		t.Errorf("NewClient without credentials: %v; want both problems listed", err)
	}
	if _, err := sigma.NewClient(sigma.Config{BaseURL: "nowhere", ClientID: "x", ClientSecret: secret.NewStatic("y")}, nil); err == nil {
		t.Error("NewClient with an unknown region succeeded")
	}
	if _, err := sigma.NewSCIMClient(sigma.SCIMConfig{BaseURL: "https://example.com/scim/v2"}, nil); err == nil {
		t.Error("NewSCIMClient without token source succeeded")
	}
}

func TestSCIMFilterEqQuotes(t *testing.T) {
	if got, want := sigma.SCIMFilterEq("userName", `a"b\c@x.com`), `userName eq "a\"b\\c@x.com"`; got != want {
		t.Errorf("SCIMFilterEq = %s, want %s", got, want)
	}
}

// TestSCIMUserJSON: the typed resource keeps what it does not model and
// reads Sigma's string booleans.
func TestSCIMUserJSON(t *testing.T) {
	in := `{"id":"m1","userName":"a@x","name":{"givenName":"A","familyName":"B"},"active":"false","title":"Dr",` +
		`"urn:sigma:scim:schemas:extension:2.0:User":{"userKind":"embed"},"meta":{"created":"2026-01-02T03:04:05Z"}}`
	var u sigma.SCIMUser
	if err := json.Unmarshal([]byte(in), &u); err != nil {
		t.Fatal(err)
	}
	if u.ID != "m1" || u.Active || u.Sigma == nil || u.Sigma.UserKind != "embed" || u.Meta == nil || u.Meta.Created.Year() != 2026 {
		t.Errorf("decoded %+v", u)
	}
	if string(u.Extra["title"]) != `"Dr"` || len(u.Extra) != 1 {
		t.Errorf("Extra = %q, want only title", u.Extra)
	}
	out, err := json.Marshal(u)
	if err != nil || !strings.Contains(string(out), `"title":"Dr"`) || !strings.Contains(string(out), `"active":false`) {
		t.Errorf("encoded %s, %v", out, err)
	}
}
