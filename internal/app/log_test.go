package app

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"
)

// TestLoggerWritesDurationsAsText: a JSON log line carries "1.5s", which a
// person and a log query can read, not 1500000000.
func TestLoggerWritesDurationsAsText(t *testing.T) {
	for _, format := range []string{"json", "text"} {
		var b bytes.Buffer
		l, err := NewLogger(&b, format, "info")
		if err != nil {
			t.Fatal(err)
		}
		l.Info("request", "duration", 1500*time.Millisecond, "n", 3)
		l.WithGroup("sigma").Info("call", "wait", 250*time.Millisecond)
		out := b.String()
		if format == "json" {
			lines := strings.Split(strings.TrimSpace(out), "\n")
			var first, second map[string]any
			if err := json.Unmarshal([]byte(lines[0]), &first); err != nil {
				t.Fatal(err)
			}
			if err := json.Unmarshal([]byte(lines[1]), &second); err != nil {
				t.Fatal(err)
			}
			if first["duration"] != "1.5s" || first["n"] != float64(3) {
				t.Errorf("json: %s", lines[0])
			}
			if g, _ := second["sigma"].(map[string]any); g["wait"] != "250ms" {
				t.Errorf("json group: %s", lines[1])
			}
			continue
		}
		if !strings.Contains(out, "duration=1.5s") || !strings.Contains(out, "sigma.wait=250ms") {
			t.Errorf("text: %s", out)
		}
	}
}
