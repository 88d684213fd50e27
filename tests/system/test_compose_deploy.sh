#!/usr/bin/env bash
# The deployer in compose, as an owner uses it: the stack from a clean copy
# of the checkout, its images pulled from a registry (registry:2 on
# loopback, holding v1, v2 and a broken tag), and deploys asked for from the
# host's CLI and from Home Assistant's Install button. The deployer runs in
# its container and reaches Docker only through the socket proxy. What an
# owner would notice: the deploy's end state on the bus and the CLI's exit
# code, and the containers' images afterwards.
#
# verify is shortened in deploy/homebus.json (stable_s 10, timeout_s 60),
# as an owner may: the broken tag is rolled back after timeout_s.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
sys_engine_env

bin=${HB_BIN_DIR:-$sys_root/build/bin}
[[ -x $bin/homebus ]] || fail "build the checkout first ($bin/homebus)"
T=$(mktemp -d /tmp/hb-deploy.XXXXXX)
figures=$sys_run/figures-deploy.txt
: >"$figures"
reg=hb-system-registry
cleanup() {
	local rc=$?
	if [[ $rc != 0 && -d $T/homebus ]]; then
		docker ps -a --format '{{.Names}} {{.Image}} {{.Status}}' >&2
		(cd "$T/homebus" && docker compose logs --no-color --tail=25 deployer writer) >&2 2>&1 || true
		cat "$T"/deploy-*.log >&2 2>/dev/null || true
		docker logs homebus-deployer-restart 2>&1 | tail -n 15 >&2 || true
	fi
	(cd "$T/homebus" 2>/dev/null && docker compose down -v --remove-orphans >/dev/null 2>&1) || true
	docker rm -f "$reg" homebus-deployer-restart >/dev/null 2>&1 || true
	if [[ $rc = 0 || -z ${HBT_KEEP:-} ]]; then rm -rf "$T"; else say "kept $T"; fi
}
trap cleanup EXIT

# ---- a registry with v1, v2 and a tag whose writer cannot start ----------
rport=$(free_port)
docker rm -f "$reg" >/dev/null 2>&1 || true
docker run -d --name "$reg" -p "127.0.0.1:$rport:5000" registry:2 >/dev/null
R=127.0.0.1:$rport
wait_until 30 "the registry on $R" curl -fsS "http://$R/v2/"
docker build -q -t "$R/homebus:broken" - >/dev/null <<EOF
FROM homebus:test
USER root
RUN printf '#!/bin/sh\necho "homebus-writer: this release cannot start" >&2\nexit 1\n' >/usr/bin/homebus-writer
USER 10001:10001
EOF
for t in v1 v2; do
	docker tag homebus:test "$R/homebus:$t"
	docker tag homebus-deployer:test "$R/homebus-deployer:$t"
done
docker tag homebus-deployer:test "$R/homebus-deployer:broken"
for t in v1 v2 broken; do
	docker push -q "$R/homebus:$t" >/dev/null
	docker push -q "$R/homebus-deployer:$t" >/dev/null
done
# what the engine holds locally of v2 and broken goes: the deploy must pull them
docker rmi "$R/homebus:v2" "$R/homebus-deployer:v2" "$R/homebus:broken" \
	"$R/homebus-deployer:broken" >/dev/null
ok "registry $R holds homebus and homebus-deployer v1, v2 and broken"

# ---- the stack on v1 -------------------------------------------------------
mkdir -p "$T/homebus"
(cd "$sys_root" && git ls-files -z --cached --others --exclude-standard |
	xargs -0 tar -c --ignore-failed-read 2>/dev/null) | tar -x -C "$T/homebus"
