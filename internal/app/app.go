// Package app builds Meterhouse's components from one configuration, in one place that
// serve, ingest and bench share, and runs them with an explicit shutdown order.
//
// A process builds one App: one token store, one VEE job (whose lock serializes the
// periodic runs, range runs and edits of the process), one API server with every
// component's routes and the readiness checks registered once. A new component is one
// entry in routes (and, when it runs in the background, one in App.Run).
package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sync/errgroup"

	"github.com/meterhouse/meterhouse/api"
	"github.com/meterhouse/meterhouse/auth"
	billrun "github.com/meterhouse/meterhouse/billing/run"
	"github.com/meterhouse/meterhouse/billing/tariff"
	"github.com/meterhouse/meterhouse/calendar/holidays"
	"github.com/meterhouse/meterhouse/config"
	"github.com/meterhouse/meterhouse/control"
	"github.com/meterhouse/meterhouse/control/audit"
	"github.com/meterhouse/meterhouse/control/rules"
	controlservice "github.com/meterhouse/meterhouse/control/service"
	forecastjob "github.com/meterhouse/meterhouse/forecast/job"
	"github.com/meterhouse/meterhouse/ingest"
	"github.com/meterhouse/meterhouse/query/analytics"
	"github.com/meterhouse/meterhouse/query/consumption"
	analystsql "github.com/meterhouse/meterhouse/query/sql"
	"github.com/meterhouse/meterhouse/registry"
	"github.com/meterhouse/meterhouse/schema"
	veejob "github.com/meterhouse/meterhouse/vee/job"
	"github.com/meterhouse/meterhouse/weather"
)

// Parts says which components a process runs.
type Parts struct {
	// API serves the production API on api.listen: every component's routes (routes),
	// token authentication, health, readiness, metrics and OpenAPI.
	API bool
	// HealthListen, when API is false, serves only the public routes (/healthz, /readyz,
	// /metrics) on this host:port; empty: no HTTP server.
	HealthListen string
	// Ingest runs the Kafka consumer group that stores readings.
	Ingest bool
	// VEELoop runs the VEE job every vee.interval (none when the interval is 0).
	VEELoop bool
	// ForecastLoop runs the forecast job daily at forecast.issue_at (none when
	// forecast.schedule is false).
	ForecastLoop bool
	// RegistryLoop refreshes the registry's current view (the meters table) at start and
	// after every UTC midnight, so versions dated in the future take effect on their day.
	RegistryLoop bool
	// BillingLoop runs the billing job daily at billing.run_at (none when
	// billing.schedule is false).
	BillingLoop bool
	// Tokens builds the token store without the API (meterhouse token); the API always
	// has it.
	Tokens bool
	// Authenticator, when set, checks the API's bearer tokens instead of the token store
	// (bench's one analyst token). The token store and its routes are built all the same.
	Authenticator api.Authenticator
}

// Resources are the connections the components share. New opens from the configuration
// each one left nil (and closes it in Close); one given is the caller's to close, after
// Run has returned.
type Resources struct {
	// ClickHouse is the platform's pool (clickhouse section): token checks, ingest,
	// queries and the VEE job.
	ClickHouse driver.Conn
	// AnalystSQL is the analyst SQL endpoint's own pool, as its own ClickHouse user (sql
	// section, query.ConnectSQL), so that analysts cannot take ClickHouse's connections.
	// Opened only for the API.
	AnalystSQL driver.Conn
	// Readings is where HTTP ingest produces the readings it accepts, synchronously, so
	// that nothing is buffered once a request has been answered. Opened only for the API.
	Readings ingest.Producer
}

// App is one process's components, built by New and run by Run.
type App struct {
	cfg   config.Config
	log   *slog.Logger
	parts Parts
	res   Resources
	// closers close what New opened, in this order (the reverse of opening).
	closers []func() error

	server   *api.Server
	store    *auth.Store
	vee      *veejob.Job
	ingester *ingest.Ingester
	// calendars is the reference data of holidays (calendar/holidays).
	calendars *holidays.Store
	// weather is the reference data of temperatures (package weather).
	weather *weather.Store
	// forecast is the day-ahead forecast job and its store (forecast/job).
	forecast *forecastjob.Job
	// billing runs billing periods (billing/run).
	billing *billrun.Runner
	// registry is the versioned meter and service agreement registry (package registry).
	registry *registry.Store
	// tariffs is the store of tariff versions (billing/tariff).
	tariffs *tariff.Store
	// control is the remote-command service (control/service), built with the API;
	// disabled (its routes answer 503) unless control.enabled.
	control *controlservice.Service
	// controlChecker and controlAuditor are the safety rules and the audit log the
	// control service works with; control.enabled refuses to start without them.
	controlChecker control.Checker
	controlAuditor controlservice.Auditor
	// audit is the hash-chained audit log of remote control (control/audit), built with
	// the API.
	audit *audit.Log
}

