"""Checks access-control DDL (statements separated by ';' at line ends) in chDB, the embedded
current ClickHouse engine: each statement must parse (EXPLAIN AST), and every setting a
SETTINGS PROFILE names must exist. chDB has no access storage, so the statements cannot be
run and their effect is not checked. Exits non-zero naming the failing statement."""
import re
import sys
import tempfile

from chdb import session

text = "\n".join(l for l in open(sys.argv[1]).read().splitlines() if not l.strip().startswith("--"))
stmts = [s.strip() for s in re.split(r";\s*\n", text + "\n") if s.strip()]
with tempfile.TemporaryDirectory() as d:
    s = session.Session(d)
    version = s.query("SELECT version()", "CSV").bytes().decode().strip()
    known = set(s.query("SELECT name FROM system.settings", "TSV").bytes().decode().split())
    for i, st in enumerate(stmts):
        try:
            s.query("EXPLAIN AST " + st, "TSV")
        except Exception as e:
            print(f"statement {i + 1} does not parse on chDB (ClickHouse {version}): {e}\n{st}", file=sys.stderr)
            sys.exit(1)
        if st.upper().startswith("CREATE SETTINGS PROFILE"):
            body = st.split("SETTINGS", 2)[2]
            for name in re.findall(r"(?m)^\s*([a-z_]+)\s*=", body):
                if name not in known:
                    print(f"statement {i + 1}: unknown setting {name} on ClickHouse {version}", file=sys.stderr)
                    sys.exit(1)
    print(f"{len(stmts)} statements parse on chDB (ClickHouse {version})")
