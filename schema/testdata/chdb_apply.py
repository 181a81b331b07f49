"""Applies rendered migrations (statements separated by a line holding only ';') to a fresh
database in chDB, the embedded current ClickHouse engine, then inserts a reading to check
that the materialized views accept data. Exits non-zero naming the failing statement."""
import sys
import tempfile

from chdb import session

stmts = [s.strip() for s in open(sys.argv[1]).read().split("\n;\n") if s.strip()]
with tempfile.TemporaryDirectory() as d:
    s = session.Session(d)
    s.query("CREATE DATABASE mh")
    s.query("USE mh")
    for i, st in enumerate(stmts):
        try:
            s.query(st)
        except Exception as e:  # report which statement failed
            print(f"statement {i + 1} failed: {e}\n{st}", file=sys.stderr)
            sys.exit(1)
    s.query("INSERT INTO readings (meter_id, ts, register_wh, quality) VALUES ('M1', '2026-01-01 00:15:00', 10, 0), ('M1', '2026-01-01 01:00:00', 25, 0)")
    got = s.query("SELECT hour, argMaxMerge(wh_last) FROM readings_hourly GROUP BY hour ORDER BY hour", "CSV").bytes().decode()
    version = s.query("SELECT version()", "CSV").bytes().decode().strip()
    if got.count("\n") != 1 or ",25" not in got:
        print(f"hourly aggregate wrong on chDB {version}: {got!r}", file=sys.stderr)
        sys.exit(1)
    print(f"{len(stmts)} statements applied on chDB (ClickHouse {version})")
