package main

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/scimbridge/scim-bridge/internal/sigma/sigmafake"
	"github.com/scimbridge/scim-bridge/internal/store"
	"github.com/scimbridge/scim-bridge/internal/store/storeopen"
)

// sigmaResult is how Sigma's final state compares with the plan.
type sigmaResult struct {
	changes, deprovisions, deletes                       int // planned
	duplicates, missing, extra, lostChanges, wrongActive int
	missingMembership, extraMembership                   int
	problems                                             []string
	lost                                                 []string // lost changes, apart: see soakVariant.defects
}

const soakDomain = "@soak.example.com"

func groupName(g int) string { return fmt.Sprintf("Soak Group %d", g) }

// checkSigma compares the emulator's members and teams with what the plan
// intends: each user exactly once, under the id the IdP holds, with its
// last name change, active unless deprovisioned; each group exactly once
// with exactly its intended active members.
func checkSigma(fake *sigmafake.Server, plan []soakUser, groups int, stats *idpStats) sigmaResult {
	var r sigmaResult
	problem := func(format string, args ...any) { r.problems = append(r.problems, fmt.Sprintf(format, args...)) }
	byEmail := map[string][]sigmafake.Member{}
	for _, m := range fake.Members() {
		if strings.HasSuffix(strings.ToLower(m.Email), soakDomain) {
			byEmail[strings.ToLower(m.Email)] = append(byEmail[strings.ToLower(m.Email)], m)
		}
	}
	want := map[int]map[string]bool{} // group → member ids
	for g := range groups {
		want[g] = map[string]bool{}
	}
	planned := map[string]bool{}
	for _, u := range plan {
		planned[u.userName] = true
		r.changes += len(u.changes)
		if u.deprovision {
			r.deprovisions++
		}
		if u.delete {
			r.deletes++
		}
		ms := byEmail[u.userName]
		switch {
		case len(ms) == 0:
			r.missing++
			problem("%s: not in Sigma", u.userName)
			continue
		case len(ms) > 1:
			r.duplicates += len(ms) - 1
			problem("%s: %d members in Sigma", u.userName, len(ms))
		}
		m := ms[0]
		if id := stats.userIDs[u.userName]; id != m.MemberID {
			r.duplicates++
			problem("%s: the IdP holds id %q, Sigma's member is %s", u.userName, id, m.MemberID)
		}
		if m.FirstName != u.finalGiven() || m.LastName != u.family {
			r.lostChanges++
			r.lost = append(r.lost, fmt.Sprintf("%s: name %q %q, want %q %q; Sigma's writes to it: %s", u.userName, m.FirstName, m.LastName, u.finalGiven(), u.family, writesTo(fake, m.MemberID)))
		}
		if active := !m.IsArchived && !m.IsInactive; active == u.deprovision {
			r.wrongActive++
			problem("%s: active=%v (archived %v, inactive %v), want %v", u.userName, active, m.IsArchived, m.IsInactive, !u.deprovision)
		}
		if m.MemberType != "View" {
			problem("%s: memberType %q, want View", u.userName, m.MemberType)
		}
		for _, g := range u.finalGroups() {
			want[g][m.MemberID] = true
		}
	}
	for email, ms := range byEmail {
		if !planned[email] {
			r.extra += len(ms)
			problem("%s: in Sigma, never pushed", email)
		}
	}

	teams := map[string][]sigmafake.Team{}
	for _, tm := range fake.Teams() {
		teams[strings.ToLower(tm.Name)] = append(teams[strings.ToLower(tm.Name)], tm)
	}
	for g := range groups {
		ts := teams[strings.ToLower(groupName(g))]
		delete(teams, strings.ToLower(groupName(g)))
		if len(ts) != 1 {
			if len(ts) == 0 {
				r.missing++
			} else {
				r.duplicates += len(ts) - 1
			}
			problem("%s: %d teams in Sigma", groupName(g), len(ts))
			if len(ts) == 0 {
				continue
			}
		}
		tm := ts[0]
		if id := stats.groupIDs[g]; id != tm.TeamID {
			r.duplicates++
			problem("%s: the IdP holds id %q, Sigma's team is %s", groupName(g), id, tm.TeamID)
		}
		got := map[string]bool{}
		for _, id := range tm.Members {
			if got[id] {
				r.duplicates++
				problem("%s: member %s listed twice", groupName(g), id)
			}
			got[id] = true
			if !want[g][id] {
				r.extraMembership++
				problem("%s: has member %s, not intended", groupName(g), id)
			}
		}
		for id := range want[g] {
			if !got[id] {
				r.missingMembership++
				problem("%s: lacks member %s", groupName(g), id)
			}
		}
	}
	for name, ts := range teams {
		if strings.HasPrefix(name, "soak group") {
			r.extra += len(ts)
			problem("team %q: in Sigma, never pushed", name)
		}
	}
	return r
}

