package app

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/scimbridge/scim-bridge/internal/config"
	"github.com/scimbridge/scim-bridge/internal/sigma/sigmafake"
)

// The deploy/ directory's promises, checked against the binary: every
// metric the alert rules and the dashboard use is exported, and the
// manifests, the chart (rendered by .ci/run) and the compose file name
// the binary's ports, paths and settings.

func repoFile(t *testing.T, parts ...string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(append([]string{"..", ".."}, parts...)...))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// yamlDocs decodes every document of a YAML stream.
func yamlDocs(t *testing.T, name string, b []byte) []map[string]any {
	t.Helper()
	var docs []map[string]any
	dec := yaml.NewDecoder(bytes.NewReader(b))
	for {
		var d map[string]any
		err := dec.Decode(&d)
		if errors.Is(err, io.EOF) {
			return docs
		}
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if d != nil {
			docs = append(docs, d)
		}
	}
}

// dig walks maps (string keys) and lists (int indexes); nil when absent.
func dig(v any, path ...any) any {
	for _, p := range path {
		switch k := p.(type) {
		case string:
			m, _ := v.(map[string]any)
			v = m[k]
		case int:
			l, _ := v.([]any)
			if k >= len(l) {
				return nil
			}
			v = l[k]
		}
	}
	return v
}

func str(v any, path ...any) string { s, _ := dig(v, path...).(string); return s }
func list(v any, path ...any) []any { l, _ := dig(v, path...).([]any); return l }

var metricName = regexp.MustCompile(`\bscim_bridge_[a-z0-9_]*[a-z0-9]\b`)

// usedMetrics returns each scim_bridge_* metric the alert rules, the
// dashboard and the operator docs use, with where.
func usedMetrics(t *testing.T) map[string][]string {
	used := map[string][]string{}
	add := func(where, expr string) {
		for _, m := range metricName.FindAllString(expr, -1) {
			used[m] = append(used[m], where)
		}
	}
	rules := yamlDocs(t, "rules.yml", repoFile(t, "deploy", "prometheus", "rules.yml"))[0]
	for _, g := range list(rules, "groups") {
		for _, r := range list(g, "rules") {
			add("rules.yml "+str(r, "alert")+str(r, "record"), str(r, "expr"))
		}
	}
	var dash map[string]any
	if err := json.Unmarshal(repoFile(t, "deploy", "prometheus", "dashboard.json"), &dash); err != nil {
		t.Fatalf("dashboard.json: %v", err)
	}
	for _, p := range list(dash, "panels") {
		for _, tg := range list(p, "targets") {
			add("dashboard.json "+str(p, "title"), str(tg, "expr"))
		}
	}
	for _, v := range list(dash, "templating", "list") {
		add("dashboard.json variable "+str(v, "name"), str(v, "query"))
	}
	// What the operator docs tell people to query or alert on.
	for _, doc := range operatorDocs(t) {
		add(doc, string(repoFile(t, doc)))
	}
	if len(used) < 10 {
		t.Fatalf("only %d metrics found in the rules and the dashboard: is the parsing broken?", len(used))
	}
	return used
}

// removedMetrics are metrics earlier releases exported, with what took
// their place: the README's upgrade notes name them, the rules and the
// dashboard must not, and the bridge no longer exports them.
var removedMetrics = map[string]string{
	"scim_bridge_sigma_scim_directory_writes_total":         `scim_bridge_sigma_directory_writes_total{path="scim"}`,
	"scim_bridge_sigma_scim_directory_audit_failures_total": `scim_bridge_sigma_directory_audit_failures_total{path="scim"}`,
}

