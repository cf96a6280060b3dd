package provision

import (
	"context"
	"errors"
	"slices"
	"strings"
	"time"

	"github.com/scimbridge/scim-bridge/internal/directory"
	"github.com/scimbridge/scim-bridge/internal/store"
)

// A create whose outcome the bridge never learnt — Sigma applied it, but
// the answer was lost and the lookups of its outcome failed too, or the
// process died before it recorded the outcome — leaves the IdP with an
// error and Sigma with a member (or team) the trail does not record. The
// IdP retries the create; Sigma then says the email (or name) is taken.
// That retry must not be a conflict: Okta and Entra take a 409 for a
// failure. So every create writes an intent entry naming its subject
// before it is sent, a create that ends without knowing its outcome says
// so in its failed entry (createUnsettled), and a later create of the same
// subject that finds it taken adopts what it finds when the trail's last
// word on that subject is such an unsettled attempt (unrecordedCreate).

// createIntent is the detail of a create's intent entry: the subject
// (email or team name) follows it.
const createIntent = "create "

// createUnsettled marks a failed create entry whose create Sigma may have
// applied (or did apply, when a step after it failed).
const createUnsettled = "outcome unknown, Sigma may have applied the create"

// createMemory is how far back the trail is searched for an unsettled
// attempt of the same create: longer than any IdP waits before it retries
// (Entra retries in its next cycle, 40 minutes later).
const createMemory = 24 * time.Hour

// createTrailMax bounds the entries read for one subject.
const createTrailMax = 50

// intendCreate writes the intent of a create of subject (user email or
// team name), before it is sent.
func (wr *write) intendCreate() {
	wr.intend(createIntent + string(wr.kind) + " " + wr.subject)
}

// failUnsettled is fail for a create whose outcome is unknown: err is
// an upstream error that leaves open whether Sigma applied it, or the
// create was applied and a later step failed.
func (wr *write) failUnsettled(err error) error {
	wr.w.Audit.Record(wr.ctx, wr.entry(store.OutcomeFailed, subjectAttr[wr.op]+" "+wr.subject+": "+createUnsettled), err)
	return wr.err(err)
}

// outcomeUnknown reports whether a create that failed with err may have
// been applied: Sigma's answer was a retryable failure (5xx, transport,
// a lookup that failed after it) or never came.
func outcomeUnknown(err error) bool {
	var ue *directory.UpstreamError
	return errors.As(err, &ue) && ue.Retryable || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)
}

// unrecordedCreate reports whether resource id, which holds wr's subject
// and which a create finds taken, is one an earlier attempt of the same
// create made without recording it. The trail's create entries about the
// subject or id (wr's own intent left out) are read as attempts: an
// intent opens one, the next outcome closes it (the one of the same
// request, else the latest open). The create is unrecorded when no entry
// is ok (an ok entry is the create recorded: a create after it is a
// conflict) and some attempt is unsettled — closed by a failure marked
// createUnsettled, or never closed (its writer died, or is still at it on
// another replica). A decisive failure (the subject was taken before) or
// no attempt at all leave the conflict a conflict. Two replicas racing to
// create one subject may thus both answer with the member one of them
// made — never a second member.
func (w *Workflow) unrecordedCreate(wr *write, id string) (bool, error) {
	entries, err := w.Audit.Store.ListAudit(wr.ctx, store.AuditFilter{Kind: wr.kind, Operation: wr.op,
		AboutIDs: []string{id}, Target: wr.subject, Since: w.Now().Add(-createMemory), Limit: createTrailMax})
	if err != nil {
		return false, err
	}
	var open []string // request ids of the attempts not closed yet
	unsettled := false
	for _, e := range slices.Backward(entries) { // oldest first
		if e.ID == wr.intent || e.ResourceID != id && store.FoldUserName(e.Target.Name) != store.FoldUserName(wr.subject) {
			continue // this attempt's own intent, or another user's whose IdP userName is this email
		}
		switch e.Outcome {
		case store.OutcomePending:
			open = append(open, e.RequestID)
			continue
		case store.OutcomeOK:
			return false, nil
		case store.OutcomeDryRun, store.OutcomeSkipped:
			continue // no attempt upstream, no intent
		case store.OutcomeFailed:
			unsettled = unsettled || strings.Contains(e.Detail, createUnsettled)
		}
		if i := slices.Index(open, e.RequestID); i >= 0 {
			open = slices.Delete(open, i, i+1)
		} else if len(open) > 0 {
			open = open[:len(open)-1]
		}
	}
	return unsettled || len(open) > 0, nil
}