cd "$T/homebus"
mqtt=$(free_port)
cat >.env <<EOF
HOMEBUS_IMAGE=$R/homebus
IMAGE_TAG=v1
HOMEBUS_MQTT_PORT=$mqtt
HOMEBUS_INFLUX_PORT=$(free_port)
HOMEBUS_HEALTH_PORT=$(free_port)
HOMEBUS_DEPLOYER_PORT=$(free_port)
HOMEBUS_GRAFANA_PORT=$(free_port)
HOMEBUS_DOCKER_SOCKET=${DOCKER_HOST#unix://}
EOF
deploy/compose-init.sh >"$T/init.log" || { cat "$T/init.log" >&2; fail "compose-init.sh failed"; }
jq '.deployer.verify.stable_s = 10 | .deployer.verify.timeout_s = 60' deploy/homebus.json >"$T/j" &&
	cat "$T/j" >deploy/homebus.json
docker compose up -d >"$T/up.log" 2>&1 || { cat "$T/up.log" >&2; fail "docker compose up -d failed"; }
healthy() {
	local s
	for s in writer ingest health notifier deployer; do
		[[ $(docker inspect -f '{{.State.Health.Status}}' "$(cid "$s")") = healthy ]] || return 1
	done
}
wait_until 90 "healthy containers on v1" healthy
ok "the stack runs v1"
# readings every backup from here on holds: a restore must bring them back
influx=http://127.0.0.1:$(sed -n 's/^HOMEBUS_INFLUX_PORT=//p' .env)
for i in $(seq 100); do echo "restore_probe,room=attic value=$i $((1700000000 + i))000000000"; done |
	curl -fsS -XPOST "$influx/write?db=homebus" --data-binary @- ||
	fail "100 readings into InfluxDB on $influx"

export HOMEBUS_CONFIG=$T/homebus/deploy/homebus.json
images_are() {	# tag: every deployed service's container runs HOMEBUS_IMAGE:tag
	local s
	for s in writer ingest health notifier; do
		[[ $(docker inspect -f '{{.Config.Image}}' "$(cid "$s")") = "$R/homebus:$1" ]] || return 1
	done
}

# ---- a deploy of v2 from the host's CLI ------------------------------------
t0=$SECONDS
rc=0
"$bin/homebus" deploy v2 --wait >"$T/deploy-v2.log" 2>&1 || rc=$?
[[ $rc = 0 ]] || fail "homebus deploy v2 --wait exited $rc: $(tail -n 5 "$T/deploy-v2.log")"
grep -q 'done' "$T/deploy-v2.log" || fail "deploy v2 did not end done: $(tail -n 3 "$T/deploy-v2.log")"
wait_until 30 "every service on $R/homebus:v2 after deploy v2" images_are v2
say "deploy v2: $(tail -n 1 "$T/deploy-v2.log")"
echo "deploy_v2_s $((SECONDS - t0))" >>"$figures"
deployer_on() { [[ $(docker inspect -f '{{.Config.Image}}' "$(cid deployer)") = "$R/homebus-deployer:$1" ]]; }
wait_until 90 "the deployer itself on v2 (deployer-restart)" deployer_on v2
ok "homebus deploy v2 --wait: done, pulled through the proxy, every service and the deployer on v2"

# ---- a broken tag: rolled back, the containers back on v2 ------------------
rc=0
"$bin/homebus" deploy broken --wait >"$T/deploy-broken.log" 2>&1 || rc=$?
[[ $rc = 1 ]] || fail "homebus deploy broken --wait exited $rc, not 1: $(tail -n 5 "$T/deploy-broken.log")"
grep -q 'rolled_back' "$T/deploy-broken.log" || fail "the broken deploy was not rolled back: $(tail -n 3 "$T/deploy-broken.log")"
wait_until 60 "the services back on v2" images_are v2
wait_until 60 "healthy containers after the rollback" healthy
ok "a tag whose writer cannot start is rolled back: rolled_back, every service on v2 and healthy"

# ---- Home Assistant's Install button ----------------------------------------
"$bin/homebus" available v1 >/dev/null
pw=$(cat deploy/secrets/homeassistant.password)
mosquitto_pub -h 127.0.0.1 -p "$mqtt" -u homeassistant -P "$pw" -q 1 \
	-t homebus/deploy/install -m nuc
state_done_v1() {
	mosquitto_sub -h 127.0.0.1 -p "$mqtt" -u cli -P "$(cat deploy/secrets/cli.password)" \
		-t homebus/deploy/state -C 1 -W 3 | python3 -c 'import json,sys
s=json.loads(sys.stdin.read())
sys.exit(0 if s.get("phase") == "done" and s.get("to_tag") == "v1" else 1)'
}
wait_until 180 "a done deploy of v1 after Install" state_done_v1
wait_until 60 "the services on v1" images_are v1
ok "Install, pressed as homeassistant, deployed the available version v1"

# ---- InfluxDB in the backups: a drill, then a restore -----------------------
# the deployer brings itself to v1 after Install's job: asked until it is back
wait_until 90 "the deployer itself on v1" deployer_on v1
drill() { rc=0; "$bin/homebus" backups --drill >"$T/drill.log" 2>&1 || rc=$?; [[ $rc != 3 ]]; }
wait_until 60 "a deployer online to take the drill" drill
[[ $rc = 0 ]] || fail "homebus backups --drill exited $rc: $(tail -n 5 "$T/drill.log")"
grep -q 'as counted at backup time' "$T/drill.log" ||
	fail "the drill did not restore InfluxDB's part aside: $(tail -n 5 "$T/drill.log")"
say "drill: $(grep -o 'influxdb: [^.]*' "$T/drill.log" | head -n 1)"
ok "homebus backups --drill: the SQLite copies and InfluxDB restored aside, counts as at backup time"
# the deployer may be replacing itself (deployer-restart) after the drill
listed() { "$bin/homebus" backups --json >"$T/backups.json" 2>/dev/null; }
wait_until 90 "the deployer's backups listed" listed
backup=$(jq -r '[.[] | select(.complete) | .name] | sort | last' "$T/backups.json")
[[ $backup = 20* ]] || fail "no complete backup listed: $backup"
docker exec "$(cid influxdb)" influx -database homebus -execute 'DROP MEASUREMENT restore_probe'
[[ $(influx_count "$influx" homebus 'SELECT count(value) FROM restore_probe') = 0 ]] ||
	fail "restore_probe was not dropped"
t0=$SECONDS
restore() { rc=0; "$bin/homebus" restore "$backup" --wait >"$T/restore.log" 2>&1 || rc=$?; [[ $rc != 3 ]]; }
wait_until 60 "a deployer online to take the restore" restore
[[ $rc = 0 ]] || fail "homebus restore $backup --wait exited $rc: $(tail -n 6 "$T/restore.log")"
grep -q 'done' "$T/restore.log" || fail "the restore did not end done: $(tail -n 4 "$T/restore.log")"
echo "restore_s $((SECONDS - t0))" >>"$figures"
n=$(influx_count "$influx" homebus 'SELECT count(value) FROM restore_probe')
[[ $n = 100 ]] || fail "after the restore restore_probe has $n readings, not 100"
grep -q 'restored: .*notifier-outbox.db' "$T/restore.log" ||
	fail "the CLI does not say which files were restored: $(tail -n 4 "$T/restore.log")"
wait_until 60 "healthy containers after the restore" healthy
ok "homebus restore $backup --wait: done in $((SECONDS - t0)) s, the dropped readings back in InfluxDB, the outbox restored, healthy"