// writesTo lists the writes Sigma applied to member or team id, for a
// failure message.
func writesTo(fake *sigmafake.Server, id string) string {
	var ws []string
	for _, r := range fake.Requests() {
		if r.Method != http.MethodGet && strings.Contains(r.Path, "/"+id) {
			ws = append(ws, fmt.Sprintf("%s %s %s %d%s", r.Time.Format("15:04:05.000000"), r.Method, r.Path, r.Status, map[bool]string{true: " dropped"}[r.Dropped]))
			if len(r.Body) > 0 {
				ws[len(ws)-1] += fmt.Sprintf(" %.200s", r.Body)
			}
		}
	}
	return strings.Join(ws, "; ")
}

// injectedFaults counts what the emulator's request log shows.
type injectedFaults struct {
	requests, status500, status429, token429, dropped int
}

func injected(fake *sigmafake.Server) injectedFaults {
	var f injectedFaults
	for _, r := range fake.Requests() {
		f.requests++
		switch {
		case r.Status == http.StatusInternalServerError:
			f.status500++
		case r.Status == http.StatusTooManyRequests:
			f.status429++
			if r.Path == "/v2/auth/token" {
				f.token429++
			}
		case r.Dropped:
			f.dropped++
		}
	}
	return f
}

// sigmaWrite is one write Sigma applied (answered 2xx, or applied and then
// dropped) to one member or team.
type sigmaWrite struct {
	kind   store.Kind
	id     string
	at     time.Time
	what   string
	create bool
}

// appliedWrites lists, from the emulator's request log, every write to a
// member or a team that Sigma applied, through REST or SCIM. Creates are
// attributed through the email or name in their body.
func appliedWrites(fake *sigmafake.Server) []sigmaWrite {
	byName := map[string]string{}
	for _, tm := range fake.Teams() {
		byName[strings.ToLower(tm.Name)] = tm.TeamID
	}
	memberOf := func(email string) string {
		m, _ := fake.MemberByEmail(email)
		return m.MemberID
	}
	var ws []sigmaWrite
	for _, r := range fake.Requests() {
		if r.Method == http.MethodGet || r.Status < 200 || r.Status > 299 {
			continue
		}
		var body struct{ Email, Name, UserName, DisplayName string }
		_ = json.Unmarshal(r.Body, &body)
		seg := strings.Split(strings.Trim(r.Path, "/"), "/")
		w := sigmaWrite{at: r.Time, what: r.Method + " " + r.Path}
		switch {
		case len(seg) == 2 && seg[0] == "v2" && seg[1] == "members":
			w.kind, w.id = store.KindUser, memberOf(body.Email)
		case len(seg) >= 3 && seg[0] == "v2" && seg[1] == "members":
			w.kind, w.id = store.KindUser, seg[2]
		case len(seg) == 2 && seg[0] == "v2" && seg[1] == "teams":
			w.kind, w.id = store.KindGroup, byName[strings.ToLower(body.Name)]
		case len(seg) >= 3 && seg[0] == "v2" && seg[1] == "teams":
			w.kind, w.id = store.KindGroup, seg[2]
		case len(seg) == 3 && seg[0] == "scim" && seg[2] == "Users":
			w.kind, w.id = store.KindUser, memberOf(body.UserName)
		case len(seg) >= 4 && seg[0] == "scim" && seg[2] == "Users":
			w.kind, w.id = store.KindUser, seg[3]
		case len(seg) == 3 && seg[0] == "scim" && seg[2] == "Groups":
			w.kind, w.id = store.KindGroup, byName[strings.ToLower(body.DisplayName)]
		case len(seg) >= 4 && seg[0] == "scim" && seg[2] == "Groups":
			w.kind, w.id = store.KindGroup, seg[3]
		default:
			continue // the token endpoint
		}
		w.create = len(seg) == 2 || (seg[0] == "scim" && len(seg) == 3)
		ws = append(ws, w)
	}
	return ws
}

