package app

import (
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/scimbridge/scim-bridge/internal/config"
)

// operatorDocs are the files an operator deploys and configures from.
func operatorDocs(t *testing.T) []string {
	t.Helper()
	docs := []string{"README.md", "CONFIGURATION.md", "deploy/kubernetes/README.md"}
	guides, err := filepath.Glob(filepath.Join("..", "..", "docs", "*.md"))
	if err != nil || len(guides) < 3 {
		t.Fatalf("docs/*.md: %v %v", guides, err)
	}
	for _, g := range guides {
		docs = append(docs, filepath.ToSlash(strings.TrimPrefix(g, filepath.Join("..", "..")+string(filepath.Separator))))
	}
	return docs
}

// yamlKeys lists every dotted YAML key of the configuration
// (sigma.client_secret_file, tls.cert_file, …).
func yamlKeys(t reflect.Type, prefix string, out map[string]bool) {
	for i := range t.NumField() {
		f := t.Field(i)
		tag, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if tag == "" || tag == "-" {
			continue
		}
		out[prefix+tag] = true
		if f.Type.Kind() == reflect.Struct && f.Type != reflect.TypeFor[config.Duration]() {
			yamlKeys(f.Type, prefix+tag+".", out)
		}
	}
}

var (
	envRef  = regexp.MustCompile(`\bSCIM_BRIDGE_[A-Z0-9_]*[A-Z0-9]\b`)
	yamlRef = regexp.MustCompile("`((?:log|sigma|provisioning|tokens|audit|http|tls|admin_tls|seats)\\.[a-z_]+\\b)")
)

// TestDocsNameRealSettings: every SCIM_BRIDGE_* variable and every dotted
// YAML key the operator docs and the IdP guides mention is one the binary
// reads, so a guide cannot send someone to a setting that does not exist.
func TestDocsNameRealSettings(t *testing.T) {
	keys := map[string]bool{}
	yamlKeys(reflect.TypeFor[config.Config](), "", keys)
	envNames := config.EnvNames()
	// Read by tests, .ci/fuzz and the healthcheck subcommand, not by serve.
	notServe := regexp.MustCompile(`^SCIM_BRIDGE_(TEST_|SOAK_|FUZZTIME$|HEALTHCHECK_URL$)`)
	for _, doc := range operatorDocs(t) {
		text := string(repoFile(t, doc))
		for _, name := range envRef.FindAllString(text, -1) {
			if !slices.Contains(envNames, name) && !notServe.MatchString(name) {
				t.Errorf("%s mentions %s, which the binary does not read", doc, name)
			}
		}
		for _, m := range yamlRef.FindAllStringSubmatch(text, -1) {
			if !keys[m[1]] {
				t.Errorf("%s mentions the setting %s, which the configuration does not have", doc, m[1])
			}
		}
	}
	// And the other way: every variable the binary reads has its row in
	// CONFIGURATION.md's table.
	documented := documentedEnv(string(repoFile(t, "CONFIGURATION.md")))
	for _, name := range envNames {
		if documented[name] {
			continue
		}
		t.Errorf("CONFIGURATION.md's table has no row for %s, which the binary reads", name)
	}
}

// envCell is the first cell of a CONFIGURATION.md table row.
var envCell = regexp.MustCompile("(?m)^\\| (`SCIM_BRIDGE_[^|]*)\\|")

// documentedEnv returns the variables CONFIGURATION.md's table has a row
// for. A row may name several: `SCIM_BRIDGE_TLS_CERT_FILE` / `_KEY_FILE`
// is SCIM_BRIDGE_TLS_CERT_FILE and SCIM_BRIDGE_TLS_KEY_FILE (the short
// form replaces the tail of the full name from one of its underscores,
// or extends it).
func documentedEnv(conf string) map[string]bool {
	out := map[string]bool{}
	for _, m := range envCell.FindAllStringSubmatch(conf, -1) {
		var full string
		for _, f := range regexp.MustCompile("`([A-Z0-9_]+)`").FindAllStringSubmatch(m[1], -1) {
			name := f[1]
			if strings.HasPrefix(name, "SCIM_BRIDGE_") {
				full = name
				out[name] = true
				continue
			}
			for i := range len(full) + 1 {
				if i == len(full) || full[i] == '_' {
					out[full[:i]+name] = true
				}
			}
		}
	}
	return out
}
