package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestDemoRun onboards a few users through the in-process bridge with its
// default configuration: none may fail, and on the REST path each
// onboarding costs exactly the three Sigma calls of issue 5's budget
// (lookup miss by email, create, team add). The JSON line carries the same.
func TestDemoRun(t *testing.T) {
	var out, errb bytes.Buffer
	jsonl := filepath.Join(t.TempDir(), "results.jsonl")
	code := run(t.Context(), []string{"-demo", "-scenario", "onboard", "-users", "30", "-concurrency", "5", "-json", jsonl}, &out, &errb)
	if code != 0 {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, out.String(), errb.String())
	}
	for _, want := range []string{"onboard: 30 users", "sigma calls: 90 (3.00 per user), 0 answered 429"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
	f, err := os.Open(jsonl)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	if !sc.Scan() {
		t.Fatal("no JSON line written")
	}
	var r result
	if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
		t.Fatal(err)
	}
	if r.Scenario != "onboard" || r.Units != 30 || r.SigmaPerOp == nil || *r.SigmaPerOp != 3 || r.PeakRSSMB <= 0 {
		t.Errorf("JSON result %+v", r)
	}
	byOp := map[string]opStats{}
	for _, o := range r.Ops {
		byOp[o.Op] = o
	}
	for _, op := range []string{"lookup", "create", "group-add"} {
		if o := byOp[op]; o.Count != 30 || o.Failed != 0 || o.P99ms < o.P50ms {
			t.Errorf("%s: %+v, want 30 requests, 0 failures, p99 ≥ p50", op, o)
		}
	}
}

// TestDemoScenarios runs each other scenario once, small, through the
// in-process bridge: none may fail, and the Sigma costs that are
// deterministic are the documented ones.
func TestDemoScenarios(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"-scenario", "lookup", "-users", "50"}, "sigma calls: 0 (0.00 per request)"},
		{[]string{"-scenario", "import", "-users", "0"}, "sigma calls: 0 (0.00 per page)"},
		{[]string{"-scenario", "create", "-users", "10"}, "create: 10 users"},
		{[]string{"-scenario", "deprovision", "-users", "10"}, "deprovision: 10 users"},
		{[]string{"-scenario", "group-push", "-members", "200", "-batch", "50"}, "group-push: 400 members"},
	} {
		t.Run(tc.args[1], func(t *testing.T) {
			var out, errb bytes.Buffer
			args := append([]string{"-demo", "-demo-members", "300", "-concurrency", "4"}, tc.args...)
			if code := run(t.Context(), args, &out, &errb); code != 0 {
				t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, out.String(), errb.String())
			}
			if !strings.Contains(out.String(), tc.want) {
				t.Errorf("output lacks %q:\n%s", tc.want, out.String())
			}
		})
	}
}

func TestUsage(t *testing.T) {
	var out, errb bytes.Buffer
	if code := run(t.Context(), []string{"-users", "3"}, &out, &errb); code != 2 {
		t.Errorf("no target: exit %d, want 2", code)
	}
	if code := run(t.Context(), []string{"-demo", "-url", "http://127.0.0.1:1/scim/v2"}, &out, &errb); code != 2 {
		t.Errorf("both -demo and -url: exit %d, want 2", code)
	}
	if code := run(t.Context(), []string{"-demo", "-scenario", "nope"}, &out, &errb); code != 2 {
		t.Errorf("unknown scenario: exit %d, want 2", code)
	}
}
