#!/bin/bash
# The official image's first start: with INFLUXDB_DB (and the user
# variables), influxd is started on loopback, told what to create, stopped.
set -e
[ -d /var/lib/influxdb/meta ] && exit 0
[ -n "${INFLUXDB_DB:-}${INFLUXDB_ADMIN_USER:-}${INFLUXDB_USER:-}" ] || exit 0
INFLUXDB_HTTP_BIND_ADDRESS=127.0.0.1:8086 INFLUXDB_HTTP_HTTPS_ENABLED=false \
	influxd "$@" &
pid=$!
for _ in $(seq 60); do
	curl -fsS -o /dev/null http://127.0.0.1:8086/ping && break
	sleep 0.5
done
q() { influx -host 127.0.0.1 -port 8086 -execute "$1"; }
[ -n "${INFLUXDB_DB:-}" ] && q "CREATE DATABASE \"$INFLUXDB_DB\""
if [ -n "${INFLUXDB_ADMIN_USER:-}" ]; then
	q "CREATE USER \"$INFLUXDB_ADMIN_USER\" WITH PASSWORD '${INFLUXDB_ADMIN_PASSWORD:?}' WITH ALL PRIVILEGES"
fi
if [ -n "${INFLUXDB_USER:-}" ]; then
	q "CREATE USER \"$INFLUXDB_USER\" WITH PASSWORD '${INFLUXDB_USER_PASSWORD:?}'"
	[ -n "${INFLUXDB_DB:-}" ] && q "GRANT ALL ON \"$INFLUXDB_DB\" TO \"$INFLUXDB_USER\""
fi
kill -s TERM "$pid"
wait "$pid" || true
