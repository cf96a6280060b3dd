package secret

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestValueNeverFormats(t *testing.T) {
	v := Value("hunter2-secret")
	var logs bytes.Buffer
	slog.New(slog.NewJSONHandler(&logs, nil)).Info("x", "secret", v)
	j, _ := json.Marshal(struct{ S Value }{v})
	outs := []string{
		fmt.Sprint(v), fmt.Sprintf("%s %v %+v %#v %q %x %d", v, v, v, v, v, v, v),
		fmt.Sprintf("%v", struct{ S Value }{v}), string(j), logs.String(),
		fmt.Errorf("wrap: %v", v).Error(),
	}
	for _, o := range outs {
		if strings.Contains(o, "hunter2") {
			t.Errorf("secret leaked: %s", o)
		}
		if !strings.Contains(o, Redacted) && !strings.Contains(o, `\u003credacted\u003e`) {
			t.Errorf("no %s in %q", Redacted, o)
		}
	}
	if v.Reveal() != "hunter2-secret" {
		t.Error("Reveal lost the value")
	}
}

func TestStatic(t *testing.T) {
	if _, err := NewStatic("").Current(t.Context()); !errors.Is(err, ErrEmpty) {
		t.Errorf("empty static: %v", err)
	}
	if v, _ := NewStatic("a").Refresh(t.Context()); v.Reveal() != "a" {
		t.Errorf("got %q", v.Reveal())
	}
}

func TestFileRereadsOnChange(t *testing.T) {
	p := filepath.Join(t.TempDir(), "secret")
	os.WriteFile(p, []byte("first\n"), 0o600)
	now := time.Unix(1000, 0)
	f := NewFile(p)
	f.now = func() time.Time { return now }
	ctx := context.Background()
	if v, err := f.Current(ctx); err != nil || v.Reveal() != "first" {
		t.Fatalf("Current = %q, %v", v.Reveal(), err)
	}
	// Rotate the file (a new mtime, as a Kubernetes secret update makes).
	os.WriteFile(p, []byte("second-longer"), 0o600)
	os.Chtimes(p, time.Unix(2000, 0), time.Unix(2000, 0))
	// Within CheckEvery the cached value is served without a stat...
	if v, _ := f.Current(ctx); v.Reveal() != "first" {
		t.Errorf("re-read before CheckEvery: %q", v.Reveal())
	}
	// ...after it, the change is picked up.
	now = now.Add(2 * time.Second)
	if v, _ := f.Current(ctx); v.Reveal() != "second-longer" {
		t.Errorf("after change: %q", v.Reveal())
	}
	if !f.ChangedAt().Equal(time.Unix(2000, 0)) {
		t.Errorf("ChangedAt = %v", f.ChangedAt())
	}
	// Refresh bypasses the check interval.
	os.WriteFile(p, []byte("third"), 0o600)
	if v, _ := f.Refresh(ctx); v.Reveal() != "third" {
		t.Errorf("Refresh: %q", v.Reveal())
	}
}

func TestFileErrorsNameTheFileNotTheContent(t *testing.T) {
	dir := t.TempDir()
	f := NewFile(filepath.Join(dir, "missing"))
	_, err := f.Current(t.Context())
	if err == nil || !strings.Contains(err.Error(), "missing") || !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: %v", err)
	}
	empty := filepath.Join(dir, "empty")
	os.WriteFile(empty, []byte("  \n"), 0o600)
	if _, err := NewFile(empty).Current(t.Context()); !errors.Is(err, ErrEmpty) {
		t.Errorf("empty file: %v", err)
	}
}

func TestFileReplacedWithSameMtimeAndSize(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "secret")
	os.WriteFile(p, []byte("aaaa"), 0o600)
	stamp := time.Unix(5000, 0)
	os.Chtimes(p, stamp, stamp)
	f := NewFile(p)
	f.CheckEvery = 0
	if v, _ := f.Current(t.Context()); v.Reveal() != "aaaa" {
		t.Fatal(v.Reveal())
	}
	// Atomic replacement (write elsewhere, rename over): new inode, same
	// size, same mtime.
	tmp := filepath.Join(dir, "new")
	os.WriteFile(tmp, []byte("bbbb"), 0o600)
	os.Chtimes(tmp, stamp, stamp)
	if err := os.Rename(tmp, p); err != nil {
		t.Fatal(err)
	}
	if v, _ := f.Current(t.Context()); v.Reveal() != "bbbb" {
		t.Errorf("replacement missed: %q", v.Reveal())
	}
}

func TestFileKeepsLastGoodValueWhileRewritten(t *testing.T) {
	p := filepath.Join(t.TempDir(), "secret")
	os.WriteFile(p, []byte("good"), 0o600)
	f := NewFile(p)
	f.CheckEvery = 0
	f.Current(t.Context())
	os.WriteFile(p, nil, 0o600) // truncated mid-write
	if v, err := f.Current(t.Context()); err != nil || v.Reveal() != "good" {
		t.Errorf("Current while empty = %q, %v; want the last good value", v.Reveal(), err)
	}
	if _, err := f.Refresh(t.Context()); !errors.Is(err, ErrEmpty) {
		t.Errorf("Refresh while empty = %v; want ErrEmpty", err)
	}
	os.Remove(p)
	if v, err := f.Current(t.Context()); err != nil || v.Reveal() != "good" {
		t.Errorf("Current while missing = %q, %v", v.Reveal(), err)
	}
}
