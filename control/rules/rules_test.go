package rules

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/meterhouse/meterhouse/calendar/holidays"
	"github.com/meterhouse/meterhouse/control"
	"github.com/meterhouse/meterhouse/control/wire"
	"github.com/meterhouse/meterhouse/fault"
	"github.com/meterhouse/meterhouse/registry"
	"github.com/meterhouse/meterhouse/weather"
)

// fakeMeters are meter versions by meter id.
type fakeMeters map[string][]registry.MeterVersion

func (f fakeMeters) MeterVersions(_ context.Context, id string) ([]registry.MeterVersion, error) {
	if vs, ok := f[id]; ok {
		return vs, nil
	}
	return nil, fmt.Errorf("meter %s has no registry versions: %w", id, fault.ErrNotFound)
}

// fakeAgreements are agreement versions by agreement id, read as the registry reads them.
type fakeAgreements map[string][]registry.AgreementVersion

func (f fakeAgreements) MeterAgreementAt(_ context.Context, meter string, d time.Time) (registry.AgreementVersion, bool, error) {
	for _, vs := range f {
		if sp, ok := registry.At(registry.Timeline(vs, time.Time{}, time.Time{}), d); ok && sp.Version.MeterID == meter {
			return sp.Version, true, nil
		}
	}
	return registry.AgreementVersion{}, false, nil
}

// fakeCalendars are calendar entries of every region.
type fakeCalendars []holidays.Entry

func (f fakeCalendars) Days(_ context.Context, region string, from, to time.Time) (*holidays.Days, error) {
	var es []holidays.Entry
	for _, e := range f {
		if e.Region == region && !e.Date.Before(from) && e.Date.Before(to) {
			es = append(es, e)
		}
	}
	return holidays.NewDays(region, from, to, es)
}

// fakeWeather are weather values, read as the weather store reads forecasts: per hour the
// latest issue at or before issuedBy.
type fakeWeather []weather.Value

func (f fakeWeather) Forecast(_ context.Context, q weather.Query, issuedBy time.Time) (weather.Series, error) {
	var out weather.Series
	for h := q.From; h.Before(q.To); h = h.Add(time.Hour) {
		var best *weather.Value
		for i, v := range f {
			if v.Region == q.Region && v.Kind == weather.Forecast && v.ValidTime.Equal(h) && !v.IssuedAt.After(issuedBy) &&
				(best == nil || v.IssuedAt.After(best.IssuedAt)) {
				best = &f[i]
			}
		}
		if best != nil {
			out = append(out, *best)
		}
	}
	return out, nil
}

// failing fails every read.
type failing struct{}

var errRead = errors.New("connection refused")

func (failing) MeterVersions(context.Context, string) ([]registry.MeterVersion, error) {
	return nil, errRead
}
func (failing) MeterAgreementAt(context.Context, string, time.Time) (registry.AgreementVersion, bool, error) {
	return registry.AgreementVersion{}, false, errRead
}
func (failing) Days(context.Context, string, time.Time, time.Time) (*holidays.Days, error) {
	return nil, errRead
}
func (failing) Forecast(context.Context, weather.Query, time.Time) (weather.Series, error) {
	return nil, errRead
}

func date(s string) time.Time {
	d, err := time.Parse(time.DateOnly, s)
	if err != nil {
		panic(err)
	}
	return d
}

func utc(s string) time.Time {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return t
}

