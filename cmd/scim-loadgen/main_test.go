package main

import (
	"bytes"
	"strings"
	"testing"
)

// TestDemoRun onboards a few users through the in-process bridge: none may
// fail, and on the REST path each onboarding costs exactly the three Sigma
// calls of issue 5's budget (lookup miss by email, create, team add).
func TestDemoRun(t *testing.T) {
	var out, errb bytes.Buffer
	code := run(t.Context(), []string{"-demo", "-users", "30", "-concurrency", "5"}, &out, &errb)
	if code != 0 {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, out.String(), errb.String())
	}
	for _, want := range []string{"onboarded 30 users", "sigma calls during the run: 90 (3.00 per onboarded user)"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
	for _, line := range strings.Split(out.String(), "\n") {
		if f := strings.Fields(line); len(f) == 7 && (f[0] == "lookup" || f[0] == "create" || f[0] == "group-add") && (f[1] != "30" || f[2] != "0") {
			t.Errorf("want 30 requests and 0 failures: %s", line)
		}
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
}
