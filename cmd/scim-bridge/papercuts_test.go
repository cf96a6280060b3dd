package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestHelpPrintsUsageOnce: `COMMAND --help` writes its usage once, to
// stdout, and nothing to stderr (it used to print it to both).
func TestHelpPrintsUsageOnce(t *testing.T) {
	t.Chdir(t.TempDir())
	cases := [][]string{{"token", "list", "--help"}, {"token", "create", "-h"}, {"token", "help"}}
	for _, c := range commands() {
		cases = append(cases, []string{c.name, "--help"})
	}
	for _, args := range cases {
		code, stdout, stderr := runCLI(t, nil, args...)
		if code != exitOK || stderr != "" || strings.Count(stdout, "Usage: scim-bridge") != 1 {
			t.Errorf("%v: exit %d, usage %d times on stdout, stderr %q", args, code, strings.Count(stdout, "Usage: scim-bridge"), stderr)
		}
	}
	code, _, stderr := runCLI(t, nil, "serve", "--bogus")
	if code != exitUsage || strings.Count(stderr, "Usage: scim-bridge serve") != 1 || !strings.Contains(stderr, "-bogus") {
		t.Errorf("bad flag: exit %d, stderr %q", code, stderr)
	}
}

// TestTokenOpensTheStoreOnlyWhenNeeded: help and usage mistakes leave the
// working directory as it was (they used to create scim-bridge.db there).
func TestTokenOpensTheStoreOnlyWhenNeeded(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	for _, args := range [][]string{
		{"token", "--help"}, {"token", "list", "--help"}, {"token", "create"}, {"token", "revoke"},
		{"token", "rotate", "--help"}, {"token", "frobnicate"}, {"token"},
	} {
		runCLI(t, nil, args...)
		if entries, _ := os.ReadDir(dir); len(entries) > 0 {
			t.Fatalf("%v created %s", args, entries[0].Name())
		}
	}
	// The store is opened for a real command.
	if code, stdout, stderr := runCLI(t, nil, "token", "list"); code != exitOK || !strings.Contains(stdout, "No tokens") {
		t.Fatalf("token list: %d %q %q", code, stdout, stderr)
	}
	if _, err := os.Stat(filepath.Join(dir, "scim-bridge.db")); err != nil {
		t.Errorf("token list did not use the default store: %v", err)
	}
}

// TestTokenConfigFlagEitherSide: --config works before and after the
// token subcommand, and a bad file exits 2.
func TestTokenConfigFlagEitherSide(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	cfg := filepath.Join(dir, "c.yml")
	if err := os.WriteFile(cfg, []byte("store: sqlite:"+filepath.Join(dir, "from-file.db")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	code, stdout, stderr := runCLI(t, nil, "token", "create", "--name", "okta", "--config", cfg)
	if code != exitOK {
		t.Fatalf("create --config after: %d %q %q", code, stdout, stderr)
	}
	for _, args := range [][]string{{"token", "list", "--config", cfg}, {"token", "--config", cfg, "list"}, {"token", "list", "--config=" + cfg}} {
		code, stdout, stderr := runCLI(t, nil, args...)
		if code != exitOK || !strings.Contains(stdout, "okta") {
			t.Errorf("%v: %d %q %q", args, code, stdout, stderr)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "scim-bridge.db")); err == nil {
		t.Errorf("the default store was created although --config names another")
	}
	if code, _, stderr := runCLI(t, nil, "token", "list", "--config", filepath.Join(dir, "missing.yml")); code != exitUsage || !strings.Contains(stderr, "missing.yml") {
		t.Errorf("missing config: %d %q", code, stderr)
	}
}

// TestVersionIsNeverDevel: an unstamped build says "dev", not "(devel)".
func TestVersionIsNeverDevel(t *testing.T) {
	if version != "" {
		t.Skip("stamped build")
	}
	_, stdout, _ := runCLI(t, nil, "version")
	if strings.Contains(stdout, "(devel)") || !strings.HasPrefix(stdout, "scim-bridge dev") {
		t.Errorf("version = %q", stdout)
	}
}

// TestReadmeShowsDemoListen: 8080 is often taken on a laptop; the README
// says how to move the demo.
func TestReadmeShowsDemoListen(t *testing.T) {
	readme := readRepoFile(t, "README.md")
	if !strings.Contains(readme, "scim-bridge demo --listen") {
		t.Errorf("README.md does not show `scim-bridge demo --listen`")
	}
}

// TestDemoRefusesNegativeSeeds: `demo --members -1` is a usage error, not
// the emulator's panic, and an argument the demo does not take is refused
// rather than silently ending flag parsing (a copied `[--listen ADDR]`
// started the demo on the default ports).
func TestDemoRefusesNegativeSeeds(t *testing.T) {
	for args, want := range map[string]string{"demo --members -1": "must be 0 or more", "demo --teams -3": "must be 0 or more",
		"demo [--listen ADDR]": `unexpected argument "[--listen"`} {
		code, _, stderr := runCLI(t, nil, strings.Fields(args)...)
		if code != exitUsage || !strings.Contains(stderr, want) {
			t.Errorf("%v: exit %d, stderr %q", args, code, stderr)
		}
	}
}
