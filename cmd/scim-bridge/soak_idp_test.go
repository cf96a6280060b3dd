package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"math/rand/v2"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"
)

// soakUser is what the IdP will do to one user, decided before the run,
// and so what Sigma must hold for them at the end.
type soakUser struct {
	userName, given, family string
	groups                  []int    // joined at onboarding
	changes                 []string // givenName values, in order
	changeByPUT             []bool   // per change: PUT the whole user, else PATCH the path
	leave                   int      // group left later, -1 for none
	deprovision, delete     bool     // remove from every group and set active=false; then DELETE
}

// finalGiven is the givenName Sigma must end with.
func (u soakUser) finalGiven() string {
	if len(u.changes) == 0 {
		return u.given
	}
	return u.changes[len(u.changes)-1]
}

// finalGroups are the groups the user must end in.
func (u soakUser) finalGroups() []int {
	if u.deprovision {
		return nil
	}
	var gs []int
	for _, g := range u.groups {
		if g != u.leave {
			gs = append(gs, g)
		}
	}
	return gs
}

// planSoak draws the lifecycle of n users over g groups from seed: every
// user joins one or two groups; about 40% are changed once or twice
// (half the second changes set the name back to what it was, which a
// bridge diffing against a stale copy would drop); about 15% of the
// others leave one group; 20% are deprovisioned (out of every group,
// then active=false) and half of those then deleted.
func planSoak(n, groups int, seed uint64) []soakUser {
	users := make([]soakUser, n)
	for i := range users {
		r := rand.New(rand.NewPCG(seed, uint64(i)))
		u := soakUser{
			userName: fmt.Sprintf("soak-%05d@soak.example.com", i),
			given:    fmt.Sprintf("Given%d", i), family: fmt.Sprintf("Family%d", i),
			groups: []int{i % groups}, leave: -1,
		}
		if second := r.IntN(groups); r.IntN(3) == 0 && second != u.groups[0] {
			u.groups = append(u.groups, second)
		}
		switch c := r.IntN(100); {
		case c < 25:
			u.changes = []string{fmt.Sprintf("Given%d-v1", i)}
		case c < 40:
			u.changes = []string{fmt.Sprintf("Given%d-v1", i), fmt.Sprintf("Given%d-v2", i)}
			if r.IntN(2) == 0 {
				u.changes[1] = u.given
			}
		}
		for range u.changes {
			u.changeByPUT = append(u.changeByPUT, r.IntN(2) == 0)
		}
		switch d := r.IntN(100); {
		case d < 10:
			u.deprovision, u.delete = true, true
		case d < 20:
			u.deprovision = true
		case d < 35:
			u.leave = u.groups[r.IntN(len(u.groups))]
		}
		users[i] = u
	}
	return users
}

// idpStats counts what the IdP saw. Bridge answers that were not SCIM are
// violations; the proxy's own 502s (no bridge reachable) are counted apart.
type idpStats struct {
	mu          sync.Mutex
	requests    int
	retries     int
	byStatus    map[int]int
	proxy502    int
	transport   int
	nonSCIM     []string
	failures    []string
	adopted     int               // creates whose retry met 409: the earlier attempt had landed
	deleteGone  int               // DELETE retries that met 404: the earlier attempt had landed
	userIDs     map[string]string // userName → id the IdP holds
	groupIDs    map[int]string    // group → id the IdP holds
	doneUsers   int
	doneUsersCh chan int
}

func newIDPStats() *idpStats {
	return &idpStats{byStatus: map[int]int{}, userIDs: map[string]string{},
		groupIDs: map[int]string{}, doneUsersCh: make(chan int, 1<<16)}
}

func (s *idpStats) fail(format string, args ...any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failures = append(s.failures, fmt.Sprintf(format, args...))
}

// idpClient is an IdP's SCIM client: it retries transport errors, 5xx and
// 429 with capped exponential backoff and jitter, as Okta and Entra do.
type idpClient struct {
	base, token string
	hc          *http.Client
	stats       *idpStats
	rnd         *rand.Rand
}

