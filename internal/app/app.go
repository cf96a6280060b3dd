// Package app wires scim-bridge together: configuration → components →
// the SCIM listener and the admin listener, and shuts them down cleanly.
// Tests and `scim-bridge demo` embed it in-process.
package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"golang.org/x/sync/errgroup"

	"github.com/scimbridge/scim-bridge/internal/config"
	"github.com/scimbridge/scim-bridge/internal/sigma/modes"
	"github.com/scimbridge/scim-bridge/internal/sigma/restdir"
	"github.com/scimbridge/scim-bridge/internal/sigma/scimdir"
	"github.com/scimbridge/scim-bridge/internal/store"
	"github.com/scimbridge/scim-bridge/internal/tokens"
)

// SCIMPrefix is where SCIM is served on the SCIM listener.
const SCIMPrefix = "/scim/v2"

// App is a running bridge: both listeners bound, components built.
type App struct {
	cfg       config.Config
	logger    *slog.Logger
	reg       *prometheus.Registry
	buildInfo BuildInfo
	started   time.Time
	replica   store.Replica // this process, as the store's replica list shows it

	scimLn, adminLn net.Listener
	scimSrv         *http.Server
	adminSrv        *http.Server

	store    store.Store
	tokens   *tokens.Service
	selector *modes.Selector
	// restDir and scimDir are the Sigma paths behind selector (nil when
	// not configured).
	restDir *restdir.Directory
	scimDir *scimdir.Directory

	mu     sync.Mutex
	checks []ReadyCheck
	ready  readiness
	// restReach and scimReach record each Sigma path's HTTP attempts.
	restReach, scimReach *reach
	// closers run in reverse order after the listeners stop.
	closers []func() error
	// background runs until the app stops (index resync, probes, retention).
	background []func(ctx context.Context) error
}

// Option adjusts how New builds the app (tests, demo).
type Option func(*options)

type options struct {
	logger *slog.Logger
	// wrapSCIM lets in-package tests put a handler in front of SCIM.
	wrapSCIM func(http.Handler) http.Handler
	version  string
}

// WithLogger sets the logger; the default discards everything.
func WithLogger(l *slog.Logger) Option { return func(o *options) { o.logger = l } }

// WithVersion sets the version stamped at link time (main.version), shown
// in scim_bridge_build_info and on the status page.
func WithVersion(v string) Option { return func(o *options) { o.version = v } }

// StartError is the error New (and so Run) returns when the bridge cannot
// start: a listener cannot be bound, the store cannot be opened, a setting
// is refused by the component it configures. Err says which and why.
// Everything New had opened is closed again before it returns.
type StartError struct{ Err error }

func (e *StartError) Error() string { return "cannot start: " + e.Err.Error() }
func (e *StartError) Unwrap() error { return e.Err }

// New builds every component from cfg and binds both listeners, so the
// addresses are known (listen on 127.0.0.1:0 in tests). It serves nothing
// until Serve. On error it returns a *StartError, having closed everything
// already opened.
func New(ctx context.Context, cfg config.Config, opts ...Option) (_ *App, err error) {
	o := options{logger: slog.New(slog.DiscardHandler)}
	for _, opt := range opts {
		opt(&o)
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	// a, not the named result, is what the cleanup closes: every error
	// return sets the result to nil.
	a := &App{cfg: cfg, logger: o.logger, reg: reg, buildInfo: ReadBuildInfo(o.version), started: time.Now().UTC()}
	registerBuildInfo(reg, a.buildInfo)
	defer func() {
		if err != nil {
			a.closeAll()
			err = &StartError{Err: err}
		}
	}()

	scimHandler, err := a.build(ctx)
	if err != nil {
		return nil, err
	}

	if a.scimLn, err = net.Listen("tcp", cfg.Listen); err != nil {
		return nil, fmt.Errorf("listen for SCIM on %s: %w", cfg.Listen, err)
	}
	a.closers = append(a.closers, ignoreClosed(a.scimLn.Close))
	if a.adminLn, err = net.Listen("tcp", cfg.AdminListen); err != nil {
		return nil, fmt.Errorf("listen for admin on %s: %w", cfg.AdminListen, err)
	}
	a.closers = append(a.closers, ignoreClosed(a.adminLn.Close))
	if a.scimLn, err = a.listenTLS("scim", cfg.TLS, a.scimLn); err != nil {
		return nil, err
	}
	if a.adminLn, err = a.listenTLS("admin", cfg.AdminTLS, a.adminLn); err != nil {
		return nil, err
	}

	if o.wrapSCIM != nil {
		scimHandler = o.wrapSCIM(scimHandler)
	}
	mux := http.NewServeMux()
	mux.Handle(SCIMPrefix+"/", http.StripPrefix(SCIMPrefix, scimHandler))
	mux.Handle(SCIMPrefix, http.StripPrefix(SCIMPrefix, scimHandler))
	// The SCIM server enforces http.max_body_bytes itself, inside its
	// request-id, logging and metrics middleware and with a SCIM error
	// (scimType, what to do); the admin listener gets the plain cap.
	a.scimSrv = a.newServer(mux)
	a.adminSrv = a.newServer(maxBytes(cfg.HTTP.MaxBodyBytes, a.adminHandler()))
	return a, nil
}

func (a *App) newServer(h http.Handler) *http.Server {
	c := a.cfg.HTTP
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: c.ReadHeaderTimeout.D(),
		ReadTimeout:       c.ReadTimeout.D(),
		WriteTimeout:      c.WriteTimeout.D(),
		IdleTimeout:       c.IdleTimeout.D(),
		ErrorLog:          slog.NewLogLogger(a.logger.Handler(), slog.LevelWarn),
	}
}

