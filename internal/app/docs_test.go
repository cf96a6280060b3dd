package app

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

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

var (
	codeSpan    = regexp.MustCompile("`([^`]+)`")
	quotedValue = regexp.MustCompile(`"[^"]*"`)
	// Not an error text: a command, a metric or alert name, JSON, a log field.
	notAMessage = regexp.MustCompile(`^(scim-bridge |scim_bridge_|ScimBridge|"|[a-z_.]+=|[A-Za-z_.\[\]]+$)`)
	logField    = regexp.MustCompile(`^[a-z_]+=\S*$`) // status=401 in a quoted log line
)

// TestGuidesQuoteRealErrors: the error texts the IdP guides'
// troubleshooting tables tell an engineer to look for are texts the
// bridge sends. Each quoted text is cut at "…", at quoted values (the
// user's own, e.g. "Viewer") and at ':' and ';' (where the bridge joins
// the parts of a message); every part must occur in the bridge's source.
// A reworded message then fails here instead of leaving a guide that
// matches nothing the IdP shows.
func TestGuidesQuoteRealErrors(t *testing.T) {
	var src strings.Builder
	for _, dir := range []string{"internal", "cmd"} {
		err := filepath.WalkDir(filepath.Join("..", "..", dir), func(p string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() || !strings.HasSuffix(p, ".go") || strings.HasSuffix(p, "_test.go") {
				return err
			}
			b, err := os.ReadFile(p)
			src.Write(b)
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	source := src.String()
	checked := 0
	for _, doc := range operatorDocs(t) {
		if !strings.HasPrefix(doc, "docs/") {
			continue
		}
		_, table, ok := strings.Cut(string(repoFile(t, doc)), "\n## Troubleshooting\n")
		if !ok {
			t.Errorf("%s has no Troubleshooting section", doc)
			continue
		}
		table, _, _ = strings.Cut(table, "\n## ")
		for _, row := range strings.Split(table, "\n") {
			cells := strings.Split(row, " | ")
			if !strings.HasPrefix(row, "| ") || len(cells) < 2 {
				continue
			}
			for _, m := range codeSpan.FindAllStringSubmatch(cells[0], -1) {
				text := m[1]
				if notAMessage.MatchString(text) || !strings.Contains(text, " ") {
					continue
				}
				for _, part := range regexp.MustCompile(`…|[:;]|"[^"]*"`).Split(quotedValue.ReplaceAllString(text, "…"), -1) {
					part = strings.TrimSpace(part)
					if len(part) < 4 || logField.MatchString(part) {
						continue
					}
					checked++
					if !strings.Contains(source, part) {
						t.Errorf("%s quotes %q, but no bridge message contains %q", doc, text, part)
					}
				}
			}
		}
	}
	if checked < 15 {
		t.Fatalf("only %d quoted error parts found in the guides: is the parsing broken?", checked)
	}
}

// removedAlerts are alerts earlier releases' rules had, with what took
// their place: only the README's upgrade notes may name them.
var removedAlerts = map[string]string{"ScimBridgeNoSigmaPath": "ScimBridgeNotReady"}

// TestDocsNameRealAlerts: every alert the operator docs name is one
// deploy/prometheus/rules.yml defines.
func TestDocsNameRealAlerts(t *testing.T) {
	alerts := map[string]bool{}
	rules := yamlDocs(t, "rules.yml", repoFile(t, "deploy", "prometheus", "rules.yml"))[0]
	for _, g := range list(rules, "groups") {
		for _, r := range list(g, "rules") {
			if a := str(r, "alert"); a != "" {
				alerts[a] = true
			}
		}
	}
	if len(alerts) < 10 {
		t.Fatalf("only %d alerts in rules.yml: is the parsing broken?", len(alerts))
	}
	for _, doc := range append(operatorDocs(t), "deploy/helm/scim-bridge/values.yaml", "deploy/compose/compose.yaml") {
		for _, name := range regexp.MustCompile(`\bScimBridge[A-Za-z]+\b`).FindAllString(string(repoFile(t, doc)), -1) {
			if alerts[name] || removedAlerts[name] != "" && doc == "README.md" {
				continue
			}
			t.Errorf("%s names the alert %s, which deploy/prometheus/rules.yml does not define", doc, name)
		}
	}
}

// TestConfigurationDefaultsAreTheBinarys: every default CONFIGURATION.md's
// tables state (the last column, in code spans) is the default the binary
// applies, key by key (`log.format` / `log.level` … `json`, `info`).
func TestConfigurationDefaultsAreTheBinarys(t *testing.T) {
	b, err := yaml.Marshal(config.Default())
	if err != nil {
		t.Fatal(err)
	}
	var defaults map[string]any
	if err := yaml.Unmarshal(b, &defaults); err != nil {
		t.Fatal(err)
	}
	lookup := func(key string) (any, bool) {
		var v any = defaults
		for _, k := range strings.Split(key, ".") {
			m, ok := v.(map[string]any)
			if !ok {
				return nil, false
			}
			if v, ok = m[k]; !ok {
				return nil, false
			}
		}
		return v, true
	}
	same := func(doc string, v any) bool {
		got := fmt.Sprint(v)
		if d1, err1 := time.ParseDuration(doc); err1 == nil {
			d2, err2 := time.ParseDuration(got)
			return err2 == nil && d1 == d2
		}
		return doc == got
	}
	checked := 0
	for _, row := range strings.Split(string(repoFile(t, "CONFIGURATION.md")), "\n") {
		cells := strings.Split(strings.Trim(row, "| "), " | ")
		if !strings.HasPrefix(row, "| `") || len(cells) < 3 {
			continue
		}
		keyCell := cells[len(cells)-3]
		if !strings.HasPrefix(cells[0], "`SCIM_BRIDGE_") {
			keyCell = cells[0] // the file-only table: key | meaning | default
		}
		var keys []string
		prefix := ""
		for _, m := range codeSpan.FindAllStringSubmatch(keyCell, -1) {
			k := m[1]
			if i := strings.LastIndex(k, "."); i >= 0 {
				prefix = k[:i+1]
			} else if prefix != "" {
				k = prefix + k
			}
			keys = append(keys, k)
		}
		var want []string
		for _, m := range codeSpan.FindAllStringSubmatch(cells[len(cells)-1], -1) {
			want = append(want, m[1])
		}
		if len(want) == 0 {
			continue // prose: "none", "—", "derived from each request"
		}
		if len(want) != len(keys) {
			t.Errorf("CONFIGURATION.md row %q: %d keys, %d defaults", keyCell, len(keys), len(want))
			continue
		}
		for i, k := range keys {
			v, ok := lookup(k)
			if !ok {
				t.Errorf("CONFIGURATION.md: %s has a documented default but no value in config.Default()", k)
				continue
			}
			checked++
			if !same(want[i], v) {
				t.Errorf("CONFIGURATION.md: the default of %s is documented as %s; the binary's is %v", k, want[i], v)
			}
		}
	}
	if checked < 20 {
		t.Fatalf("only %d documented defaults checked: is the parsing broken?", checked)
	}
}
