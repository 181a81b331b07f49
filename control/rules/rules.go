package rules

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/meterhouse/meterhouse/calendar/holidays"
	"github.com/meterhouse/meterhouse/control"
	"github.com/meterhouse/meterhouse/control/wire"
	"github.com/meterhouse/meterhouse/fault"
	"github.com/meterhouse/meterhouse/registry"
	"github.com/meterhouse/meterhouse/schema"
	"github.com/meterhouse/meterhouse/weather"
)

// The names of the rules, the Rule of their refusals.
const (
	RuleLifeSupport       = "life_support"
	RuleNoticePeriod      = "notice_period"
	RuleWeekend           = "weekend"
	RuleHoliday           = "holiday"
	RuleDayBeforeHoliday  = "day_before_holiday"
	RuleCutoffHour        = "cutoff_hour"
	RuleWeatherMoratorium = "weather_moratorium"
)

// Meters reads a meter's registry versions: its region and time zone. *registry.Store
// implements it.
type Meters interface {
	// MeterVersions returns every version of a meter (fault.ErrNotFound when none).
	MeterVersions(ctx context.Context, id string) ([]registry.MeterVersion, error)
}

// Agreements reads the agreement supplying through a meter on a date, with the customer's
// life-support flag and the notice date. *registry.Store implements it.
type Agreements interface {
	// MeterAgreementAt returns the agreement version in force through meter on date d
	// (midnight UTC of the local date), false when no agreement supplies through it.
	MeterAgreementAt(ctx context.Context, meter string, d time.Time) (registry.AgreementVersion, bool, error)
}

// BatchMeters reads the registry versions of many meters at once; CheckAll uses it when
// Deps.Meters has it. *registry.Store implements it.
type BatchMeters interface {
	// MeterVersionsOf returns every version of each of ids that has one, by meter.
	MeterVersionsOf(ctx context.Context, ids []string) (map[string][]registry.MeterVersion, error)
}

// BatchAgreements reads the agreements in force on many meters at once; CheckAll uses it
// when Deps.Agreements has it. *registry.Store implements it.
type BatchAgreements interface {
	// MeterAgreementsAt returns, by meter, the agreement version in force through each
	// meter of on on its date; a meter no agreement supplies then is absent.
	MeterAgreementsAt(ctx context.Context, on map[string]time.Time) (map[string]registry.AgreementVersion, error)
}

// Calendars reads a region's calendar. *holidays.Store implements it.
type Calendars interface {
	// Days returns the calendar of region over the dates [from, to).
	Days(ctx context.Context, region string, from, to time.Time) (*holidays.Days, error)
}

// Forecasts reads temperature forecasts. *weather.Store implements it.
type Forecasts interface {
	// Forecast returns, per hour of q, the latest forecast issued at or before issuedBy.
	Forecast(ctx context.Context, q weather.Query, issuedBy time.Time) (weather.Series, error)
}

// Deps are what the rules read; every one is required.
type Deps struct {
	// Meters gives a meter's region and time zone.
	Meters Meters
	// Agreements gives the agreement in force on a meter: life-support flag, notice date.
	Agreements Agreements
	// Calendars gives the regions' weekends, holidays and substituted working days.
	Calendars Calendars
	// Weather gives the regions' temperature forecasts.
	Weather Forecasts
}

// Rules evaluates the safety rules of disconnection; it implements control.Checker and is
// safe for concurrent use.
type Rules struct {
	cfg  Config
	deps Deps
	// now is the clock of the cache of region data.
	now   func() time.Time
	mu    sync.Mutex
	cache map[string]cached
}

// cached is a region's calendar or forecast as read at a time.
type cached struct {
	value any
	read  time.Time
}

// maxCached is how many entries the cache holds before expired ones are dropped.
const maxCached = 1024

