#!/usr/bin/env bash
# Runs Meterhouse on the local services with a working default: migrates the database,
# simulates a small fleet for the last three days, issues an admin API token, serves the API
# (with ingest) and prints the token and a curl command that works once the readings are
# stored. Stop it with Ctrl-C.
#   usage: deploy/local/run.sh path/to/meterhouse
set -euo pipefail
BIN="${1:?usage: run.sh path/to/meterhouse}"
METERS="${MH_RUN_METERS:-500}"
LISTEN="${MH_API_LISTEN:-127.0.0.1:8080}"

# The credentials deploy/local/services.sh generated (it runs first: make run depends on
# services-up) in SVC/secrets, SVC being MH_SERVICES_HOME or .services: the passwords of the
# ClickHouse application user, of the ClickHouse analyst user (analyst SQL's own pool) and
# of the Kafka user meterhouse, and the API tokens' HMAC key. Only the file names are
# passed; meterhouse reads the secrets from them.
REPO_ROOT="$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/../.." && pwd)"
SECRETS="${MH_SERVICES_HOME:-$REPO_ROOT/.services}/secrets"
for f in clickhouse-meterhouse.password clickhouse-analyst.password kafka-meterhouse.password api-token-hmac.key; do
  [[ -s "$SECRETS/$f" ]] || { echo "run.sh: $SECRETS/$f is missing; run 'make services-up' (deploy/local/services.sh up) first" >&2; exit 1; }
done
export MH_CLICKHOUSE_PASSWORD_FILE="${MH_CLICKHOUSE_PASSWORD_FILE:-$SECRETS/clickhouse-meterhouse.password}"
export MH_SQL_PASSWORD_FILE="${MH_SQL_PASSWORD_FILE:-$SECRETS/clickhouse-analyst.password}"
export MH_KAFKA_SASL_PASSWORD_FILE="${MH_KAFKA_SASL_PASSWORD_FILE:-$SECRETS/kafka-meterhouse.password}"
export MH_AUTH_SECRET_FILE="${MH_AUTH_SECRET_FILE:-$SECRETS/api-token-hmac.key}"

"$BIN" migrate
to=$(date -u +%Y-%m-%dT%H:00:00Z)
from=$(date -u -d "$to - 3 days" +%Y-%m-%dT%H:00:00Z)
"$BIN" sim --meters "$METERS" --from "$from" --to "$to" --interval 15m

# A short-lived admin token for this session; `token create` prints it alone on its last line.
TOKEN=$("$BIN" token create --name "make-run-$(id -un)" --role admin --ttl 24h | tail -n 1)

"$BIN" serve &
pid=$!
trap 'kill -TERM "$pid" 2>/dev/null; wait "$pid"' INT TERM

url="http://$LISTEN/v1/meters/MTR-000001/consumption?from=$(date -u -d "$to - 1 day" +%Y-%m-%dT%H:00:00Z)&to=$to&step=1h"
for _ in $(seq 1 120); do
  if curl -fsS -H "Authorization: Bearer $TOKEN" "$url" 2>/dev/null | grep -q '"wh"'; then
    break
  fi
  kill -0 "$pid" 2>/dev/null || { echo "meterhouse serve exited" >&2; exit 1; }
  sleep 0.5
done
cat <<MSG

Meterhouse is serving on http://$LISTEN with $METERS simulated meters.
Admin API token (valid 24 hours; list or revoke with meterhouse token list|revoke):

  $TOKEN

Try:

  curl -H 'Authorization: Bearer $TOKEN' '$url'
  curl -H 'Authorization: Bearer $TOKEN' http://$LISTEN/openapi.json
  curl http://$LISTEN/readyz

Press Ctrl-C to stop.
MSG
wait "$pid"
