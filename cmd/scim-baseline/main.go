// Command scim-baseline is the benchmark baseline: a bare SCIM 2.0 server
// built the plain way on github.com/elimity-com/scim, holding Users and
// Groups in memory (no upstream, no store, no index). It answers filters by
// scanning every resource with the library's filter validator, as a simple
// SCIM app does, and keeps userName/displayName unique.
//
//	go run ./cmd/scim-baseline -listen 127.0.0.1:8098 -users 1000
//
// It accepts one bearer token (-token) and serves until interrupted. It is
// not a product: it exists so that BENCHMARKS.md can compare scim-bridge
// with what a bare server on the same machine does.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/elimity-com/scim"
	scimerrors "github.com/elimity-com/scim/errors"
	"github.com/elimity-com/scim/optional"
	"github.com/elimity-com/scim/schema"
	filter "github.com/scim2/filter-parser/v2"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("scim-baseline", flag.ContinueOnError)
	fs.SetOutput(stderr)
	listen := fs.String("listen", "127.0.0.1:8098", "address to listen on (loopback for benchmarks)")
	token := fs.String("token", "baseline", "accepted bearer token")
	users := fs.Int("users", 0, "users to seed (userName seed-NNNNNN@baseline.example.com)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	h, err := newHandler(*token, *users)
	if err != nil {
		fmt.Fprintln(stderr, "scim-baseline:", err)
		return 1
	}
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		fmt.Fprintln(stderr, "scim-baseline:", err)
		return 1
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	fmt.Fprintf(stdout, "SCIM base URL: http://%s/scim/v2\n", ln.Addr())
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}()
	if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		fmt.Fprintln(stderr, "scim-baseline:", err)
		return 1
	}
	return 0
}

// newHandler is the SCIM server under /scim/v2 behind a bearer check.
func newHandler(token string, seedUsers int) (http.Handler, error) {
	users := newStore("userName")
	groups := newStore("displayName")
	for i := range seedUsers {
		name := fmt.Sprintf("seed-%06d@baseline.example.com", i)
		if _, err := users.create(scim.ResourceAttributes{"userName": name, "active": true,
			"name": map[string]any{"givenName": "Seed", "familyName": strconv.Itoa(i)}}); err != nil {
			return nil, err
		}
	}
	s, err := scim.NewServer(&scim.ServerArgs{
		ServiceProviderConfig: &scim.ServiceProviderConfig{SupportFiltering: true, SupportPatch: true, MaxResults: 1000},
		ResourceTypes: []scim.ResourceType{
			{ID: optional.NewString("User"), Name: "User", Endpoint: "/Users", Schema: schema.CoreUserSchema(), Handler: users},
			{ID: optional.NewString("Group"), Name: "Group", Endpoint: "/Groups", Schema: schema.CoreGroupSchema(), Handler: groups},
		},
	}, scim.WithLogger(discard{}))
	if err != nil {
		return nil, err
	}
	mux := http.NewServeMux()
	mux.Handle("/scim/", http.StripPrefix("/scim", s))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer "+token {
			w.Header().Set("WWW-Authenticate", "Bearer")
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		mux.ServeHTTP(w, r)
	}), nil
}

type discard struct{}

func (discard) Error(...any) {}

// store is one resource type in memory, in insertion order. unique names
// the attribute kept unique (case-insensitively).
type store struct {
	unique string
	mu     sync.RWMutex
	seq    int
	byID   map[string]*scim.Resource
	order  []string // ids in insertion order; deleted ids are skipped
	names  map[string]string
}

func newStore(unique string) *store {
	return &store{unique: unique, byID: map[string]*scim.Resource{}, names: map[string]string{}}
}

func (s *store) key(attrs scim.ResourceAttributes) string {
	v, _ := attrs[s.unique].(string)
	return strings.ToLower(v)
}

func (s *store) create(attrs scim.ResourceAttributes) (scim.Resource, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	k := s.key(attrs)
	if _, taken := s.names[k]; taken {
		return scim.Resource{}, scimerrors.ScimErrorUniqueness
	}
	s.seq++
	id := strconv.Itoa(s.seq)
	now := time.Now()
	res := &scim.Resource{ID: id, Attributes: attrs, Meta: scim.Meta{Created: &now, LastModified: &now, Version: "1"}}
	if ext, ok := attrs["externalId"].(string); ok {
		res.ExternalID = optional.NewString(ext)
	}
	s.byID[id] = res
	s.order = append(s.order, id)
	s.names[k] = id
	return *res, nil
}

// Create implements scim.ResourceHandler.
func (s *store) Create(_ *http.Request, attrs scim.ResourceAttributes) (scim.Resource, error) {
	return s.create(attrs)
}