// regionData returns the value of key read within the cache TTL, or reads it.
func regionData[T any](r *Rules, key string, read func() (T, error)) (T, error) {
	now := r.now()
	if r.cfg.CacheTTL > 0 {
		r.mu.Lock()
		e, ok := r.cache[key]
		r.mu.Unlock()
		if ok && now.Sub(e.read) < r.cfg.CacheTTL {
			return e.value.(T), nil
		}
	}
	v, err := read()
	if err != nil || r.cfg.CacheTTL <= 0 {
		return v, err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.cache) >= maxCached {
		for k, e := range r.cache {
			if now.Sub(e.read) >= r.cfg.CacheTTL {
				delete(r.cache, k)
			}
		}
	}
	r.cache[key] = cached{v, now}
	return v, nil
}

var (
	_ control.BatchChecker = (*Rules)(nil)
	_ BatchMeters          = (*registry.Store)(nil)
	_ BatchAgreements      = (*registry.Store)(nil)
)

// New returns the rules of cfg reading through deps; it refuses an invalid cfg and a
// missing dependency.
func New(cfg Config, deps Deps) (*Rules, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	var missing []error
	for _, d := range []struct {
		name string
		nil  bool
	}{{"Meters", deps.Meters == nil}, {"Agreements", deps.Agreements == nil}, {"Calendars", deps.Calendars == nil}, {"Weather", deps.Weather == nil}} {
		if d.nil {
			missing = append(missing, fmt.Errorf("rules: New needs Deps.%s", d.name))
		}
	}
	if err := errors.Join(missing...); err != nil {
		return nil, err
	}
	return &Rules{cfg: cfg, deps: deps, now: time.Now, cache: map[string]cached{}}, nil
}

// holidayWindow is how far around a date the holiday rules look for any holiday of the
// region: half a year each way holds every yearly holiday once, so a region without one
// has no calendar loaded.
const holidayWindow = 183

// Check evaluates the rules for c: nil when every rule passes (and for every action but
// disconnect), the first refusal, or an error when the data of a rule cannot be read (an
// unknown meter wraps fault.ErrNotFound; a bad Check is a fault.FieldError). A
// disconnect is checked whatever its Emergency flag: an emergency is a reconnect.
func (r *Rules) Check(ctx context.Context, c control.Check) (*control.Refusal, error) {
	return r.check(ctx, c, nil)
}

// prefetched is the registry data of many checks, read at once (CheckAll).
type prefetched struct {
	meters     map[string][]registry.MeterVersion
	agreements map[string]registry.AgreementVersion
	// on is the date each meter's agreement was read for.
	on map[string]time.Time
}

// CheckAll evaluates cs as Check does one by one, reading the registry (the meters'
// versions, the agreements in force and their customers) for all of them together when
// Deps.Meters and Deps.Agreements implement BatchMeters and BatchAgreements: a few
// queries in all rather than a few per meter. An error of such a read is every check's.
func (r *Rules) CheckAll(ctx context.Context, cs []control.Check) ([]*control.Refusal, []error) {
	refs, errs := make([]*control.Refusal, len(cs)), make([]error, len(cs))
	bm, okM := r.deps.Meters.(BatchMeters)
	ba, okA := r.deps.Agreements.(BatchAgreements)
	var ids []string
	seen := map[string]bool{}
	for _, c := range cs {
		if c.Action == wire.ActionDisconnect && schema.ValidMeterID([]byte(c.MeterID)) && !seen[c.MeterID] {
			seen[c.MeterID] = true
			ids = append(ids, c.MeterID)
		}
	}
	if !okM || !okA || len(ids) == 0 {
		for i, c := range cs {
			refs[i], errs[i] = r.check(ctx, c, nil)
		}
		return refs, errs
	}
	fail := func(err error) ([]*control.Refusal, []error) {
		for i := range errs {
			errs[i] = err
		}
		return refs, errs
	}
	vs, err := bm.MeterVersionsOf(ctx, ids)
	if err != nil {
		return fail(fmt.Errorf("rules: the meters' registry versions: %w", err))
	}
	p := &prefetched{meters: vs, on: map[string]time.Time{}}
	for _, c := range cs {
		if !seen[c.MeterID] || schema.CheckTime("at", c.At) != nil {
			continue
		}
		m, err := r.meterOf(c.MeterID, vs[c.MeterID], c.At)
		if _, dup := p.on[m.id]; err == nil && !dup {
			p.on[m.id] = m.date
		}
	}
	if p.agreements, err = ba.MeterAgreementsAt(ctx, p.on); err != nil {
		return fail(fmt.Errorf("rules: the agreements on the meters: %w", err))
	}
	for i, c := range cs {
		refs[i], errs[i] = r.check(ctx, c, p)
	}
	return refs, errs
}

