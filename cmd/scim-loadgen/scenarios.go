package main

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"sync"
	"time"
)

// scenarios by name; each measures one IdP behaviour.
var scenarios = map[string]func(ctx context.Context, c *client, o options) (*result, error){
	"lookup":      runLookup,
	"create":      runCreate,
	"onboard":     runOnboard,
	"import":      runImport,
	"group-push":  runGroupPush,
	"deprovision": runDeprovision,
}

const (
	userSchema  = "urn:ietf:params:scim:schemas:core:2.0:User"
	groupSchema = "urn:ietf:params:scim:schemas:core:2.0:Group"
	patchSchema = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
)

// parallel runs job(i) for i in [0, n) on workers goroutines.
func parallel(ctx context.Context, n, workers int, job func(i int)) {
	jobs := make(chan int)
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for i := range jobs {
				job(i)
			}
		})
	}
	for i := range n {
		select {
		case jobs <- i:
		case <-ctx.Done():
		}
	}
	close(jobs)
	wg.Wait()
}

type user struct{ id, userName string }

// collectUsers pages through /Users, 1000 a page (not measured: it only
// learns ids and userNames), until it has max users or the list ends.
func collectUsers(ctx context.Context, c *client, max int) ([]user, error) {
	var out []user
	for start := 1; len(out) < max; {
		m, _, err := c.do(ctx, http.MethodGet, fmt.Sprintf("/Users?startIndex=%d&count=1000", start), nil, http.StatusOK)
		if err != nil {
			return nil, err
		}
		res, _ := m["Resources"].([]any)
		for _, r := range res {
			rm, _ := r.(map[string]any)
			id, _ := rm["id"].(string)
			name, _ := rm["userName"].(string)
			out = append(out, user{id, name})
		}
		total, _ := m["totalResults"].(float64)
		start += len(res)
		if len(res) == 0 || start > int(total) {
			break
		}
	}
	return out[:min(len(out), max)], nil
}

func newUser(userName string) map[string]any {
	return map[string]any{
		"schemas": []string{userSchema}, "userName": userName, "active": true,
		"name":     map[string]string{"givenName": "Load", "familyName": "Generator"},
		"emails":   []map[string]any{{"value": userName, "type": "work", "primary": true}},
		"password": "not-used-by-sigma", "groups": []any{},
	}
}

func (o options) userName(kind string, i int) string {
	return fmt.Sprintf("%s-%s-%06d@loadgen.example.com", o.prefix, kind, i)
}

// measure runs f between two reads of the Sigma counter and fills in the
// result's timing, samples and Sigma figures.
func measure(ctx context.Context, o options, res *result, f func(rec *recorder)) error {
	var before sigmaCounts
	if o.sigma != nil {
		var err error
		if before, err = o.sigma(ctx); err != nil {
			return fmt.Errorf("read sigma calls: %w", err)
		}
	}
	rec := &recorder{}
	start := time.Now()
	f(rec)
	res.Seconds = time.Since(start).Seconds()
	res.PerSecond = float64(res.Units) / res.Seconds
	res.Ops = summarise(rec.samples)
	if o.sigma != nil {
		after, err := o.sigma(ctx)
		if err != nil {
			return fmt.Errorf("read sigma calls: %w", err)
		}
		calls, limited := after.calls-before.calls, after.limited-before.limited
		per := calls / float64(max(1, res.Units))
		res.SigmaCalls, res.SigmaPerOp, res.Sigma429 = &calls, &per, &limited
	}
	return ctx.Err()
}

func runLookup(ctx context.Context, c *client, o options) (*result, error) {
	users, err := collectUsers(ctx, c, 1000)
	if err != nil {
		return nil, err
	}
	if len(users) == 0 {
		return nil, fmt.Errorf("lookup: the server has no users to look up")
	}
	res := &result{Scenario: "lookup", Units: o.ops, UnitName: "requests"}
	err = measure(ctx, o, res, func(rec *recorder) {
		parallel(ctx, o.ops, o.workers, func(i int) {
			u := users[(i*7919)%len(users)]
			q := "/Users?filter=" + url.QueryEscape(fmt.Sprintf(`userName eq "%s"`, u.userName))
			_ = rec.timed("lookup", func() (int, error) {
				m, st, err := c.do(ctx, http.MethodGet, q, nil, http.StatusOK)
				if err == nil && m["totalResults"] != float64(1) {
					err = fmt.Errorf("lookup %s: %v results, want 1", u.userName, m["totalResults"])
				}
				return st, err
			})
		})
	})
	return res, err
}

