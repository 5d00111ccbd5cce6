#!/usr/bin/env bash
# Meterline's local test environment: a real single-node Apache Kafka (KRaft) and a real
# ClickHouse server, both on 127.0.0.1, each with its own data folder.
#
#   deploy/testenv/testenv.sh start [kafka|clickhouse|chromium|all]   start (idempotent) and wait until ready
#                                                            (chromium: install Debian's chromium for the
#                                                            dashboard's browser test; nothing runs)
#   deploy/testenv/testenv.sh stop  [kafka|clickhouse|all]   stop cleanly (SIGTERM, then wait)
#   deploy/testenv/testenv.sh status                         say what runs where
#   deploy/testenv/testenv.sh env                            print the METERLINE_* exports to use
#   deploy/testenv/testenv.sh clean                          stop, then delete the data folder
#
# Kafka comes from Maven Central (org.apache.kafka:kafka_2.13, version pinned in kafka/pom.xml);
# its jars are resolved once with Maven and cached under $METERLINE_CACHE_DIR. ClickHouse is
# Debian's clickhouse-server package, installed with apt-get when it is missing. When either
# cannot be had, the script says so and fails: it never substitutes a fake.
#
# Settings (environment): METERLINE_TESTENV_DIR (data, default <repo>/.testenv),
# METERLINE_CACHE_DIR (default ~/.cache/meterline), METERLINE_TESTENV_KAFKA_PORT (9092),
# METERLINE_TESTENV_CONTROLLER_PORT (9093), METERLINE_TESTENV_CLICKHOUSE_PORT (9000),
# METERLINE_TESTENV_CLICKHOUSE_HTTP_PORT (8123).
# An environment with its own data folder and ports runs beside the default one, and its parts
# stop and start alone (e2e's TestFaultRecovery does so; the shared one is never stopped).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
data=${METERLINE_TESTENV_DIR:-$repo/.testenv}
cache=${METERLINE_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/meterline}
kafka_port=${METERLINE_TESTENV_KAFKA_PORT:-9092}
controller_port=${METERLINE_TESTENV_CONTROLLER_PORT:-9093}
ch_port=${METERLINE_TESTENV_CLICKHOUSE_PORT:-9000}
ch_http_port=${METERLINE_TESTENV_CLICKHOUSE_HTTP_PORT:-8123}
kafka_version=$(sed -n 's:.*<kafka.version>\(.*\)</kafka.version>.*:\1:p' "$here/kafka/pom.xml")
kafka_libs=$cache/kafka-$kafka_version/libs

say() { printf 'testenv: %s\n' "$*" >&2; }
die() { say "$*"; exit 1; }

