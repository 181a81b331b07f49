package run

import (
	"context"
	"time"
)

// Loop runs the due periods (DuePeriods, and the cycle calendars' periods that ended on
// the same days) every day at Config.RunAt in Config.Zone until ctx
// ends. A failed run is logged and the periods are tried again the next day (each period
// is due on RerunDays days). It returns nil when ctx ends.
func (r *Runner) Loop(ctx context.Context) error {
	loc, err := time.LoadLocation(r.cfg.Zone)
	if err != nil {
		return err
	}
	at, err := time.Parse("15:04", r.cfg.RunAt)
	if err != nil {
		return err
	}
	for {
		now := r.now().In(loc)
		next := time.Date(now.Year(), now.Month(), now.Day(), at.Hour(), at.Minute(), 0, 0, loc)
		if !next.After(now) {
			next = time.Date(now.Year(), now.Month(), now.Day()+1, at.Hour(), at.Minute(), 0, 0, loc)
		}
		t := time.NewTimer(next.Sub(now))
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		}
		today := next.In(loc)
		due := DuePeriods(today, r.cfg.RerunDays)
		cal, err := r.dueCalendarPeriods(ctx, today, r.cfg.RerunDays)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			r.log.Error("billing: cannot read the cycle calendars; their periods wait for the next day", "err", err)
		}
		for _, p := range append(due, cal...) {
			res, err := r.Run(ctx, p)
			if err != nil {
				if ctx.Err() != nil {
					return nil
				}
				r.log.Error("billing run failed", "cycle", p.CycleDay, "calendar", p.Calendar, "from", p.From, "err", err)
				continue
			}
			r.log.Info("billing run", "cycle", p.CycleDay, "calendar", p.Calendar, "from", p.From.Format(time.DateOnly), "bills", res.Bills,
				"adjustments", res.Adjustments, "unchanged", res.Unchanged, "held", len(res.Held))
		}
	}
}