func runCreate(ctx context.Context, c *client, o options) (*result, error) {
	res := &result{Scenario: "create", Units: o.ops, UnitName: "users"}
	err := measure(ctx, o, res, func(rec *recorder) {
		parallel(ctx, o.ops, o.workers, func(i int) {
			_ = rec.timed("create", func() (int, error) {
				_, st, err := c.do(ctx, http.MethodPost, "/Users", newUser(o.userName("c", i)), http.StatusCreated)
				return st, err
			})
		})
	})
	return res, err
}

func runOnboard(ctx context.Context, c *client, o options) (*result, error) {
	groupID, err := ensureGroup(ctx, c, o.prefix+"-onboard")
	if err != nil {
		return nil, err
	}
	res := &result{Scenario: "onboard", Units: o.ops, UnitName: "users"}
	err = measure(ctx, o, res, func(rec *recorder) {
		parallel(ctx, o.ops, o.workers, func(i int) { onboard(ctx, c, rec, groupID, o.userName("o", i)) })
	})
	return res, err
}

// onboard is Okta's sequence for one new user: look up, create, add to a group.
func onboard(ctx context.Context, c *client, rec *recorder, groupID, userName string) {
	filter := url.QueryEscape(fmt.Sprintf(`userName eq "%s"`, userName))
	if rec.timed("lookup", func() (int, error) {
		m, st, err := c.do(ctx, http.MethodGet, "/Users?filter="+filter+"&startIndex=1&count=100", nil, http.StatusOK)
		if err == nil && m["totalResults"] != float64(0) {
			err = fmt.Errorf("lookup %s: found %v users before creating it", userName, m["totalResults"])
		}
		return st, err
	}) != nil {
		return
	}
	var id string
	if rec.timed("create", func() (int, error) {
		m, st, err := c.do(ctx, http.MethodPost, "/Users", newUser(userName), http.StatusCreated)
		id, _ = m["id"].(string)
		return st, err
	}) != nil {
		return
	}
	_ = rec.timed("group-add", func() (int, error) {
		_, st, err := c.do(ctx, http.MethodPatch, "/Groups/"+groupID, membersPatch("add", []string{id}), http.StatusNoContent)
		return st, err
	})
}

func membersPatch(op string, ids []string) map[string]any {
	vals := make([]any, len(ids))
	for i, id := range ids {
		vals[i] = map[string]string{"value": id}
	}
	return map[string]any{"schemas": []string{patchSchema},
		"Operations": []any{map[string]any{"op": op, "path": "members", "value": vals}}}
}

func ensureGroup(ctx context.Context, c *client, name string) (string, error) {
	filter := url.QueryEscape(fmt.Sprintf(`displayName eq "%s"`, name))
	m, _, err := c.do(ctx, http.MethodGet, "/Groups?filter="+filter+"&excludedAttributes=members", nil, http.StatusOK)
	if err != nil {
		return "", err
	}
	if res, _ := m["Resources"].([]any); len(res) > 0 {
		id, _ := res[0].(map[string]any)["id"].(string)
		return id, nil
	}
	m, _, err = c.do(ctx, http.MethodPost, "/Groups", map[string]any{
		"schemas": []string{groupSchema}, "displayName": name, "members": []any{},
	}, http.StatusCreated)
	if err != nil {
		return "", err
	}
	id, _ := m["id"].(string)
	return id, nil
}

// runImport reads the whole user list as an IdP import does, 100 a page;
// -ops > 0 stops after that many pages.
func runImport(ctx context.Context, c *client, o options) (*result, error) {
	m, _, err := c.do(ctx, http.MethodGet, "/Users?startIndex=1&count=1", nil, http.StatusOK)
	if err != nil {
		return nil, err
	}
	total, _ := m["totalResults"].(float64)
	pages := (int(total) + 99) / 100
	if o.ops > 0 {
		pages = min(pages, o.ops)
	}
	res := &result{Scenario: "import", Units: pages, UnitName: "pages"}
	err = measure(ctx, o, res, func(rec *recorder) {
		parallel(ctx, pages, o.workers, func(i int) {
			_ = rec.timed("page", func() (int, error) {
				m, st, err := c.do(ctx, http.MethodGet, fmt.Sprintf("/Users?startIndex=%d&count=100", 1+100*i), nil, http.StatusOK)
				if got, _ := m["Resources"].([]any); err == nil && len(got) == 0 {
					err = fmt.Errorf("page %d: empty", i+1)
				}
				return st, err
			})
		})
	})
	if res.PerSecond > 0 {
		res.Extra = map[string]float64{"users": total, "full import seconds": float64((int(total)+99)/100) / res.PerSecond}
	}
	return res, err
}