const (
	scimUserSchema  = "urn:ietf:params:scim:schemas:core:2.0:User"
	scimGroupSchema = "urn:ietf:params:scim:schemas:core:2.0:Group"
	scimPatchSchema = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
	scimErrorSchema = "urn:ietf:params:scim:api:messages:2.0:Error"
)

// answer is the bridge's final answer to one logical request.
type answer struct {
	status   int
	body     map[string]any
	attempts int
}

// do sends one request until the answer is neither a transport error, a
// 5xx nor a 429, for at most 3 minutes, and checks that every answer of
// the bridge was a SCIM body.
func (c *idpClient) do(ctx context.Context, method, path string, body any) (answer, error) {
	var raw []byte
	if body != nil {
		raw, _ = json.Marshal(body)
	}
	deadline := time.Now().Add(3 * time.Minute)
	for attempt := 1; ; attempt++ {
		status, m, retry, err := c.once(ctx, method, path, raw)
		if !retry {
			return answer{status, m, attempt}, err
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return answer{status, m, attempt}, fmt.Errorf("%s %s: still failing after %d attempts: %d %v", method, path, attempt, status, err)
		}
		c.stats.mu.Lock()
		c.stats.retries++
		c.stats.mu.Unlock()
		backoff := min(25*time.Millisecond<<min(attempt-1, 6), time.Second)
		time.Sleep(backoff/2 + time.Duration(c.rnd.Int64N(int64(backoff/2)+1)))
	}
}

func (c *idpClient) once(ctx context.Context, method, path string, raw []byte) (status int, m map[string]any, retry bool, err error) {
	var rd io.Reader
	if raw != nil {
		rd = bytes.NewReader(raw)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, rd)
	if err != nil {
		return 0, nil, false, err
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	req.Header.Set("Accept", "application/scim+json")
	if raw != nil {
		req.Header.Set("Content-Type", "application/scim+json")
	}
	resp, err := c.hc.Do(req)
	c.stats.mu.Lock()
	c.stats.requests++
	c.stats.mu.Unlock()
	if err != nil {
		c.stats.mu.Lock()
		c.stats.transport++
		c.stats.mu.Unlock()
		return 0, nil, true, err
	}
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		c.stats.mu.Lock()
		c.stats.transport++
		c.stats.mu.Unlock()
		return 0, nil, true, err
	}
	if resp.Header.Get(proxyHeader) != "" {
		c.stats.mu.Lock()
		c.stats.proxy502++
		c.stats.mu.Unlock()
		return resp.StatusCode, nil, true, errors.New("no bridge reachable behind the proxy")
	}
	m, problem := checkSCIMAnswer(resp, b)
	c.stats.mu.Lock()
	c.stats.byStatus[resp.StatusCode]++
	if problem != "" {
		c.stats.nonSCIM = append(c.stats.nonSCIM, fmt.Sprintf("%s %s: %d: %s: %.200q", method, path, resp.StatusCode, problem, b))
	}
	c.stats.mu.Unlock()
	retry = resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500
	return resp.StatusCode, m, retry, nil
}

// checkSCIMAnswer says what is wrong with a bridge answer, if anything:
// a body must be application/scim+json JSON; an error must carry the SCIM
// error schema and its status as a string; a 204 has no body.
func checkSCIMAnswer(resp *http.Response, b []byte) (map[string]any, string) {
	if resp.StatusCode == http.StatusNoContent {
		if len(b) != 0 {
			return nil, "204 with a body"
		}
		return nil, ""
	}
	mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	if mt != "application/scim+json" {
		return nil, fmt.Sprintf("Content-Type %q", resp.Header.Get("Content-Type"))
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, "not a JSON object: " + err.Error()
	}
	if resp.StatusCode >= 400 {
		schemas, _ := m["schemas"].([]any)
		if !slices.Contains(schemas, any(scimErrorSchema)) {
			return m, "error without the SCIM error schema"
		}
		if m["status"] != fmt.Sprint(resp.StatusCode) {
			return m, fmt.Sprintf("error status %v, want %q", m["status"], fmt.Sprint(resp.StatusCode))
		}
	}
	return m, ""
}

