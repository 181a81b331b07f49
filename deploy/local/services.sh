#!/usr/bin/env bash
# Local services for Meterhouse: ClickHouse (Debian's 18.16.1 package) and a single-node
# Apache Kafka 4.x in KRaft mode (jars from Maven Central), both bound to 127.0.0.1.
#
#   bash deploy/local/services.sh up                  install what is missing, start, create topics
#   bash deploy/local/services.sh down                stop both (SIGTERM, 30 s, then SIGKILL)
#   bash deploy/local/services.sh status              exit 0 only if both are up
#   bash deploy/local/services.sh restart-clickhouse  stop + start ClickHouse only
#   bash deploy/local/services.sh restart-kafka       stop + start Kafka only (topics are kept)
#   bash deploy/local/services.sh reset               down + delete data (keeps jars, maven cache, secrets)
#   bash deploy/local/services.sh reformat-kafka      stop Kafka, delete its data (topics, messages),
#                                                     format it with the SCRAM users, start it again;
#                                                     ClickHouse is left alone
#   bash deploy/local/services.sh ch-client [ARGS]    clickhouse-client against the local server, as the
#                                                     application user meterhouse (client.xml below)
#   bash deploy/local/services.sh kafka-class MAIN [ARGS]
#                                                     run a Kafka tool class, e.g.
#                                                     org.apache.kafka.tools.TopicCommand --list
#                                                     (--bootstrap-server is NOT added for you;
#                                                     --command-config $SVC/kafka/admin.properties
#                                                     authenticates as admin)
#
# Kafka authenticates every client (SASL/SCRAM-SHA-512 on 127.0.0.1:$MH_KAFKA_PORT) and
# authorizes it with ACLs. Users: admin (super user: these tools, the tests), meterhouse
# (the application) and das (the head-end). Their passwords are generated once into
# $SVC/secrets/kafka-<user>.password (mode 0600). Client files written on every start:
# $SVC/kafka/admin.properties (Kafka's Java tools), $SVC/kafka/kcat.conf (kcat -F, as admin)
# and $SVC/kafka/kcat-das.conf (kcat -F, as das).
# Everything (config, data, logs, pid files, jars, maven cache) lives in $(repo)/.services.
#
# Secrets: $SVC/secrets/ (mode 0700, files 0600), generated once with random values and never
# printed (SVC is MH_SERVICES_HOME or $(repo)/.services):
#   clickhouse-meterhouse.password  ClickHouse user meterhouse: the application (all rights, loopback)
#   clickhouse-analyst.password     ClickHouse user analyst: profile analyst_readonly (readonly=1 and
#                                   the analyst SQL limits), database meterhouse only, loopback
#   clickhouse-default.password     ClickHouse user default: no longer open; nothing uses it
#   api-token-hmac.key              the HMAC key API tokens are stored under (auth.secret_file)
# and clickhouse-client config files with host, port, user, password and database:
#   $SVC/clickhouse/client.xml          user meterhouse:  clickhouse-client --config-file $SVC/clickhouse/client.xml
#   $SVC/clickhouse/client-analyst.xml  user analyst
# Users are in $SVC/clickhouse/users.xml plus any $SVC/clickhouse/users.d/*.xml (tests add
# per-test users there); the server reloads them within seconds, so `up` also secures a
# server that an older version of this script started without passwords.
#
# Environment:
#   MH_READINGS_PARTITIONS  partitions of `readings`      (default 4)
#   MH_DLQ_PARTITIONS       partitions of `readings-dlq`  (default 1)
#   MH_COMMANDS_PARTITIONS  partitions of `commands` and `command-acks` (default 4)
#   (`audit-anchors`, where the remote-control audit log's head is published, has 1)
#   MH_CH_START_TIMEOUT     seconds to wait for ClickHouse (default 60)
#   MH_KAFKA_START_TIMEOUT  seconds to wait for Kafka (default 90)
#   MH_STOP_TIMEOUT         seconds between SIGTERM and SIGKILL (default 30)
#   MH_SERVICES_HOME        where data, logs and pid files live (default $(repo)/.services);
#                           the Kafka jars and maven cache always stay in $(repo)/.services
#   MH_CH_PORT, MH_CH_HTTP_PORT                ClickHouse ports (default 9000, 8123)
#   MH_CH_DATABASE          the platform database the analyst user may read (default meterhouse)
#   MH_KAFKA_PORT, MH_KAFKA_CONTROLLER_PORT    Kafka ports (default 9092, 9093)
#   A second, private instance (e.g. for the disruptive tests, which restart services):
#     MH_SERVICES_HOME=/tmp/mh-svc2 MH_CH_PORT=19000 MH_CH_HTTP_PORT=18123 \
#     MH_KAFKA_PORT=19092 MH_KAFKA_CONTROLLER_PORT=19093 bash deploy/local/services.sh up
set -euo pipefail

SCRIPT_DIR="$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")" && pwd)"
REPO_ROOT="$(cd "$SCRIPT_DIR/../.." && pwd)"
SVC="${MH_SERVICES_HOME:-$REPO_ROOT/.services}"

CH_DIR="$SVC/clickhouse"
CH_PID="$CH_DIR/clickhouse.pid"
CH_HOST=127.0.0.1
CH_TCP_PORT="${MH_CH_PORT:-9000}"
CH_HTTP_PORT="${MH_CH_HTTP_PORT:-8123}"
CH_PATTERN="clickhouse-server --config-file=$CH_DIR/config.xml"
CH_CLIENT_CONFIG="$CH_DIR/client.xml"
CH_ANALYST_CLIENT_CONFIG="$CH_DIR/client-analyst.xml"
CH_DATABASE="${MH_CH_DATABASE:-meterhouse}"
SECRETS_DIR="$SVC/secrets"

KAFKA_DIR="$SVC/kafka"
KAFKA_POM="$SCRIPT_DIR/kafka/pom.xml"
# Downloaded jars are shared by every instance.
KAFKA_LIBS="$REPO_ROOT/.services/kafka/libs"
KAFKA_M2="$REPO_ROOT/.services/kafka/m2"
KAFKA_LIBS_STAMP="$REPO_ROOT/.services/kafka/libs.stamp"
KAFKA_DATA="$KAFKA_DIR/data"
KAFKA_LOGS="$KAFKA_DIR/logs"
KAFKA_PID="$KAFKA_DIR/kafka.pid"
KAFKA_CLUSTER_ID_FILE="$KAFKA_DIR/cluster.id"
KAFKA_TOPICS_STAMP="$KAFKA_DIR/topics.stamp"
KAFKA_HOST=127.0.0.1
KAFKA_PORT="${MH_KAFKA_PORT:-9092}"
KAFKA_CONTROLLER_PORT="${MH_KAFKA_CONTROLLER_PORT:-9093}"
KAFKA_BOOTSTRAP="$KAFKA_HOST:$KAFKA_PORT"
KAFKA_PATTERN="kafka.Kafka $KAFKA_DIR/server.properties"
# Written after the storage was formatted with the SCRAM users: a data folder without it
# predates authentication and must be re-formatted once (reformat-kafka).
KAFKA_SCRAM_STAMP="$KAFKA_DIR/scram.stamp"
KAFKA_ADMIN_PROPS="$KAFKA_DIR/admin.properties"
# "<cluster id> <hash of the ACL spec>" once the ACLs are in that cluster's metadata log.
KAFKA_ACLS_STAMP="$KAFKA_DIR/acls.stamp"
KAFKA_SCRAM_MECHANISM=SCRAM-SHA-512
KAFKA_USERS="admin meterhouse das"

