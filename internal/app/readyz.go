package app

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// ReadyCheck is one part of the readiness report. Func must answer from
// what the part already knows (a local ping at most): /readyz never makes
// Sigma calls of its own.
type ReadyCheck struct {
	Name string
	// Required checks decide readiness: /readyz answers 200 only when every
	// required check is ok. The others are reported, never fatal (a
	// fallback path that is down does not stop the live one serving).
	Required bool
	// Func returns nil when the part is ok, errNotConfigured (wrapped) when
	// it is off, errNoCallYet when it has not been used yet, or what is
	// wrong.
	Func func(ctx context.Context) error
	// Info, if set, adds a detail (which path is live and why, how fast
	// Sigma answers).
	Info func() string
	// LastError, if set, is the part's own memory of its last failure;
	// otherwise the report remembers the last failure it saw.
	LastError func() (string, time.Time)
}

// Check states in the report.
const (
	StateOK      = "ok"
	StateFailed  = "failed"
	StateOff     = "off"     // not configured, or not used in this mode
	StateUnknown = "unknown" // configured, not used yet
)

var (
	errNotConfigured = errors.New("not configured")
	errNoCallYet     = errors.New("no call made yet")
)

// CheckReport is one check in the /readyz body.
type CheckReport struct {
	Name     string `json:"name"`
	State    string `json:"state"`
	Required bool   `json:"required"`
	Detail   string `json:"detail,omitempty"`
	// Error says what is wrong now (state failed), or why it is off or unknown.
	Error string `json:"error,omitempty"`
	// LastError is the most recent failure, even when the part has
	// recovered since, with its time.
	LastError   string     `json:"last_error,omitempty"`
	LastErrorAt *time.Time `json:"last_error_at,omitempty"`
}

// ReadyReport is the /readyz body.
type ReadyReport struct {
	Ready bool `json:"ready"`
	// Mode is the live Sigma path ("scim", "rest" or "none") and why.
	Mode    string        `json:"mode"`
	ModeWhy string        `json:"mode_why"`
	Checks  []CheckReport `json:"checks"`
	At      time.Time     `json:"at"`
}

// readiness remembers the last failure each check reported.
type readiness struct {
	mu   sync.Mutex
	last map[string]lastFailure
}

type lastFailure struct {
	msg string
	at  time.Time
}

func (a *App) addCheck(c ReadyCheck) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.checks = append(a.checks, c)
}

func (a *App) readyChecks() []ReadyCheck {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]ReadyCheck(nil), a.checks...)
}

// Readiness runs every check concurrently and returns the report.
func (a *App) Readiness(ctx context.Context) ReadyReport {
	checks := a.readyChecks()
	out := make([]CheckReport, len(checks))
	var wg sync.WaitGroup
	for i, c := range checks {
		wg.Go(func() { out[i] = a.runCheck(ctx, c) })
	}
	wg.Wait()
	r := ReadyReport{Ready: true, Checks: out, At: time.Now().UTC()}
	for _, c := range out {
		if c.Required && c.State != StateOK {
			r.Ready = false
		}
	}
	if a.selector != nil {
		r.Mode, r.ModeWhy = a.selector.Live()
	}
	return r
}

func (a *App) runCheck(ctx context.Context, c ReadyCheck) CheckReport {
	err := c.Func(ctx)
	rep := CheckReport{Name: c.Name, Required: c.Required, State: StateOK}
	switch {
	case err == nil:
	case errors.Is(err, errNotConfigured):
		rep.State, rep.Error = StateOff, err.Error()
	case errors.Is(err, errNoCallYet):
		rep.State, rep.Error = StateUnknown, err.Error()
	default:
		rep.State, rep.Error = StateFailed, err.Error()
	}
	if c.Info != nil && rep.State != StateOff {
		rep.Detail = c.Info()
	}
	var last lastFailure
	if c.LastError != nil {
		last.msg, last.at = c.LastError()
	} else {
		a.ready.mu.Lock()
		if rep.State == StateFailed {
			if a.ready.last == nil {
				a.ready.last = map[string]lastFailure{}
			}
			a.ready.last[c.Name] = lastFailure{rep.Error, time.Now().UTC()}
		}
		last = a.ready.last[c.Name]
		a.ready.mu.Unlock()
	}
	if last.msg != "" {
		at := last.at.UTC()
		rep.LastError, rep.LastErrorAt = last.msg, &at
	}
	return rep
}

// readyTimeout bounds one readiness report (a check answers from what it
// knows, a store ping at most).
const readyTimeout = 5 * time.Second

// readyz answers the readiness report as JSON: 200 when every required
// check is ok, else 503, so a probe's event and an operator reading the
// body both see which part is not ready and why.
func (a *App) readyz(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), readyTimeout)
	defer cancel()
	rep := a.Readiness(ctx)
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	if !rep.Ready {
		w.WriteHeader(http.StatusServiceUnavailable)
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(rep)
}

// ReadyOverall is the check label of scim_bridge_ready's series for the
// whole report: 1 exactly when /readyz answers 200.
const ReadyOverall = "overall"

// readyCollector exports scim_bridge_ready{check,required} at scrape time
// from App.Readiness, the report /readyz answers: 1 for a check in state
// ok, 0 for failed or unknown, and the check "overall" (required="true")
// 1 when the report is ready. A check that is off (its part is not
// configured) has no series.
type readyCollector struct {
	a    *App
	desc *prometheus.Desc
}

func newReadyCollector(a *App) *readyCollector {
	return &readyCollector{a: a, desc: prometheus.NewDesc("scim_bridge_ready",
		"Readiness as /readyz reports it: 1 when the check is ok, 0 when it failed or is unknown (configured, not used yet); check=\"overall\" is 1 when /readyz answers 200. Required checks decide readiness. Checks of parts not configured are not exported.",
		[]string{"check", "required"}, nil)}
}

func (c *readyCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

func (c *readyCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), readyTimeout)
	defer cancel()
	rep := c.a.Readiness(ctx)
	gauge := func(ok bool, check string, required bool) {
		v := 0.0
		if ok {
			v = 1
		}
		ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, v, check, strconv.FormatBool(required))
	}
	for _, r := range rep.Checks {
		if r.State != StateOff {
			gauge(r.State == StateOK, r.Name, r.Required)
		}
	}
	gauge(rep.Ready, ReadyOverall, true)
}