// check is Check, with the registry data from p when p holds them (nil: read here).
func (r *Rules) check(ctx context.Context, c control.Check, p *prefetched) (*control.Refusal, error) {
	if !wire.ValidAction(c.Action) {
		return nil, fault.Invalid("action", "%q: want disconnect, reconnect, arm or read_now", c.Action)
	}
	if c.Action != wire.ActionDisconnect {
		return nil, nil
	}
	if !schema.ValidMeterID([]byte(c.MeterID)) {
		return nil, fault.Invalid("meter_id", "%q is not a meter id", c.MeterID)
	}
	if err := schema.CheckTime("at", c.At); err != nil {
		return nil, err
	}
	var m meter
	var err error
	if p != nil {
		vs := p.meters[c.MeterID]
		if len(vs) == 0 {
			return nil, fmt.Errorf("rules: meter %s: %w: meter %s has no registry versions", c.MeterID, fault.ErrNotFound, c.MeterID)
		}
		m, err = r.meterOf(c.MeterID, vs, c.At)
	} else {
		m, err = r.meter(ctx, c.MeterID, c.At)
	}
	if err != nil {
		return nil, err
	}
	var a *agreementAt
	if p != nil {
		if d, ok := p.on[m.id]; ok && d.Equal(m.date) {
			v, ok := p.agreements[m.id]
			a = &agreementAt{v, ok}
		}
	}
	rs := r.cfg.For(m.region)
	if ref, err := r.agreementRules(ctx, c, m, rs, a); ref != nil || err != nil {
		return ref, err
	}
	for _, rule := range []func(context.Context, control.Check, meter, Region) (*control.Refusal, error){
		r.calendarRules, cutoffRule, r.moratoriumRule,
	} {
		if ref, err := rule(ctx, c, m, rs); ref != nil || err != nil {
			return ref, err
		}
	}
	return nil, nil
}

// agreementAt is the agreement in force on a meter on a date, read beforehand: the
// version, and whether one supplies then.
type agreementAt struct {
	v  registry.AgreementVersion
	ok bool
}

// meter is what the rules know of a meter at Check.At.
type meter struct {
	id, region, zone string
	// local is Check.At in the meter's zone; date its local date as midnight UTC.
	local, date time.Time
}

// meter reads the meter's version in force at at: its zone from the version of at's UTC
// date, its region from the version of the local date.
func (r *Rules) meter(ctx context.Context, id string, at time.Time) (meter, error) {
	vs, err := r.deps.Meters.MeterVersions(ctx, id)
	if err != nil {
		return meter{}, fmt.Errorf("rules: meter %s: %w", id, err)
	}
	return r.meterOf(id, vs, at)
}

// meterOf is meter from the meter's versions vs.
func (r *Rules) meterOf(id string, vs []registry.MeterVersion, at time.Time) (meter, error) {
	v, ok := registry.MeterAt(vs, dateOf(at.UTC()))
	if !ok {
		return meter{}, fmt.Errorf("rules: meter %s has no registry version: %w", id, fault.ErrNotFound)
	}
	loc, err := time.LoadLocation(v.TimeZone)
	if err != nil {
		return meter{}, fmt.Errorf("rules: meter %s: time zone %q: %w", id, v.TimeZone, err)
	}
	local := at.In(loc)
	date := dateOf(local)
	if v2, ok := registry.MeterAt(vs, date); ok {
		v = v2
	}
	return meter{id: id, region: v.Region, zone: v.TimeZone, local: local, date: date}, nil
}