// route is one component of the production API: it registers its routes on the server.
type route struct {
	// name says which component failed to register.
	name     string
	register func(a *App, srv *api.Server) error
}

// routes lists every component of the production API, in the order they register. The
// route tests (cmd/meterhouse) build the server through New, so they see this set.
var routes = []route{
	{"auth", func(a *App, srv *api.Server) error { return a.store.Register(srv) }},
	{"query", registerQuery},
	{"sql", registerSQL},
	{"vee", func(a *App, srv *api.Server) error { return a.vee.Register(srv) }},
	{"http ingest", registerHTTPIngest},
	{"calendars", func(a *App, srv *api.Server) error { return a.calendars.Register(srv) }},
	{"weather", func(a *App, srv *api.Server) error { return a.weather.Register(srv) }},
	{"forecast", func(a *App, srv *api.Server) error { return a.forecast.Store().Register(srv) }},
	{"registry", func(a *App, srv *api.Server) error { return a.registry.Register(srv) }},
	{"tariffs", func(a *App, srv *api.Server) error { return a.tariffs.Register(srv) }},
	{"invoices", func(a *App, srv *api.Server) error { return a.billing.Invoices().Register(srv) }},
	{"billing holds", func(a *App, srv *api.Server) error { return a.billing.Register(srv) }},
	{"control", func(a *App, srv *api.Server) error { return a.control.Register(srv) }},
	{"audit", func(a *App, srv *api.Server) error { return a.audit.Register(srv) }},
}

// New validates cfg and builds the components of parts over res, opening the resources
// res lacks. On an error, whatever it opened is closed again.
func New(ctx context.Context, cfg config.Config, log *slog.Logger, res Resources, parts Parts) (*App, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if log == nil {
		return nil, errors.New("app: New needs a logger")
	}
	a := &App{cfg: cfg, log: log, parts: parts, res: res}
	if err := a.build(ctx); err != nil {
		return nil, errors.Join(err, a.Close())
	}
	return a, nil
}

func (a *App) build(ctx context.Context) error {
	if err := a.open(ctx); err != nil {
		return err
	}
	var err error
	veeCfg := a.cfg.VEE
	veeCfg.PrivateDatabase = a.cfg.ClickHouse.PrivateDatabase()
	if a.vee, err = veejob.New(veeCfg, a.res.ClickHouse, a.log.With("component", "vee")); err != nil {
		return err
	}
	if a.calendars, err = holidays.NewStore(a.res.ClickHouse); err != nil {
		return err
	}
	if a.weather, err = weather.NewStore(a.res.ClickHouse); err != nil {
		return err
	}
	if a.tariffs, err = tariff.NewStore(a.res.ClickHouse); err != nil {
		return err
	}
	if a.forecast, err = forecastjob.New(a.cfg.Forecast, a.res.ClickHouse, a.calendars, a.weather, a.log.With("component", "forecast")); err != nil {
		return err
	}
	if a.registry, err = registry.NewStore(a.res.ClickHouse, a.cfg.ClickHouse.PrivateDatabase()); err != nil {
		return err
	}
	if a.billing, err = billrun.New(a.cfg.Billing, a.res.ClickHouse, a.registry, a.tariffs, a.calendars, a.log.With("component", "billing")); err != nil {
		return err
	}
	if a.parts.API || a.parts.Tokens {
		if a.store, err = auth.NewStore(a.cfg.Auth, a.res.ClickHouse, a.cfg.ClickHouse.PrivateDatabase()); err != nil {
			return err
		}
	}
	if a.parts.API {
		if err := a.buildControl(ctx); err != nil {
			return err
		}
		if a.control, err = controlservice.New(ctx, a.cfg.Control, controlservice.Deps{ClickHouse: a.res.ClickHouse,
			PrivateDB: a.cfg.ClickHouse.PrivateDatabase(), Kafka: a.cfg.Kafka, Checker: a.controlChecker,
			Auditor: a.controlAuditor, Log: a.log.With("component", "control")}); err != nil {
			return err
		}
	}
	switch {
	case a.parts.API:
		err = a.buildAPI()
	case a.parts.HealthListen != "":
		// Only the public routes: no token store is needed, and any other route would
		// fail closed.
		cfg := a.cfg.API
		cfg.Listen = a.parts.HealthListen
		a.server, err = api.New(cfg, a.log.With("component", "api"))
	}
	if err != nil {
		return err
	}
	// Metrics go to the /metrics of the process's server, or nowhere.
	var reg prometheus.Registerer = prometheus.NewRegistry()
	if a.server != nil {
		a.addReadiness(a.server)
		reg = a.server.Registry()
	}
	if a.parts.API || a.parts.VEELoop {
		vm, err := veejob.NewMetrics(reg)
		if err != nil {
			return err
		}
		a.vee.SetMetrics(vm)
	}
	if a.control != nil {
		if err := a.control.RegisterMetrics(reg); err != nil {
			return err
		}
	}
	if a.parts.Ingest {
		if a.ingester, err = a.newIngester(ctx, reg); err != nil {
			return err
		}
	}
	return nil
}

