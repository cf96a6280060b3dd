package main

import (
	"bufio"
	"bytes"
	"context"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

func runCLI(t *testing.T, envm map[string]string, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(t.Context(), args, &out, &errb, func(k string) string { return envm[k] })
	return code, out.String(), errb.String()
}

func TestUsageAndExitCodes(t *testing.T) {
	if code, _, stderr := runCLI(t, nil); code != exitUsage || !strings.Contains(stderr, "Usage: scim-bridge COMMAND") {
		t.Errorf("no args: %d %q", code, stderr)
	}
	if code, _, stderr := runCLI(t, nil, "frobnicate"); code != exitUsage || !strings.Contains(stderr, `unknown command "frobnicate"`) {
		t.Errorf("unknown: %d %q", code, stderr)
	}
	if code, stdout, _ := runCLI(t, nil, "--help"); code != exitOK || !strings.Contains(stdout, "serve") {
		t.Errorf("--help: %d %q", code, stdout)
	}
	for _, c := range commands() {
		code, stdout, _ := runCLI(t, nil, c.name, "--help")
		if code != exitOK || !strings.Contains(stdout, "Usage: scim-bridge "+c.name) {
			t.Errorf("%s --help: %d %q", c.name, code, stdout)
		}
	}
	if code, _, _ := runCLI(t, nil, "serve", "--no-such-flag"); code != exitUsage {
		t.Errorf("bad flag: %d, want %d", code, exitUsage)
	}
	if code, stdout, _ := runCLI(t, nil, "version"); code != exitOK || !strings.HasPrefix(stdout, "scim-bridge ") {
		t.Errorf("version: %d %q", code, stdout)
	}
}

func TestBadConfigPrintsEveryProblemAndExits2(t *testing.T) {
	envm := map[string]string{
		"SCIM_BRIDGE_SIGMA_MODE":       "scim",
		"SCIM_BRIDGE_LOG_LEVEL":        "loud",
		"SCIM_BRIDGE_SIGMA_SCIM_TOKEN": "tok-value-that-must-not-print",
	}
	for _, cmd := range []string{"serve", "check"} {
		code, _, stderr := runCLI(t, envm, cmd)
		if code != exitUsage {
			t.Errorf("%s: exit %d, want %d", cmd, code, exitUsage)
		}
		for _, want := range []string{"log.level (SCIM_BRIDGE_LOG_LEVEL)", "scim needs sigma.scim_url"} {
			if !strings.Contains(stderr, want) {
				t.Errorf("%s: stderr lacks %q:\n%s", cmd, want, stderr)
			}
		}
		if strings.Contains(stderr, "tok-value-that-must-not-print") {
			t.Errorf("%s printed a secret", cmd)
		}
	}
	cfg := filepath.Join(t.TempDir(), "c.yml")
	os.WriteFile(cfg, []byte("sigma: {mode: rest}\nlisten_port: 1\n"), 0o600)
	if code, _, stderr := runCLI(t, nil, "serve", "--config", cfg); code != exitUsage || !strings.Contains(stderr, "field listen_port not found") {
		t.Errorf("unknown key: %d %q", code, stderr)
	}
}

// TestServeStopsOnSIGTERM builds the real binary, starts it, waits until it
// serves /healthz, sends SIGTERM and expects a clean exit within the drain
// timeout.
func TestServeStopsOnSIGTERM(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	bin := filepath.Join(t.TempDir(), "scim-bridge")
	build := exec.Command("go", "build", "-o", bin, ".")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "serve")
	cmd.Env = append(os.Environ(),
		"SCIM_BRIDGE_LISTEN=127.0.0.1:0",
		"SCIM_BRIDGE_ADMIN_LISTEN=127.0.0.1:0",
		"SCIM_BRIDGE_STORE=sqlite:"+filepath.Join(t.TempDir(), "s.db"),
		"SCIM_BRIDGE_SIGMA_API_URL=http://127.0.0.1:1",
		"SCIM_BRIDGE_SIGMA_CLIENT_ID=id",
		"SCIM_BRIDGE_SIGMA_CLIENT_SECRET=very-secret-value",
		"SCIM_BRIDGE_LOG_FORMAT=text",
		"SCIM_BRIDGE_SHUTDOWN_TIMEOUT=5s",
	)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	// Find the admin address in the log.
	adminRe := regexp.MustCompile(`listener=admin addr=(\S+)`)
	var logs strings.Builder
	sc := bufio.NewScanner(stderr)
	var admin string
	for admin == "" && sc.Scan() {
		logs.WriteString(sc.Text() + "\n")
		if m := adminRe.FindStringSubmatch(sc.Text()); m != nil {
			admin = m[1]
		}
	}
	if admin == "" {
		t.Fatalf("no admin listener in log:\n%s", logs.String())
	}
	resp, err := http.Get("http://" + admin + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("/healthz = %d", resp.StatusCode)
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	for sc.Scan() {
		logs.WriteString(sc.Text() + "\n")
	}
	err = cmd.Wait()
	if err != nil {
		t.Fatalf("exit after SIGTERM: %v\n%s", err, logs.String())
	}
	if !strings.Contains(logs.String(), "shutting down") || !strings.Contains(logs.String(), "stopped") {
		t.Errorf("log lacks the shutdown lines:\n%s", logs.String())
	}
	if strings.Contains(logs.String(), "very-secret-value") {
		t.Errorf("log carries the client secret")
	}
}