// TestDeployMetricsAreExported runs the bridge on the emulator as the
// manifests do (both Sigma paths, TLS on the admin listener, an expiring
// IdP token), has an IdP provision through it, and checks that every
// metric the rules and the dashboard use is among those it exports.
func TestDeployMetricsAreExported(t *testing.T) {
	ca := newTestCA(t)
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
	ca.issue(t, 1, time.Now().Add(30*24*time.Hour), certFile, keyFile)
	// Both paths live in turn: auto (Enterprise SCIM live, REST for the
	// index and account types) and rest; what either exports counts.
	exported := map[string]string{} // name → HISTOGRAM, SUMMARY, COUNTER…
	for _, mode := range []string{"auto", "rest"} {
		a, _, token := emulatorApp(t, mode, sigmafake.Options{Members: 3, Teams: 1}, func(c *config.Config) {
			c.AdminTLS = config.TLS{CertFile: certFile, KeyFile: keyFile}
			c.Seats = config.Seats{Total: 100, ByAccountType: map[string]int{"Pro": 10}} // scim_bridge_seats_limit
		})
		if _, _, err := a.Tokens().Create(t.Context(), "entra-test", 90*24*time.Hour); err != nil {
			t.Fatal(err)
		}
		oktaConversation(t, a.SCIMBaseURL(), token)
		if code, _ := scimDo(t, "GET", a.SCIMBaseURL()+"/Users", "scimb_not-a-token", ""); code != http.StatusUnauthorized {
			t.Fatalf("bad token: %d", code)
		}
		families, err := a.Registry().Gather()
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range families {
			exported[f.GetName()] = f.GetType().String()
		}
	}
	used := usedMetrics(t)
	names := make([]string, 0, len(used))
	for n := range used {
		names = append(names, n)
	}
	sort.Strings(names)
	for n, why := range removedMetrics {
		if _, ok := exported[n]; ok {
			t.Errorf("%s was removed (%s) but the bridge still exports it", n, why)
		}
	}
	for _, n := range names {
		if _, ok := exported[n]; ok {
			continue
		}
		if removedMetrics[n] != "" && !slices.ContainsFunc(used[n], func(where string) bool {
			return strings.HasPrefix(where, "rules.yml ") || strings.HasPrefix(where, "dashboard.json ")
		}) {
			continue // named by an upgrade note
		}
		if base, suffix, ok := cutHistogramSuffix(n); ok {
			if typ, ok := exported[base]; ok && (typ == "HISTOGRAM" || suffix != "_bucket" && typ == "SUMMARY") {
				continue
			}
		}
		t.Errorf("%s is used by %s but the bridge does not export it", n, strings.Join(slices.Compact(used[n]), "; "))
	}
}

func cutHistogramSuffix(n string) (base, suffix string, ok bool) {
	for _, s := range []string{"_bucket", "_sum", "_count"} {
		if b, found := strings.CutSuffix(n, s); found {
			return b, s, true
		}
	}
	return "", "", false
}

// adminPaths are the admin listener's routes a probe or a scraper may use.
var adminPaths = []string{"/healthz", "/readyz", "/metrics"}

// TestAdminPathsAnswer: the paths the manifests probe and scrape answer 200
// on a ready bridge.
func TestAdminPathsAnswer(t *testing.T) {
	a, _, _ := emulatorApp(t, "rest", sigmafake.Options{Members: 1})
	for _, p := range adminPaths {
		if code, body := get(t, "http://"+a.AdminAddr()+p); code != 200 {
			t.Errorf("GET %s = %d %s", p, code, body)
		}
	}
}

// manifestSet is one way of deploying: the plain manifests, or the chart
// as rendered.
type manifestSet struct {
	name string
	docs []map[string]any
}

func (s manifestSet) kind(t *testing.T, kind string) map[string]any {
	t.Helper()
	d := s.find(kind)
	if d == nil {
		t.Fatalf("%s: no %s", s.name, kind)
	}
	return d
}

// find returns the first object of kind, nil when there is none.
func (s manifestSet) find(kind string) map[string]any {
	for _, d := range s.docs {
		if str(d, "kind") == kind {
			return d
		}
	}
	return nil
}

func manifestSets(t *testing.T) []manifestSet {
	var k8s manifestSet
	k8s.name = "deploy/kubernetes"
	files, err := filepath.Glob(filepath.Join("..", "..", "deploy", "kubernetes", "*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no manifests in deploy/kubernetes: %v", err)
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		k8s.docs = append(k8s.docs, yamlDocs(t, f, b)...)
	}
	sets := []manifestSet{k8s}
	// .ci/run renders the chart (helm template with several value sets)
	// and names the outputs here, separated like PATH.
	if files := os.Getenv("SCIM_BRIDGE_TEST_HELM_TEMPLATE"); files != "" {
		for _, f := range filepath.SplitList(files) {
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			sets = append(sets, manifestSet{name: "helm template " + filepath.Base(f), docs: yamlDocs(t, f, b)})
		}
	} else {
		t.Log("SCIM_BRIDGE_TEST_HELM_TEMPLATE not set: the rendered chart is checked in .ci/run only")
	}
	return sets
}

