"""Runs read queries in chDB, the embedded current ClickHouse engine, for a Go test that
compares their results with ClickHouse 18.16's.

usage: chdb_queries.py INPUT.json

INPUT holds {"statements": [...], "queries": [{"name": ..., "sql": ...}, ...]}: the
statements (migrations, then the fixture's inserts) run in order in a fresh database of a
temporary session, whose time zone is UTC; a failing statement stops the script with a
non-zero exit naming it. Then every query runs, and the script prints one JSON object:
{"version": ..., "results": [{"name": ..., "columns": [[name, type], ...], "rows": [...]}
or {"name": ..., "error": ...}]}, rows as JSONCompact gives them (64-bit integers quoted).
"""
import json
import sys
import tempfile

from chdb import session

spec = json.load(open(sys.argv[1]))
with tempfile.TemporaryDirectory() as d:
    s = session.Session(d)
    s.query("CREATE DATABASE mh")
    s.query("USE mh")
    s.query("SET session_timezone = 'UTC'")
    for i, st in enumerate(spec["statements"]):
        try:
            s.query(st)
        except Exception as e:  # report which statement failed
            print(f"statement {i + 1} failed: {e}\n{st}", file=sys.stderr)
            sys.exit(1)
    out = {"version": s.query("SELECT version()", "CSV").bytes().decode().strip().strip('"'), "results": []}
    for q in spec["queries"]:
        try:
            r = json.loads(s.query(q["sql"], "JSONCompact").bytes().decode())
            out["results"].append({"name": q["name"], "columns": [[c["name"], c["type"]] for c in r["meta"]], "rows": r["data"]})
        except Exception as e:  # a query that fails is a result too
            out["results"].append({"name": q["name"], "error": str(e)})
    json.dump(out, sys.stdout)