// The fixture: region DE-BE (Europe/Berlin) with Germany's public holidays of 2025-2027
// and a hand-made substituted working Saturday, 2026-06-13; region XX has no calendar.
// M1 (notice on 2026-04-28), M2 (life support), M3 (no agreement) and M4 (no notice date)
// are in DE-BE, M5 in XX. Forecasts of DE-BE issued 2026-05-11T00:00Z are 15 °C for every
// hour of 2026-05-11 .. 2026-05-22 but -4 °C at 2026-05-20T03:00Z, which the issue of
// 2026-05-19T09:00Z revises to +2 °C.
func fixture(t *testing.T) Deps {
	t.Helper()
	cal, err := holidays.CountryHolidays("DE", "DE-BE", 2025, 2027)
	if err != nil {
		t.Fatal(err)
	}
	cal = append(cal, holidays.Entry{Region: "DE-BE", Date: date("2026-06-13"), Kind: holidays.EntryWorking, Name: "bridge swap"})
	meters := fakeMeters{}
	for id, region := range map[string]string{"M1": "DE-BE", "M2": "DE-BE", "M3": "DE-BE", "M4": "DE-BE", "M5": "XX"} {
		meters[id] = []registry.MeterVersion{{MeterID: id, ValidFrom: date("2025-01-01"), Feeder: "F1", Region: region,
			TimeZone: "Europe/Berlin", Status: registry.StatusActive}}
	}
	agreement := func(id, meter string, lifeSupport bool, notice string) []registry.AgreementVersion {
		v := registry.AgreementVersion{AgreementID: id, AccountID: "ACC-" + id, ServicePointID: "SP-" + id, MeterID: meter,
			Tariff: "T", CustomerClass: "residential", CycleDay: 1, Start: date("2025-01-01"), ValidFrom: date("2025-01-01"),
			Version: 1, Customer: registry.Customer{Name: "Customer " + id, LifeSupport: lifeSupport}}
		if notice == "" {
			return []registry.AgreementVersion{v}
		}
		// The notice is a second version from the notice date.
		w := v
		w.ValidFrom, w.NoticeDate, w.Version = date(notice), date(notice), 2
		return []registry.AgreementVersion{v, w}
	}
	agreements := fakeAgreements{
		"AG-1": agreement("AG-1", "M1", false, "2026-04-28"),
		"AG-2": agreement("AG-2", "M2", true, "2026-04-01"),
		"AG-4": agreement("AG-4", "M4", false, ""),
		"AG-5": agreement("AG-5", "M5", false, "2026-04-01"),
	}
	var forecasts fakeWeather
	issued := utc("2026-05-11T00:00:00Z")
	for h := issued; h.Before(utc("2026-05-23T00:00:00Z")); h = h.Add(time.Hour) {
		temp := 15.0
		if h.Equal(utc("2026-05-20T03:00:00Z")) {
			temp = -4
		}
		forecasts = append(forecasts, weather.Value{Region: "DE-BE", ValidTime: h, IssuedAt: issued, Kind: weather.Forecast, Source: "dwd", TemperatureC: temp})
	}
	forecasts = append(forecasts, weather.Value{Region: "DE-BE", ValidTime: utc("2026-05-20T03:00:00Z"), IssuedAt: utc("2026-05-19T09:00:00Z"),
		Kind: weather.Forecast, Source: "dwd", TemperatureC: 2})
	return Deps{Meters: meters, Agreements: agreements, Calendars: fakeCalendars(cal), Weather: forecasts}
}

// testConfig is the default rule set with a 24-hour moratorium.
func testConfig() Config {
	c := DefaultConfig()
	c.Default.Moratorium.Hours = 24
	return c
}