CH_START_TIMEOUT="${MH_CH_START_TIMEOUT:-60}"
KAFKA_START_TIMEOUT="${MH_KAFKA_START_TIMEOUT:-90}"
STOP_TIMEOUT="${MH_STOP_TIMEOUT:-30}"

log() { echo "[services] $*" >&2; }
die() {
	echo "[services] ERROR: $*" >&2
	exit 1
}

# ---------------------------------------------------------------------------------------
# generic helpers
# ---------------------------------------------------------------------------------------

# Serialise concurrent invocations (e.g. two `up` at once). The lock fd is closed for the
# daemons we start (see 9>&- below), otherwise they would hold it forever.
take_lock() {
	mkdir -p "$SVC"
	exec 9>"$SVC/.lock"
	if command -v flock >/dev/null 2>&1; then
		if ! flock -w 600 9; then
			die "another services.sh holds $SVC/.lock for more than 600 s"
		fi
	fi
}

# pid_alive PIDFILE PATTERN: the pid in PIDFILE is alive and its command line matches PATTERN
# (guards against a stale pid file whose pid was reused by something else).
pid_alive() {
	local pidfile="$1" pattern="$2" pid
	[[ -s "$pidfile" ]] || return 1
	pid="$(cat "$pidfile" 2>/dev/null || true)"
	[[ "$pid" =~ ^[0-9]+$ ]] || return 1
	[[ -r "/proc/$pid/cmdline" ]] || return 1
	tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q -- "$pattern"
}

# adopt_orphan NAME PIDFILE PATTERN: if the pid file is missing or stale but a process
# started by us (its command line names our config file) is running, record its pid.
adopt_orphan() {
	local name="$1" pidfile="$2" pattern="$3" pid
	pid_alive "$pidfile" "$pattern" && return 0
	command -v pgrep >/dev/null 2>&1 || return 0
	pid="$(pgrep -f -- "$pattern" 2>/dev/null | head -n 1 || true)"
	if [[ -n "$pid" ]]; then
		log "$name: found our process $pid without a valid pid file; adopting it"
		mkdir -p "$(dirname "$pidfile")"
		echo "$pid" >"$pidfile"
	fi
}

# ensure_secret NAME [BYTES]: make sure $SECRETS_DIR/NAME holds a random secret (BYTES random
# bytes, default 24, base64 without '/', '+' and '='), generated once, mode 0600; print its
# path. The value itself is never printed. Read it with "$(<"$(ensure_secret NAME)")".
ensure_secret() {
	local name="$1" bytes="${2:-24}" f
	f="$SECRETS_DIR/$name"
	if [[ ! -s "$f" ]]; then
		mkdir -p "$SECRETS_DIR"
		chmod 700 "$SECRETS_DIR"
		(
			umask 077
			head -c "$bytes" /dev/urandom | base64 -w0 | tr -d '/+=' >"$f.new"
		)
		mv -f "$f.new" "$f"
	fi
	chmod 600 "$f"
	printf '%s\n' "$f"
}

# sha256_hex TEXT: the hex SHA-256 of TEXT (printf is a builtin: TEXT is in no command line).
sha256_hex() {
	printf '%s' "$1" | sha256sum | cut -d' ' -f1
}

# port_open HOST PORT: something accepts TCP connections there.
port_open() {
	(exec 3<>"/dev/tcp/$1/$2") 2>/dev/null
}

# who_listens PORT: print the ss line(s) of listeners on PORT (any address), if any.
who_listens() {
	if command -v ss >/dev/null 2>&1; then
		ss -Hltnp "sport = :$1" 2>/dev/null || true
	fi
}

# require_port_free NAME PORT: fail with a useful message if PORT is already taken.
require_port_free() {
	local name="$1" port="$2" who
	who="$(who_listens "$port")"
	if [[ -n "$who" ]] || port_open 127.0.0.1 "$port"; then
		local hint=""
		if grep -q '/etc/clickhouse-server' <<<"$who" 2>/dev/null ||
			pgrep -f -- '--config=/etc/clickhouse-server/config.xml' >/dev/null 2>&1; then
			hint=" (this looks like the system ClickHouse service; stop it with 'service clickhouse-server stop')"
		fi
		die "$name cannot start: port $port is already in use by another process$hint:
${who:-  (ss not available or gave no details)}"
	fi
}

# stop_pid NAME PIDFILE PATTERN: SIGTERM, wait up to STOP_TIMEOUT s, then SIGKILL.
stop_pid() {
	local name="$1" pidfile="$2" pattern="$3" pid i
	if ! pid_alive "$pidfile" "$pattern"; then
		if [[ -e "$pidfile" ]]; then
			log "$name: not running (removing stale pid file)"
			rm -f "$pidfile"
		else
			log "$name: not running"
		fi
		return 0
	fi
	pid="$(cat "$pidfile")"
	log "$name: stopping pid $pid (SIGTERM)"
	kill -TERM "$pid" 2>/dev/null || true
	for ((i = 0; i < STOP_TIMEOUT * 10; i++)); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	if kill -0 "$pid" 2>/dev/null; then
		log "$name: still running after ${STOP_TIMEOUT}s, sending SIGKILL"
		kill -KILL "$pid" 2>/dev/null || true
		for ((i = 0; i < 50; i++)); do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.1
		done
	fi
	rm -f "$pidfile"
	log "$name: stopped"
}

# wait for apt/dpkg run by someone else (e.g. a background install started earlier).
wait_for_apt() {
	local i
	for ((i = 0; i < 900; i++)); do
		if ! pgrep -x 'apt-get|apt|dpkg|unattended-upgr' >/dev/null 2>&1; then
			return 0
		fi
		((i % 30 == 0)) && log "waiting for another apt-get/dpkg to finish..."
		sleep 1
	done
	die "apt-get/dpkg still busy after 900 s"
}

