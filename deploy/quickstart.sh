#!/usr/bin/env bash
# The whole homebus stack on loopback with a demo feed, in one command.
#
# Installs what is missing (Debian 12, apt), builds, starts a mosquitto and
# an InfluxDB of its own on free loopback ports with their data under one
# folder, creates the database, starts every homebus service that is built
# with deploy/homebus.example.json (its health targets made this stack's
# own), starts deploy/demo-feed.sh, and shows a live status line until
# Ctrl-C. Then it stops everything it started and says where the data is
# and how to look at it.
#
#   deploy/quickstart.sh [--dir DIR] [--seconds N] [--no-build] [--bin-dir DIR]
#
#   --dir DIR      where the data goes (default .quickstart/ in the checkout)
#   --seconds N    stop by itself after N seconds (default: run until Ctrl-C)
#   --no-build     use the binaries already built (in --bin-dir, default build/bin)
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
dir=$root/.quickstart
seconds=0
build=1
bindir=$root/build/bin

while [ $# -gt 0 ]; do
  case $1 in
    --dir) dir=$2; shift 2 ;;
    --seconds) seconds=$2; shift 2 ;;
    --no-build) build=0; shift ;;
    --bin-dir) bindir=$2; shift 2 ;;
    -h|--help) sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "quickstart: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
done
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)
[ -d "$bindir" ] && bindir=$(cd "$bindir" && pwd)

runtime=(mosquitto mosquitto-clients influxdb influxdb-client curl jq)
buildtime=(cmake make gcc pkg-config libpaho-mqtt-dev libssl-dev
  libcurl4-openssl-dev libjansson-dev libsqlite3-dev libevent-dev zlib1g-dev nettle-dev)
if [ $build = 1 ]; then
  bash "$root/deploy/install-deps.sh" "${buildtime[@]}" "${runtime[@]}"
  echo "== building =="
  cmake -S "$root" -B "$root/build" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
  cmake --build "$root/build" -j "$(nproc 2>/dev/null || echo 2)" >/dev/null
else
  bash "$root/deploy/install-deps.sh" "${runtime[@]}"
fi

services=()
# the writer first and ingest after it, so that on the way out ingest stops
# (and sends what it packed) before the writer does
for s in writer ingest health notifier deployer; do
  [ -x "$bindir/homebus-$s" ] && services+=("$s")
