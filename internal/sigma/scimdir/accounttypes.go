package scimdir

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/scimbridge/scim-bridge/internal/directory"
	"github.com/scimbridge/scim-bridge/internal/sigma"
	"github.com/scimbridge/scim-bridge/internal/sigma/dirkit"
)

// typeResolver maps account type names between the IdP, the bridge's
// canonical spelling and Sigma's SCIM userType.
//
// With a REST client the canonical name is the REST name ("View", "Analyst
// Creator"), resolved by the client's ResolveAccountType exactly as on the
// REST path, and Sigma's SCIM receives the built-ins in lower case and
// custom types as named. Without one, the canonical name is the SCIM
// spelling itself, matched case-insensitively against the built-ins, the
// configured custom types and every userType Sigma has shown us. When the
// REST API stops answering, the last list it gave (or else the local
// matching) decides, so the SCIM path does not fail with it.
type typeResolver struct {
	rest    *sigma.Client
	aliases map[string]string // lower-cased alias -> target
	log     *slog.Logger

	mu       sync.Mutex
	known    map[string]string   // lower-cased -> SCIM spelling (no REST)
	list     []sigma.AccountType // last list the REST client gave
	downTill time.Time           // REST failed: do not ask it again before
}

// restBackoff is how long a failing REST API is left alone: each request
// would otherwise wait for the REST client's retries before falling back.
const restBackoff = 30 * time.Second

func (t *typeResolver) restDown() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return time.Now().Before(t.downTill)
}

func (t *typeResolver) restFailed(ctx context.Context, err error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if time.Now().After(t.downTill) {
		t.log.WarnContext(ctx, "sigma REST account type list unavailable; matching account types from the last list or locally", "err", err, "retry_in", restBackoff)
	}
	t.downTill = time.Now().Add(restBackoff)
}

func newTypeResolver(rest *sigma.Client, custom []string, aliases map[string]string, log *slog.Logger) *typeResolver {
	t := &typeResolver{rest: rest, aliases: map[string]string{}, known: map[string]string{}, log: log}
	for k, v := range aliases {
		t.aliases[dirkit.LowerTrim(k)] = strings.TrimSpace(v)
	}
	for _, n := range BuiltinAccountTypes {
		t.known[n] = n
	}
	for _, n := range custom {
		if n = strings.TrimSpace(n); n != "" {
			t.known[strings.ToLower(n)] = n
		}
	}
	return t
}

// scimSpelling is the userType Sigma's SCIM uses for a REST account type.
func scimSpelling(at sigma.AccountType) string {
	if at.IsCustom {
		return at.Name
	}
	return strings.ToLower(at.Name)
}

// restList returns the REST client's (cached) account type list, falling
// back to the last good one when the reload fails.
func (t *typeResolver) restList(ctx context.Context) ([]sigma.AccountType, error) {
	var list []sigma.AccountType
	err := errRESTDown
	if !t.restDown() {
		if list, err = t.rest.AccountTypes(ctx); err != nil {
			t.restFailed(ctx, err)
		}
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if err == nil {
		t.list = list
		return list, nil
	}
	if t.list != nil {
		return t.list, nil
	}
	return nil, err
}

var errRESTDown = errors.New("sigma REST API failed recently; not asked again yet")

// resolve maps the name an IdP sent to the canonical name and to the
// userType Sigma's SCIM wants. An unknown name is an *InvalidValueError
// listing the valid ones; nothing has been written when it is returned.
func (t *typeResolver) resolve(ctx context.Context, name string) (canonical, scimType string, err error) {
	want := strings.TrimSpace(name)
	if a, ok := t.aliases[strings.ToLower(want)]; ok {
		want = a
	}
	if t.rest == nil {
		return t.resolveLocal(name, want)
	}
	err = errRESTDown
	if !t.restDown() {
		canonical, err = t.rest.ResolveAccountType(ctx, want)
	}
	var unknown *sigma.UnknownAccountTypeError
	if errors.As(err, &unknown) {
		return "", "", &directory.InvalidValueError{Attribute: "userType", Value: name, Reason: "unknown account type", Valid: unknown.Valid}
	}
	if err != nil && !errors.Is(err, errRESTDown) {
		t.restFailed(ctx, err)
	}
	list, lerr := t.restList(ctx)
	if err != nil {
		// REST does not answer (an outage, or credentials that stopped
		// working): the SCIM path must not stop with it. Decide from the
		// last list REST gave, or else as without REST.
		if lerr != nil {
			return t.resolveLocal(name, want)
		}
		for _, at := range list {
			if strings.EqualFold(at.Name, want) {
				return at.Name, scimSpelling(at), nil
			}
		}
		return "", "", dirkit.UpstreamErr("resolve account type", err)
	}
	for _, at := range list {
		if at.Name == canonical {
			return canonical, scimSpelling(at), nil
		}
	}
	return canonical, canonical, nil
}

// resolveLocal matches want against the built-ins, the configured custom
// types and the userTypes Sigma has shown, case-insensitively.
func (t *typeResolver) resolveLocal(name, want string) (canonical, scimType string, err error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if n, ok := t.known[strings.ToLower(want)]; ok {
		return n, n, nil
	}
	valid := make([]string, 0, len(t.known))
	for _, n := range t.known {
		valid = append(valid, n)
	}
	slices.Sort(valid)
	return "", "", &directory.InvalidValueError{Attribute: "userType", Value: name, Reason: "unknown account type", Valid: valid}
}

// canonical maps a userType read from Sigma's SCIM to the canonical name.
func (t *typeResolver) canonical(ctx context.Context, scimType string) string {
	if scimType == "" {
		return ""
	}
	if t.rest == nil {
		t.mu.Lock()
		defer t.mu.Unlock()
		if _, ok := t.known[strings.ToLower(scimType)]; !ok {
			t.known[strings.ToLower(scimType)] = scimType // Sigma uses it, so it exists
		}
		return scimType
	}
	list, err := t.restList(ctx)
	if err != nil {
		t.mu.Lock()
		defer t.mu.Unlock()
		if _, ok := t.known[strings.ToLower(scimType)]; !ok {
			t.known[strings.ToLower(scimType)] = scimType
		}
		return scimType
	}
	for _, at := range list {
		if scimSpelling(at) == scimType {
			return at.Name
		}
	}
	for _, at := range list {
		if strings.EqualFold(at.Name, scimType) {
			return at.Name
		}
	}
	return scimType
}
