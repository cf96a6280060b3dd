package store

import (
	"strings"
	"time"
)

// PrepareAudit normalises an entry about to be appended: a zero Time is
// now, and times are kept to the microsecond both databases store.
func PrepareAudit(e *AuditEntry, now time.Time) {
	if e.Time.IsZero() {
		e.Time = now
	}
	e.Time = e.Time.UTC().Truncate(time.Microsecond)
	if FoldUserName(e.Target.UserName) == FoldUserName(e.Target.Name) {
		e.Target.UserName = ""
	}
	e.Legacy = false
}

// AuditColumns are the columns of an audit entry, in the order the
// backends scan them (ScanTarget reads the last two).
const AuditColumns = `id, time, request_id, token_name, operation, kind, resource_id, outcome, upstream_status, detail, target_name, target_user_name`

// AuditInsertColumns are the columns AppendAudit writes; AuditValues
// returns their values for e, in that order.
const AuditInsertColumns = `time, request_id, token_name, operation, kind, resource_id, outcome, upstream_status, detail,
	target_name, target_name_fold, target_user_name, target_user_name_fold`

// AuditValues are the values of AuditInsertColumns for a prepared entry,
// with t the time as the backend stores it. target_name is never NULL on
// an entry appended since schema 6 (NULL marks a Legacy one); the fold
// columns, which the target lookups compare, are NULL when there is no
// name to find.
func AuditValues(e AuditEntry, t any) []any {
	fold := func(s string) any {
		if s == "" {
			return nil
		}
		return FoldUserName(s)
	}
	var userName any
	if e.Target.UserName != "" {
		userName = e.Target.UserName
	}
	return []any{t, e.RequestID, e.TokenName, e.Operation, string(e.Kind), e.ResourceID, string(e.Outcome),
		e.UpstreamStatus, e.Detail, e.Target.Name, fold(e.Target.Name), userName, fold(e.Target.UserName)}
}

// ScanTarget sets e's Target, or marks it Legacy, from the target_name
// and target_user_name columns as scanned.
func ScanTarget(e *AuditEntry, name, userName *string) {
	if name == nil {
		e.Legacy = true
		return
	}
	e.Target.Name = *name
	if userName != nil {
		e.Target.UserName = *userName
	}
}

// AuditQuery is what a backend's SQL dialect adds to the one ListAudit
// query skeleton both backends share.
type AuditQuery struct {
	// Arg appends v to args and returns its placeholder ("?", "$3").
	Arg func(args *[]any, v any) string
	// Time is a time as the backend stores it.
	Time func(time.Time) any
	// AnyID is the condition "resource_id is one of ids".
	AnyID func(args *[]any, ids []string) string
	// Mention is the condition "detail contains s, ASCII case-insensitively".
	Mention func(args *[]any, s string) string
}

// Build returns the SELECT of ListAudit for f and its arguments: newest
// first (by time, then id), at most f.Limit (100 when not set).
func (q AuditQuery) Build(f AuditFilter) (string, []any) {
	var where []string
	var args []any
	eq := func(col string, v any) { where = append(where, col+" = "+q.Arg(&args, v)) }
	if f.Kind != "" {
		eq("kind", string(f.Kind))
	}
	if f.ResourceID != "" {
		eq("resource_id", f.ResourceID)
	}
	if f.Operation != "" {
		eq("operation", f.Operation)
	}
	if f.Outcome != "" {
		eq("outcome", string(f.Outcome))
	}
	if !f.Since.IsZero() {
		where = append(where, "time >= "+q.Arg(&args, q.Time(f.Since.UTC().Truncate(time.Microsecond))))
	}
	if len(f.AboutIDs) > 0 || f.Target != "" || f.Mention != "" {
		var about []string
		if len(f.AboutIDs) > 0 {
			about = append(about, q.AnyID(&args, f.AboutIDs))
		}
		if f.Target != "" {
			fold := FoldUserName(f.Target)
			about = append(about, "target_name_fold = "+q.Arg(&args, fold), "target_user_name_fold = "+q.Arg(&args, fold))
		}
		if f.Mention != "" {
			about = append(about, "(target_name IS NULL AND "+q.Mention(&args, f.Mention)+")")
		}
		where = append(where, "("+strings.Join(about, " OR ")+")")
	}
	s := `SELECT ` + AuditColumns + ` FROM audit`
	if len(where) > 0 {
		s += " WHERE " + strings.Join(where, " AND ")
	}
	limit := f.Limit
	if limit <= 0 {
		limit = 100
	}
	s += " ORDER BY time DESC, id DESC LIMIT " + q.Arg(&args, limit)
	return s, args
}
