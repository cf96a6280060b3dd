package app

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/scimbridge/scim-bridge/internal/store"
)

// AuditQuery selects audit entries for `scim-bridge audit` and the status
// page. Zero fields do not filter.
type AuditQuery struct {
	Since time.Time
	// User is an email or the IdP's own userName: the entries about every
	// member an entry targets by that name (store.Target), compared
	// case-insensitively and whole.
	User string
	// Group is a group's displayName, likewise.
	Group string
	// ID is a Sigma memberId or teamId.
	ID    string
	Limit int // <= 0: 50
	// Intents keeps every intent entry (outcome pending). By default an
	// intent is left out when its write's outcome follows it in the
	// result, so a pending entry means the outcome was never recorded (the
	// bridge stopped between Sigma's write and its audit entry).
	Intents bool
}

// targetScan bounds how many entries naming a user or group are read to
// find its ids.
const targetScan = 5000

// QueryAudit returns the entries q selects, newest first, intents folded
// into their outcomes unless q.Intents.
//
// --user NAME finds the entries whose target is NAME (a user's email or
// the IdP's userName, whatever the case), takes the Sigma ids they name,
// and returns every entry about those ids (so a member renamed since is
// followed through its renames) together with the targeted entries that
// have no id (refused or dry-run creates). Entries written before the
// trail kept targets (schema 6, Legacy) are matched as they were then: by
// the name as a whole word in their detail, and by the member whose
// stored IdP userName it is.
func QueryAudit(ctx context.Context, st store.Store, q AuditQuery) ([]store.AuditEntry, error) {
	if q.Limit <= 0 {
		q.Limit = 50
	}
	entries, err := queryAudit(ctx, st, q)
	if err != nil {
		return nil, err
	}
	if !q.Intents {
		entries = FoldIntents(entries)
	}
	if len(entries) > q.Limit {
		entries = entries[:q.Limit]
	}
	return entries, nil
}

// FoldIntents leaves out each intent entry (outcome pending) whose
// outcome — a later entry of the same request, operation and resource —
// is in entries (newest first). A create's intent has no resource yet:
// any later outcome of its request and operation is its outcome.
func FoldIntents(entries []store.AuditEntry) []store.AuditEntry {
	type key struct {
		req, op, id string
		kind        store.Kind
	}
	done := map[key]bool{}
	out := entries[:0:0]
	for _, e := range entries {
		k := key{e.RequestID, e.Operation, e.ResourceID, e.Kind}
		if e.Outcome != store.OutcomePending {
			if e.RequestID != "" {
				done[k] = true
				done[key{e.RequestID, e.Operation, "", e.Kind}] = true
			}
			out = append(out, e)
		} else if !done[k] {
			out = append(out, e)
		}
	}
	return out
}

// queryAudit selects the entries of q, up to twice q.Limit (intents
// folded away make room).
func queryAudit(ctx context.Context, st store.Store, q AuditQuery) ([]store.AuditEntry, error) {
	f := store.AuditFilter{Since: q.Since, Limit: 2 * q.Limit}
	var name string
	switch {
	case q.User != "":
		f.Kind, name = store.KindUser, q.User
	case q.Group != "":
		f.Kind, name = store.KindGroup, q.Group
	case q.ID != "":
		f.AboutIDs = []string{q.ID}
		return st.ListAudit(ctx, f)
	default:
		return st.ListAudit(ctx, f)
	}
	if q.ID != "" {
		f.AboutIDs = append(f.AboutIDs, q.ID)
	}
	if f.Kind == store.KindUser {
		if r, err := st.ResourceByUserName(ctx, store.KindUser, name); err == nil {
			f.AboutIDs = append(f.AboutIDs, r.ID)
		}
	}
	named, err := st.ListAudit(ctx, store.AuditFilter{Kind: f.Kind, Target: name, Mention: name, Limit: targetScan})
	if err != nil {
		return nil, err
	}
	var unnamed []store.AuditEntry // naming the user, without an id
	for _, e := range named {
		if e.Legacy && !namesWhole(e.Detail, name) {
			continue
		}
		if e.ResourceID == "" {
			if !e.Time.Before(q.Since) {
				unnamed = append(unnamed, e)
			}
		} else if !slices.Contains(f.AboutIDs, e.ResourceID) {
			f.AboutIDs = append(f.AboutIDs, e.ResourceID)
		}
	}
	var out []store.AuditEntry
	if len(f.AboutIDs) > 0 {
		if out, err = st.ListAudit(ctx, f); err != nil {
			return nil, err
		}
	}
	out = append(out, unnamed...)
	slices.SortStableFunc(out, func(a, b store.AuditEntry) int {
		if c := b.Time.Compare(a.Time); c != 0 {
			return c
		}
		return int(b.ID - a.ID)
	})
	return out, nil
}

