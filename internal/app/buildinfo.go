package app

import (
	"runtime"
	"runtime/debug"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
)

// BuildInfo says what binary this is.
type BuildInfo struct {
	Version   string // -ldflags "-X main.version=…", else the module version; "dev" for an unstamped build from a work tree
	Revision  string // VCS revision, with "-dirty" when built from modified files; "unknown" without VCS stamping
	GoVersion string
}

// ReadBuildInfo returns the build info of the running binary; version,
// when not empty, is the version stamped at link time.
func ReadBuildInfo(version string) BuildInfo {
	b := BuildInfo{Version: version, Revision: "unknown", GoVersion: runtime.Version()}
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		if b.Version == "" {
			b.Version = "dev"
		}
		return b
	}
	if b.Version == "" {
		b.Version = bi.Main.Version
	}
	if b.Version == "" || b.Version == "(devel)" {
		b.Version = "dev" // an unstamped build from a work tree
	}
	var modified bool
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			b.Revision = s.Value
		case "vcs.modified":
			modified = s.Value == "true"
		}
	}
	if modified && b.Revision != "unknown" {
		b.Revision += "-dirty"
	}
	return b
}

// String is "VERSION (REVISION[:12], GOVERSION)".
func (b BuildInfo) String() string {
	rev := b.Revision
	if len(rev) > 12 && rev != "unknown" {
		short := rev[:12]
		if strings.HasSuffix(rev, "-dirty") {
			short += "-dirty"
		}
		rev = short
	}
	return b.Version + " (" + rev + ", " + b.GoVersion + ")"
}

// registerBuildInfo exports scim_bridge_build_info{version,revision,go_version} 1.
func registerBuildInfo(reg prometheus.Registerer, b BuildInfo) {
	g := prometheus.NewGauge(prometheus.GaugeOpts{
		Name:        "scim_bridge_build_info",
		Help:        "Always 1; the labels say which build is running.",
		ConstLabels: prometheus.Labels{"version": b.Version, "revision": b.Revision, "go_version": b.GoVersion},
	})
	g.Set(1)
	reg.MustRegister(g)
}
