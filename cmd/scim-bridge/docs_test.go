package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// invocation finds `scim-bridge COMMAND …` in a code span or a code line
// of the docs (also `/scim-bridge …` inside a kubectl or compose command).
var invocation = regexp.MustCompile("(?m)(?:^|[`\\s/])scim-bridge ([a-z]+(?: [^`#\\n|]*)?)")

// TestDocumentedCommandsParse runs every scim-bridge command line the
// README and the guides show, with --help appended: each must name a real
// subcommand and only flags it has (exit 0 and its usage), so a guide
// cannot tell an operator to type something the binary refuses.
func TestDocumentedCommandsParse(t *testing.T) {
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	t.Chdir(t.TempDir()) // --help must not create anything, anywhere
	docs := []string{"README.md", "CONFIGURATION.md", "deploy/kubernetes/README.md", "deploy/compose/compose.yaml"}
	guides, _ := filepath.Glob(filepath.Join(root, "docs", "*.md"))
	for _, g := range guides {
		docs = append(docs, filepath.Join("docs", filepath.Base(g)))
	}
	seen := 0
	for _, doc := range docs {
		b, err := os.ReadFile(filepath.Join(root, doc))
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range invocation.FindAllStringSubmatch(string(b), -1) {
			args := strings.Fields(m[1])
			if !isCommand(args[0]) {
				continue // prose such as "scim-bridge is …"
			}
			var clean []string
			for _, a := range args {
				if strings.ContainsAny(a, "$<>…\"'[|") || a == "\\" {
					break // a placeholder or shell syntax: check what comes before it
				}
				clean = append(clean, a)
			}
			seen++
			// A line that --help does not stop (a command that ignores
			// what follows it) must not run for long.
			ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
			var out, errb bytes.Buffer
			code := run(ctx, append(clean, "--help"), &out, &errb, func(string) string { return "" })
			cancel()
			stdout, stderr := out.String(), errb.String()
			if code != exitOK || !strings.Contains(stdout, "Usage: scim-bridge") {
				t.Errorf("%s: `scim-bridge %s` is refused: exit %d\n%s", doc, strings.Join(clean, " "), code, stderr)
			}
		}
	}
	if seen < 15 {
		t.Fatalf("only %d command lines found in the docs: is the pattern broken?", seen)
	}
}

func isCommand(name string) bool {
	for _, c := range commands() {
		if c.name == name {
			return true
		}
	}
	return false
}
