package main

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// sample is one timed SCIM request.
type sample struct {
	op     string
	d      time.Duration
	status int
	err    error
}

// recorder collects samples from concurrent workers.
type recorder struct {
	mu      sync.Mutex
	samples []sample
}

func (r *recorder) timed(op string, f func() (int, error)) error {
	start := time.Now()
	status, err := f()
	r.mu.Lock()
	r.samples = append(r.samples, sample{op: op, d: time.Since(start), status: status, err: err})
	r.mu.Unlock()
	return err
}

// opStats summarises the samples of one operation.
type opStats struct {
	Op       string         `json:"op"`
	Count    int            `json:"count"`
	Failed   int            `json:"failed"`
	P50ms    float64        `json:"p50_ms"`
	P90ms    float64        `json:"p90_ms"`
	P99ms    float64        `json:"p99_ms"`
	MaxMs    float64        `json:"max_ms"`
	ByStatus map[string]int `json:"errors_by_status,omitempty"`
	firstErr error
}

// result is one scenario run against one target: what BENCHMARKS.md is
// built from (one JSON line each with -json).
type result struct {
	Target      string    `json:"target"`
	Scenario    string    `json:"scenario"`
	Concurrency int       `json:"concurrency"`
	Units       int       `json:"units"`     // users onboarded, pages read, members pushed, ...
	UnitName    string    `json:"unit_name"` // "users", "requests", "pages", "members"
	Seconds     float64   `json:"seconds"`
	PerSecond   float64   `json:"per_second"`
	Ops         []opStats `json:"ops"`
	SigmaCalls  *float64  `json:"sigma_calls,omitempty"`
	SigmaPerOp  *float64  `json:"sigma_calls_per_unit,omitempty"`
	Sigma429    *float64  `json:"sigma_429,omitempty"`
	PeakRSSMB   float64   `json:"peak_rss_mb,omitempty"`
	// Extra holds scenario-specific figures (group-push: first/last 1000
	// members per second).
	Extra map[string]float64 `json:"extra,omitempty"`
}

func (r *result) failures() int {
	n := 0
	for _, o := range r.Ops {
		n += o.Failed
	}
	return n
}

func summarise(samples []sample) []opStats {
	byOp := map[string][]sample{}
	var order []string
	for _, s := range samples {
		if _, ok := byOp[s.op]; !ok {
			order = append(order, s.op)
		}
		byOp[s.op] = append(byOp[s.op], s)
	}
	var out []opStats
	for _, op := range order {
		ss := byOp[op]
		ds := make([]time.Duration, len(ss))
		st := opStats{Op: op, Count: len(ss)}
		for i, s := range ss {
			ds[i] = s.d
			if s.err != nil {
				st.Failed++
				if st.ByStatus == nil {
					st.ByStatus = map[string]int{}
				}
				k := strconv.Itoa(s.status)
				if s.status == 0 {
					k = "transport"
				}
				st.ByStatus[k]++
				if st.firstErr == nil {
					st.firstErr = s.err
				}
			}
		}
		slices.Sort(ds)
		q := func(p float64) float64 {
			return ms(ds[min(len(ds)-1, int(p*float64(len(ds))))])
		}
		st.P50ms, st.P90ms, st.P99ms, st.MaxMs = q(.50), q(.90), q(.99), ms(ds[len(ds)-1])
		out = append(out, st)
	}
	return out
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// print writes r for a human.
func (r *result) print(w io.Writer) {
	fmt.Fprintf(w, "%s %s: %d %s in %.2fs (%.1f %s/s), concurrency %d\n",
		r.Target, r.Scenario, r.Units, r.UnitName, r.Seconds, r.PerSecond, r.UnitName, r.Concurrency)
	fmt.Fprintf(w, "%-14s %7s %7s %9s %9s %9s %9s  %s\n", "operation", "count", "failed", "p50 ms", "p90 ms", "p99 ms", "max ms", "errors by status")
	for _, o := range r.Ops {
		fmt.Fprintf(w, "%-14s %7d %7d %9.2f %9.2f %9.2f %9.2f  %s\n", o.Op, o.Count, o.Failed, o.P50ms, o.P90ms, o.P99ms, o.MaxMs, statusList(o.ByStatus))
		if o.firstErr != nil {
			fmt.Fprintf(w, "  first failure: %v\n", o.firstErr)
		}
	}
	if r.SigmaCalls != nil {
		fmt.Fprintf(w, "sigma calls: %.0f (%.2f per %s), %.0f answered 429\n", *r.SigmaCalls, *r.SigmaPerOp, strings.TrimSuffix(r.UnitName, "s"), *r.Sigma429)
	}
	for _, k := range slices.Sorted(maps.Keys(r.Extra)) {
		fmt.Fprintf(w, "%s: %.1f\n", k, r.Extra[k])
	}
	if r.PeakRSSMB > 0 {
		fmt.Fprintf(w, "peak RSS of the server: %.0f MB\n", r.PeakRSSMB)
	}
}

func statusList(m map[string]int) string {
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(m)) {
		parts = append(parts, fmt.Sprintf("%s×%d", k, m[k]))
	}
	return strings.Join(parts, " ")
}

func (r *result) writeJSON(w io.Writer) error {
	b, err := json.Marshal(r)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(w, "%s\n", b)
	return err
}