// dateOf returns the calendar date t shows in its own location, as midnight UTC.
func dateOf(t time.Time) time.Time {
	y, m, d := t.Date()
	return time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
}

// day formats a date.
func day(t time.Time) string { return t.Format(time.DateOnly) }

// agreementRules are life_support and notice_period, from the agreement in force on the
// meter's local date: pre when it was read beforehand (CheckAll), else read here.
func (r *Rules) agreementRules(ctx context.Context, c control.Check, m meter, rs Region, pre *agreementAt) (*control.Refusal, error) {
	var a registry.AgreementVersion
	var ok bool
	if pre != nil {
		a, ok = pre.v, pre.ok
	} else {
		var err error
		if a, ok, err = r.deps.Agreements.MeterAgreementAt(ctx, m.id, m.date); err != nil {
			return nil, fmt.Errorf("rules: the agreement on meter %s on %s: %w", m.id, day(m.date), err)
		}
	}
	if ok && a.Customer.LifeSupport && !c.Override {
		return &control.Refusal{Rule: RuleLifeSupport, Reason: fmt.Sprintf(
			"agreement %s (in force on meter %s on %s) flags the premises for life-support equipment: a disconnect needs override and a supervisor's approval",
			a.AgreementID, m.id, day(m.date))}, nil
	}
	if !rs.RequireNotice {
		return nil, nil
	}
	switch {
	case !ok:
		return &control.Refusal{Rule: RuleNoticePeriod, Reason: fmt.Sprintf(
			"no agreement supplies through meter %s on %s, so no disconnect notice was given", m.id, day(m.date))}, nil
	case a.NoticeDate.IsZero():
		return &control.Refusal{Rule: RuleNoticePeriod, Reason: fmt.Sprintf(
			"agreement %s (in force on %s) has no disconnect notice date", a.AgreementID, day(m.date))}, nil
	}
	if ends := a.NoticeDate.AddDate(0, 0, rs.NoticeDays); m.date.Before(ends) {
		return &control.Refusal{Rule: RuleNoticePeriod, Reason: fmt.Sprintf(
			"agreement %s: notice given on %s; the %d-day notice period of region %s allows a disconnect from %s, not on %s",
			a.AgreementID, day(a.NoticeDate), rs.NoticeDays, m.region, day(ends), day(m.date))}, nil
	}
	return nil, nil
}

// calendarRules are weekend, holiday and day_before_holiday, from the region's calendar on
// the meter's local date.
func (r *Rules) calendarRules(ctx context.Context, _ control.Check, m meter, rs Region) (*control.Refusal, error) {
	if !rs.BlockWeekends && !rs.BlockHolidays && !rs.BlockDayBeforeHoliday {
		return nil, nil
	}
	from, to := m.date.AddDate(0, 0, -holidayWindow), m.date.AddDate(0, 0, holidayWindow+1)
	days, err := regionData(r, "calendar\x00"+m.region+"\x00"+day(m.date), func() (*holidays.Days, error) {
		return r.deps.Calendars.Days(ctx, m.region, from, to)
	})
	if err != nil {
		return nil, fmt.Errorf("rules: the calendar of region %s: %w", m.region, err)
	}
	wd := m.date.Weekday()
	if rs.BlockWeekends && (wd == time.Saturday || wd == time.Sunday) && days.Kind(m.date) != holidays.SubstitutedWorking {
		return &control.Refusal{Rule: RuleWeekend, Reason: fmt.Sprintf("%s is a %s in %s (meter %s, %s)", day(m.date), wd, m.region, m.id, m.zone)}, nil
	}
	if !rs.BlockHolidays && !rs.BlockDayBeforeHoliday {
		return nil, nil
	}
	loaded := false
	for d := from; d.Before(to) && !loaded; d = d.AddDate(0, 0, 1) {
		loaded = days.Kind(d) == holidays.Holiday
	}
	if !loaded {
		rule := RuleHoliday
		if !rs.BlockHolidays {
			rule = RuleDayBeforeHoliday
		}
		return &control.Refusal{Rule: rule, Reason: fmt.Sprintf(
			"region %s has no public holiday in its calendar from %s to %s: load its calendar before disconnecting there", m.region, day(from), day(to.AddDate(0, 0, -1)))}, nil
	}
	if rs.BlockHolidays && days.Kind(m.date) == holidays.Holiday {
		return &control.Refusal{Rule: RuleHoliday, Reason: fmt.Sprintf("%s is a public holiday in %s%s", day(m.date), m.region, named(days, m.date))}, nil
	}
	if next := m.date.AddDate(0, 0, 1); rs.BlockDayBeforeHoliday && days.Kind(next) == holidays.Holiday {
		return &control.Refusal{Rule: RuleDayBeforeHoliday, Reason: fmt.Sprintf("%s is the day before %s, a public holiday in %s%s", day(m.date), day(next), m.region, named(days, next))}, nil
	}
	return nil, nil
}