func port(t *testing.T, addr string) string {
	t.Helper()
	_, p, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// TestDeployManifestsMatchTheBinary loads each Deployment's configuration
// the way the binary does (its ConfigMap file and its environment) and
// checks the ports, probes, mounts, Service, ServiceMonitor, NetworkPolicy
// and hardening against it.
func TestDeployManifestsMatchTheBinary(t *testing.T) {
	envNames := config.EnvNames()
	for _, s := range manifestSets(t) {
		t.Run(s.name, func(t *testing.T) {
			dep := s.kind(t, "Deployment")
			if r, _ := dig(dep, "spec", "replicas").(int); r < 2 {
				t.Errorf("replicas = %v, want at least 2", dig(dep, "spec", "replicas"))
			}
			pod := dig(dep, "spec", "template", "spec")
			c := dig(pod, "containers", 0)

			// The environment: only settings the binary reads; the store
			// from a Secret; GOMEMLIMIT from the memory limit.
			env := map[string]string{}
			for _, e := range list(c, "env") {
				name := str(e, "name")
				switch {
				case name == "SCIM_BRIDGE_STORE":
					if dig(e, "valueFrom", "secretKeyRef") == nil {
						t.Errorf("SCIM_BRIDGE_STORE is not read from a Secret")
					}
					env[name] = "postgres://u:p@postgresql:5432/scim_bridge"
				case name == "GOMEMLIMIT":
					if str(e, "valueFrom", "resourceFieldRef", "resource") != "limits.memory" {
						t.Errorf("GOMEMLIMIT is not set from the memory limit")
					}
				case strings.HasPrefix(name, "SCIM_BRIDGE_"):
					if !slices.Contains(envNames, name) {
						t.Errorf("env %s is not a setting of the binary", name)
					}
					env[name] = str(e, "value")
				}
			}
			if dig(c, "resources", "limits", "memory") == nil || dig(c, "resources", "requests", "cpu") == nil {
				t.Errorf("resources lack a memory limit or a CPU request")
			}

			// The configuration file, loaded by the binary's loader.
			args := list(c, "args")
			if len(args) != 3 || args[0] != "serve" || args[1] != "--config" {
				t.Fatalf("args = %v, want serve --config FILE", args)
			}
			cfgPath := args[2].(string)
			mounts := map[string]string{} // mountPath → volume
			for _, m := range list(c, "volumeMounts") {
				mounts[str(m, "mountPath")] = str(m, "name")
			}
			if mounts[cfgPath] != "config" {
				t.Errorf("%s is not mounted from the config volume", cfgPath)
			}
			file := filepath.Join(t.TempDir(), "config.yml")
			if err := os.WriteFile(file, []byte(str(s.kind(t, "ConfigMap"), "data", "config.yml")), 0o600); err != nil {
				t.Fatal(err)
			}
			cfg, err := config.Load(file, func(k string) string { return env[k] })
			if err != nil {
				t.Fatalf("the binary refuses the manifests' configuration: %v", err)
			}
			mounted := func(what, path string) {
				if path == "" {
					return
				}
				for mp := range mounts {
					if strings.HasPrefix(path, strings.TrimSuffix(mp, "/")+"/") {
						return
					}
				}
				t.Errorf("%s %s is on no mounted volume", what, path)
			}
			mounted("tls.cert_file", cfg.TLS.CertFile)
			mounted("tls.key_file", cfg.TLS.KeyFile)
			mounted("admin_tls.cert_file", cfg.AdminTLS.CertFile)
			mounted("sigma.client_secret_file", cfg.Sigma.ClientSecretFile)
			mounted("sigma.scim_token_file", cfg.Sigma.SCIMTokenFile)
			// The chart mounts only the Secret keys its configuration reads:
			// a key listed in a volume's items must be in the Secret, or
			// the pod does not start (an existingSecret of a REST-only org
			// has no SCIM token). The plain manifests say so in a comment.
			if strings.HasPrefix(s.name, "helm") {
				read := []string{cfg.Sigma.ClientSecretFile, cfg.Sigma.SCIMTokenFile}
				for _, v := range list(pod, "volumes") {
					var at string
					for mp, name := range mounts {
						if name == str(v, "name") {
							at = mp
						}
					}
					for _, it := range list(v, "secret", "items") {
						if p := at + "/" + str(it, "path"); !slices.Contains(read, p) {
							t.Errorf("the Secret key %s is mounted at %s, which the configuration does not read: a Secret without it stops the pod", str(it, "key"), p)
						}
					}
				}
			}

			// Ports: the container's are the listeners'.
			ports := map[string]string{}
			for _, p := range list(c, "ports") {
				ports[str(p, "name")] = jsonString(dig(p, "containerPort"))
			}
			if ports["scim"] != port(t, cfg.Listen) || ports["admin"] != port(t, cfg.AdminListen) {
				t.Errorf("container ports %v; the listeners are %s and %s", ports, cfg.Listen, cfg.AdminListen)
			}

			// Probes: the admin listener's real paths, in its scheme.
			wantScheme := "HTTP"
			if cfg.AdminTLS.Enabled() {
				wantScheme = "HTTPS"
			}
			for _, probe := range []string{"startupProbe", "livenessProbe", "readinessProbe"} {
				g := dig(c, probe, "httpGet")
				if g == nil {
					t.Errorf("%s: no httpGet", probe)
					continue
				}
				if !slices.Contains(adminPaths, str(g, "path")) || jsonString(dig(g, "port")) != "admin" {
					t.Errorf("%s probes %s on port %v; want an admin path on port admin", probe, str(g, "path"), dig(g, "port"))
				}
				if scheme := cmp(str(g, "scheme"), "HTTP"); scheme != wantScheme {
					t.Errorf("%s scheme %s, want %s", probe, scheme, wantScheme)
				}
			}
			if str(c, "readinessProbe", "httpGet", "path") != "/readyz" {
				t.Errorf("the readiness probe is not /readyz")
			}

			// Hardening.
			if dig(pod, "securityContext", "runAsNonRoot") != true || str(pod, "securityContext", "seccompProfile", "type") != "RuntimeDefault" {
				t.Errorf("pod securityContext: %v", dig(pod, "securityContext"))
			}
			sc := dig(c, "securityContext")
			if dig(sc, "readOnlyRootFilesystem") != true || dig(sc, "allowPrivilegeEscalation") != false ||
				!slices.Contains(list(sc, "capabilities", "drop"), any("ALL")) {
				t.Errorf("container securityContext: %v", sc)
			}

			// Service, ServiceMonitor, NetworkPolicy, PodDisruptionBudget.
			svcPorts := map[string]string{} // service port name → target
			for _, p := range list(s.kind(t, "Service"), "spec", "ports") {
				target := jsonString(dig(p, "targetPort"))
				if _, ok := ports[target]; !ok {
					t.Errorf("Service port %s targets %s, not a container port", str(p, "name"), target)
				}
				svcPorts[str(p, "name")] = target
			}
			// The plain manifests ship one; the chart's is optional.
			sm := s.find("ServiceMonitor")
			if sm == nil && s.name == "deploy/kubernetes" {
				t.Errorf("no ServiceMonitor")
			}
			for _, e := range list(sm, "spec", "endpoints") {
				if svcPorts[str(e, "port")] != "admin" || str(e, "path") != "/metrics" {
					t.Errorf("ServiceMonitor scrapes %s on %s; want /metrics on the admin port", str(e, "path"), str(e, "port"))
				}
			}
			np := s.kind(t, "NetworkPolicy")
			for _, r := range list(np, "spec", "ingress") {
				for _, p := range list(r, "ports") {
					if _, ok := ports[jsonString(dig(p, "port"))]; !ok {
						t.Errorf("NetworkPolicy ingress port %v is not a container port", dig(p, "port"))
					}
				}
			}
			var egress []string
			for _, r := range list(np, "spec", "egress") {
				for _, p := range list(r, "ports") {
					egress = append(egress, jsonString(dig(p, "port")))
				}
			}
			for _, want := range []string{"53", "5432", "443"} {
				if !slices.Contains(egress, want) {
					t.Errorf("NetworkPolicy egress lacks port %s (DNS, PostgreSQL, Sigma): %v", want, egress)
				}
			}
			if dig(s.kind(t, "PodDisruptionBudget"), "spec", "minAvailable") == nil {
				t.Errorf("PodDisruptionBudget has no minAvailable")
			}
		})
	}
}

func cmp(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// jsonString prints a YAML scalar (8080 or "admin") as text.
func jsonString(v any) string {
	if s, ok := v.(string); ok {
		return s
	}
	b, _ := json.Marshal(v)
	return string(b)
}

// TestComposeMatchesTheBinary: the compose file's bridge loads with the
// binary's loader, publishes its listeners, and Prometheus scrapes its
// admin listener with the rules file loaded.
func TestComposeMatchesTheBinary(t *testing.T) {
	compose := yamlDocs(t, "compose.yaml", repoFile(t, "deploy", "compose", "compose.yaml"))[0]
	bridge := dig(compose, "services", "bridge")
	env := map[string]string{}
	example := string(repoFile(t, "deploy", "compose", "bridge.env.example"))
	for _, line := range strings.Split(example, "\n") {
		if k, v, ok := strings.Cut(line, "="); ok && !strings.HasPrefix(strings.TrimSpace(line), "#") {
			env[k] = v
		}
	}
	m, _ := dig(bridge, "environment").(map[string]any)
	for k, v := range m {
		env[k] = jsonString(v)
	}
	for k := range env {
		if !slices.Contains(config.EnvNames(), k) {
			t.Errorf("compose sets %s, which is not a setting of the binary", k)
		}
	}
	cfg, err := config.Load("", func(k string) string { return env[k] })
	if err != nil {
		t.Fatalf("the binary refuses the compose configuration: %v", err)
	}
	if !strings.HasPrefix(cfg.Store, "postgres://") {
		t.Errorf("compose store %s is not PostgreSQL", cfg.RedactedStore())
	}
	var published []string
	for _, p := range list(bridge, "ports") {
		published = append(published, jsonString(p)[strings.LastIndex(jsonString(p), ":")+1:])
	}
	for _, l := range []string{cfg.Listen, cfg.AdminListen} {
		if !slices.Contains(published, port(t, l)) {
			t.Errorf("compose does not publish the listener %s (ports %v)", l, published)
		}
	}
	secretTarget := "/run/secrets/" + jsonString(dig(bridge, "secrets", 0))
	if cfg.Sigma.ClientSecretFile != secretTarget {
		t.Errorf("client secret file %s, but the compose secret is at %s", cfg.Sigma.ClientSecretFile, secretTarget)
	}

	prom := yamlDocs(t, "prometheus.yml", repoFile(t, "deploy", "compose", "prometheus.yml"))[0]
	job := dig(prom, "scrape_configs", 0)
	rules := string(repoFile(t, "deploy", "prometheus", "rules.yml"))
	if str(job, "job_name") != "scim-bridge" || !strings.Contains(rules, `job="`+str(job, "job_name")+`"`) {
		t.Errorf("the scrape job %q is not the one the rules watch", str(job, "job_name"))
	}
	if str(job, "metrics_path") != "/metrics" || jsonString(dig(job, "static_configs", 0, "targets", 0)) != "bridge:"+port(t, cfg.AdminListen) {
		t.Errorf("Prometheus scrapes %s%s; want bridge:%s/metrics", jsonString(dig(job, "static_configs", 0, "targets", 0)), str(job, "metrics_path"), port(t, cfg.AdminListen))
	}
	var rulesMounted bool
	for _, v := range list(compose, "services", "prometheus", "volumes") {
		src, dst, _ := strings.Cut(jsonString(v), ":")
		dst = strings.TrimSuffix(dst, ":ro")
		if src == "../prometheus/rules.yml" && slices.Contains(list(prom, "rule_files"), any(dst)) {
			rulesMounted = true
		}
	}
	if !rulesMounted {
		t.Errorf("Prometheus does not load deploy/prometheus/rules.yml")
	}
}
