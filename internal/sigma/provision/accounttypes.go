package provision

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
)

// AccountType is an account type as a write needs it: the org's
// canonical name (the REST name when REST credentials exist) and the
// spelling Sigma's SCIM endpoint wants. The zero value is "none given":
// the org's default on create, unchanged on replace.
type AccountType struct {
	Name string
	SCIM string
}

// BuiltinAccountTypes are the account types every org has, as Sigma's SCIM
// spells them. Without REST credentials they are always accepted.
var BuiltinAccountTypes = []string{"admin", "pro", "essential", "view"}

// AccountTypesConfig configures an AccountTypes resolver.
type AccountTypesConfig struct {
	// REST, when set, lists the org's account types and gives their
	// canonical names; without it names are matched locally.
	REST *sigma.Client
	// Custom are the org's custom account types, named exactly as in
	// Sigma, for matching without REST; the built-ins are always known.
	Custom []string
	// Aliases map incoming names to account types ("Viewer" -> "view");
	// keys are matched case-insensitively.
	Aliases map[string]string
	// Default is given to users written without an account type (on
	// create, and on replace when set). Any spelling the resolver accepts.
	Default string
	// CreateDefault is given to users created without one when Default is
	// empty; empty leaves it to Sigma (the org default).
	CreateDefault string
	// Fallback lets writes go on when the REST API stops answering: names
	// are then matched against the last list REST gave, or locally. Off,
	// a REST failure fails the write.
	Fallback bool
	Log      *slog.Logger
}

// NewAccountTypes returns the resolver cfg describes.
func NewAccountTypes(cfg AccountTypesConfig) *AccountTypes {
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	t := newTypeResolver(cfg.REST, cfg.Custom, cfg.Aliases, cfg.Log)
	t.def, t.createDef, t.fallback = cfg.Default, cfg.CreateDefault, cfg.Fallback
	return t
}

// ForWrite resolves the account type of a write: name, else the
// configured default, else (create) the create default. The zero
// AccountType means "none": Sigma's org default on create, unchanged on
// replace. An unknown name is an *InvalidValueError listing the valid
// ones; nothing has been written when it is returned.
func (t *AccountTypes) ForWrite(ctx context.Context, name string, create bool) (AccountType, error) {
	if strings.TrimSpace(name) == "" {
		name = t.def
		if strings.TrimSpace(name) == "" {
			if !create || t.createDef == "" {
				return AccountType{}, nil
			}
			name = t.createDef
		}
	}
	canonical, scimType, err := t.resolve(ctx, name)
	return AccountType{Name: canonical, SCIM: scimType}, err
}

// AccountTypes is the one account type resolver of both paths: aliases,
// the default, REST vs SCIM spelling and the unknown-type error.
//
// With a REST client the canonical name is the REST name ("View",
// "Analyst Creator"), resolved by the client's ResolveAccountType, and
// Sigma's SCIM receives the built-ins in lower case and custom types as
// named. Without one, the canonical name is the SCIM spelling itself,
// matched case-insensitively against the built-ins, the configured custom
// types and every userType Sigma has shown us. With Fallback, when the
// REST API stops answering, the last list it gave (or else the local
// matching) decides, so the SCIM path does not fail with it.
type AccountTypes struct {
	rest      *sigma.Client
	aliases   map[string]string // lower-cased alias -> target
	log       *slog.Logger
	def       string
	createDef string
	fallback  bool

	mu       sync.Mutex
	known    map[string]string   // lower-cased -> SCIM spelling (no REST)
	list     []sigma.AccountType // last list the REST client gave
	downTill time.Time           // REST failed: do not ask it again before
}

// restBackoff is how long a failing REST API is left alone: each request
// would otherwise wait for the REST client's retries before falling back.
const restBackoff = 30 * time.Second

func (t *AccountTypes) restDown() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return time.Now().Before(t.downTill)
}

func (t *AccountTypes) restFailed(ctx context.Context, err error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if time.Now().After(t.downTill) {
		t.log.WarnContext(ctx, "sigma REST account type list unavailable; matching account types from the last list or locally", "err", err, "retry_in", restBackoff)
	}
	t.downTill = time.Now().Add(restBackoff)
}

func newTypeResolver(rest *sigma.Client, custom []string, aliases map[string]string, log *slog.Logger) *AccountTypes {
	t := &AccountTypes{rest: rest, aliases: map[string]string{}, known: map[string]string{}, log: log}
	for k, v := range aliases {
		t.aliases[LowerTrim(k)] = strings.TrimSpace(v)
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
func (t *AccountTypes) restList(ctx context.Context) ([]sigma.AccountType, error) {
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
func (t *AccountTypes) resolve(ctx context.Context, name string) (canonical, scimType string, err error) {
	want := strings.TrimSpace(name)
	if a, ok := t.aliases[strings.ToLower(want)]; ok {
		want = a
	}
	if t.rest == nil {
		return t.resolveLocal(name, want)
	}
	err = errRESTDown
	if !t.fallback || !t.restDown() {
		canonical, err = t.rest.ResolveAccountType(ctx, want)
	}
	var unknown *sigma.UnknownAccountTypeError
	if errors.As(err, &unknown) {
		return "", "", &directory.InvalidValueError{Attribute: "userType", Value: name, Reason: "unknown account type", Valid: unknown.Valid}
	}
	if err != nil && !t.fallback {
		return "", "", UpstreamErr("resolve account type", err)
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
		return "", "", UpstreamErr("resolve account type", err)
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
func (t *AccountTypes) resolveLocal(name, want string) (canonical, scimType string, err error) {
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

// Canonical maps a userType read from Sigma's SCIM to the canonical name.
func (t *AccountTypes) Canonical(ctx context.Context, scimType string) string {
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