// namesWhole reports whether the detail of a Legacy entry contains name (ASCII
// case-insensitively) not as part of a longer email or word: "bo@x.com"
// is not named by "jimbo@x.com".
func namesWhole(detail, name string) bool {
	d, n := strings.ToLower(detail), strings.ToLower(name)
	for i := 0; ; {
		j := strings.Index(d[i:], n)
		if j < 0 {
			return false
		}
		start, end := i+j, i+j+len(n)
		if (start == 0 || !wordByte(d[start-1])) && (end == len(d) || !wordByte(d[end])) {
			return true
		}
		i = start + 1
	}
}

func wordByte(c byte) bool {
	return c == '@' || c == '.' || c == '_' || c == '-' || c == '+' ||
		'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9'
}

var sigmaRequestID = regexp.MustCompile(`\(request id ([^)\s]+)\)`)

// SigmaRequestID is the request id Sigma gave a refused call, when the
// entry's detail carries one.
func SigmaRequestID(e store.AuditEntry) string {
	if m := sigmaRequestID.FindStringSubmatch(e.Detail); m != nil {
		return m[1]
	}
	return ""
}

// auditJSON is one line of `scim-bridge audit --json`.
type auditJSON struct {
	ID             int64     `json:"id"`
	Time           time.Time `json:"time"`
	Token          string    `json:"token,omitempty"`
	Operation      string    `json:"operation"`
	Kind           string    `json:"kind,omitempty"`
	ResourceID     string    `json:"resource_id,omitempty"`
	Target         string    `json:"target,omitempty"`
	TargetUserName string    `json:"target_user_name,omitempty"`
	// Legacy: written before the trail kept targets; the detail names
	// the resource.
	Legacy         bool   `json:"legacy,omitempty"`
	Outcome        string `json:"outcome"`
	UpstreamStatus int    `json:"upstream_status,omitempty"`
	RequestID      string `json:"request_id,omitempty"`
	SigmaRequestID string `json:"sigma_request_id,omitempty"`
	Detail         string `json:"detail,omitempty"`
}

// WriteAuditJSON writes one JSON object per entry and line.
func WriteAuditJSON(w io.Writer, entries []store.AuditEntry) error {
	enc := json.NewEncoder(w)
	for _, e := range entries {
		if err := enc.Encode(auditJSON{
			ID: e.ID, Time: e.Time.UTC(), Token: e.TokenName, Operation: e.Operation, Kind: string(e.Kind),
			ResourceID: e.ResourceID, Target: e.Target.Name, TargetUserName: e.Target.UserName, Legacy: e.Legacy,
			Outcome: string(e.Outcome), UpstreamStatus: e.UpstreamStatus,
			RequestID: e.RequestID, SigmaRequestID: SigmaRequestID(e), Detail: e.Detail,
		}); err != nil {
			return err
		}
	}
	return nil
}

// WriteAuditTable writes the entries as aligned columns: time (UTC),
// IdP token, operation, resource, target (TargetText), outcome, Sigma's
// status, the bridge's request id and the detail.
func WriteAuditTable(w io.Writer, entries []store.AuditEntry) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "TIME\tTOKEN\tOPERATION\tRESOURCE\tTARGET\tOUTCOME\tSIGMA\tREQUEST\tDETAIL")
	for _, e := range entries {
		res := "-"
		if e.ResourceID != "" {
			res = string(e.Kind) + "/" + e.ResourceID
		}
		status := "-"
		if e.UpstreamStatus != 0 {
			status = strconv.Itoa(e.UpstreamStatus)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", e.Time.UTC().Format(time.RFC3339),
			dash(e.TokenName), e.Operation, res, dash(oneLine(TargetText(e))), e.Outcome, status, dash(e.RequestID), oneLine(e.Detail))
	}
	return tw.Flush()
}

// TargetText is how the table and the status page show an entry's
// target: "ana@example.com", "ana@example.com (jdoe)" when the IdP's
// userName is another, "Finance" for a group; "" when there is none, and
// for a Legacy entry (its detail names the resource).
func TargetText(e store.AuditEntry) string {
	if e.Target.UserName != "" {
		return e.Target.Name + " (" + e.Target.UserName + ")"
	}
	return e.Target.Name
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// oneLine keeps a detail on its line (tabs and newlines would break the
// columns).
func oneLine(s string) string {
	return strings.Map(func(r rune) rune {
		if r == '\n' || r == '\r' || r == '\t' {
			return ' '
		}
		return r
	}, s)
}