done
if [ ${#services[@]} -eq 0 ]; then
  echo "quickstart: no homebus binaries in $bindir" >&2
  exit 1
fi

# A free loopback port, chosen at random below the kernel's ephemeral range
# (32768-60999 on Linux), which every outgoing connection and every "any
# free port" bind draws from: a port taken there in the meantime would
# otherwise be ours too.
used_ports=" "
free_port() {
  local p
  for _ in $(seq 1 200); do
    p=$((20000 + RANDOM % 12000))
    case $used_ports in *" $p "*) continue ;; esac
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
      used_ports="$used_ports$p "
      echo "$p"
      return 0
    fi
  done
  echo "quickstart: no free port found" >&2
  return 1
}

mq_port=$(free_port)
ix_port=$(free_port)
ix_rpc=$(free_port)
mkdir -p "$dir/mosquitto" "$dir/influxdb" "$dir/homebus" "$dir/logs"

cat >"$dir/mosquitto/mosquitto.conf" <<EOF
# written by deploy/quickstart.sh: loopback only, no passwords; the
# durability settings of deploy/mosquitto.conf
listener $mq_port 127.0.0.1
allow_anonymous true
persistence true
persistence_location $dir/mosquitto/
autosave_interval 60
max_queued_messages 2000000
max_queued_bytes 1073741824
queue_qos0_messages true
max_inflight_messages 1000
set_tcp_nodelay true
log_dest file $dir/logs/mosquitto.log
EOF
[ "$(id -u)" = 0 ] && echo "user root" >>"$dir/mosquitto/mosquitto.conf"

cat >"$dir/influxdb/influxdb.conf" <<EOF
# written by deploy/quickstart.sh
reporting-disabled = true
bind-address = "127.0.0.1:$ix_rpc"
[meta]
  dir = "$dir/influxdb/meta"
[data]
  dir = "$dir/influxdb/data"
  wal-dir = "$dir/influxdb/wal"
  query-log-enabled = false
[http]
  bind-address = "127.0.0.1:$ix_port"
  log-enabled = false
[monitor]
  store-enabled = false
[logging]
  level = "warn"
EOF

pids=()
names=()
start() {	# name logfile command...
  local name=$1 log=$2
  shift 2
  "$@" >>"$log" 2>&1 &
  pids+=($!)
  names+=("$name")
}

stopped=0
stop_all() {
  [ $stopped = 1 ] && return
  stopped=1
  trap - INT TERM
  echo
  echo "== stopping =="
  # the demo feed and the services first (the writer sends or spools what it
  # holds), the servers last
  local i
  for ((i = ${#pids[@]} - 1; i >= 0; i--)); do
    kill -TERM "${pids[$i]}" 2>/dev/null || true
    for _ in $(seq 1 100); do
      kill -0 "${pids[$i]}" 2>/dev/null || break
      sleep 0.1
    done
    if kill -0 "${pids[$i]}" 2>/dev/null; then
      echo "  ${names[$i]} did not stop in 10 s; killing it"
      kill -KILL "${pids[$i]}" 2>/dev/null || true
    fi
    wait "${pids[$i]}" 2>/dev/null || true
  done
  cat <<EOF
Everything is stopped. The data is in $dir:
  influxdb/   the points (database homebus)
  homebus/    the services' state (the writer's spool, ...)
  logs/       every log
To look at the points, start InfluxDB on its data again and query it:
  influxd -config $dir/influxdb/influxdb.conf &
  influx -port $ix_port -database homebus -execute 'SHOW MEASUREMENTS'
  influx -port $ix_port -database homebus -execute 'SELECT * FROM zigbee ORDER BY time DESC LIMIT 5'
Run deploy/quickstart.sh again to go on where it stopped.
EOF
}
trap 'stop_all; exit 0' INT TERM
trap 'stop_all' EXIT

wait_port() {	# port name
  for _ in $(seq 1 300); do
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
    sleep 0.1
  done
  echo "quickstart: $2 did not start on port $1; see $dir/logs/$2.log" >&2
  exit 1
}

echo "== starting mosquitto (127.0.0.1:$mq_port) and InfluxDB (127.0.0.1:$ix_port) =="
start mosquitto "$dir/logs/mosquitto.log" mosquitto -c "$dir/mosquitto/mosquitto.conf"
start influxd "$dir/logs/influxd.log" influxd -config "$dir/influxdb/influxdb.conf"
wait_port "$mq_port" mosquitto
wait_port "$ix_port" influxd
for _ in $(seq 1 100); do
  curl -sf -XPOST "http://127.0.0.1:$ix_port/query" \
    --data-urlencode "q=CREATE DATABASE homebus" >/dev/null && break
  sleep 0.2
done

# deploy/homebus.example.json pointed at this stack: its broker, InfluxDB,
# folder and ports written in (a second terminal's `homebus` reads the same
# file through HOMEBUS_CONFIG), the health watcher looking at what this
# stack runs (its own InfluxDB, the disk under its folder, its broker and
# its services; not the example's Home Assistant, systemd unit and
# container, which are not part of it), and a deployer whose steps only say
# what they would do, so that `homebus deploy` goes through every phase (it
# verifies InfluxDB and the broker: the services, never restarted, would
# fail "not restarted since up")
expected=()
for s in "${services[@]}"; do
  [ "$s" != health ] && expected+=("$s")
done
declare -A http_port
ports='{}'
for s in "${services[@]}"; do
  http_port[$s]=$(free_port)
  ports=$(jq --arg s "$s" --argjson p "${http_port[$s]}" '.[$s] = $p' <<<"$ports")
done
mkdir -p "$dir/homebus/deploy"
config=$dir/homebus.json
jq --arg ping "http://127.0.0.1:$ix_port/ping" --arg data "$dir" \
  --arg influx "http://127.0.0.1:$ix_port" --argjson mq "$mq_port" \
  --argjson ports "$ports" \
  --argjson expected "$(printf '%s\n' "${expected[@]}" | jq -R . | jq -s .)" '
  .data_dir = ($data + "/homebus")
  | .log.format = "text"
  | .bus.host = "127.0.0.1" | .bus.port = $mq
  | .writer.influx.url = $influx
  | reduce ($ports | to_entries[]) as $e (.; .[$e.key].http_port = $e.value)
  | .health.expected_services = $expected
  | .health.targets |= [.[]
      | select(.name == "influxdb" or .type == "disk" or .type == "mqtt")
      | if .name == "influxdb" then .url = $ping
        elif .type == "disk" then .path = $data | .min_free_mb = 256
          | .warn_free_mb = 1024
        else . end]
  | .deployer.workdir = ($data + "/homebus/deploy")
  | .deployer.compose_file = "compose.yml"
  | .deployer.backup_dir = ($data + "/homebus/backups")
  | .deployer.sqlite_backups = []
  | .deployer.min_free_mb = 64
  | .deployer.steps = {
      pull: {argv: ["echo", "quickstart: would pull", "{tag}"], timeout_s: 10},
      backup: {argv: ["mkdir", "-p", "{backup_dir}"], timeout_s: 10},
      up: {argv: ["echo", "quickstart: would start", "{tag}"], timeout_s: 10},
      restore: {argv: ["echo", "quickstart: would restore", "{backup_dir}"],
        timeout_s: 10}}
  | .deployer.verify = {targets: ["influxdb", "broker"], timeout_s: 60,
      stable_s: 3, interval_s: 1}' \
  "$root/deploy/homebus.example.json" >"$config"

echo "== starting ${services[*]} =="
for s in "${services[@]}"; do
  start "$s" "$dir/logs/$s.log" "$bindir/homebus-$s" -c "$config"
done
for s in "${services[@]}"; do
  wait_port "${http_port[$s]}" "$s"
done
echo "== starting the demo feed (zigbee2mqtt, Home Assistant statestream, Tasmota) =="
start demo-feed "$dir/logs/demo-feed.log" bash "$root/deploy/demo-feed.sh" 127.0.0.1 "$mq_port"

metric() {	# service name
  curl -s --max-time 2 "http://127.0.0.1:${http_port[$1]}/metrics" 2>/dev/null |
    awk -v n="$2" '$1 == n { print $2; exit }'
}
health() {	# service
  local code
  code=$(curl -s -o /dev/null --max-time 2 -w '%{http_code}' \
    "http://127.0.0.1:${http_port[$1]}/health" 2>/dev/null) || true
  case $code in 200) echo ok ;; 503) echo DOWN ;; *) echo "?" ;; esac
}
num() { printf '%.0f' "${1:-0}" 2>/dev/null || echo 0; }