// runGroupPush builds one group of -members existing users by PATCH add
// in batches of -batch (as Okta and Entra push), then trims it the same
// way by PATCH remove. It reports members per second over the first and
// the last 1000 members added.
func runGroupPush(ctx context.Context, c *client, o options) (*result, error) {
	users, err := collectUsers(ctx, c, o.members)
	if err != nil {
		return nil, err
	}
	if len(users) < o.members {
		return nil, fmt.Errorf("group-push: the server has %d users, want %d", len(users), o.members)
	}
	groupID, err := ensureGroup(ctx, c, o.prefix+"-push")
	if err != nil {
		return nil, err
	}
	res := &result{Scenario: "group-push", Units: 2 * len(users), UnitName: "members"}
	var addDone []time.Duration // elapsed when each batch's add finished
	var addStart time.Time
	var addSecs float64
	err = measure(ctx, o, res, func(rec *recorder) {
		addStart = time.Now()
		for i := 0; i < len(users) && ctx.Err() == nil; i += o.batch {
			ids := idsOf(users[i:min(len(users), i+o.batch)])
			_ = rec.timed("add", func() (int, error) {
				_, st, err := c.do(ctx, http.MethodPatch, "/Groups/"+groupID, membersPatch("add", ids), http.StatusNoContent)
				return st, err
			})
			addDone = append(addDone, time.Since(addStart))
		}
		addSecs = time.Since(addStart).Seconds()
		for i := 0; i < len(users) && ctx.Err() == nil; i += o.batch {
			ids := idsOf(users[i:min(len(users), i+o.batch)])
			_ = rec.timed("remove", func() (int, error) {
				_, st, err := c.do(ctx, http.MethodPatch, "/Groups/"+groupID, membersPatch("remove", ids), http.StatusNoContent)
				return st, err
			})
		}
	})
	// members/s over the first and the last 1000 members added.
	per := 1000 / o.batch
	if n := len(addDone); n >= 2*per && per > 0 {
		first := addDone[per-1].Seconds()
		last := (addDone[n-1] - addDone[n-1-per]).Seconds()
		res.Extra = map[string]float64{
			"first 1000 members/s": 1000 / first,
			"last 1000 members/s":  1000 / last,
			"add members/s":        float64(len(users)) / addSecs,
		}
	}
	return res, err
}

func idsOf(us []user) []string {
	ids := make([]string, len(us))
	for i, u := range us {
		ids[i] = u.id
	}
	return ids
}

// runDeprovision creates -ops users (not measured), then deactivates each
// as Okta does: PATCH replace active=false.
func runDeprovision(ctx context.Context, c *client, o options) (*result, error) {
	ids := make([]string, o.ops)
	var mu sync.Mutex
	var firstErr error
	parallel(ctx, o.ops, o.workers, func(i int) {
		m, _, err := c.do(ctx, http.MethodPost, "/Users", newUser(o.userName("d", i)), http.StatusCreated)
		mu.Lock()
		defer mu.Unlock()
		if err != nil && firstErr == nil {
			firstErr = err
		}
		ids[i], _ = m["id"].(string)
	})
	if firstErr != nil {
		return nil, fmt.Errorf("deprovision: create the users: %w", firstErr)
	}
	res := &result{Scenario: "deprovision", Units: o.ops, UnitName: "users"}
	err := measure(ctx, o, res, func(rec *recorder) {
		parallel(ctx, o.ops, o.workers, func(i int) {
			_ = rec.timed("deactivate", func() (int, error) {
				_, st, err := c.do(ctx, http.MethodPatch, "/Users/"+ids[i], map[string]any{
					"schemas":    []string{patchSchema},
					"Operations": []any{map[string]any{"op": "replace", "value": map[string]any{"active": false}}},
				}, http.StatusNoContent) // 200 with the user is fine too

				return st, err
			})
		})
	})
	return res, err
}