# port_open HOST PORT: true when something accepts TCP connections there.
port_open() { (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null; }

# pid_alive FILE: true when FILE names a running process.
pid_alive() { [ -s "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

# wait_until SECONDS WHAT CMD...: run CMD every half second until it succeeds.
wait_until() {
  local limit=$1 what=$2; shift 2
  local deadline=$((SECONDS + limit))
  until "$@"; do
    [ $SECONDS -lt $deadline ] || return 1
    sleep 0.5
  done
  say "$what is ready"
}

# ---------------------------------------------------------------- ClickHouse

ch_bin() { command -v clickhouse-server || { [ -x /usr/sbin/clickhouse-server ] && echo /usr/sbin/clickhouse-server; } || true; }

install_clickhouse() {
  [ -n "$(ch_bin)" ] && command -v clickhouse-client >/dev/null && return 0
  command -v apt-get >/dev/null || die "clickhouse-server is not installed and there is no apt-get to install it"
  local sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  say "installing Debian's clickhouse-server and clickhouse-client"
  $sudo apt-get update -qq >/dev/null || true
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq clickhouse-server clickhouse-client >/dev/null \
    || die "Debian's clickhouse-server package cannot be installed (apt-get failed); the test environment has no ClickHouse"
  [ -n "$(ch_bin)" ] || die "clickhouse-server is still missing after apt-get install"
}

ch_ready() { clickhouse-client --host 127.0.0.1 --port "$ch_port" --query 'SELECT 1' >/dev/null 2>&1; }

start_clickhouse() {
  local dir=$data/clickhouse
  if pid_alive "$dir/pid" && ch_ready; then say "ClickHouse already runs on 127.0.0.1:$ch_port"; return 0; fi
  if port_open 127.0.0.1 "$ch_port"; then
    install_clickhouse # the client is needed for the readiness check
    ch_ready || die "port $ch_port is taken by something that is not ClickHouse"
    say "a ClickHouse server already answers on 127.0.0.1:$ch_port; using it"
    return 0
  fi
  install_clickhouse
  mkdir -p "$dir/data" "$dir/tmp" "$dir/user_files" "$dir/format_schemas" "$dir/log" "$dir/etc"
  sed -e "s:@DATA@:$dir:g" -e "s:@TCP_PORT@:$ch_port:g" -e "s:@HTTP_PORT@:$ch_http_port:g" \
    "$here/clickhouse/config.xml" >"$dir/etc/config.xml"
  cp "$here/clickhouse/users.xml" "$dir/etc/users.xml"
  say "starting ClickHouse ($(ch_bin)) with data in $dir"
  (cd "$dir" || exit 1
    # 9>&-: the server must not inherit the start lock (see below), or it holds it forever.
    nohup "$(ch_bin)" --config-file="$dir/etc/config.xml" </dev/null >"$dir/log/stdout.log" 2>&1 9>&- &
    echo $! >"$dir/pid")
  wait_until 60 "ClickHouse on 127.0.0.1:$ch_port" ch_ready || {
    tail -n 30 "$dir/log/clickhouse-server.err.log" "$dir/log/stdout.log" >&2 2>/dev/null || true
    die "ClickHouse did not answer within 60s"
  }
}

# ---------------------------------------------------------------- Kafka

fetch_kafka() {
  if [ -f "$kafka_libs/.complete" ]; then return 0; fi
  command -v java >/dev/null || die "java (17 or newer) is needed to run Kafka and is not installed"
  command -v mvn >/dev/null || die "mvn is needed to fetch Kafka $kafka_version from Maven Central and is not installed"
  say "fetching Kafka $kafka_version jars from Maven Central into $kafka_libs"
  rm -rf "$kafka_libs"
  mkdir -p "$kafka_libs"
  mvn -q -B -f "$here/kafka/pom.xml" dependency:copy-dependencies \
    -DincludeScope=runtime -DoutputDirectory="$kafka_libs" >&2 \
    || die "Kafka $kafka_version cannot be fetched from Maven Central (mvn failed); the test environment has no Kafka"
  touch "$kafka_libs/.complete"
}

kafka_java() {
  local dir=$data/kafka
  exec_java=${exec_java:-}
  $exec_java java -Xms256m -Xmx1g -XX:+UseG1GC -Djava.awt.headless=true \
    -Dlog4j2.configurationFile="$here/kafka/log4j2.properties" -Dkafka.logs.dir="$dir/log" \
    -cp "$kafka_libs/*" "$@"
}

kafka_ready() { port_open 127.0.0.1 "$kafka_port" && grep -q 'Kafka Server started' "$data/kafka/log/server.log" 2>/dev/null; }

start_kafka() {
  local dir=$data/kafka
  if pid_alive "$dir/pid" && kafka_ready; then say "Kafka already runs on 127.0.0.1:$kafka_port"; return 0; fi
  if port_open 127.0.0.1 "$kafka_port"; then
    pid_alive "$dir/pid" || die "port $kafka_port is taken by a process this script did not start"
  fi
  fetch_kafka
  mkdir -p "$dir/data" "$dir/log"
  cat >"$dir/server.properties" <<EOF
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$controller_port
listeners=PLAINTEXT://127.0.0.1:$kafka_port,CONTROLLER://127.0.0.1:$controller_port
advertised.listeners=PLAINTEXT://127.0.0.1:$kafka_port
controller.listener.names=CONTROLLER
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
inter.broker.listener.name=PLAINTEXT
log.dirs=$dir/data
num.partitions=4
default.replication.factor=1
min.insync.replicas=1
offsets.topic.replication.factor=1
offsets.topic.num.partitions=4
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
transaction.state.log.num.partitions=4
group.initial.rebalance.delay.ms=0
auto.create.topics.enable=false
log.retention.hours=168
log.segment.bytes=67108864
log.cleaner.dedupe.buffer.size=33554432
EOF
  if [ ! -f "$dir/data/meta.properties" ]; then
    local cluster_id
    cluster_id=$(kafka_java kafka.tools.StorageTool random-uuid)
    kafka_java kafka.tools.StorageTool format -t "$cluster_id" -c "$dir/server.properties" >/dev/null \
      || die "formatting the Kafka log folder failed"
  fi
  : >"$dir/log/server.log"
  say "starting Kafka $kafka_version with data in $dir"
  (exec_java=exec kafka_java kafka.Kafka "$dir/server.properties" </dev/null >"$dir/log/stdout.log" 2>&1 9>&- &
    echo $! >"$dir/pid")
  wait_until 120 "Kafka on 127.0.0.1:$kafka_port" kafka_ready || {
    tail -n 30 "$dir/log/server.log" "$dir/log/stdout.log" >&2 2>/dev/null || true
    die "Kafka did not start within 120s"
  }
}

# ---------------------------------------------------------------- stop, status

stop_one() {
  local name=$1 pidfile=$data/$1/pid
  if ! pid_alive "$pidfile"; then rm -f "$pidfile"; return 0; fi
  local pid
  pid=$(cat "$pidfile")
  say "stopping $name (pid $pid)"
  kill -TERM "$pid" 2>/dev/null || true
  local deadline=$((SECONDS + 60))
  while kill -0 "$pid" 2>/dev/null; do
    if [ $SECONDS -ge $deadline ]; then
      say "$name did not stop within 60s; killing it"
      kill -KILL "$pid" 2>/dev/null || true
      break
    fi
    sleep 0.5
  done
  rm -f "$pidfile"
}

status() {
  if kafka_ready; then echo "kafka      127.0.0.1:$kafka_port (ready)"; else echo "kafka      not running"; fi
  if ch_ready; then echo "clickhouse 127.0.0.1:$ch_port (ready)"; else echo "clickhouse not running"; fi
}

# ---------------------------------------------------------------- Chromium

# install_chromium installs Debian's chromium (and its driver) when it is missing: the web
# dashboard's test (e2e TestDashboard) drives it headless. Nothing is started here; the test
# starts its own browser.
install_chromium() {
  if command -v chromium >/dev/null; then return 0; fi
  command -v apt-get >/dev/null || die "chromium is not installed and there is no apt-get to install it"
  local sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  say "installing Debian's chromium and chromium-driver"
  $sudo apt-get update -qq >/dev/null || true
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq chromium chromium-driver >/dev/null \
    || die "Debian's chromium package cannot be installed (apt-get failed); the dashboard's browser test cannot run"
  command -v chromium >/dev/null || die "chromium is still missing after apt-get install"
  say "chromium is installed ($(command -v chromium))"
}

print_env() {
  echo "export METERLINE_KAFKA_BROKERS=127.0.0.1:$kafka_port"
  echo "export METERLINE_CLICKHOUSE_ADDR=127.0.0.1:$ch_port"
}

what=${2:-all}
case "${1:-}" in
start)
  mkdir -p "$data"
  # Test binaries of several packages may start the environment at once: one at a time.
  exec 9>"$data/.lock"
  flock 9
  case $what in
  kafka) start_kafka ;;
  clickhouse) start_clickhouse ;;
  chromium) install_chromium ;;
  all) start_clickhouse; start_kafka; install_chromium ;;
  *) die "start what? kafka, clickhouse, chromium or all" ;;
  esac
  print_env
  ;;
stop)
  case $what in
  kafka) stop_one kafka ;;
  clickhouse) stop_one clickhouse ;;
  all) stop_one kafka; stop_one clickhouse ;;
  *) die "stop what? kafka, clickhouse or all" ;;
  esac
  ;;
status) status ;;
env) print_env ;;
clean)
  stop_one kafka
  stop_one clickhouse
  rm -rf "$data"
  ;;
*)
  sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//'
  exit 2
  ;;
esac
