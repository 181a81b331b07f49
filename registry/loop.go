package registry

import (
	"context"
	"log/slog"
	"time"
)

// Loop runs Refresh when it starts and then just after every UTC midnight until ctx ends,
// so that versions dated in the future take effect in the meters table on their day
// without anyone running meterhouse registry refresh. A failed refresh is logged and tried
// again at the next midnight; Loop returns nil when ctx ends.
func (s *Store) Loop(ctx context.Context, log *slog.Logger) error {
	refresh := func() {
		n, err := s.Refresh(ctx)
		switch {
		case err != nil && ctx.Err() == nil:
			log.Error("registry refresh failed", "err", err)
		case err == nil:
			log.Info("registry refreshed", "meters", n)
		}
	}
	refresh()
	for {
		now := time.Now().UTC()
		next := time.Date(now.Year(), now.Month(), now.Day()+1, 0, 1, 0, 0, time.UTC)
		t := time.NewTimer(next.Sub(now))
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		}
		refresh()
	}
}