// maxBytes caps every request body of the admin listener.
func maxBytes(n int64, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ContentLength > n {
			http.Error(w, fmt.Sprintf("request body is larger than the limit of %d bytes", n), http.StatusRequestEntityTooLarge)
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, n)
		next.ServeHTTP(w, r)
	})
}

// SCIMAddr is the bound address of the SCIM listener.
func (a *App) SCIMAddr() string { return a.scimLn.Addr().String() }

// AdminAddr is the bound address of the admin listener.
func (a *App) AdminAddr() string { return a.adminLn.Addr().String() }

// SCIMBaseURL is the URL an IdP on this host would be given.
func (a *App) SCIMBaseURL() string {
	scheme := "http://"
	if a.cfg.TLS.Enabled() {
		scheme = "https://"
	}
	return scheme + a.SCIMAddr() + SCIMPrefix
}

// Tokens is the IdP token service (demo and tests issue tokens with it).
func (a *App) Tokens() *tokens.Service { return a.tokens }

// sigmaMode says which Sigma path is live ("scim", "rest" or "none") and why.
func (a *App) sigmaMode() (mode, why string) { return a.selector.Live() }

// Registry is the app's Prometheus registry (no global registry is used).
func (a *App) Registry() *prometheus.Registry { return a.reg }

// Serve serves both listeners and runs background work until ctx ends or
// a listener fails, then shuts down gracefully: in-flight requests drain
// for up to the configured shutdown timeout, then components close.
func (a *App) Serve(ctx context.Context) error {
	defer a.closeAll()
	g, gctx := errgroup.WithContext(ctx)
	bg, stopBG := context.WithCancel(context.WithoutCancel(ctx))
	defer stopBG()
	for _, run := range a.background {
		g.Go(func() error {
			if err := run(bg); err != nil && !errors.Is(err, context.Canceled) {
				a.logger.Error("background task stopped", "err", err)
			}
			return nil
		})
	}
	serve := func(name string, srv *http.Server, ln net.Listener) {
		g.Go(func() error {
			a.logger.Info("listening", "listener", name, "addr", ln.Addr().String())
			if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
				return fmt.Errorf("%s listener: %w", name, err)
			}
			return nil
		})
	}
	serve("scim", a.scimSrv, a.scimLn)
	serve("admin", a.adminSrv, a.adminLn)
	g.Go(func() error {
		<-gctx.Done()
		a.logger.Info("shutting down", "drain_timeout", a.cfg.HTTP.ShutdownTimeout.D().String())
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), a.cfg.HTTP.ShutdownTimeout.D())
		defer cancel()
		// SCIM first, so in-flight provisioning drains while /healthz
		// still answers; then admin; then background work.
		err := a.scimSrv.Shutdown(sctx)
		err = errors.Join(err, a.adminSrv.Shutdown(sctx))
		stopBG()
		if err != nil {
			return fmt.Errorf("graceful shutdown: %w", err)
		}
		return nil
	})
	err := g.Wait()
	a.logger.Info("stopped")
	return err
}

// Run builds the app from cfg and serves until ctx ends.
func Run(ctx context.Context, cfg config.Config, opts ...Option) error {
	a, err := New(ctx, cfg, opts...)
	if err != nil {
		return err
	}
	return a.Serve(ctx)
}

func (a *App) closeAll() {
	for i := len(a.closers) - 1; i >= 0; i-- {
		if err := a.closers[i](); err != nil {
			a.logger.Warn("close", "err", err)
		}
	}
	a.closers = nil
}

func ignoreClosed(f func() error) func() error {
	return func() error {
		if err := f(); err != nil && !errors.Is(err, net.ErrClosed) {
			return err
		}
		return nil
	}
}

func (a *App) adminHandler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(a.reg, promhttp.HandlerOpts{Registry: a.reg}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		io.WriteString(w, "ok\n")
	})
	mux.HandleFunc("GET /readyz", a.readyz)
	// The status page shows tokens and the audit trail: admin tokens only
	// (`scim-bridge token create --admin`); IdP tokens get 403.
	mux.Handle("GET /status", a.tokens.AdminMiddleware(http.HandlerFunc(a.status)))
	return mux
}