// buildControl builds what the control service works with: the audit log, anchored on
// Kafka (its producer closed by Close), and the safety rules over the registry, calendars
// and weather.
func (a *App) buildControl(ctx context.Context) error {
	anchor, err := audit.NewKafkaAnchor(a.cfg.Kafka, a.cfg.Audit.AnchorTopic)
	if err != nil {
		return err
	}
	a.closers = append([]func() error{anchor.Close}, a.closers...)
	if a.audit, err = audit.Open(ctx, a.res.ClickHouse, a.cfg.ClickHouse.PrivateDatabase(), anchor,
		audit.WithLogger(a.log.With("component", "audit"))); err != nil {
		return err
	}
	checker, err := rules.New(a.cfg.ControlRules, rules.Deps{Meters: a.registry, Agreements: a.registry, Calendars: a.calendars, Weather: a.weather})
	if err != nil {
		return err
	}
	a.controlChecker, a.controlAuditor = checker, a.audit
	return nil
}

// open opens the resources that parts need and res lacks.
func (a *App) open(ctx context.Context) error {
	if a.res.ClickHouse == nil {
		conn, err := schema.Connect(ctx, a.cfg.ClickHouse)
		if err != nil {
			return err
		}
		a.res.ClickHouse = conn
		a.closers = append([]func() error{conn.Close}, a.closers...)
	}
	if !a.parts.API {
		return nil
	}
	if a.res.AnalystSQL == nil {
		conn, err := analystsql.Connect(ctx, a.cfg.ClickHouse, a.cfg.SQL)
		if err != nil {
			return err
		}
		a.res.AnalystSQL = conn
		a.closers = append([]func() error{conn.Close}, a.closers...)
	}
	if a.res.Readings == nil {
		w, err := ingest.NewReadingsWriter(a.cfg.Kafka, a.cfg.Ingest)
		if err != nil {
			return err
		}
		a.res.Readings = w
		a.closers = append([]func() error{w.Close}, a.closers...)
	}
	return nil
}

// buildAPI builds the production API server with every component's routes.
func (a *App) buildAPI() error {
	var err error
	var authn api.Authenticator = a.store
	if a.parts.Authenticator != nil {
		authn = a.parts.Authenticator
	}
	if a.server, err = api.New(a.cfg.API, a.log.With("component", "api"), api.WithAuthenticator(authn)); err != nil {
		return err
	}
	for _, r := range routes {
		if err := r.register(a, a.server); err != nil {
			return fmt.Errorf("app: %s routes: %w", r.name, err)
		}
	}
	return nil
}

// addReadiness registers the readiness checks of /readyz on srv, once per process.
func (a *App) addReadiness(srv *api.Server) {
	srv.AddReadiness("clickhouse", a.res.ClickHouse.Ping)
	srv.AddReadiness("kafka", a.cfg.Kafka.Ping)
}

func registerQuery(a *App, srv *api.Server) error {
	q, err := consumption.New(a.cfg.Query, a.res.ClickHouse)
	if err != nil {
		return err
	}
	if err := q.Register(srv); err != nil {
		return err
	}
	an, err := analytics.New(a.cfg.Query, a.res.ClickHouse)
	if err != nil {
		return err
	}
	return an.Register(srv)
}

