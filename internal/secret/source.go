package secret

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"time"
)

// ErrEmpty is returned by a Source whose secret is empty.
var ErrEmpty = errors.New("secret is empty")

// Static is a Source whose value never changes (a secret given as a value
// in the configuration or environment).
type Static struct {
	v     Value
	since time.Time
}

// NewStatic returns a Source that always yields v.
func NewStatic(v Value) *Static { return &Static{v: v, since: time.Now()} }

// Current implements Source.
func (s *Static) Current(context.Context) (Value, error) {
	if s.v.IsZero() {
		return "", ErrEmpty
	}
	return s.v, nil
}

// Refresh implements Source.
func (s *Static) Refresh(ctx context.Context) (Value, error) { return s.Current(ctx) }

// ChangedAt reports when the value was last seen to change: for a static
// secret, when the process loaded it.
func (s *Static) ChangedAt() time.Time { return s.since }

// File is a Source read from a file (a mounted Kubernetes secret, a Docker
// secret). The file is re-read when its modification time or size changes,
// checked at most once per CheckEvery, so a rotated secret takes effect on
// the next call without a restart. Surrounding whitespace is trimmed.
type File struct {
	path string
	// CheckEvery bounds how often the file is stat'ed on the hot path.
	CheckEvery time.Duration
	now        func() time.Time

	mu        sync.Mutex
	v         Value
	fi        os.FileInfo // of the file v was read from
	checked   time.Time
	changedAt time.Time
}

// NewFile returns a Source reading path. It does not read the file until
// first use; call Current once at start-up to fail fast.
func NewFile(path string) *File {
	return &File{path: path, CheckEvery: time.Second, now: time.Now}
}

// Path is the file the secret is read from (not secret itself).
func (f *File) Path() string { return f.path }

// Current implements Source. Once a value has been read, a file that is
// briefly missing or empty (an editor or `echo new > file` mid-write) does
// not fail callers: the last good value is served until the file is whole
// again. Refresh, called after the upstream rejected the value, does report
// such errors.
func (f *File) Current(context.Context) (Value, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	now := f.now()
	if !f.v.IsZero() && now.Sub(f.checked) < f.CheckEvery {
		return f.v, nil
	}
	v, err := f.load(now, false)
	if err != nil && !f.v.IsZero() {
		return f.v, nil
	}
	return v, err
}

// Refresh implements Source.
func (f *File) Refresh(context.Context) (Value, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.load(f.now(), true)
}

// ChangedAt reports when a new value was last read from the file (the file's
// modification time), for "secret age" metrics.
func (f *File) ChangedAt() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.changedAt
}

func (f *File) load(now time.Time, force bool) (Value, error) {
	f.checked = now
	fi, err := os.Stat(f.path)
	if err != nil {
		return "", fmt.Errorf("read secret file %s: %w", f.path, unwrapPathErr(err))
	}
	// A replaced file (Kubernetes swaps a symlink, `mv` swaps the inode) is
	// caught by SameFile even when mtime and size are unchanged.
	if !force && !f.v.IsZero() && f.fi != nil && os.SameFile(fi, f.fi) &&
		fi.ModTime().Equal(f.fi.ModTime()) && fi.Size() == f.fi.Size() {
		return f.v, nil
	}
	b, err := os.ReadFile(f.path)
	if err != nil {
		return "", fmt.Errorf("read secret file %s: %w", f.path, unwrapPathErr(err))
	}
	v := Value(strings.TrimSpace(string(b)))
	if v.IsZero() {
		return "", fmt.Errorf("read secret file %s: %w", f.path, ErrEmpty)
	}
	if v != f.v {
		f.changedAt = fi.ModTime()
	}
	f.v, f.fi = v, fi
	return v, nil
}

// unwrapPathErr drops the *PathError wrapper (which repeats the path) but
// keeps the cause, which never contains file contents.
func unwrapPathErr(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}