func userBody(u soakUser, given string, active bool) map[string]any {
	return map[string]any{
		"schemas":  []string{scimUserSchema},
		"userName": u.userName, "active": active,
		"name":     map[string]string{"givenName": given, "familyName": u.family},
		"emails":   []map[string]any{{"value": u.userName, "type": "work", "primary": true}},
		"password": "not-used-by-sigma", "groups": []any{},
	}
}

func patchOps(ops ...map[string]any) map[string]any {
	return map[string]any{"schemas": []string{scimPatchSchema}, "Operations": ops}
}

// expect checks an answer's status against want; ok statuses beyond the
// first are accepted too (PATCH answers 200 or 204).
func (c *idpClient) expect(what string, a answer, err error, want ...int) bool {
	if err == nil && slices.Contains(want, a.status) {
		return true
	}
	c.stats.fail("%s: %d after %d attempts (want %v): %v %v", what, a.status, a.attempts, want, err, a.body["detail"])
	return false
}

// lookup is Okta's existence check; it returns the id, or "" if absent.
func (c *idpClient) lookupUser(ctx context.Context, userName string) (string, bool) {
	q := url.QueryEscape(fmt.Sprintf(`userName eq "%s"`, userName))
	a, err := c.do(ctx, "GET", "/Users?filter="+q+"&startIndex=1&count=100", nil)
	if !c.expect("lookup "+userName, a, err, 200) {
		return "", false
	}
	res, _ := a.body["Resources"].([]any)
	switch len(res) {
	case 0:
		return "", true
	case 1:
		id, _ := res[0].(map[string]any)["id"].(string)
		return id, true
	}
	c.stats.fail("lookup %s: %d users", userName, len(res))
	return "", false
}

// ensureGroup creates group g (or adopts it after an ambiguous create).
func (c *idpClient) ensureGroup(ctx context.Context, g int) {
	name := fmt.Sprintf("Soak Group %d", g)
	a, err := c.do(ctx, "POST", "/Groups", map[string]any{"schemas": []string{scimGroupSchema}, "displayName": name, "members": []any{}})
	if err == nil && a.status == http.StatusConflict && a.attempts > 1 {
		q := url.QueryEscape(fmt.Sprintf(`displayName eq "%s"`, name))
		a, err = c.do(ctx, "GET", "/Groups?filter="+q+"&excludedAttributes=members", nil)
		if c.expect("group lookup "+name, a, err, 200) {
			if res, _ := a.body["Resources"].([]any); len(res) == 1 {
				a.body = res[0].(map[string]any)
				a.status = http.StatusCreated
			}
		}
	}
	if !c.expect("create "+name, a, err, http.StatusCreated) {
		return
	}
	c.stats.mu.Lock()
	c.stats.groupIDs[g] = a.body["id"].(string)
	c.stats.mu.Unlock()
}

