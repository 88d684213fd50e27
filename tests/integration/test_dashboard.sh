#!/usr/bin/env bash
# The Grafana dashboard against what the stack really writes: the quickstart
# (deploy/homebus.example.json as it is, the demo feed) with heartbeats and
# health checks every second, then InfluxDB started again on its data, one
# real deploy by the real deployer (the native profile: test_native_deploy
# dashboard) whose homebus_deploy point a real writer puts there, and every
# measurement, field and tag the dashboard queries looked up in it
# (check_packaging.py dashboard).
#
#   test_dashboard.sh BIN_DIR TESTS_DIR
set -uo pipefail
bindir=${1:?bin dir}
testsdir=${2:?tests dir}
root=$(cd "$(dirname "$0")/../.." && pwd)
tmp=$(mktemp -d /tmp/hbt-dashboard-XXXXXX)
py=/usr/bin/python3
[ -x $py ] || py=python3
influxd_pid=""
cleanup() { [ -n "$influxd_pid" ] && kill "$influxd_pid" 2>/dev/null && wait "$influxd_pid" 2>/dev/null; }
trap cleanup EXIT

HOMEBUS_BUS_HEARTBEAT_S=1 HOMEBUS_HEALTH_INTERVAL_S=1 HOMEBUS_HEALTH_TIMEOUT_MS=500 \
  bash "$root/deploy/quickstart.sh" --no-build --bin-dir "$bindir" --dir "$tmp/qs" \
  --seconds 10 >"$tmp/quickstart.log" 2>&1
rc=$?
if [ $rc != 0 ]; then
  tail -30 "$tmp/quickstart.log"
  echo "FAIL: the quickstart exits 0 ($rc); kept $tmp"
  echo "0 passed, 1 failed"
  exit 1
fi
conf=$tmp/qs/influxdb/influxdb.conf
port=$(sed -n '/^\[http\]/,/^\[/ s/.*bind-address = "127.0.0.1:\([0-9]*\)".*/\1/p' "$conf")
influxd -config "$conf" >"$tmp/influxd.log" 2>&1 &
influxd_pid=$!
for _ in $(seq 1 300); do
  curl -sf "http://127.0.0.1:$port/ping" >/dev/null && break
  sleep 0.1
done
# a deploy, whose outcome the deployer writes as a homebus_deploy point
HBT_BIN_DIR=$bindir "$testsdir/test_native_deploy" dashboard "http://127.0.0.1:$port" \
  >"$tmp/deploy.log" 2>&1
rc=$?
if [ $rc != 0 ]; then
  tail -40 "$tmp/deploy.log"
  echo "FAIL: a deploy by the real deployer, its point in InfluxDB ($rc); kept $tmp"
  echo "0 passed, 1 failed"
  exit 1
fi
echo "ok: a deploy by the real deployer wrote its homebus_deploy point"
$py "$root/tests/integration/check_packaging.py" dashboard "http://127.0.0.1:$port" homebus
rc=$?
if [ $rc = 0 ]; then rm -rf "$tmp"; else echo "kept $tmp"; fi
exit $rc
