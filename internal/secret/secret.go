// Package secret holds credentials so that they cannot leak by accident:
// a Value formats, marshals and logs as "<redacted>", and a Source yields
// the current value of a secret that may change under a running process
// (a Kubernetes secret mounted as a file, say).
//
// It is a leaf package so that config, sigma and tokens can all share it
// without importing each other.
package secret

import (
	"context"
	"fmt"
	"log/slog"
)

// Redacted is how every secret prints.
const Redacted = "<redacted>"

// Value is a secret string. Every formatting path (fmt verbs, JSON, YAML
// text marshalling, slog) prints Redacted; Reveal is the only way to read it.
type Value string

// Reveal returns the secret itself. Call it only at the point of use
// (building an Authorization header, hashing), never to log or wrap errors.
func (v Value) Reveal() string { return string(v) }

// IsZero reports whether no secret is set.
func (v Value) IsZero() bool { return v == "" }

// String implements fmt.Stringer.
func (v Value) String() string { return Redacted }

// GoString implements fmt.GoStringer so %#v redacts too.
func (v Value) GoString() string { return Redacted }

// Format implements fmt.Formatter so that every verb (%s %v %q %x %d) redacts.
func (v Value) Format(f fmt.State, verb rune) { _, _ = f.Write([]byte(Redacted)) }

// MarshalText implements encoding.TextMarshaler (JSON, YAML).
func (v Value) MarshalText() ([]byte, error) { return []byte(Redacted), nil }

// LogValue implements slog.LogValuer.
func (v Value) LogValue() slog.Value { return slog.StringValue(Redacted) }

// Source yields the current value of a secret. Implementations must be safe
// for concurrent use. Current is cheap enough for every outgoing request;
// Refresh forces a re-read (called once after the upstream answered 401).
type Source interface {
	// Current returns the secret as it is now.
	Current(ctx context.Context) (Value, error)
	// Refresh re-reads the secret from its origin, bypassing any cache,
	// and returns the value it found.
	Refresh(ctx context.Context) (Value, error)
}