// named returns " (name)" for a date with a name in days.
func named(days *holidays.Days, d time.Time) string {
	if n := days.Name(d); n != "" {
		return " (" + n + ")"
	}
	return ""
}

// cutoffRule is cutoff_hour: the local hour of Check.At against the region's cut-off.
func cutoffRule(_ context.Context, _ control.Check, m meter, rs Region) (*control.Refusal, error) {
	if rs.CutoffHour < 24 && m.local.Hour() >= rs.CutoffHour {
		return &control.Refusal{Rule: RuleCutoffHour, Reason: fmt.Sprintf("%s is %s local time in %s (meter %s), at or after the cut-off hour %02d:00 of region %s",
			m.local.UTC().Format(time.RFC3339), m.local.Format("15:04 MST"), m.zone, m.id, rs.CutoffHour, m.region)}, nil
	}
	return nil, nil
}

// moratoriumRule is weather_moratorium: the latest forecasts issued by Check.At for the
// hours from the hour of Check.At.
func (r *Rules) moratoriumRule(ctx context.Context, c control.Check, m meter, rs Region) (*control.Refusal, error) {
	mo := rs.Moratorium
	if mo.Hours == 0 {
		return nil, nil
	}
	from := c.At.UTC().Truncate(time.Hour)
	to := from.Add(time.Duration(mo.Hours) * time.Hour)
	// Cached by the hour: Check.At is never before now, so every stored forecast was
	// issued by the At of any check of the same hour.
	key := fmt.Sprintf("forecast\x00%s\x00%d\x00%d", m.region, from.Unix(), mo.Hours)
	series, err := regionData(r, key, func() (weather.Series, error) {
		return r.deps.Weather.Forecast(ctx, weather.Query{Region: m.region, From: from, To: to}, c.At)
	})
	if err != nil {
		return nil, fmt.Errorf("rules: the forecast of region %s: %w", m.region, err)
	}
	if missing := series.Missing(from, to); len(missing) > 0 {
		return &control.Refusal{Rule: RuleWeatherMoratorium, Reason: fmt.Sprintf(
			"no forecast issued by %s covers %d of the %d hours of region %s from %s (the first %s): a moratorium cannot be ruled out",
			c.At.UTC().Format(time.RFC3339), len(missing), mo.Hours, m.region, from.Format(time.RFC3339), missing[0].Format(time.RFC3339))}, nil
	}
	for _, v := range series {
		if v.ValidTime.Before(from) || !v.ValidTime.Before(to) {
			continue
		}
		if v.TemperatureC < mo.MinC || v.TemperatureC > mo.MaxC {
			return &control.Refusal{Rule: RuleWeatherMoratorium, Reason: fmt.Sprintf(
				"%g °C is forecast for %s in region %s (issued %s by %s), outside %g … %g °C within the %d hours from %s",
				v.TemperatureC, v.ValidTime.Format(time.RFC3339), m.region, v.IssuedAt.Format(time.RFC3339), v.Source,
				mo.MinC, mo.MaxC, mo.Hours, from.Format(time.RFC3339))}, nil
		}
	}
	return nil, nil
}
