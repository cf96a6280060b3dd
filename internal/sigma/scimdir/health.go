package scimdir

import (
	"context"
	"errors"
	"fmt"
	"github.com/scimbridge/scim-bridge/internal/directory"
	"github.com/scimbridge/scim-bridge/internal/sigma"
	"github.com/scimbridge/scim-bridge/internal/sigma/provision"
	"net/http"
)

// Ready reports nil when Sigma's SCIM endpoint answered with the token
// recently; otherwise it pings. A rejected token gives an error saying
// "Sigma SCIM token was rejected (401)"; an endpoint that answers 404 one
// saying Enterprise SCIM looks disabled. Both match directory.ErrNotReady.
func (d *Directory) Ready(ctx context.Context) error {
	d.hMu.Lock()
	fresh := d.rejected == 0 && !d.gone && d.lastErr == nil && !d.lastOK.IsZero() &&
		d.opts.Now().Sub(d.lastOK) < d.opts.ReadyCheckInterval
	d.hMu.Unlock()
	if fresh {
		return nil
	}
	return d.Probe(ctx)
}

// Probe pings Sigma's SCIM endpoint now (GET /Users?count=1) and records
// the outcome: nil when the endpoint answered with the token, else an error
// matching directory.ErrNotReady that says what is wrong. It is the probe
// the mode selector calls.
func (d *Directory) Probe(ctx context.Context) error {
	err := d.scim.Ping(ctx)
	if err == nil {
		d.observe(nil)
		return nil
	}
	return d.pathErr("ping sigma scim endpoint", err, true)
}

// observe records a call's outcome for Ready: any answer from Sigma that
// got past authentication proves the endpoint and token work.
func (d *Directory) observe(err error) {
	var ae *sigma.APIError
	answered := err == nil || (errors.As(err, &ae) && ae.Status != 0 &&
		ae.Status != http.StatusUnauthorized && ae.Status != http.StatusForbidden && ae.Status < 500 && ae.Status != http.StatusTooManyRequests)
	if !answered {
		return
	}
	d.hMu.Lock()
	defer d.hMu.Unlock()
	if d.rejected != 0 {
		d.log.Info("sigma scim token accepted again")
	}
	d.rejected, d.gone, d.lastErr, d.lastOK = 0, false, nil, d.opts.Now()
	d.m.tokenRejected.Set(0)
}

// pathErr turns a failure that may mean "the SCIM path is down" into an
// error for the caller, recording it for Ready. listOrPing says the call
// cannot answer 404 for a live endpoint (a list or the ping), so a 404 means
// the endpoint itself is gone.
func (d *Directory) pathErr(op string, err error, listOrPing bool) error {
	var ae *sigma.APIError
	status := 0
	if errors.As(err, &ae) {
		status = ae.Status
	}
	switch {
	case errors.Is(err, sigma.ErrUnauthorized):
		d.hMu.Lock()
		first := d.rejected == 0
		d.rejected, d.lastErr = status, err
		d.hMu.Unlock()
		d.m.tokenRejected.Set(1)
		if first {
			d.log.Error("sigma scim token was rejected; provisioning through Sigma's SCIM endpoint stops until it is replaced", "status", status)
		}
		return &directory.UpstreamError{Op: op, Status: status, Retryable: true,
			Message: fmt.Sprintf("Sigma SCIM token was rejected (%d)", status),
			Err:     fmt.Errorf("%w: Sigma SCIM token was rejected (%d): %w", directory.ErrNotReady, status, err)}
	case listOrPing && status == http.StatusNotFound:
		d.hMu.Lock()
		first := !d.gone
		d.gone, d.lastErr = true, err
		d.hMu.Unlock()
		if first {
			d.log.Error("sigma scim endpoint answers 404; is Enterprise SCIM enabled?")
		}
		return &directory.UpstreamError{Op: op, Status: status, Retryable: true,
			Message: "Sigma SCIM endpoint not found (404): is Enterprise SCIM enabled for the org?",
			Err:     fmt.Errorf("%w: Sigma SCIM endpoint not found (404): %w", directory.ErrNotReady, err)}
	}
	d.observe(err)
	if ae == nil || ae.Retryable {
		d.hMu.Lock()
		d.lastErr = err
		d.hMu.Unlock()
		ue := provision.UpstreamErr(op, err)
		var u *directory.UpstreamError
		if errors.As(ue, &u) && listOrPing {
			// A ping that cannot reach Sigma means the path is not ready.
			u.Err = fmt.Errorf("%w: %w", directory.ErrNotReady, err)
		}
		return ue
	}
	return provision.UpstreamErr(op, err)
}

// check classifies the error of an ordinary call (not by id): auth
// failures and a vanished endpoint become not-ready errors, everything
// else goes through upstreamErr.
func (d *Directory) check(op string, err error, list bool) error {
	if err == nil {
		d.observe(nil)
		return nil
	}
	return d.pathErr(op, err, list)
}

// missing classifies the error of a call addressed by id. A 404 is
// ErrNotFound only once a ping proves the endpoint is there: Sigma's SCIM
// turned off also answers 404, and telling the IdP "no such user" then
// would be a lie it acts on.
func (d *Directory) missing(ctx context.Context, op string, err error) error {
	if err == nil {
		d.observe(nil)
		return nil
	}
	if !errors.Is(err, sigma.ErrNotFound) {
		return d.pathErr(op, err, false)
	}
	if perr := d.scim.Ping(ctx); perr != nil {
		return d.pathErr(op, perr, true)
	}
	d.observe(nil)
	return fmt.Errorf("%s: %w", op, directory.ErrNotFound)
}

// badRequest reports whether err is Sigma refusing the request's content.
func badRequest(err error) (*sigma.APIError, bool) {
	var ae *sigma.APIError
	if errors.As(err, &ae) && (ae.Status == http.StatusBadRequest || ae.Status == http.StatusUnprocessableEntity) {
		return ae, true
	}
	return nil, false
}