type auditResult struct {
	writes, entries, unfinished int
	problems                    []string
	creates                     []string // the unaccounted last write is a create: see checkUnrecordedCreates
}

// checkAudit reads the store's audit trail after the bridges stopped and
// checks it against what Sigma applied: the last write Sigma applied to
// each member and team is followed by an "ok" entry for it (the trail
// does not end on "failed" or "skipped" for a change that happened), or
// preceded by an intent ("pending") whose request never recorded an
// outcome (the writer died between the intent and the outcome); and every
// "ok" entry follows a write Sigma applied to that resource.
func checkAudit(t *testing.T, fake *sigmafake.Server, storeSpec string) auditResult {
	t.Helper()
	st, err := storeopen.Open(t.Context(), storeSpec, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatalf("open the store after the soak: %v", err)
	}
	defer st.Close()
	entries, err := st.ListAudit(t.Context(), store.AuditFilter{Limit: 1 << 30})
	if err != nil {
		t.Fatalf("list audit: %v", err)
	}
	slices.Reverse(entries) // oldest first
	ws := appliedWrites(fake)
	res := auditResult{writes: len(ws), entries: len(entries)}

	type key struct {
		kind store.Kind
		id   string
	}
	last := map[key]sigmaWrite{}
	first := map[key]time.Time{}
	for _, w := range ws {
		k := key{w.kind, w.id}
		if w.id == "" {
			res.problems = append(res.problems, fmt.Sprintf("%s at %s: cannot tell which resource it wrote", w.what, w.at.Format(time.RFC3339Nano)))
			continue
		}
		last[k] = w
		if _, ok := first[k]; !ok {
			first[k] = w.at
		}
	}
	lastOK := map[key]store.AuditEntry{}
	for _, e := range entries {
		if e.Outcome != store.OutcomeOK || (e.Kind != store.KindUser && e.Kind != store.KindGroup) {
			continue
		}
		k := key{e.Kind, e.ResourceID}
		lastOK[k] = e
		if f, ok := first[k]; !ok || e.Time.Before(f) {
			res.problems = append(res.problems, fmt.Sprintf("%s %s %s ok at %s: Sigma applied no write to it before", e.Operation, e.Kind, e.ResourceID, e.Time.Format(time.RFC3339Nano)))
		}
	}
	// Intents whose request recorded no outcome for the resource after them.
	unfinished := map[key]store.AuditEntry{}
	for i, e := range entries {
		if e.Outcome != store.OutcomePending {
			continue
		}
		finished := false
		for _, f := range entries[i+1:] {
			if f.RequestID == e.RequestID && f.Kind == e.Kind && f.ResourceID == e.ResourceID && f.Outcome != store.OutcomePending {
				finished = true
				break
			}
		}
		if !finished {
			unfinished[key{e.Kind, e.ResourceID}] = e
			res.unfinished++
		}
	}
	for k, w := range last {
		if e, ok := unfinished[k]; ok && !e.Time.After(w.at) {
			continue
		}
		e, ok := lastOK[k]
		if !ok || e.Time.Before(w.at) {
			var trail []string
			for _, e := range entries {
				if e.Kind == k.kind && e.ResourceID == k.id {
					trail = append(trail, fmt.Sprintf("%s %s %s %q", e.Time.Format("15:04:05.000000"), e.Operation, e.Outcome, e.Detail))
				}
			}
			p := fmt.Sprintf("%s %s: Sigma's last write %s at %s has no ok entry after it; trail: %s",
				k.kind, k.id, w.what, w.at.Format("15:04:05.000000"), strings.Join(trail, "; "))
			if w.create {
				res.creates = append(res.creates, p)
			} else {
				res.problems = append(res.problems, p)
			}
		}
	}
	return res
}

