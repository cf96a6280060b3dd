package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/scimbridge/scim-bridge/internal/config"
)

// dockerBuild is the image's build command: the Dockerfile's
// `RUN CGO_ENABLED=0 go build … -o /scim-bridge ./cmd/scim-bridge`, split
// into the part before -o and the package.
var dockerBuild = regexp.MustCompile(`(?m)^RUN (CGO_ENABLED=0 go build .*) -o \S+ (\./cmd/scim-bridge)$`)

func readRepoFile(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestDockerfileBuild builds the binary with the Dockerfile's own build
// command (VERSION as the image build sets it) and checks that `version`
// says the stamped version, and that .ci/run runs that same command.
func TestDockerfileBuild(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	dockerfile := readRepoFile(t, "Dockerfile")
	m := dockerBuild.FindStringSubmatch(dockerfile)
	if m == nil {
		t.Fatalf("the Dockerfile has no `RUN CGO_ENABLED=0 go build … -o … ./cmd/scim-bridge` line")
	}
	if ci := readRepoFile(t, ".ci/run"); !strings.Contains(ci, m[1]+` -o "$bindir/scim-bridge" `+m[2]) {
		t.Errorf(".ci/run does not run the Dockerfile's build command %q", m[1])
	}
	if !strings.Contains(m[1], "-X main.version=${VERSION}") || !strings.Contains(dockerfile, "ARG VERSION") {
		t.Errorf("the Dockerfile does not stamp the version: %q", m[1])
	}

	bin := filepath.Join(t.TempDir(), "scim-bridge")
	cmdline := strings.ReplaceAll(m[1], "${VERSION}", "v9.8.7-test") + " -o " + bin + " " + m[2]
	build := exec.Command("sh", "-c", cmdline)
	build.Dir = filepath.Join("..", "..")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("%s: %v\n%s", cmdline, err, out)
	}
	out, err := exec.Command(bin, "version").CombinedOutput()
	if err != nil || !strings.HasPrefix(string(out), "scim-bridge v9.8.7-test (") {
		t.Errorf("version = %q, %v; want the stamped version", out, err)
	}
}

// TestImageContract: the image's store default, exposed ports, health
// check and build context agree with the binary.
func TestImageContract(t *testing.T) {
	dockerfile := readRepoFile(t, "Dockerfile")
	def := config.Default()
	for _, addr := range []string{def.Listen, def.AdminListen} {
		port := addr[strings.LastIndex(addr, ":")+1:]
		if !regexp.MustCompile(`(?m)^EXPOSE .*\b` + port + `\b`).MatchString(dockerfile) {
			t.Errorf("the Dockerfile does not EXPOSE the default port %s", port)
		}
	}
	if m := regexp.MustCompile(`(?m)^ENV SCIM_BRIDGE_STORE=sqlite:(\S+)$`).FindStringSubmatch(dockerfile); m == nil ||
		!strings.Contains(dockerfile, "VOLUME "+filepath.Dir(m[1])) {
		t.Errorf("the image's SQLite store is not on its volume")
	}
	if !regexp.MustCompile(`(?m)^USER nonroot$`).MatchString(dockerfile) {
		t.Errorf("the image does not run as non-root")
	}
	if !regexp.MustCompile(`(?m)^FROM golang:\d+\.\d+\.\d+\S* AS build$`).MatchString(dockerfile) {
		t.Errorf("the build stage is not pinned to a Go patch release")
	}
	if m := regexp.MustCompile(`(?m)^HEALTHCHECK .*CMD \["/scim-bridge", "(\w+)"`).FindStringSubmatch(dockerfile); m == nil {
		t.Errorf("the Dockerfile has no HEALTHCHECK running /scim-bridge")
	} else {
		found := false
		for _, c := range commands() {
			found = found || c.name == m[1]
		}
		if !found {
			t.Errorf("HEALTHCHECK runs %q, which is not a subcommand", m[1])
		}
	}
	ignore := strings.Fields(readRepoFile(t, ".dockerignore"))
	for _, want := range []string{".git", "**/*.db"} {
		if !slices.Contains(ignore, want) {
			t.Errorf(".dockerignore lacks %s", want)
		}
	}
}