// live runs one user's whole lifecycle, each step retried until it lands.
func (c *idpClient) live(ctx context.Context, u soakUser) {
	id, ok := c.lookupUser(ctx, u.userName)
	if !ok {
		return
	}
	if id != "" {
		c.stats.fail("lookup %s before create: already exists as %s", u.userName, id)
		return
	}
	a, err := c.do(ctx, "POST", "/Users", userBody(u, u.given, true))
	if err == nil && a.status == http.StatusConflict && a.attempts > 1 {
		// An earlier attempt landed but its answer was lost: find it.
		if id, ok = c.lookupUser(ctx, u.userName); !ok || id == "" {
			c.stats.fail("create %s: 409 on retry but the lookup finds nothing", u.userName)
			return
		}
		c.stats.mu.Lock()
		c.stats.adopted++
		c.stats.mu.Unlock()
	} else if !c.expect("create "+u.userName, a, err, http.StatusCreated) {
		return
	} else {
		id, _ = a.body["id"].(string)
	}
	c.stats.mu.Lock()
	c.stats.userIDs[u.userName] = id
	gids := maps.Clone(c.stats.groupIDs)
	c.stats.mu.Unlock()

	member := func(op string, g int) bool {
		var o map[string]any
		if op == "add" {
			o = map[string]any{"op": "add", "path": "members", "value": []any{map[string]string{"value": id}}}
		} else {
			o = map[string]any{"op": "remove", "path": fmt.Sprintf(`members[value eq "%s"]`, id)}
		}
		a, err := c.do(ctx, "PATCH", "/Groups/"+gids[g], patchOps(o))
		return c.expect(fmt.Sprintf("%s %s in group %d", op, u.userName, g), a, err, 200, 204)
	}
	for _, g := range u.groups {
		if !member("add", g) {
			return
		}
	}
	for k, given := range u.changes {
		var a answer
		var err error
		if u.changeByPUT[k] {
			a, err = c.do(ctx, "PUT", "/Users/"+id, userBody(u, given, true))
		} else {
			a, err = c.do(ctx, "PATCH", "/Users/"+id, patchOps(map[string]any{"op": "replace", "path": "name.givenName", "value": given}))
		}
		if !c.expect(fmt.Sprintf("change %d of %s", k+1, u.userName), a, err, 200, 204) {
			return
		}
	}
	if u.leave >= 0 && !member("remove", u.leave) {
		return
	}
	if !u.deprovision {
		return
	}
	for _, g := range u.groups {
		if !member("remove", g) {
			return
		}
	}
	a, err = c.do(ctx, "PATCH", "/Users/"+id, patchOps(map[string]any{"op": "replace", "value": map[string]any{"active": false}}))
	if !c.expect("deprovision "+u.userName, a, err, 200, 204) || !u.delete {
		return
	}
	a, err = c.do(ctx, "DELETE", "/Users/"+id, nil)
	if err == nil && a.status == http.StatusNotFound && a.attempts > 1 {
		c.stats.mu.Lock()
		c.stats.deleteGone++
		c.stats.mu.Unlock()
		return
	}
	c.expect("delete "+u.userName, a, err, http.StatusNoContent)
}

// runIdP onboards and lives every user from workers concurrent clients,
// after creating the groups; it reports each finished user on
// stats.doneUsersCh (the SIGKILL variant kills bridges on that count).
func runIdP(ctx context.Context, base, token string, users []soakUser, groups, workers int, stats *idpStats) {
	defer close(stats.doneUsersCh) // also when a group could not be created
	newClient := func(seed uint64) *idpClient {
		return &idpClient{base: base, token: token, stats: stats, rnd: rand.New(rand.NewPCG(seed, 7)),
			hc: &http.Client{Timeout: 60 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: workers}}}
	}
	setup := newClient(0)
	for g := range groups {
		setup.ensureGroup(ctx, g)
	}
	stats.mu.Lock()
	ready := len(stats.groupIDs) == groups
	stats.mu.Unlock()
	if !ready {
		return
	}
	jobs := make(chan soakUser)
	var wg sync.WaitGroup
	for w := range workers {
		c := newClient(uint64(w) + 1)
		wg.Go(func() {
			for u := range jobs {
				c.live(ctx, u)
				stats.mu.Lock()
				stats.doneUsers++
				n := stats.doneUsers
				stats.mu.Unlock()
				stats.doneUsersCh <- n
			}
		})
	}
	for _, u := range users {
		jobs <- u
	}
	close(jobs)
	wg.Wait()
}

// sortedStatuses renders byStatus as "200:12 201:3".
func (s *idpStats) sortedStatuses() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var codes []int
	for c := range s.byStatus {
		codes = append(codes, c)
	}
	slices.Sort(codes)
	var b strings.Builder
	for _, c := range codes {
		fmt.Fprintf(&b, "%d:%d ", c, s.byStatus[c])
	}
	return strings.TrimSpace(b.String())
}