// Get implements scim.ResourceHandler.
func (s *store) Get(_ *http.Request, id string) (scim.Resource, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	res, ok := s.byID[id]
	if !ok {
		return scim.Resource{}, scimerrors.ScimErrorResourceNotFound(id)
	}
	return *res, nil
}

// GetAll implements scim.ResourceHandler: a scan of every resource.
func (s *store) GetAll(_ *http.Request, p scim.ListRequestParams) (scim.Page, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	page := scim.Page{Resources: []scim.Resource{}}
	n := 0
	for _, id := range s.order {
		res, ok := s.byID[id]
		if !ok {
			continue
		}
		if p.FilterValidator != nil {
			attrs := make(map[string]any, len(res.Attributes)+1)
			for k, v := range res.Attributes {
				attrs[k] = v
			}
			attrs["id"] = res.ID
			if p.FilterValidator.PassesFilter(attrs) != nil {
				continue
			}
		}
		n++
		if n >= p.StartIndex && len(page.Resources) < p.Count {
			page.Resources = append(page.Resources, *res)
		}
	}
	page.TotalResults = n
	return page, nil
}

// Replace implements scim.ResourceHandler.
func (s *store) Replace(_ *http.Request, id string, attrs scim.ResourceAttributes) (scim.Resource, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	res, ok := s.byID[id]
	if !ok {
		return scim.Resource{}, scimerrors.ScimErrorResourceNotFound(id)
	}
	old, k := s.key(res.Attributes), s.key(attrs)
	if other, taken := s.names[k]; taken && other != id {
		return scim.Resource{}, scimerrors.ScimErrorUniqueness
	}
	delete(s.names, old)
	s.names[k] = id
	s.touch(res)
	res.Attributes = attrs
	return *res, nil
}

// Delete implements scim.ResourceHandler.
func (s *store) Delete(_ *http.Request, id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	res, ok := s.byID[id]
	if !ok {
		return scimerrors.ScimErrorResourceNotFound(id)
	}
	delete(s.names, s.key(res.Attributes))
	delete(s.byID, id)
	return nil
}

// Patch implements scim.ResourceHandler for what IdPs send: replace of
// attributes (with or without a path), add to and remove from members.
func (s *store) Patch(_ *http.Request, id string, ops []scim.PatchOperation) (scim.Resource, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	res, ok := s.byID[id]
	if !ok {
		return scim.Resource{}, scimerrors.ScimErrorResourceNotFound(id)
	}
	attrs := make(scim.ResourceAttributes, len(res.Attributes))
	for k, v := range res.Attributes {
		attrs[k] = v
	}
	for _, op := range ops {
		attr := ""
		if op.Path != nil {
			attr = op.Path.AttributePath.AttributeName
		}
		switch {
		case attr == "members" && op.Op == scim.PatchOperationAdd:
			members, _ := attrs["members"].([]any)
			add, _ := op.Value.([]any)
			attrs["members"] = append(append([]any(nil), members...), add...)
		case attr == "members" && op.Op == scim.PatchOperationRemove:
			attrs["members"] = removeMembers(attrs["members"], op.Path, op.Value)
		case op.Op == scim.PatchOperationRemove:
			delete(attrs, attr)
		case attr != "":
			attrs[attr] = op.Value
		default:
			if m, ok := op.Value.(map[string]any); ok {
				for k, v := range m {
					attrs[k] = v
				}
			}
		}
	}
	s.touch(res)
	res.Attributes = attrs
	return *res, nil
}

func (s *store) touch(res *scim.Resource) {
	now := time.Now()
	res.Meta.LastModified = &now
	v, _ := strconv.Atoi(res.Meta.Version)
	res.Meta.Version = strconv.Itoa(v + 1)
}

// removeMembers drops the members a `members[value eq "x"]` path or a
// value list ([{"value": "x"}, …], as Okta and Entra send) selects, or all
// of them when neither is given.
func removeMembers(cur any, p *filter.Path, value any) any {
	members, _ := cur.([]any)
	drop := map[any]bool{}
	if ae, ok := p.ValueExpression.(*filter.AttributeExpression); ok {
		drop[ae.CompareValue] = true
	}
	list, _ := value.([]any)
	for _, v := range list {
		if m, ok := v.(map[string]any); ok {
			drop[m["value"]] = true
		}
	}
	if len(drop) == 0 {
		return []any{}
	}
	kept := make([]any, 0, len(members))
	for _, m := range members {
		if mm, ok := m.(map[string]any); ok && drop[mm["value"]] {
			continue
		}
		kept = append(kept, m)
	}
	return kept
}
