package main

import (
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/meterhouse/meterhouse/api"
	"github.com/meterhouse/meterhouse/auth"
	"github.com/meterhouse/meterhouse/ingest"
	"github.com/meterhouse/meterhouse/query/analytics"
	"github.com/meterhouse/meterhouse/query/consumption"
	analystsql "github.com/meterhouse/meterhouse/query/sql"
	veejob "github.com/meterhouse/meterhouse/vee/job"
)

// newServer builds the API server exactly as serve runs it: token authentication over
// conn, every component's routes, and the readiness checks. The route tests build it with
// this function too, so that they see the production route set: every component registers
// its routes here. HTTP ingest produces accepted readings through readings, which the
// caller closes after the server has stopped. Analyst SQL runs on sqlConn, its own pool
// (analystsql.Connect), so that analysts cannot take conn's connections from token checks,
// ingest and the VEE job.
func newServer(env *environment, conn, sqlConn driver.Conn, readings ingest.Producer) (*api.Server, error) {
	store, err := auth.NewStore(env.cfg.Auth, conn, env.cfg.ClickHouse.PrivateDatabase())
	if err != nil {
		return nil, err
	}
	srv, err := api.New(env.cfg.API, env.log.With("component", "api"), api.WithAuthenticator(store))
	if err != nil {
		return nil, err
	}
	if err := store.Register(srv); err != nil {
		return nil, err
	}

	q, err := consumption.New(env.cfg.Query, conn)
	if err != nil {
		return nil, err
	}
	if err := q.Register(srv); err != nil {
		return nil, err
	}
	a, err := analytics.New(env.cfg.Query, conn)
	if err != nil {
		return nil, err
	}
	if err := a.Register(srv); err != nil {
		return nil, err
	}
	analystSQL, err := analystsql.New(env.cfg.SQL, env.cfg.ClickHouse.Database, sqlConn)
	if err != nil {
		return nil, err
	}
	if err := analystSQL.Register(srv); err != nil {
		return nil, err
	}

	// VEE: the editing routes; the periodic job runs in serve.
	vj, err := veejob.New(env.cfg.VEE, conn, env.log.With("component", "vee"))
	if err != nil {
		return nil, err
	}
	vm, err := veejob.NewMetrics(srv.Registry())
	if err != nil {
		return nil, err
	}
	vj.SetMetrics(vm)
	if err := vj.Register(srv); err != nil {
		return nil, err
	}

	hi, err := ingest.NewHTTPHandler(env.cfg.HTTPIngest, env.cfg.Ingest.Window, env.cfg.Ingest.Partitions, readings)
	if err != nil {
		return nil, err
	}
	if err := hi.Register(srv); err != nil {
		return nil, err
	}

	srv.AddReadiness("clickhouse", conn.Ping)
	srv.AddReadiness("kafka", env.cfg.Kafka.Ping)
	return srv, nil
}