func registerSQL(a *App, srv *api.Server) error {
	s, err := analystsql.New(a.cfg.SQL, a.cfg.ClickHouse.Database, a.res.AnalystSQL)
	if err != nil {
		return err
	}
	return s.Register(srv)
}

func registerHTTPIngest(a *App, srv *api.Server) error {
	h, err := ingest.NewHTTPHandler(a.cfg.HTTPIngest, a.cfg.Ingest.Window, a.cfg.Ingest.Partitions, a.res.Readings)
	if err != nil {
		return err
	}
	return h.Register(srv)
}

// newIngester builds the Kafka ingest over the platform pool, with its metrics on reg,
// and makes sure its topics exist.
func (a *App) newIngester(ctx context.Context, reg prometheus.Registerer) (*ingest.Ingester, error) {
	if err := ingest.EnsureTopics(ctx, a.cfg.Kafka, a.cfg.Ingest.Topics()...); err != nil {
		return nil, err
	}
	w, err := ingest.NewClickHouseWriter(a.res.ClickHouse)
	if err != nil {
		return nil, err
	}
	m, err := ingest.NewMetrics(reg)
	if err != nil {
		return nil, err
	}
	return ingest.New(a.cfg.Ingest, a.cfg.Kafka, w, a.log.With("component", "ingest"), m)
}

// Server returns the API server (or the public-routes server of HealthListen), nil when
// the process serves no HTTP. Bench and tests serve its handler themselves.
func (a *App) Server() *api.Server { return a.server }

// Tokens returns the token store, nil unless the parts are API or Tokens.
func (a *App) Tokens() *auth.Store { return a.store }

// VEE returns the process's one VEE job.
func (a *App) VEE() *veejob.Job { return a.vee }

// Calendars returns the store of holiday calendars.
func (a *App) Calendars() *holidays.Store { return a.calendars }

// Registry returns the meter and service agreement registry.
func (a *App) Registry() *registry.Store { return a.registry }

// Billing returns the billing runner.
func (a *App) Billing() *billrun.Runner { return a.billing }

// Forecast returns the forecast job.
func (a *App) Forecast() *forecastjob.Job { return a.forecast }

// Weather returns the store of observed and forecast temperatures.
func (a *App) Weather() *weather.Store { return a.weather }

// Tariffs returns the store of tariff versions.
func (a *App) Tariffs() *tariff.Store { return a.tariffs }

// ClickHouse returns the platform's pool.
func (a *App) ClickHouse() driver.Conn { return a.res.ClickHouse }

// Run runs the parts until ctx ends or one of them fails, then stops them in this order:
//
//  1. together, on the cancelled context: the API server stops accepting and drains its
//     in-flight requests (for at most api.shutdown_timeout), ingest flushes its batch and
//     commits its offsets, the VEE loop ends after its current run, and the control
//     service stops its ack consumer (offsets committed only for stored acks) and timers;
//  2. once all of them returned, Close closes what New opened: the readings producer
//     (nothing is left to produce), the analyst SQL pool, and the platform pool last.
func (a *App) Run(ctx context.Context) error {
	g, gctx := errgroup.WithContext(ctx)
	if a.server != nil {
		g.Go(func() error { return a.server.Run(gctx) })
	}
	if a.parts.VEELoop && a.cfg.VEE.Interval > 0 {
		g.Go(func() error { return a.vee.Loop(gctx) })
	}
	if a.parts.ForecastLoop && a.cfg.Forecast.Schedule {
		g.Go(func() error { return a.forecast.Loop(gctx) })
	}
	if a.parts.BillingLoop && a.cfg.Billing.Schedule {
		g.Go(func() error { return a.billing.Loop(gctx) })
	}
	if a.parts.RegistryLoop {
		g.Go(func() error { return a.registry.Loop(gctx, a.log.With("component", "registry")) })
	}
	if a.ingester != nil {
		g.Go(func() error { return a.ingester.Run(gctx) })
	}
	if a.control != nil {
		g.Go(func() error { return a.control.Run(gctx) })
	}
	if a.audit != nil {
		g.Go(func() error { return a.audit.RunAnchors(gctx, a.cfg.Audit.AnchorInterval) })
	}
	return errors.Join(g.Wait(), a.Close())
}

// Close closes the resources New opened, in the order Run documents, once. It is for a
// caller that built an App without running it (bench, tests, vee run).
func (a *App) Close() error {
	var errs []error
	for _, c := range a.closers {
		errs = append(errs, c())
	}
	a.closers = nil
	return errors.Join(errs...)
}