APT_UPDATED=0
apt_install() {
	[[ $# -gt 0 ]] || return 0
	command -v apt-get >/dev/null 2>&1 || die "missing $*, and apt-get is not available to install them"
	if [[ "$(id -u)" != 0 ]]; then
		die "missing $* (install them with: sudo apt-get install -y $*)"
	fi
	wait_for_apt
	export DEBIAN_FRONTEND=noninteractive
	local apt_opts=(-o DPkg::Lock::Timeout=600 -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold)
	local apt_log="$SVC/apt.log"
	mkdir -p "$SVC"
	if [[ "$APT_UPDATED" == 0 ]]; then
		log "apt-get update (log: $apt_log)"
		if ! apt-get "${apt_opts[@]}" update -q >>"$apt_log" 2>&1; then
			tail -n 30 "$apt_log" >&2
			die "apt-get update failed"
		fi
		APT_UPDATED=1
	fi
	log "apt-get install -y $*"
	# Keep package maintainer scripts from starting the system services (e.g. the system
	# ClickHouse on port 9000): we run our own processes.
	local made_policy=0
	if [[ ! -e /usr/sbin/policy-rc.d ]]; then
		trap 'rm -f /usr/sbin/policy-rc.d' EXIT
		printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
		chmod +x /usr/sbin/policy-rc.d
		made_policy=1
	fi
	local rc=0
	apt-get "${apt_opts[@]}" install -y -q --no-install-recommends "$@" >>"$apt_log" 2>&1 || rc=$?
	if [[ "$made_policy" == 1 ]]; then
		rm -f /usr/sbin/policy-rc.d
		trap - EXIT
	fi
	if [[ "$rc" != 0 ]]; then
		tail -n 30 "$apt_log" >&2
		die "apt-get install $* failed (exit $rc)"
	fi
}

# Install the tools the script itself relies on, if missing.
ensure_base_tools() {
	local pkgs=()
	command -v ss >/dev/null 2>&1 || pkgs+=(iproute2)
	command -v pgrep >/dev/null 2>&1 || pkgs+=(procps)
	command -v flock >/dev/null 2>&1 || pkgs+=(util-linux)
	command -v sha256sum >/dev/null 2>&1 || pkgs+=(coreutils)
	if [[ ${#pkgs[@]} -gt 0 ]]; then
		# pgrep is used by wait_for_apt; without it we just go ahead.
		apt_install "${pkgs[@]}"
	fi
}

# ---------------------------------------------------------------------------------------
# ClickHouse
# ---------------------------------------------------------------------------------------

ch_installed() {
	command -v clickhouse-server >/dev/null 2>&1 && command -v clickhouse-client >/dev/null 2>&1
}

ensure_clickhouse_installed() {
	ch_installed && return 0
	# Someone (e.g. a session's background job) may already be installing it.
	wait_for_apt
	ch_installed && return 0
	apt_install clickhouse-server clickhouse-client
	ch_installed || die "clickhouse-server/clickhouse-client still missing after apt-get install"
}

ch_running() {
	adopt_orphan ClickHouse "$CH_PID" "$CH_PATTERN"
	pid_alive "$CH_PID" "$CH_PATTERN"
}

# ch_client ARGS: clickhouse-client as the application user meterhouse.
ch_client() {
	clickhouse-client --config-file "$CH_CLIENT_CONFIG" "$@"
}

ch_query_ok() {
	[[ -f "$CH_CLIENT_CONFIG" ]] && ch_client --query 'SELECT 1' >/dev/null 2>&1
}

write_clickhouse_config() {
	mkdir -p "$CH_DIR"/{data,tmp,user_files,format_schemas,logs}
	# Paths must end with '/' for ClickHouse.
	cat >"$CH_DIR/config.xml.new" <<EOF
<?xml version="1.0"?>
<!-- Generated by deploy/local/services.sh; edits are overwritten on every start. -->
<yandex>
    <logger>
        <level>information</level>
        <log>$CH_DIR/logs/clickhouse-server.log</log>
        <errorlog>$CH_DIR/logs/clickhouse-server.err.log</errorlog>
        <size>100M</size>
        <count>3</count>
    </logger>

    <listen_host>$CH_HOST</listen_host>
    <tcp_port>$CH_TCP_PORT</tcp_port>
    <http_port>$CH_HTTP_PORT</http_port>
    <!-- no interserver_http_port: single node, no replication -->

    <max_connections>1024</max_connections>
    <keep_alive_timeout>3</keep_alive_timeout>
    <max_concurrent_queries>100</max_concurrent_queries>

    <!-- 24 GiB box shared with Kafka and the Go services. -->
    <uncompressed_cache_size>1073741824</uncompressed_cache_size>
    <mark_cache_size>1073741824</mark_cache_size>

    <path>$CH_DIR/data/</path>
    <tmp_path>$CH_DIR/tmp/</tmp_path>
    <user_files_path>$CH_DIR/user_files/</user_files_path>
    <format_schema_path>$CH_DIR/format_schemas/</format_schema_path>

    <users_config>$CH_DIR/users.xml</users_config>
    <default_profile>default</default_profile>
    <default_database>default</default_database>
    <timezone>UTC</timezone>
    <umask>022</umask>
    <mlock_executable>false</mlock_executable>

    <builtin_dictionaries_reload_interval>3600</builtin_dictionaries_reload_interval>
    <max_session_timeout>3600</max_session_timeout>
    <default_session_timeout>60</default_session_timeout>

    <query_log>
        <database>system</database>
        <table>query_log</table>
        <partition_by>toYYYYMM(event_date)</partition_by>
        <flush_interval_milliseconds>7500</flush_interval_milliseconds>
    </query_log>

    <!-- Allow tests to drop any table/partition. -->
    <max_table_size_to_drop>0</max_table_size_to_drop>
    <max_partition_size_to_drop>0</max_partition_size_to_drop>
</yandex>
EOF
	mv -f "$CH_DIR/config.xml.new" "$CH_DIR/config.xml"
	write_clickhouse_users
}

# write_clickhouse_users: users.xml (users default, meterhouse and analyst with the passwords
# of $SECRETS_DIR, stored as SHA-256), the users.d folder for more users (tests add theirs)
# and the clickhouse-client config files. The server merges users.d/*.xml into users.xml
# and reloads both within seconds of a change, without a restart.
write_clickhouse_users() {
	mkdir -p "$CH_DIR/users.d"
	local default_pw meterhouse_pw analyst_pw
	default_pw="$(<"$(ensure_secret clickhouse-default.password)")"
	meterhouse_pw="$(<"$(ensure_secret clickhouse-meterhouse.password)")"
	analyst_pw="$(<"$(ensure_secret clickhouse-analyst.password)")"
	ensure_secret api-token-hmac.key 48 >/dev/null
	[[ "$CH_DATABASE" =~ ^[A-Za-z_][A-Za-z0-9_]*$ ]] || die "MH_CH_DATABASE: '$CH_DATABASE' is not a plain identifier"
	(
		umask 077
		cat >"$CH_DIR/users.xml.new" <<EOF
<?xml version="1.0"?>
<!-- Generated by deploy/local/services.sh; edits are overwritten on every start.
     Passwords are in $SECRETS_DIR; more users may be added in users.d/*.xml. -->
<yandex>
    <profiles>
        <default>
            <!-- per query / all queries together, bytes (24 GiB machine) -->
            <max_memory_usage>8000000000</max_memory_usage>
            <max_memory_usage_for_all_queries>12000000000</max_memory_usage_for_all_queries>
            <use_uncompressed_cache>0</use_uncompressed_cache>
            <load_balancing>random</load_balancing>
        </default>
        <readonly>
            <readonly>1</readonly>
        </readonly>
        <!-- Analysts, directly and through the SQL endpoint (user analyst). Under readonly=1
             ClickHouse 18.16 ignores or refuses settings sent with a query, so the limits
             live here; they equal the defaults of the sql section (query.DefaultSQLConfig). -->
        <analyst_readonly>
            <readonly>1</readonly>
            <max_execution_time>30</max_execution_time>
            <timeout_overflow_mode>throw</timeout_overflow_mode>
            <max_memory_usage>2000000000</max_memory_usage>
            <max_rows_to_read>1000000000</max_rows_to_read>
            <read_overflow_mode>throw</read_overflow_mode>
            <max_result_rows>1000000</max_result_rows>
            <max_result_bytes>268435456</max_result_bytes>
            <result_overflow_mode>throw</result_overflow_mode>
            <max_concurrent_queries_for_user>8</max_concurrent_queries_for_user>
            <use_uncompressed_cache>0</use_uncompressed_cache>
        </analyst_readonly>
    </profiles>

    <users>
        <!-- Not used by Meterhouse or this script; it keeps its full rights, so it has a
             password like every other user. -->
        <default>
            <password_sha256_hex>$(sha256_hex "$default_pw")</password_sha256_hex>
            <networks replace="replace">
                <ip>127.0.0.1</ip>
                <ip>::1</ip>
            </networks>
            <profile>default</profile>
            <quota>default</quota>
        </default>
        <!-- The application: migrations, ingest, API, VEE, tests (which create mh_test_* databases). -->
        <meterhouse>
            <password_sha256_hex>$(sha256_hex "$meterhouse_pw")</password_sha256_hex>
            <networks replace="replace">
                <ip>127.0.0.1</ip>
                <ip>::1</ip>
            </networks>
            <profile>default</profile>
            <quota>default</quota>
        </meterhouse>
        <!-- Analyst SQL and trusted analysts' direct access: the platform database only (on
             18.16 the system database stays readable whatever allow_databases says). -->
        <analyst>
            <password_sha256_hex>$(sha256_hex "$analyst_pw")</password_sha256_hex>
            <networks replace="replace">
                <ip>127.0.0.1</ip>
                <ip>::1</ip>
            </networks>
            <profile>analyst_readonly</profile>
            <quota>default</quota>
            <allow_databases>
                <database>$CH_DATABASE</database>
            </allow_databases>
        </analyst>
    </users>

    <quotas>
        <default>
            <interval>
                <duration>3600</duration>
                <queries>0</queries>
                <errors>0</errors>
                <result_rows>0</result_rows>
                <read_rows>0</read_rows>
                <execution_time>0</execution_time>
            </interval>
        </default>
    </quotas>
</yandex>
EOF
		write_client_config "$CH_CLIENT_CONFIG.new" meterhouse "$meterhouse_pw" default
		write_client_config "$CH_ANALYST_CLIENT_CONFIG.new" analyst "$analyst_pw" "$CH_DATABASE"
	)
	mv -f "$CH_DIR/users.xml.new" "$CH_DIR/users.xml"
	mv -f "$CH_CLIENT_CONFIG.new" "$CH_CLIENT_CONFIG"
	mv -f "$CH_ANALYST_CLIENT_CONFIG.new" "$CH_ANALYST_CLIENT_CONFIG"
}

# write_client_config FILE USER PASSWORD DATABASE: a clickhouse-client --config-file.
write_client_config() {
	cat >"$1" <<EOF
<?xml version="1.0"?>
<!-- Generated by deploy/local/services.sh for clickhouse-client (option config-file); mode 0600 -->
<config>
    <host>$CH_HOST</host>
    <port>$CH_TCP_PORT</port>
    <user>$2</user>
    <password>$3</password>
    <database>$4</database>
</config>
EOF
}

ch_fail() {
	local why="$1"
	{
		echo "[services] ERROR: ClickHouse: $why"
		local who
		who="$(who_listens "$CH_TCP_PORT")"
		[[ -n "$who" ]] && echo "[services] listeners on port $CH_TCP_PORT: $who"
		local f="$CH_DIR/logs/clickhouse-server.err.log"
		if [[ -s "$f" ]]; then
			echo "[services] --- last 30 lines of $f (stack frames omitted) ---"
			grep -v -E '^[0-9]+\. |^$' "$f" | tail -n 30
		fi
		f="$CH_DIR/logs/stdout.log"
		if grep -q -v '^Logging ' "$f" 2>/dev/null; then
			echo "[services] --- last 30 lines of $f ---"
			grep -v '^Logging ' "$f" | tail -n 30
		fi
	} >&2
	exit 1
}

start_clickhouse() {
	if ch_running; then
		# (Re)write the users: the server reloads them, so a server started by an older
		# version of this script (default user without a password) is secured now.
		write_clickhouse_users
		if ch_query_ok; then
			log "ClickHouse: already running (pid $(cat "$CH_PID"))"
			return 0
		fi
		# Running but not answering (e.g. still starting, or reloading the users): fall
		# through to the wait.
		log "ClickHouse: running (pid $(cat "$CH_PID")) but not answering as user meterhouse yet"
	else
		rm -f "$CH_PID"
		ensure_clickhouse_installed
		require_port_free ClickHouse "$CH_TCP_PORT"
		require_port_free ClickHouse "$CH_HTTP_PORT"
		write_clickhouse_config
		# Old error log lines would confuse a failure report.
		: >"$CH_DIR/logs/clickhouse-server.err.log"
		: >"$CH_DIR/logs/stdout.log"
		log "ClickHouse: starting (as $(id -un)) on $CH_HOST:$CH_TCP_PORT (native), :$CH_HTTP_PORT (http)"
		# setsid: own session, so the caller's Ctrl-C / job cleanup does not reach it.
		# cd into its dir: clickhouse resolves some relative paths against the cwd.
		(
			cd "$CH_DIR"
			exec setsid clickhouse-server --config-file="$CH_DIR/config.xml" \
				</dev/null >>"$CH_DIR/logs/stdout.log" 2>&1 9>&-
		) &
		echo $! >"$CH_PID"
	fi
	local pid deadline t0
	pid="$(cat "$CH_PID")"
	t0=$SECONDS
	deadline=$((SECONDS + CH_START_TIMEOUT))
	while ((SECONDS < deadline)); do
		if ! kill -0 "$pid" 2>/dev/null; then
			rm -f "$CH_PID"
			ch_fail "server process $pid exited during startup"
		fi
		if ch_query_ok; then
			log "ClickHouse: ready in $((SECONDS - t0))s (pid $pid, $(ch_client --query 'SELECT version()' 2>/dev/null)); clickhouse-client --config-file $CH_CLIENT_CONFIG"
			return 0
		fi
		sleep 0.2
	done
	ch_fail "not answering 'SELECT 1' as user meterhouse on $CH_HOST:$CH_TCP_PORT after ${CH_START_TIMEOUT}s (pid $pid still running; left running)"
}

stop_clickhouse() {
	adopt_orphan ClickHouse "$CH_PID" "$CH_PATTERN"
	stop_pid ClickHouse "$CH_PID" "$CH_PATTERN"
}

# ---------------------------------------------------------------------------------------
# Kafka
# ---------------------------------------------------------------------------------------

ensure_java_maven() {
	local pkgs=()
	command -v java >/dev/null 2>&1 || pkgs+=(openjdk-17-jre-headless)
	if [[ "${1:-}" == with-maven ]]; then
		command -v mvn >/dev/null 2>&1 || pkgs+=(maven)
	fi
	if [[ ${#pkgs[@]} -gt 0 ]]; then
		log "missing: ${pkgs[*]}; installing"
		apt_install "${pkgs[@]}"
	fi
	command -v java >/dev/null 2>&1 || die "Kafka: 'java' is not on PATH (need Java 17+, e.g. apt-get install openjdk-17-jre-headless)"
}

ensure_kafka_libs() {
	[[ -f "$KAFKA_POM" ]] || die "Kafka: $KAFKA_POM is missing"
	local want
	want="$(sha256sum "$KAFKA_POM" | cut -d' ' -f1)"
	if [[ -f "$KAFKA_LIBS_STAMP" && "$(cat "$KAFKA_LIBS_STAMP")" == "$want" ]] &&
		compgen -G "$KAFKA_LIBS/kafka_2.13-*.jar" >/dev/null; then
		return 0
	fi
	ensure_java_maven with-maven
	log "Kafka: resolving jars from Maven Central (deploy/local/kafka/pom.xml) into $KAFKA_LIBS"
	rm -rf "$KAFKA_LIBS" "$KAFKA_LIBS_STAMP"
	mkdir -p "$KAFKA_M2" "$KAFKA_DIR"
	local mvn_log="$KAFKA_DIR/mvn.log"
	if ! mvn -B -q -f "$KAFKA_POM" \
		-Dmaven.repo.local="$KAFKA_M2" \
		dependency:copy-dependencies \
		-DoutputDirectory="$KAFKA_LIBS" \
		-DincludeScope=runtime >"$mvn_log" 2>&1; then
		echo "[services] --- last 40 lines of $mvn_log ---" >&2
		tail -n 40 "$mvn_log" >&2
		die "Kafka: mvn dependency:copy-dependencies failed"
	fi
	compgen -G "$KAFKA_LIBS/kafka_2.13-*.jar" >/dev/null || die "Kafka: no kafka_2.13 jar in $KAFKA_LIBS after mvn"
	echo "$want" >"$KAFKA_LIBS_STAMP"
	log "Kafka: $(find "$KAFKA_LIBS" -name '*.jar' | wc -l) jars in $KAFKA_LIBS"
}

# kafka_secret_file USER: where USER's password lives.
kafka_secret_file() { echo "$SECRETS_DIR/kafka-$1.password"; }

# kafka_password USER: USER's password (never logged).
kafka_password() { cat "$(kafka_secret_file "$1")"; }

# Generate each missing Kafka password once (ensure_secret's alphabet is base64 without
# +/=, so a password needs no quoting in a JAAS line, a properties file or StorageTool's
# --add-scram).
ensure_kafka_secrets() {
	local u
	for u in $KAFKA_USERS; do
		ensure_secret "kafka-$u.password" 24 >/dev/null
	done
}

# The data folder must have been formatted with the SCRAM users this script creates: a
# folder from before Kafka was secured (or one whose passwords were deleted since) cannot
# authenticate anyone. Never wiped silently: the message says how to re-format it once.
check_kafka_data() {
	local how="re-format it once with 'bash deploy/local/services.sh reformat-kafka' (deletes Kafka's topics and messages, keeps ClickHouse) or 'bash deploy/local/services.sh reset' (deletes all local data)"
	[[ -f "$KAFKA_DATA/meta.properties" ]] || return 0
	if [[ ! -f "$KAFKA_SCRAM_STAMP" ]]; then
		die "Kafka: $KAFKA_DATA was formatted without SASL/SCRAM users (before Kafka was secured); $how"
	fi
	if [[ "$(cat "$KAFKA_SCRAM_STAMP")" != "$KAFKA_SCRAM_MECHANISM $KAFKA_USERS" ]]; then
		die "Kafka: $KAFKA_DATA was formatted with other SCRAM users ($(cat "$KAFKA_SCRAM_STAMP")); $how"
	fi
	local u
	for u in $KAFKA_USERS; do
		if [[ ! -s "$(kafka_secret_file "$u")" ]]; then
			die "Kafka: $(kafka_secret_file "$u") is missing but $KAFKA_DATA holds the user '$u' with its old password; $how"
		fi
	done
}

# Client settings files, rewritten on every start (mode 0600: they hold passwords).
write_kafka_client_files() {
	mkdir -p "$KAFKA_DIR"
	local admin das
	admin="$(kafka_password admin)"
	das="$(kafka_password das)"
	(
		umask 077
		cat >"$KAFKA_ADMIN_PROPS.new" <<EOF
# Generated by deploy/local/services.sh: Kafka's Java tools as the admin user, e.g.
#   services.sh kafka-class org.apache.kafka.tools.TopicCommand --bootstrap-server $KAFKA_BOOTSTRAP --command-config $KAFKA_ADMIN_PROPS --list
security.protocol=SASL_PLAINTEXT
sasl.mechanism=$KAFKA_SCRAM_MECHANISM
sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username="admin" password="$admin";
EOF
		for f in kcat:admin:"$admin" kcat-das:das:"$das"; do
			IFS=: read -r name user pass <<<"$f"
			cat >"$KAFKA_DIR/$name.conf.new" <<EOF
# Generated by deploy/local/services.sh: librdkafka settings for kcat -F as '$user'.
# PLAIN, not SCRAM: librdkafka before 2.6.1 (Debian 12's kcat) fails SCRAM against Kafka 4.
# With a newer one, sasl.mechanisms=$KAFKA_SCRAM_MECHANISM works too.
bootstrap.servers=$KAFKA_BOOTSTRAP
security.protocol=SASL_PLAINTEXT
sasl.mechanisms=PLAIN
sasl.username=$user
sasl.password=$pass
EOF
		done
	)
	mv -f "$KAFKA_ADMIN_PROPS.new" "$KAFKA_ADMIN_PROPS"
	mv -f "$KAFKA_DIR/kcat.conf.new" "$KAFKA_DIR/kcat.conf"
	mv -f "$KAFKA_DIR/kcat-das.conf.new" "$KAFKA_DIR/kcat-das.conf"
}

write_kafka_config() {
	mkdir -p "$KAFKA_DATA" "$KAFKA_LOGS"
	local admin plain_users="" u
	admin="$(kafka_password admin)"
	for u in $KAFKA_USERS; do
		plain_users+=" user_$u=\"$(kafka_password "$u")\""
	done
	# The broker listener authenticates clients with SCRAM (users in the metadata log, so
	# created at format time), and also with PLAIN for the same users and passwords (from
	# the JAAS line below): librdkafka before 2.6.1, e.g. Debian 12's kcat, fails SCRAM
	# against Kafka 4 (it repeats the client nonce; librdkafka#4895), so the kcat files use
	# PLAIN. The controller listener, which only this process uses, takes PLAIN as admin
	# (SCRAM users are not readable before the controller runs), so that the controller
	# never serves an anonymous principal.
	(
		umask 077
		cat >"$KAFKA_DIR/server.properties.new" <<EOF
# Generated by deploy/local/services.sh; edits are overwritten on every start.
# Single node, KRaft, broker + controller, loopback only, SASL + ACLs.
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@$KAFKA_HOST:$KAFKA_CONTROLLER_PORT
listeners=SASL_PLAINTEXT://$KAFKA_HOST:$KAFKA_PORT,CONTROLLER://$KAFKA_HOST:$KAFKA_CONTROLLER_PORT
advertised.listeners=SASL_PLAINTEXT://$KAFKA_HOST:$KAFKA_PORT
controller.listener.names=CONTROLLER
inter.broker.listener.name=SASL_PLAINTEXT
listener.security.protocol.map=CONTROLLER:SASL_PLAINTEXT,SASL_PLAINTEXT:SASL_PLAINTEXT

sasl.enabled.mechanisms=$KAFKA_SCRAM_MECHANISM
listener.name.sasl_plaintext.sasl.enabled.mechanisms=$KAFKA_SCRAM_MECHANISM,PLAIN
listener.name.controller.sasl.enabled.mechanisms=PLAIN
sasl.mechanism.inter.broker.protocol=$KAFKA_SCRAM_MECHANISM
sasl.mechanism.controller.protocol=PLAIN
listener.name.sasl_plaintext.${KAFKA_SCRAM_MECHANISM,,}.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username="admin" password="$admin";
listener.name.sasl_plaintext.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required$plain_users;
listener.name.controller.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required username="admin" password="$admin" user_admin="$admin";

authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer
allow.everyone.if.no.acl.found=false
super.users=User:admin

log.dirs=$KAFKA_DATA
num.partitions=4
default.replication.factor=1
min.insync.replicas=1
auto.create.topics.enable=false
delete.topic.enable=true

offsets.topic.replication.factor=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0

num.network.threads=3
num.io.threads=4
num.recovery.threads.per.data.dir=1
log.retention.hours=168
log.segment.bytes=1073741824
log.retention.check.interval.ms=300000
EOF
	)
	mv -f "$KAFKA_DIR/server.properties.new" "$KAFKA_DIR/server.properties"
	write_kafka_client_files

	cat >"$KAFKA_DIR/log4j2.xml" <<EOF
<?xml version="1.0" encoding="UTF-8"?>
<!-- Generated by deploy/local/services.sh: broker logging to $KAFKA_LOGS -->
<Configuration status="WARN">
  <Appenders>
    <RollingFile name="server" fileName="$KAFKA_LOGS/server.log"
                 filePattern="$KAFKA_LOGS/server.log.%i">
      <PatternLayout pattern="[%d] %p %m (%c)%n"/>
      <SizeBasedTriggeringPolicy size="100MB"/>
      <DefaultRolloverStrategy max="3"/>
    </RollingFile>
    <RollingFile name="controller" fileName="$KAFKA_LOGS/controller.log"
                 filePattern="$KAFKA_LOGS/controller.log.%i">
      <PatternLayout pattern="[%d] %p %m (%c)%n"/>
      <SizeBasedTriggeringPolicy size="100MB"/>
      <DefaultRolloverStrategy max="3"/>
    </RollingFile>
  </Appenders>
  <Loggers>
    <Root level="INFO"><AppenderRef ref="server"/></Root>
    <Logger name="kafka.request.logger" level="WARN"/>
    <Logger name="kafka.controller" level="INFO" additivity="false"><AppenderRef ref="controller"/></Logger>
    <Logger name="state.change.logger" level="INFO" additivity="false"><AppenderRef ref="controller"/></Logger>
    <Logger name="org.apache.kafka.controller" level="INFO" additivity="false"><AppenderRef ref="controller"/></Logger>
  </Loggers>
</Configuration>
EOF

	cat >"$KAFKA_DIR/tools-log4j2.xml" <<'EOF'
<?xml version="1.0" encoding="UTF-8"?>
<!-- Generated by deploy/local/services.sh: command-line tools log warnings to stderr -->
<Configuration status="WARN">
  <Appenders>
    <Console name="stderr" target="SYSTEM_ERR">
      <PatternLayout pattern="[%d] %p %m (%c)%n"/>
    </Console>
  </Appenders>
  <Loggers>
    <Root level="WARN"><AppenderRef ref="stderr"/></Root>
  </Loggers>
</Configuration>
EOF
}

# kafka_tool MAIN-CLASS ARGS...: a short-lived JVM for a CLI tool (fast-start flags).
kafka_tool() {
	local main="$1"
	shift
	java -Xms64m -Xmx512m -XX:+UseSerialGC -XX:TieredStopAtLevel=1 -Xshare:auto \
		-Djava.awt.headless=true \
		-Dlog4j2.configurationFile="$KAFKA_DIR/tools-log4j2.xml" \
		-cp "$KAFKA_LIBS/*" "$main" "$@" 9>&-
}

format_kafka_storage() {
	if [[ -f "$KAFKA_DATA/meta.properties" ]]; then
		return 0
	fi
	local cid=""
	if [[ -s "$KAFKA_CLUSTER_ID_FILE" ]]; then
		cid="$(cat "$KAFKA_CLUSTER_ID_FILE")"
	fi
	# A Kafka Uuid is 16 random bytes in unpadded URL-safe base64 (22 chars). Like
	# Kafka's own generator, an id that starts with '-' is drawn again: the storage
	# tool's argument parser would read it as an option (one id in 64 did, and the
	# format failed). An id left by such a failed format is replaced too.
	while [[ -z "$cid" || "$cid" == -* ]]; do
		cid="$(head -c 16 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=\n')"
	done
	echo "$cid" >"$KAFKA_CLUSTER_ID_FILE"
	log "Kafka: formatting storage $KAFKA_DATA (cluster id $cid, SCRAM users: $KAFKA_USERS)"
	# SCRAM credentials live in the metadata log, so the users are created with it. The
	# passwords never reach a command line (which any local user can read in /proc): the
	# tool's main class and arguments go to a java argument file of mode 0600, removed
	# right after. The output is not echoed unless formatting fails, and then without them.
	local out u status=0 argfile="$KAFKA_DIR/format.args"
	rm -f "$KAFKA_SCRAM_STAMP" "$KAFKA_ACLS_STAMP"
	(
		umask 077
		printf '%s\n' kafka.tools.StorageTool format --ignore-formatted "--cluster-id=$cid" \
			--config "\"$KAFKA_DIR/server.properties\""
		for u in $KAFKA_USERS; do
			printf -- '--add-scram\n%s\n' "$KAFKA_SCRAM_MECHANISM=[name=$u,password=$(kafka_password "$u")]"
		done
	) >"$argfile"
	out="$(kafka_tool "@$argfile" 2>&1)" || status=$?
	rm -f "$argfile"
	if ((status != 0)); then
		for u in $KAFKA_USERS; do
			out="${out//$(kafka_password "$u")/REDACTED}"
		done
		echo "$out" >&2
		die "Kafka: storage format failed"
	fi
	echo "$KAFKA_SCRAM_MECHANISM $KAFKA_USERS" >"$KAFKA_SCRAM_STAMP"
}

kafka_running() {
	adopt_orphan Kafka "$KAFKA_PID" "$KAFKA_PATTERN"
	pid_alive "$KAFKA_PID" "$KAFKA_PATTERN"
}

kafka_fail() {
	local why="$1"
	{
		echo "[services] ERROR: Kafka: $why"
		local p who
		for p in "$KAFKA_PORT" "$KAFKA_CONTROLLER_PORT"; do
			who="$(who_listens "$p")"
			[[ -n "$who" ]] && echo "[services] listeners on port $p: $who"
		done
		for f in "$KAFKA_LOGS/kafka.out" "$KAFKA_LOGS/server.log"; do
			if [[ -s "$f" ]]; then
				echo "[services] --- last 30 lines of $f ---"
				tail -n 30 "$f"
			fi
		done
	} >&2
	exit 1
}

# Topic list from the last successful kafka_list_ok (saves a JVM start in ensure_topics).
KAFKA_LISTED=""
KAFKA_LISTED_OK=0
kafka_list_ok() {
	local out
	out="$(kafka_tool org.apache.kafka.tools.TopicCommand --bootstrap-server "$KAFKA_BOOTSTRAP" \
		--command-config "$KAFKA_ADMIN_PROPS" --list 2>/dev/null)" || return 1
	KAFKA_LISTED="$out"
	KAFKA_LISTED_OK=1
}

start_kafka() {
	check_kafka_data
	ensure_kafka_secrets
	if kafka_running; then
		if port_open "$KAFKA_HOST" "$KAFKA_PORT"; then
			log "Kafka: already running (pid $(cat "$KAFKA_PID"))"
			return 0
		fi
		log "Kafka: running (pid $(cat "$KAFKA_PID")) but not listening yet"
	else
		rm -f "$KAFKA_PID" "$KAFKA_TOPICS_STAMP"
		ensure_java_maven
		ensure_kafka_libs
		require_port_free Kafka "$KAFKA_PORT"
		require_port_free "Kafka controller" "$KAFKA_CONTROLLER_PORT"
		write_kafka_config
		format_kafka_storage
		: >"$KAFKA_LOGS/kafka.out"
		log "Kafka: starting on $KAFKA_BOOTSTRAP (controller :$KAFKA_CONTROLLER_PORT)"
		(
			cd "$KAFKA_DIR"
			exec setsid java -Xms512m -Xmx1g \
				-XX:+UseG1GC -XX:MaxGCPauseMillis=20 -XX:InitiatingHeapOccupancyPercent=35 \
				-XX:+ExplicitGCInvokesConcurrent -XX:+ExitOnOutOfMemoryError \
				-Djava.awt.headless=true \
				-Dkafka.logs.dir="$KAFKA_LOGS" \
				-Dlog4j2.configurationFile="$KAFKA_DIR/log4j2.xml" \
				-cp "$KAFKA_LIBS/*" \
				kafka.Kafka "$KAFKA_DIR/server.properties" \
				</dev/null >>"$KAFKA_LOGS/kafka.out" 2>&1 9>&-
		) &
		echo $! >"$KAFKA_PID"
	fi
	local pid deadline t0
	pid="$(cat "$KAFKA_PID")"
	t0=$SECONDS
	deadline=$((SECONDS + KAFKA_START_TIMEOUT))
	while ! port_open "$KAFKA_HOST" "$KAFKA_PORT"; do
		if ! kill -0 "$pid" 2>/dev/null; then
			rm -f "$KAFKA_PID"
			kafka_fail "broker process $pid exited during startup"
		fi
		((SECONDS < deadline)) || kafka_fail "port $KAFKA_PORT not open after ${KAFKA_START_TIMEOUT}s (pid $pid left running)"
		sleep 0.2
	done
	# The port opens before the broker has caught up with the metadata log; a real admin
	# request proves it serves.
	until kafka_list_ok; do
		if ! kill -0 "$pid" 2>/dev/null; then
			rm -f "$KAFKA_PID"
			kafka_fail "broker process $pid exited during startup"
		fi
		((SECONDS < deadline)) || kafka_fail "no answer to 'TopicCommand --list' after ${KAFKA_START_TIMEOUT}s (pid $pid left running)"
		sleep 0.5
	done
	log "Kafka: ready in $((SECONDS - t0))s (pid $pid, $(basename "$(compgen -G "$KAFKA_LIBS/kafka_2.13-*.jar" | head -n1)" .jar))"
}

stop_kafka() {
	adopt_orphan Kafka "$KAFKA_PID" "$KAFKA_PATTERN"
	stop_pid Kafka "$KAFKA_PID" "$KAFKA_PATTERN"
	rm -f "$KAFKA_TOPICS_STAMP"
}

# topic name -> partitions
topic_spec() {
	local readings="${MH_READINGS_PARTITIONS:-4}"
	local dlq="${MH_DLQ_PARTITIONS:-1}"
	local commands="${MH_COMMANDS_PARTITIONS:-4}"
	local n
	for n in "$readings" "$dlq" "$commands"; do
		[[ "$n" =~ ^[1-9][0-9]*$ ]] || die "partition counts must be positive integers (got '$n')"
	done
	echo "readings=$readings readings-dlq=$dlq commands=$commands command-acks=$commands audit-anchors=1"
}

ensure_topics() {
	local spec pid
	spec="$(topic_spec)"
	pid="$(cat "$KAFKA_PID")"
	# Already ensured for this very broker process with the same settings: nothing to do.
	if [[ -f "$KAFKA_TOPICS_STAMP" && "$(cat "$KAFKA_TOPICS_STAMP")" == "$pid $spec" ]]; then
		return 0
	fi
	if [[ "$KAFKA_LISTED_OK" != 1 ]]; then
		kafka_list_ok || die "Kafka: cannot list topics on $KAFKA_BOOTSTRAP"
	fi
	local existing="$KAFKA_LISTED"
	local item topic parts tmp
	local -a jobs=() names=()
	tmp="$(mktemp -d)"
	# Each TopicCommand is a JVM start (~1 s); create the missing topics in parallel.
	for item in $spec; do
		topic="${item%%=*}"
		parts="${item#*=}"
		if grep -qx -- "$topic" <<<"$existing"; then
			continue
		fi
		log "Kafka: creating topic $topic ($parts partitions, replication 1)"
		kafka_tool org.apache.kafka.tools.TopicCommand --bootstrap-server "$KAFKA_BOOTSTRAP" \
			--command-config "$KAFKA_ADMIN_PROPS" --create --if-not-exists --topic "$topic" \
			--partitions "$parts" --replication-factor 1 \
			--config message.timestamp.type=CreateTime >"$tmp/$topic.out" 2>&1 &
		jobs+=("$!")
		names+=("$topic")
	done
	local i failed=0
	for i in "${!jobs[@]}"; do
		if ! wait "${jobs[$i]}"; then
			echo "[services] --- TopicCommand --create ${names[$i]} ---" >&2
			cat "$tmp/${names[$i]}.out" >&2
			failed=1
		fi
	done
	rm -rf "$tmp"
	[[ "$failed" == 0 ]] || die "Kafka: creating topics failed"
	if [[ ${#names[@]} -eq 0 ]]; then
		log "Kafka: topics present: readings readings-dlq commands command-acks audit-anchors"
	fi
	echo "$pid $spec" >"$KAFKA_TOPICS_STAMP"
}

# The ACLs, one AclCommand each: "principals|operations|resource options". Read, Write
# and Delete imply Describe. Consumer groups are granted by prefix: meterhouse-* (the ingest
# group meterhouse-ingest, later the control component's) and das-* (the head-end's).
acl_spec() {
	cat <<'EOF'
User:meterhouse User:das|Write|--topic readings
User:meterhouse|Write|--topic readings-dlq --topic commands --topic audit-anchors
User:das|Write|--topic command-acks
User:meterhouse|Read|--topic readings --topic command-acks --topic audit-anchors
User:das|Read|--topic commands
User:meterhouse|Read|--group meterhouse- --resource-pattern-type prefixed
User:das|Read|--group das- --resource-pattern-type prefixed
EOF
}

# Create the ACLs (adding an existing ACL is a no-op). Skipped when this data folder's
# cluster already has this very spec.
ensure_acls() {
	local want
	want="$(cat "$KAFKA_CLUSTER_ID_FILE") $(acl_spec | sha256sum | cut -d' ' -f1)"
	if [[ -f "$KAFKA_ACLS_STAMP" && "$(cat "$KAFKA_ACLS_STAMP")" == "$want" ]]; then
		return 0
	fi
	log "Kafka: creating ACLs (authorizer StandardAuthorizer, super user admin)"
	local line principals ops resource p o tmp i failed=0
	local -a jobs=() args
	tmp="$(mktemp -d)"
	while IFS='|' read -r principals ops resource; do
		args=()
		for p in $principals; do args+=(--allow-principal "$p"); done
		for o in $ops; do args+=(--operation "$o"); done
		# shellcheck disable=SC2206 # resource options are single words
		args+=($resource)
		kafka_tool org.apache.kafka.tools.AclCommand --bootstrap-server "$KAFKA_BOOTSTRAP" \
			--command-config "$KAFKA_ADMIN_PROPS" --add --force "${args[@]}" >"$tmp/${#jobs[@]}.out" 2>&1 &
		jobs+=("$!")
	done < <(acl_spec)
	for i in "${!jobs[@]}"; do
		if ! wait "${jobs[$i]}"; then
			echo "[services] --- AclCommand --add ($(acl_spec | sed -n "$((i + 1))p")) ---" >&2
			cat "$tmp/$i.out" >&2
			failed=1
		fi
	done
	rm -rf "$tmp"
	[[ "$failed" == 0 ]] || die "Kafka: creating ACLs failed"
	echo "$want" >"$KAFKA_ACLS_STAMP"
}

# ---------------------------------------------------------------------------------------
# commands
# ---------------------------------------------------------------------------------------

status() {
	local rc=0
	if ch_running; then
		if ch_query_ok; then
			log "ClickHouse: up (pid $(cat "$CH_PID"), $CH_HOST:$CH_TCP_PORT native, :$CH_HTTP_PORT http)"
		else
			log "ClickHouse: process $(cat "$CH_PID") running but not answering on $CH_HOST:$CH_TCP_PORT"
			rc=1
		fi
	else
		log "ClickHouse: down"
		rc=1
	fi
	if kafka_running; then
		if port_open "$KAFKA_HOST" "$KAFKA_PORT"; then
			log "Kafka: up (pid $(cat "$KAFKA_PID"), $KAFKA_BOOTSTRAP)"
		else
			log "Kafka: process $(cat "$KAFKA_PID") running but port $KAFKA_PORT not open"
			rc=1
		fi
	else
		log "Kafka: down"
		rc=1
	fi
	return "$rc"
}

up() {
	topic_spec >/dev/null # validate MH_*_PARTITIONS before starting anything
	ensure_base_tools
	start_clickhouse
	start_kafka
	ensure_topics
	ensure_acls
	log "up: ClickHouse $CH_HOST:$CH_TCP_PORT, Kafka $KAFKA_BOOTSTRAP (data in $SVC)"
}

down() {
	stop_kafka
	stop_clickhouse
}

reset() {
	down
	log "reset: deleting ClickHouse and Kafka data and logs (keeping jars, maven cache and secrets)"
	rm -rf "$CH_DIR"
	rm -rf "$KAFKA_DATA" "$KAFKA_LOGS" "$KAFKA_CLUSTER_ID_FILE" "$KAFKA_TOPICS_STAMP" \
		"$KAFKA_SCRAM_STAMP" "$KAFKA_ACLS_STAMP" \
		"$KAFKA_DIR/server.properties" "$KAFKA_DIR/log4j2.xml" "$KAFKA_DIR/tools-log4j2.xml" \
		"$KAFKA_ADMIN_PROPS" "$KAFKA_DIR/kcat.conf" "$KAFKA_DIR/kcat-das.conf" \
		"$KAFKA_DIR/mvn.log"
}

# reformat_kafka: the one-time migration of a data folder from before SASL (or after its
# passwords were lost): stop Kafka, delete its topics and messages, format the storage with
# the SCRAM users, start it, create topics and ACLs. ClickHouse is not touched.
reformat_kafka() {
	topic_spec >/dev/null
	ensure_base_tools
	stop_kafka
	log "reformat-kafka: deleting Kafka's data (topics, messages, offsets) in $KAFKA_DATA"
	rm -rf "$KAFKA_DATA" "$KAFKA_CLUSTER_ID_FILE" "$KAFKA_SCRAM_STAMP" "$KAFKA_ACLS_STAMP" "$KAFKA_TOPICS_STAMP"
	start_kafka
	ensure_topics
	ensure_acls
}

usage() {
	sed -n '2,40p' "${BASH_SOURCE[0]}" | sed -n '/^#   bash/,/^# Everything/p' | sed 's/^# \{0,1\}//' >&2
}

main() {
	local cmd="${1:-}"
	[[ $# -gt 0 ]] && shift
	case "$cmd" in
	up)
		take_lock
		up
		;;
	down)
		take_lock
		down
		;;
	status)
		status
		;;
	restart-clickhouse)
		take_lock
		ensure_base_tools
		stop_clickhouse
		start_clickhouse
		;;
	restart-kafka)
		take_lock
		topic_spec >/dev/null
		ensure_base_tools
		stop_kafka
		start_kafka
		ensure_topics
		ensure_acls
		;;
	reformat-kafka)
		take_lock
		reformat_kafka
		;;
	reset)
		take_lock
		reset
		;;
	ch-client)
		[[ -f "$CH_CLIENT_CONFIG" ]] || die "no $CH_CLIENT_CONFIG yet; run 'services.sh up' first"
		exec clickhouse-client --config-file "$CH_CLIENT_CONFIG" "$@"
		;;
	kafka-class)
		[[ $# -ge 1 ]] || die "usage: services.sh kafka-class MAIN-CLASS [ARGS...]"
		compgen -G "$KAFKA_LIBS/*.jar" >/dev/null || die "no Kafka jars yet; run 'services.sh up' first"
		[[ -f "$KAFKA_DIR/tools-log4j2.xml" && -f "$KAFKA_ADMIN_PROPS" ]] || {
			[[ -s "$(kafka_secret_file admin)" ]] || die "no Kafka passwords yet; run 'services.sh up' first"
			write_kafka_config
		}
		kafka_tool "$@"
		;;
	-h | --help | help) usage ;;
	*)
		[[ -z "$cmd" ]] || echo "[services] unknown command: $cmd" >&2
		usage
		exit 2
		;;
	esac
}

main "$@"
