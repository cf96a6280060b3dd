package storetest

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/scimbridge/scim-bridge/internal/store"
)

// CrashEnv is set (to "1") in the environment of the child process that
// KillMidWrite starts; a child test runs CrashWriter only when it is set.
const CrashEnv = "SCIM_BRIDGE_STORETEST_CRASH_CHILD"

const crashLine = "storetest-crash round "

// crashChildLimit bounds a child whose parent vanished without killing it.
const crashChildLimit = 2 * time.Minute

// CrashWriter writes to s in rounds until ctx ends, the parent process goes
// away or two minutes pass, and prints one line to progress after each
// round is committed. Round i rotates token "crash" from crash-(i-1) to
// crash-i, puts user m-i with externalId ext-i, flips the tombstone of
// m-(i-1) and appends an audit entry for m-i. It is meant to be killed.
func CrashWriter(ctx context.Context, s store.Store, progress io.Writer) error {
	ctx, cancel := context.WithTimeout(ctx, crashChildLimit)
	defer cancel()
	parent := os.Getppid()
	if err := s.CreateToken(ctx, crashToken(0)); err != nil && !errors.Is(err, store.ErrConflict) {
		return err
	}
	for i := 1; ctx.Err() == nil && os.Getppid() == parent; i++ {
		now := t0.Add(time.Duration(i) * time.Second)
		if err := s.RotateToken(ctx, crashTokenID(i-1), now.Add(time.Hour), now, crashToken(i)); err != nil {
			return fmt.Errorf("round %d: %w", i, err)
		}
		if _, err := s.PutResource(ctx, user(fmt.Sprint("m-", i), fmt.Sprint("ext-", i))); err != nil {
			return fmt.Errorf("round %d: %w", i, err)
		}
		if i > 1 {
			if _, err := s.UpdateResource(ctx, store.KindUser, fmt.Sprint("m-", i-1), func(r *store.Resource) error {
				r.Tombstoned = !r.Tombstoned
				return nil
			}); err != nil {
				return fmt.Errorf("round %d: %w", i, err)
			}
		}
		if _, err := s.AppendAudit(ctx, entry("crash.round", store.KindUser, fmt.Sprint("m-", i), now)); err != nil {
			return fmt.Errorf("round %d: %w", i, err)
		}
		if _, err := fmt.Fprintf(progress, "%s%d\n", crashLine, i); err != nil {
			return err
		}
	}
	return ctx.Err()
}

func crashTokenID(i int) string { return fmt.Sprint("crash-", i) }

func crashToken(i int) store.Token {
	t := tok(crashTokenID(i), "crash")
	t.CreatedAt = t0.Add(time.Duration(i) * time.Second)
	return t
}

// KillMidWrite runs the test binary again as a child that runs only the
// top-level test childTest, with CrashEnv=1 and env added to its
// environment. Once the child reports minRounds committed rounds it is
// killed with SIGKILL, in the middle of its next round. KillMidWrite
// returns the last round the child reported committed.
func KillMidWrite(t *testing.T, childTest string, env []string, minRounds int) int {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^"+childTest+"$", "-test.count=1", "-test.timeout=5m")
	cmd.Env = append(append(os.Environ(), CrashEnv+"=1"), env...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start crash child: %v", err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill() })

	last, killed := 0, false
	var other []string
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		line := sc.Text()
		n, err := strconv.Atoi(strings.TrimPrefix(line, crashLine))
		if !strings.HasPrefix(line, crashLine) || err != nil {
			other = append(other, line)
			continue
		}
		if killed {
			// Printed before the kill landed: committed all the same.
			last = n
			continue
		}
		last = n
		if n >= minRounds {
			if err := cmd.Process.Kill(); err != nil {
				t.Fatalf("kill crash child: %v", err)
			}
			killed = true
		}
	}
	err = cmd.Wait()
	if !killed {
		t.Fatalf("crash child stopped after %d rounds without being killed: %v\nstdout: %s\nstderr: %s",
			last, err, strings.Join(other, "\n"), stderr.String())
	}
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != -1 {
		t.Fatalf("crash child was not killed by a signal: %v", err)
	}
	return last
}

// CheckAfterCrash checks a store reopened after KillMidWrite: every round
// up to lastRound is there whole, no round is half there where a single
// operation would have been torn, the invariants hold, and the store takes
// new writes.
func CheckAfterCrash(t *testing.T, s store.Store, lastRound int) {
	t.Helper()
	ctx := ctxFor(t)
	must(t, "ping after crash", s.Ping(ctx))

	tokens, err := s.ListTokens(ctx)
	must(t, "list tokens", err)
	var current []string
	ids := map[string]bool{}
	for _, tk := range tokens {
		ids[tk.ID] = true
		if tk.SupersededAt.IsZero() && tk.RevokedAt.IsZero() {
			current = append(current, tk.ID)
		}
	}
	// The round after lastRound may have committed its rotation too.
	if len(current) != 1 || (current[0] != crashTokenID(lastRound) && current[0] != crashTokenID(lastRound+1)) {
		t.Fatalf("after crash at round %d: current tokens %v, want exactly one of crash-%d, crash-%d", lastRound, current, lastRound, lastRound+1)
	}
	for i := 0; i <= lastRound; i++ {
		if !ids[crashTokenID(i)] {
			t.Errorf("token %s of committed round %d lost", crashTokenID(i), i)
		}
	}
	if len(tokens) != lastRound+1 && len(tokens) != lastRound+2 {
		t.Errorf("%d tokens after crash at round %d", len(tokens), lastRound)
	}

	users, err := s.ListResources(ctx, store.KindUser)
	must(t, "list users", err)
	byID := map[string]store.Resource{}
	for _, r := range users {
		byID[r.ID] = r
	}
	for i := 1; i <= lastRound; i++ {
		r, ok := byID[fmt.Sprint("m-", i)]
		if !ok {
			t.Errorf("user m-%d of committed round %d lost", i, i)
			continue
		}
		if r.ExternalID != fmt.Sprint("ext-", i) {
			t.Errorf("user m-%d = %+v, externalId torn", i, r)
		}
	}
	audit, err := s.ListAudit(ctx, store.AuditFilter{Operation: "crash.round", Limit: lastRound + 10})
	must(t, "list audit", err)
	seen := map[string]bool{}
	for _, e := range audit {
		seen[e.ResourceID] = true
		if e.Target.Name != e.ResourceID+"@example.com" || e.Legacy {
			t.Errorf("audit entry %+v: target torn", e)
		}
	}
	for i := 1; i <= lastRound; i++ {
		if !seen[fmt.Sprint("m-", i)] {
			t.Errorf("audit entry of committed round %d lost", i)
		}
	}

	// And it works: the next rotation and writes go through.
	next := crashToken(len(tokens))
	must(t, "rotate after crash", s.RotateToken(ctx, current[0], time.Time{}, t0.Add(time.Hour), next))
	_, err = s.PutResource(ctx, user("after-crash", "ext-after"))
	must(t, "put after crash", err)
	_, err = s.AppendAudit(ctx, entry("crash.after", store.KindUser, "after-crash", time.Time{}))
	must(t, "audit after crash", err)
}
