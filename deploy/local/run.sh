#!/usr/bin/env bash
# Runs Meterhouse on the local services with a working default: migrates the database,
# simulates a small fleet for the last three days, issues an admin API token, serves the API
# (with ingest), runs the VEE job once the whole fleet is stored, and prints the token and
# curl commands for raw consumption, validated consumption and the fleet load curve, each
# checked to answer with data first. Stop it with Ctrl-C.
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
# Whatever ends this script (Ctrl-C, a check below that fails) stops serve with it.
trap 'kill -TERM "$pid" 2>/dev/null; wait "$pid" 2>/dev/null' EXIT
trap 'exit 130' INT TERM

day_ago=$(date -u -d "$to - 1 day" +%Y-%m-%dT%H:00:00Z)
url="http://$LISTEN/v1/meters/MTR-000001/consumption?from=$day_ago&to=$to&step=1h"
# Two whole UTC days of validated consumption, and the fleet's load over the last day.
vurl="http://$LISTEN/v1/meters/MTR-000001/consumption?from=$(date -u -d "$from + 1 day" +%Y-%m-%dT00:00:00Z)&to=$(date -u -d "$to" +%Y-%m-%dT00:00:00Z)&step=1d&source=validated"
furl="http://$LISTEN/v1/fleet/load?from=$day_ago&to=$to&step=1h"

# wait_for TRIES TEST...: runs TEST every half second until it succeeds, while serve lives.
wait_for() {
  local tries=$1; shift
  for _ in $(seq 1 "$tries"); do
    "$@" && return 0
    kill -0 "$pid" 2>/dev/null || { echo "run.sh: meterhouse serve exited" >&2; exit 1; }
    sleep 0.5
  done
  return 1
}
# answers URL: the API answers URL with at least one value ("wh").
answers() { curl -fsS -H "Authorization: Bearer $TOKEN" "$1" 2>/dev/null | grep -q '"wh"'; }
# stored: ingest has stored and committed everything sim produced, i.e. every partition's
# consumer lag (measured every ingest.lag_interval, 10 s) is 0.
stored() {
  curl -fsS "http://$LISTEN/metrics" 2>/dev/null |
    awk '/^meterhouse_ingest_consumer_lag\{/ { n++; if ($NF != 0) busy = 1 } END { exit !(n > 0 && !busy) }'
}

wait_for 120 answers "$url" || { echo "run.sh: no readings of MTR-000001 after 60 s: $url" >&2; exit 1; }
wait_for 240 stored || { echo "run.sh: ingest has not caught up with the simulated readings after 120 s (see meterhouse_ingest_consumer_lag on /metrics)" >&2; exit 1; }
# serve's VEE job ran at start, before these readings were stored, and runs next after
# vee.interval; validate the simulated range now instead. A range run reads every stored
# reading (it does not wait vee.settle) and leaves the watermark to serve's job, which
# recomputes the same windows to the same values when it next runs.
"$BIN" vee run --from "$from" --to "$to"
for u in "$vurl" "$furl"; do
  wait_for 20 answers "$u" || { echo "run.sh: no data at $u after the VEE run" >&2; exit 1; }
done
cat <<MSG

Meterhouse is serving on http://$LISTEN with $METERS simulated meters.
Admin API token (valid 24 hours; list or revoke with meterhouse token list|revoke):

  $TOKEN

Try:

  curl -H 'Authorization: Bearer $TOKEN' '$url'
  curl -H 'Authorization: Bearer $TOKEN' '$vurl'
  curl -H 'Authorization: Bearer $TOKEN' '$furl'
  curl -H 'Authorization: Bearer $TOKEN' http://$LISTEN/openapi.json
  curl http://$LISTEN/readyz

Press Ctrl-C to stop.
MSG
wait "$pid"