// TestRules checks every rule refusing and passing on hand-picked dates, and that
// reconnects (emergency or not), arm and read_now pass all of them.
func TestRules(t *testing.T) {
	deps := fixture(t)
	// onlyCutoff turns off every rule but the cut-off hour (and life support, always on):
	// the daylight-saving changes in Berlin fall on Sundays.
	onlyCutoff := testConfig()
	onlyCutoff.Default = Region{CutoffHour: 14}
	noNotice := testConfig()
	noNotice.Default.RequireNotice = false
	hot := testConfig()
	hot.Default.Moratorium.MaxC = 14
	regional := testConfig()
	late := regional.Default
	late.CutoffHour = 16
	regional.Regions = map[string]Region{"DE-BE": late}
	weekendOnly := testConfig()
	weekendOnly.Default = Region{CutoffHour: 14, BlockWeekends: true}
	weekdaysOnly := testConfig()
	weekdaysOnly.Default.BlockHolidays, weekdaysOnly.Default.BlockDayBeforeHoliday = false, false

	disconnect := func(meter, at string) control.Check {
		return control.Check{MeterID: meter, Action: wire.ActionDisconnect, At: utc(at)}
	}
	with := func(c control.Check, edit func(*control.Check)) control.Check { edit(&c); return c }
	override := func(c *control.Check) { c.Override = true }

	// 2026-05-12 (a Tuesday) 10:00 in Berlin (08:00Z) passes every rule for M1: the base.
	base := disconnect("M1", "2026-05-12T08:00:00Z")
	for _, tc := range []struct {
		name   string
		cfg    Config
		check  control.Check
		rule   string // "" passes
		reason string // a part of the reason
	}{
		{"base: a working day, before the cut-off, notice period reached exactly", testConfig(), base, "", ""},

		{"life support", testConfig(), disconnect("M2", "2026-05-12T08:00:00Z"), RuleLifeSupport, "AG-2"},
		{"life support with override", testConfig(), with(disconnect("M2", "2026-05-12T08:00:00Z"), override), "", ""},
		{"override on a customer without the flag", testConfig(), with(base, override), "", ""},

		{"notice period one day short", testConfig(), disconnect("M1", "2026-05-11T08:00:00Z"), RuleNoticePeriod, "from 2026-05-12, not on 2026-05-11"},
		{"notice period short by the local date (00:30 in Berlin)", testConfig(), disconnect("M1", "2026-05-11T22:30:00Z"), "", ""},
		{"notice period: before the notice version", testConfig(), disconnect("M1", "2026-04-27T08:00:00Z"), RuleNoticePeriod, "no disconnect notice"},
		{"notice period: no notice date", testConfig(), disconnect("M4", "2026-05-12T08:00:00Z"), RuleNoticePeriod, "AG-4 (in force on 2026-05-12) has no disconnect notice date"},
		{"notice period: no agreement", testConfig(), disconnect("M3", "2026-05-12T08:00:00Z"), RuleNoticePeriod, "no agreement supplies through meter M3"},
		{"no agreement, notice not required", noNotice, disconnect("M3", "2026-05-12T08:00:00Z"), "", ""},

		{"weekend: a Saturday", testConfig(), disconnect("M1", "2026-05-16T08:00:00Z"), RuleWeekend, "2026-05-16 is a Saturday in DE-BE"},
		{"weekend: a Sunday", testConfig(), disconnect("M1", "2026-05-17T08:00:00Z"), RuleWeekend, "Sunday"},
		{"weekend: Friday 23:30 UTC is Saturday in Berlin", testConfig(), disconnect("M1", "2026-05-15T22:30:00Z"), RuleWeekend, "Saturday"},
		{"weekend: a substituted working Saturday", weekendOnly, disconnect("M1", "2026-06-13T08:00:00Z"), "", ""},
		{"weekend: a Saturday with the rule off", onlyCutoff, disconnect("M1", "2026-05-16T08:00:00Z"), "", ""},

		{"holiday: Ascension Day", testConfig(), disconnect("M1", "2026-05-14T08:00:00Z"), RuleHoliday, "2026-05-14 is a public holiday in DE-BE (Christi Himmelfahrt)"},
		{"day before a holiday", testConfig(), disconnect("M1", "2026-05-13T08:00:00Z"), RuleDayBeforeHoliday, "2026-05-13 is the day before 2026-05-14"},
		{"the day after a holiday", testConfig(), disconnect("M1", "2026-05-15T08:00:00Z"), "", ""},
		{"holiday rules off", weekdaysOnly, disconnect("M1", "2026-05-14T08:00:00Z"), "", ""},
		{"holiday: a region without a calendar", testConfig(), disconnect("M5", "2026-05-12T08:00:00Z"), RuleHoliday, "region XX has no public holiday"},
		{"a region without a calendar, weekends only", weekdaysOnly, disconnect("M5", "2026-05-12T08:00:00Z"), RuleWeatherMoratorium, "no forecast"},

		{"cut-off: 13:59 local", testConfig(), disconnect("M1", "2026-05-12T11:59:00Z"), "", ""},
		{"cut-off: 14:00 local", testConfig(), disconnect("M1", "2026-05-12T12:00:00Z"), RuleCutoffHour, "14:00 CEST"},
		{"cut-off of the region", regional, disconnect("M1", "2026-05-12T12:00:00Z"), "", ""},
		{"cut-off of the region reached", regional, disconnect("M1", "2026-05-12T14:00:00Z"), RuleCutoffHour, "16:00 CEST"},
		{"cut-off: 12:30Z before the spring change is 13:30 CET", onlyCutoff, disconnect("M1", "2026-03-28T12:30:00Z"), "", ""},
		{"cut-off: 12:30Z after the spring change is 14:30 CEST", onlyCutoff, disconnect("M1", "2026-03-29T12:30:00Z"), RuleCutoffHour, "14:30 CEST"},
		{"cut-off: 12:30Z before the autumn change is 14:30 CEST", onlyCutoff, disconnect("M1", "2026-10-24T12:30:00Z"), RuleCutoffHour, "14:30 CEST"},
		{"cut-off: 12:30Z after the autumn change is 13:30 CET", onlyCutoff, disconnect("M1", "2026-10-25T12:30:00Z"), "", ""},

		{"moratorium: a cold hour forecast within 24 hours", testConfig(), disconnect("M1", "2026-05-19T08:00:00Z"), RuleWeatherMoratorium,
			"-4 °C is forecast for 2026-05-20T03:00:00Z in region DE-BE (issued 2026-05-11T00:00:00Z by dwd)"},
		{"moratorium: the later issue revises it", testConfig(), disconnect("M1", "2026-05-19T10:00:00Z"), "", ""},
		{"moratorium: the cold hour beyond the window", testConfig(), disconnect("M1", "2026-05-19T03:00:00Z"), "", ""},
		{"moratorium: above max_c", hot, base, RuleWeatherMoratorium, "15 °C is forecast"},
		{"moratorium: no forecast", testConfig(), disconnect("M1", "2026-05-26T08:00:00Z"), RuleWeatherMoratorium, "covers 24 of the 24 hours"},
		{"moratorium: forecast missing at the end", testConfig(), disconnect("M1", "2026-05-22T08:00:00Z"), RuleWeatherMoratorium, "covers 8 of the 24 hours"},

		{"emergency reconnect on a holiday after the cut-off in a cold spell, life support",
			testConfig(), control.Check{MeterID: "M2", Action: wire.ActionReconnect, At: utc("2026-05-14T20:00:00Z"), Emergency: true}, "", ""},
		{"reconnect of a meter without agreement, calendar or forecast",
			testConfig(), control.Check{MeterID: "M5", Action: wire.ActionReconnect, At: utc("2026-05-26T20:00:00Z")}, "", ""},
		{"arm on a Sunday", testConfig(), control.Check{MeterID: "M2", Action: wire.ActionArm, At: utc("2026-05-17T20:00:00Z")}, "", ""},
		{"read_now on a holiday", testConfig(), control.Check{MeterID: "M2", Action: wire.ActionReadNow, At: utc("2026-05-14T20:00:00Z")}, "", ""},
		{"a disconnect flagged emergency is still checked", testConfig(), with(disconnect("M2", "2026-05-14T20:00:00Z"), func(c *control.Check) { c.Emergency = true }),
			RuleLifeSupport, ""},
	} {
		r, err := New(tc.cfg, deps)
		if err != nil {
			t.Fatal(err)
		}
		ref, err := r.Check(context.Background(), tc.check)
		if err != nil {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		switch {
		case tc.rule == "" && ref != nil:
			t.Errorf("%s: refused: %v", tc.name, ref)
		case tc.rule != "" && ref == nil:
			t.Errorf("%s: passed, want %s", tc.name, tc.rule)
		case tc.rule != "" && (ref.Rule != tc.rule || !strings.Contains(ref.Reason, tc.reason)):
			t.Errorf("%s: %v, want %s with %q", tc.name, ref, tc.rule, tc.reason)
		}
	}
}

// TestRulesUnreadableData checks that a rule whose data cannot be read is an error, not a
// pass, and that bad checks are field errors.
func TestRulesUnreadableData(t *testing.T) {
	good := fixture(t)
	check := control.Check{MeterID: "M1", Action: wire.ActionDisconnect, At: utc("2026-05-12T08:00:00Z")}
	for name, edit := range map[string]func(*Deps){
		"meters":     func(d *Deps) { d.Meters = failing{} },
		"agreements": func(d *Deps) { d.Agreements = failing{} },
		"calendars":  func(d *Deps) { d.Calendars = failing{} },
		"weather":    func(d *Deps) { d.Weather = failing{} },
	} {
		deps := good
		edit(&deps)
		r, err := New(testConfig(), deps)
		if err != nil {
			t.Fatal(err)
		}
		if ref, err := r.Check(context.Background(), check); !errors.Is(err, errRead) || ref != nil {
			t.Errorf("%s unreadable: %v, %v; want the read error", name, ref, err)
		}
	}
	r, err := New(testConfig(), good)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := r.Check(ctx, control.Check{MeterID: "M9", Action: wire.ActionDisconnect, At: check.At}); !errors.Is(err, fault.ErrNotFound) {
		t.Errorf("an unknown meter: %v, want not found", err)
	}
	for field, c := range map[string]control.Check{
		"action":   {MeterID: "M1", Action: "explode", At: check.At},
		"meter_id": {MeterID: "M 1", Action: wire.ActionDisconnect, At: check.At},
		"at":       {MeterID: "M1", Action: wire.ActionDisconnect},
	} {
		var fe *fault.FieldError
		if _, err := r.Check(ctx, c); !errors.As(err, &fe) || fe.Field != field {
			t.Errorf("bad %s: %v, want a field error", field, err)
		}
	}
	if _, err := New(testConfig(), Deps{Meters: good.Meters}); err == nil ||
		!strings.Contains(err.Error(), "Deps.Agreements") || !strings.Contains(err.Error(), "Deps.Weather") {
		t.Errorf("New without deps: %v", err)
	}
	bad := testConfig()
	bad.Default.CutoffHour = 0
	if _, err := New(bad, good); err == nil || !strings.Contains(err.Error(), "control_rules.default.cutoff_hour") {
		t.Errorf("New with a bad config: %v", err)
	}
}

// countingCalendars and countingWeather count the reads of the stores they wrap.
type countingCalendars struct {
	Calendars
	n *int
}

func (c countingCalendars) Days(ctx context.Context, region string, from, to time.Time) (*holidays.Days, error) {
	*c.n++
	return c.Calendars.Days(ctx, region, from, to)
}

type countingWeather struct {
	*fakeWeather
	n *int
}

func (c countingWeather) Forecast(ctx context.Context, q weather.Query, issuedBy time.Time) (weather.Series, error) {
	*c.n++
	return c.fakeWeather.Forecast(ctx, q, issuedBy)
}

// TestRulesCacheRegionData checks that checks of one region, date and hour read its
// calendar and forecasts once within cache_ttl, that a forecast loaded since is seen once
// the TTL has passed, and that a TTL of 0 reads at every check.
func TestRulesCacheRegionData(t *testing.T) {
	deps := fixture(t)
	forecasts := deps.Weather.(fakeWeather)
	var calendarReads, weatherReads int
	deps.Calendars = countingCalendars{deps.Calendars, &calendarReads}
	deps.Weather = countingWeather{&forecasts, &weatherReads}
	cfg := testConfig()
	cfg.CacheTTL = time.Minute
	r, err := New(cfg, deps)
	if err != nil {
		t.Fatal(err)
	}
	clock := utc("2026-05-19T08:00:00Z")
	r.now = func() time.Time { return clock }
	ctx := context.Background()
	check := func(meter, at string) *control.Refusal {
		t.Helper()
		ref, err := r.Check(ctx, control.Check{MeterID: meter, Action: wire.ActionDisconnect, At: utc(at)})
		if err != nil {
			t.Fatal(err)
		}
		return ref
	}
	// Two meters of DE-BE in the same hour: one read of each.
	for _, m := range []string{"M1", "M4", "M1"} {
		check(m, "2026-05-19T09:10:00Z")
	}
	if ref := check("M1", "2026-05-19T09:20:00Z"); ref != nil {
		t.Errorf("a mild forecast: refused: %v", ref)
	}
	if calendarReads != 1 || weatherReads != 1 {
		t.Errorf("reads within the TTL: calendar %d, weather %d; want 1 and 1", calendarReads, weatherReads)
	}
	// A cold hour is issued at 09:30: cached, unseen until the TTL has passed.
	forecasts = append(forecasts, weather.Value{Region: "DE-BE", ValidTime: utc("2026-05-20T01:00:00Z"), IssuedAt: utc("2026-05-19T09:30:00Z"),
		Kind: weather.Forecast, Source: "dwd", TemperatureC: -8})
	clock = clock.Add(59 * time.Second)
	if ref := check("M1", "2026-05-19T09:40:00Z"); ref != nil {
		t.Errorf("within the TTL: refused: %v", ref)
	}
	clock = clock.Add(time.Second)
	if ref := check("M1", "2026-05-19T09:40:00Z"); ref == nil || ref.Rule != RuleWeatherMoratorium || !strings.Contains(ref.Reason, "-8 °C") {
		t.Errorf("after the TTL: %v, want the new cold hour", ref)
	}
	if calendarReads != 2 || weatherReads != 2 {
		t.Errorf("reads after the TTL: calendar %d, weather %d; want 2 and 2", calendarReads, weatherReads)
	}
	// Without a cache every check reads.
	cfg.CacheTTL = 0
	if r, err = New(cfg, deps); err != nil {
		t.Fatal(err)
	}
	calendarReads, weatherReads = 0, 0
	for range 3 {
		check("M1", "2026-05-19T09:10:00Z")
	}
	if calendarReads != 3 || weatherReads != 3 {
		t.Errorf("reads without a cache: calendar %d, weather %d; want 3 and 3", calendarReads, weatherReads)
	}
}

// batchRegistry adds the batch reads of *registry.Store to the fakes, counting the reads
// of each kind.
type batchRegistry struct {
	fakeMeters
	fakeAgreements
	mu         sync.Mutex
	one, batch int
}

func (b *batchRegistry) MeterVersions(ctx context.Context, id string) ([]registry.MeterVersion, error) {
	b.mu.Lock()
	b.one++
	b.mu.Unlock()
	return b.fakeMeters.MeterVersions(ctx, id)
}

func (b *batchRegistry) MeterAgreementAt(ctx context.Context, meter string, d time.Time) (registry.AgreementVersion, bool, error) {
	b.mu.Lock()
	b.one++
	b.mu.Unlock()
	return b.fakeAgreements.MeterAgreementAt(ctx, meter, d)
}

func (b *batchRegistry) MeterVersionsOf(_ context.Context, ids []string) (map[string][]registry.MeterVersion, error) {
	b.mu.Lock()
	b.batch++
	b.mu.Unlock()
	out := map[string][]registry.MeterVersion{}
	for _, id := range ids {
		if vs, ok := b.fakeMeters[id]; ok {
			out[id] = vs
		}
	}
	return out, nil
}

func (b *batchRegistry) MeterAgreementsAt(ctx context.Context, on map[string]time.Time) (map[string]registry.AgreementVersion, error) {
	b.mu.Lock()
	b.batch++
	b.mu.Unlock()
	out := map[string]registry.AgreementVersion{}
	for m, d := range on {
		if v, ok, _ := b.fakeAgreements.MeterAgreementAt(ctx, m, d); ok {
			out[m] = v
		}
	}
	return out, nil
}

// TestCheckAll checks that CheckAll answers every check as Check does, reading the
// registry in two batch reads when the dependencies have them (and per meter only for a
// meter checked on a second date), and one by one when they have not.
func TestCheckAll(t *testing.T) {
	plain := fixture(t)
	one, err := New(testConfig(), plain)
	if err != nil {
		t.Fatal(err)
	}
	reg := &batchRegistry{fakeMeters: plain.Meters.(fakeMeters), fakeAgreements: plain.Agreements.(fakeAgreements)}
	batched := plain
	batched.Meters, batched.Agreements = reg, reg
	all, err := New(testConfig(), batched)
	if err != nil {
		t.Fatal(err)
	}
	var cs []control.Check
	for _, m := range []string{"M1", "M2", "M3", "M4", "M5", "M9", "M 1"} {
		cs = append(cs, control.Check{MeterID: m, Action: wire.ActionDisconnect, At: utc("2026-05-12T08:00:00Z")},
			control.Check{MeterID: m, Action: wire.ActionDisconnect, At: utc("2026-05-12T09:00:00Z"), Override: true},
			control.Check{MeterID: m, Action: wire.ActionReconnect, At: utc("2026-05-14T20:00:00Z")})
	}
	// M1 again on other dates: a holiday, the cut-off, the notice period one day short.
	for _, at := range []string{"2026-05-14T08:00:00Z", "2026-05-12T12:00:00Z", "2026-05-11T08:00:00Z"} {
		cs = append(cs, control.Check{MeterID: "M1", Action: wire.ActionDisconnect, At: utc(at)})
	}
	refs, errs := all.CheckAll(context.Background(), cs)
	if len(refs) != len(cs) || len(errs) != len(cs) {
		t.Fatalf("%d refusals and %d errors for %d checks", len(refs), len(errs), len(cs))
	}
	for i, c := range cs {
		ref, err := one.Check(context.Background(), c)
		// Errors alike: the same kind (the fakes word a missing meter differently).
		sameErr := (err == nil) == (errs[i] == nil) && errors.Is(err, fault.ErrNotFound) == errors.Is(errs[i], fault.ErrNotFound) &&
			errors.Is(err, fault.ErrInvalid) == errors.Is(errs[i], fault.ErrInvalid)
		if fmt.Sprint(ref) != fmt.Sprint(refs[i]) || !sameErr {
			t.Errorf("%s %s at %s: %v, %v at once; %v, %v alone", c.Action, c.MeterID, c.At.Format(time.RFC3339), refs[i], errs[i], ref, err)
		}
	}
	if ok := errs[3*5] != nil && errors.Is(errs[3*5], fault.ErrNotFound); !ok {
		t.Errorf("M9, not in the registry: %v, want fault.ErrNotFound", errs[3*5])
	}
	// The holiday and the notice check of M1 are other local dates: their agreements are
	// read one by one; the cut-off check shares the date.
	if reg.batch != 2 || reg.one != 2 {
		t.Errorf("%d batch reads and %d single reads, want 2 and 2", reg.batch, reg.one)
	}
}
