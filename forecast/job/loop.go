package job

import (
	"context"
	"fmt"
	"time"
)

// Loop runs the job at every issue time (Config.IssueAt in Config.Zone) until ctx ends. On
// start it first runs the latest issue time already passed when no forecast of the fleet
// exists for it (a process that was down at 10:00 catches up; a restart after the run does
// not repeat it). A failed run is logged and retried at the next issue time; Loop returns
// nil when ctx ends.
func (j *Job) Loop(ctx context.Context) error {
	now := time.Now()
	last, err := j.cfg.NextIssue(now.Add(-24 * time.Hour))
	if err != nil {
		return err
	}
	if next, _ := j.cfg.NextIssue(last); !next.After(now) {
		last = next // at most one more: NextIssue is strictly after, daily
	}
	if !last.After(now) {
		done, err := j.issuedFleet(ctx, last)
		if err != nil {
			j.log.Warn("forecast: cannot check the last issue", "issued", last, "err", err)
		}
		if err == nil && !done {
			j.runLogged(ctx, last)
		}
	}
	for {
		next, err := j.cfg.NextIssue(time.Now())
		if err != nil {
			return err
		}
		t := time.NewTimer(time.Until(next))
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		}
		j.runLogged(ctx, next)
	}
}

// runLogged runs the issue and logs its outcome.
func (j *Job) runLogged(ctx context.Context, issued time.Time) {
	res, err := j.Run(ctx, issued, Options{})
	if err != nil {
		if ctx.Err() == nil {
			j.log.Error("forecast run failed", "issued", issued, "err", err)
		}
		return
	}
	j.log.Info("forecast run", "issued", issued, "meters", res.Meters, "failed", res.Failed, "groups", res.Groups,
		"models", len(res.Models), "class_errors", len(res.ClassErrors), "scored", res.Scored.Rows)
}

// issuedFleet reports whether the fleet's forecast for the issue exists.
func (j *Job) issuedFleet(ctx context.Context, issued time.Time) (bool, error) {
	var n uint64
	if err := j.conn.QueryRow(ctx, `SELECT count() FROM forecasts WHERE scope = 'fleet' AND issued = ?`, issued.UTC()).Scan(&n); err != nil {
		return false, fmt.Errorf("look up the issue of %s: %w", issued.Format(time.RFC3339), err)
	}
	return n > 0, nil
}