type logResult struct {
	lines, debug, secrets int
	problems              []string
}

// checkLogs scans every line the bridges logged (at debug level) for the
// secrets named in named and for every bearer token the emulator was
// sent (Sigma access tokens, the SCIM token), and for races and panics.
func checkLogs(lines []string, fake *sigmafake.Server, named map[string]string) logResult {
	secrets := map[string]string{}
	for what, s := range named {
		secrets[s] = what
	}
	for _, r := range fake.Requests() {
		if tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); ok && tok != "" {
			if _, named := secrets[tok]; !named {
				secrets[tok] = "a Sigma access token"
			}
		}
	}
	res := logResult{lines: len(lines)}
	for _, line := range lines {
		if strings.Contains(line, `"level":"DEBUG"`) {
			res.debug++
		}
		for s, what := range secrets {
			if strings.Contains(line, s) {
				res.secrets++
				res.problems = append(res.problems, fmt.Sprintf("%s in: %.300s", what, strings.ReplaceAll(line, s, "<"+what+">")))
			}
		}
		if strings.Contains(line, "DATA RACE") || strings.HasPrefix(line[strings.IndexByte(line, ' ')+1:], "panic:") ||
			strings.Contains(line, "fatal error:") {
			res.problems = append(res.problems, fmt.Sprintf("%.300s", line))
		}
	}
	return res
}

// TestSoakChecksCanFail: the soak's log and answer checks find what they
// look for (a soak that passes because its checks are blind is no proof).
func TestSoakChecksCanFail(t *testing.T) {
	fake, err := sigmafake.Start(sigmafake.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer fake.Close()
	lines := []string{
		`bridge-0 {"level":"DEBUG","msg":"ok"}`,
		`bridge-0 {"level":"INFO","msg":"oops","token":"scimb_the-idp-token"}`,
		`bridge-0 panic: boom`,
		`bridge-0 WARNING: DATA RACE`,
	}
	res := checkLogs(lines, fake, map[string]string{"the IdP token": "scimb_the-idp-token"})
	if res.debug != 1 || res.secrets != 1 || len(res.problems) != 3 || strings.Contains(strings.Join(res.problems, ""), "the-idp-token") {
		t.Errorf("checkLogs = %+v; want 1 debug line, 1 secret (not repeated), a panic and a race", res)
	}
	for _, c := range []struct {
		status int
		ct     string
		body   string
		bad    bool
	}{
		{200, "application/scim+json", `{"id":"x"}`, false},
		{409, "application/scim+json", `{"schemas":["` + scimErrorSchema + `"],"status":"409"}`, false},
		{204, "", ``, false},
		{200, "application/json", `{"id":"x"}`, true},
		{502, "text/plain; charset=utf-8", "Bad Gateway\n", true},
		{409, "application/scim+json", `{"schemas":["` + scimErrorSchema + `"],"status":409}`, true},
		{400, "application/scim+json", `{"detail":"no schema"}`, true},
	} {
		resp := &http.Response{StatusCode: c.status, Header: http.Header{"Content-Type": {c.ct}}}
		if _, problem := checkSCIMAnswer(resp, []byte(c.body)); (problem != "") != c.bad {
			t.Errorf("%d %s %s: problem %q, want bad=%v", c.status, c.ct, c.body, problem, c.bad)
		}
	}
}