if [ -n "${http_port[health]:-}" ]; then
  echo "Status page: http://127.0.0.1:${http_port[health]}/ (every target, its state and the last hour)"
fi
cat <<EOF
In a second terminal, the command line on this stack:
  export HOMEBUS_CONFIG=$config PATH=$bindir:\$PATH
  homebus status; homebus tail 'homebus/#'; homebus deploy 2026.12.1 --wait
EOF
echo "Live status (Ctrl-C stops everything); logs in $dir/logs/"
tty=0
[ -t 1 ] && tty=1
started=$SECONDS
last_in=0 last_out=0 last_t=$SECONDS
# not on a terminal: a line every 5 s at most, the first at once (a loaded
# machine takes more than a second a round, so a multiple of 5 may never come)
last_print=$((SECONDS - 5))
while :; do
  sleep 1
  now=$SECONDS
  in_total=$(num "$(metric ingest homebus_ingest_points_published_total)")
  out_total=$(num "$(metric writer homebus_writer_points_written_total)")
  spool=$(num "$(metric writer homebus_writer_spool_points)")
  dt=$((now - last_t)); [ $dt -lt 1 ] && dt=1
  states=""
  for s in "${services[@]}"; do states="$states $s:$(health "$s")"; done
  line=$(printf 'in %5d pts/s  written %5d pts/s  total %8d  spool %6d  |%s' \
    $(((in_total - last_in) / dt)) $(((out_total - last_out) / dt)) \
    "$out_total" "$spool" "$states")
  if [ $tty = 1 ]; then
    printf '\r%s ' "$line"
  elif (( now - last_print >= 5 )); then
    echo "$line"
    last_print=$now
  fi
  last_in=$in_total last_out=$out_total last_t=$now
  if [ "$seconds" -gt 0 ] && [ $((now - started)) -ge "$seconds" ]; then
    break
  fi
done

echo
if [ -n "${http_port[health]:-}" ]; then
  curl -s --max-time 2 "http://127.0.0.1:${http_port[health]}/health" 2>/dev/null |
    jq -r '.targets // {} | to_entries | length as $n
      | [.[] | select(.value != "ok") | "\(.key) \(.value)"]
      | if length == 0 then "Health: all \($n) targets ok"
        else "Health: not ok: " + join(", ") end' 2>/dev/null || true
fi
measurements=$(curl -s -G "http://127.0.0.1:$ix_port/query" --data-urlencode "db=homebus" \
  --data-urlencode "q=SHOW MEASUREMENTS" | sed -n 's/.*"values":\[\(.*\)\]}\].*/\1/p' |
  grep -o '\["[^]]*"\]' | tr -d '[]"' | paste -sd, -)
echo "InfluxDB holds $out_total points written by homebus, in: ${measurements:-nothing yet}"
stop_all
