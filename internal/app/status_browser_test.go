package app

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/scimbridge/scim-bridge/internal/sigma/sigmafake"
)

// chromiumPath is the headless browser the status page test drives. CI
// installs Debian's chromium (.ci/run); elsewhere the test skips without it.
func chromiumPath(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("CI") != "" {
		t.Fatal("no chromium on PATH in CI: .ci/run installs Debian's chromium package")
	}
	t.Skip("no chromium on PATH (apt-get install chromium)")
	return ""
}

// browser is one headless Chromium with a fresh profile, stopped (and
// waited for) when the test ends.
type browser struct {
	ctx context.Context

	mu       sync.Mutex
	problems []string // console errors, uncaught exceptions, error entries of the browser log
}

func newBrowser(t *testing.T) *browser {
	t.Helper()
	path := chromiumPath(t)
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(path),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.UserDataDir(t.TempDir()),
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelCtx := chromedp.NewContext(actx)
	b := &browser{ctx: ctx}
	// The first call starts the browser, with no timeout of its own (one
	// would stop the browser); cancelling the allocator kills it and waits.
	if _, err := chromedp.Call(ctx, network.Enable, network.EnableParams{}); err != nil {
		cancelCtx()
		cancelAlloc()
		t.Fatalf("start chromium: %v", err)
	}
	done := make(chan struct{})
	t.Cleanup(func() { cancelCtx(); cancelAlloc(); <-done })
	messages := chromedp.Console(ctx)
	go func() {
		defer close(done)
		for m, err := range messages {
			if err != nil {
				return
			}
			if m.Type == chromedp.ConsoleError || m.IsException() {
				b.mu.Lock()
				b.problems = append(b.problems, m.String()+" "+m.URL)
				b.mu.Unlock()
			}
		}
	}()
	return b
}

// open loads url with the given Authorization header and returns the
// document's HTTP status and the visible text of each selector present.
func (b *browser) open(t *testing.T, url, authorization string, selectors ...string) (int64, map[string]string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
	defer cancel()
	if _, err := chromedp.Call(ctx, network.SetExtraHTTPHeaders, network.SetExtraHTTPHeadersParams{
		Headers: network.Headers{"Authorization": authorization}}); err != nil {
		t.Fatal(err)
	}
	resp, err := chromedp.Run(ctx, chromedp.NavigateResponse(url))
	if err != nil {
		t.Fatalf("load %s: %v", url, err)
	}
	text := map[string]string{}
	for _, sel := range selectors {
		v, err := chromedp.Run(ctx, chromedp.Evaluate[*string](fmt.Sprintf(`(() => { const e = document.querySelector(%q); return e ? (e.innerText ?? e.textContent) : null })()`, sel)))
		if err != nil {
			t.Fatalf("read %s: %v", sel, err)
		}
		if v != nil {
			text[sel] = *v
		}
	}
	return resp.Status, text
}

func (b *browser) takeProblems() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	p := b.problems
	b.problems = nil
	return p
}

// TestStatusPageInChromium drives headless Chromium against a bridge on
// the emulator: with an admin token the page loads, shows the seeded seats
// per account type and the audit entry of a write made just before, and
// logs no console error; an IdP token is refused.
func TestStatusPageInChromium(t *testing.T) {
	b := newBrowser(t)
	a, fake, idp := emulatorApp(t, "rest", sigmafake.Options{Members: 9, Seed: 5})
	adm := adminToken(t, a)
	page := "http://" + a.AdminAddr() + "/status"

	code, u := scimDo(t, "POST", a.SCIMBaseURL()+"/Users", idp,
		`{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"grace@example.com","name":{"givenName":"Grace","familyName":"Hopper"},"userType":"Pro"}`)
	if code != 201 {
		t.Fatalf("create: %d %v", code, u)
	}
	fresh := u["id"].(string)

	status, text := b.open(t, page, "Bearer "+adm, "#seat-table", "#audit", "#live-mode", "#tokens", "svg")
	if status != 200 {
		t.Fatalf("admin token: HTTP %d", status)
	}
	if text["#live-mode"] != "rest" {
		t.Errorf("live mode %q, want rest", text["#live-mode"])
	}
	seats := map[string][3]int{}
	for _, m := range fake.Members() {
		s := seats[m.MemberType]
		switch {
		case m.IsArchived:
			s[2]++
		case m.IsInactive:
			s[1]++
		default:
			s[0]++
		}
		seats[m.MemberType] = s
	}
	table := strings.Join(strings.Fields(text["#seat-table"]), " ")
	for typ, s := range seats {
		row := fmt.Sprintf("%s %d %d %d %d", typ, s[0], s[1], s[2], s[0]+s[1]+s[2])
		if !strings.Contains(table, row) {
			t.Errorf("seat table %q lacks %q", table, row)
		}
	}
	if _, ok := text["svg"]; !ok {
		t.Error("no seat chart")
	}
	if audit := text["#audit"]; !strings.Contains(audit, "user.create") || !strings.Contains(audit, fresh) || !strings.Contains(audit, "grace@example.com") {
		t.Errorf("the audit section lacks the fresh create of %s:\n%s", fresh, audit)
	}
	if tokensText := text["#tokens"]; !strings.Contains(tokensText, "okta-test") || strings.Contains(tokensText, idp) {
		t.Errorf("token table %q: want the IdP token's name, never its secret", tokensText)
	}
	if p := b.takeProblems(); len(p) > 0 {
		t.Errorf("the page logged errors:\n%s", strings.Join(p, "\n"))
	}

	status, text = b.open(t, page, "Bearer "+idp, "#seat-table")
	if status != 403 {
		t.Errorf("IdP token: HTTP %d, want 403", status)
	}
	if _, shown := text["#seat-table"]; shown {
		t.Error("an IdP token was shown the seats")
	}
}
