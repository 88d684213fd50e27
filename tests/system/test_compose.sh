#!/usr/bin/env bash
# The compose install as an owner runs it, on a real engine: a clean copy of
# the checkout, deploy/compose-init.sh, `docker compose up -d`, the demo feed,
# the host's `homebus` CLI with the credentials compose-init made, and then
# what an owner would notice: containers healthy, points in InfluxDB, nothing
# lost across a broker restart, a killed writer, a down/up; memory under a
# burst within each limit; no container as root, no read-only-root error.
# The deployer's own deploys through the socket proxy: test_compose_deploy.sh.
#
# Figures (time to healthy, memory) go to $HB_SYSTEM_RUN/figures-compose.txt.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
sys_engine_env

bin=${HB_BIN_DIR:-$sys_root/build/bin}
[[ -x $bin/homebus && -x $bin/bench_loadgen ]] || fail "build the checkout first ($bin/homebus, bench_loadgen)"
T=$(mktemp -d /tmp/hb-compose.XXXXXX)
figures=$sys_run/figures-compose.txt
: >"$figures"
feed=""
cleanup() {
	local rc=$?
	[[ -z $feed ]] || kill "$feed" 2>/dev/null || true
	if [[ $rc != 0 && -d $T/homebus ]]; then
		(cd "$T/homebus" && docker compose ps -a && docker compose logs --no-color --tail=15) >&2 2>&1 || true
	fi
	(cd "$T/homebus" 2>/dev/null && docker compose down -v --remove-orphans >/dev/null 2>&1) || true
	if [[ $rc = 0 || -z ${HBT_KEEP:-} ]]; then rm -rf "$T"; else say "kept $T"; fi
}
trap cleanup EXIT

# ---- a clean copy of the checkout, as an owner has it --------------------
say "copying the checkout to $T/homebus"
mkdir -p "$T/homebus"
(cd "$sys_root" && git ls-files -z --cached --others --exclude-standard |
	xargs -0 tar -c --ignore-failed-read 2>/dev/null) | tar -x -C "$T/homebus"
cd "$T/homebus"
mqtt=$(free_port) influx=$(free_port) healthp=$(free_port) grafana=$(free_port)
cat >.env <<EOF
IMAGE_TAG=test
HOMEBUS_MQTT_PORT=$mqtt
HOMEBUS_INFLUX_PORT=$influx
HOMEBUS_HEALTH_PORT=$healthp
HOMEBUS_DEPLOYER_PORT=$(free_port)
HOMEBUS_GRAFANA_PORT=$grafana
HOMEBUS_DOCKER_SOCKET=${DOCKER_HOST#unix://}
EOF
deploy/compose-init.sh >"$T/init.log" || { cat "$T/init.log" >&2; fail "compose-init.sh failed"; }
ok "compose-init made the secrets, the broker's files and deploy/homebus.json"
for f in deploy/secrets/mosquitto.passwd deploy/secrets/mosquitto.acl deploy/secrets/cli.password \
	deploy/secrets/homeassistant.password; do
	[[ $(stat -c %a "$f") = 600 ]] || fail "$f is mode $(stat -c %a "$f"), not 0600"
done
for u in cli homeassistant zigbee2mqtt tasmota statestream writer; do
	grep -q "^$u:" deploy/secrets/mosquitto.passwd || fail "the broker's password file has no $u"
done

# ---- up: every homebus container healthy, the broker without errors -----
t0=$SECONDS
docker compose up -d >"$T/up.log" 2>&1 || { cat "$T/up.log" >&2; fail "docker compose up -d failed"; }
homebus_services=(writer ingest health notifier deployer)
all_healthy() {
	local s st
	for s in "${homebus_services[@]}" mosquitto; do
		st=$(docker inspect -f '{{.State.Health.Status}}' "$(cid "$s")") || return 1
		[[ $st = healthy ]] || return 1
	done
}
wait_until 60 "healthy containers (docker compose ps)" all_healthy
ok "every homebus container and the broker healthy $((SECONDS - t0)) s after up"
echo "time_to_healthy_s $((SECONDS - t0))" >>"$figures"

# ---- the demo feed, from the LAN side, as the devices' own users ---------
HOMEBUS_DEMO_SECRETS=deploy/secrets deploy/demo-feed.sh 127.0.0.1 "$mqtt" >"$T/feed.log" 2>&1 &
feed=$!
iurl=http://127.0.0.1:$influx
demo_landed() {
	[[ $(influx_count "$iurl" homebus 'SELECT count("temperature") FROM "zigbee"') -gt 0 ]] &&
	[[ $(influx_count "$iurl" homebus 'SELECT count("value") FROM "°C"') -gt 0 ]]
}
wait_until 60 "demo feed points (zigbee, °C) in InfluxDB" demo_landed
ok "the demo feed's zigbee2mqtt and Home Assistant points are in InfluxDB"
kill "$feed"; feed=""

# ---- the CLI on the host, with what compose-init made --------------------
export HOMEBUS_CONFIG=$T/homebus/deploy/homebus.json
"$bin/homebus" status >"$T/status.log" 2>&1 || { cat "$T/status.log" >&2; fail "homebus status failed"; }
grep -q writer "$T/status.log" || { cat "$T/status.log" >&2; fail "homebus status does not show the writer"; }
ok "homebus status from the host, as user cli"

# ---- no container as root; no read-only-root error -----------------------
for s in "${homebus_services[@]}"; do
	uid=$(docker exec "$(cid "$s")" id -u)
	[[ $uid != 0 ]] || fail "$s runs as root"
done
ok "no homebus container runs as root"

# ---- the broker keeps what it queued across a restart --------------------
pw() { cat "deploy/secrets/$1.password"; }
pub_points() {	# measurement count (QoS 1, one message a point, as user homeassistant)
	local i base=1700000000000000000
	for ((i = 1; i <= $2; i++)); do
		echo "$1,run=sys n=${i}i $((base + i))"
	done | mosquitto_pub -h 127.0.0.1 -p "$mqtt" -u homeassistant -P "$(pw homeassistant)" \
		-V mqttv5 -q 1 -t "homebus/points/$1" -l
}
count() { influx_count "$iurl" homebus "SELECT count(\"${2:-n}\") FROM \"$1\""; }	# measurement [field]
docker compose stop writer >/dev/null 2>&1
pub_points sys_persist 1000
docker compose restart mosquitto >/dev/null 2>&1
# back when it answers a CONNECT again (its healthcheck says so only at its
# next interval)
broker_answers() {
	local out
	out=$(mosquitto_sub -h 127.0.0.1 -p "$mqtt" -t x -C 1 -W 1 2>&1) || true
	[[ $out == *"not authori"* ]]
}
wait_until 30 "the broker answering after its restart" broker_answers
docker compose start writer >/dev/null 2>&1
n_is() { [[ $(count "$1" "${3:-n}") = "$2" ]]; }	# measurement n [field]
wait_until 60 "1,000 points of sys_persist (have $(count sys_persist))" n_is sys_persist 1000
ok "1,000 points queued while the writer was stopped survive a broker restart"
if docker compose logs mosquitto 2>&1 | grep -qi 'permission denied\|error saving'; then
	docker compose logs mosquitto | grep -i 'error' | tail -n 5 >&2
	fail "the broker logs an error saving its data"
fi

# ---- a writer killed under load: at most the commit window lost ----------
wid=$(cid writer)
pid0=$(docker inspect -f '{{.State.Pid}}' "$wid")
peak_file=$T/peak
sample_peaks() {	# container memory peaks from the cgroup (v1) while the load runs
	local s id f
	while :; do
		for s in "${homebus_services[@]}"; do
			id=$(cid "$s") || continue
			f=/sys/fs/cgroup/memory/docker/$id/memory.max_usage_in_bytes
			[[ -r $f ]] && echo "$s $(cat "$f")"
		done
		sleep 0.5
	done >>"$peak_file"
}
sample_peaks &
sampler=$!
"$bin/bench_loadgen" -p "$mqtt" -u homeassistant -P deploy/secrets/homeassistant.password \
	-t homebus/points/sys_kill -m sys_kill -n 10000 -r 500 -q 1 >"$T/load.log" 2>&1 &
load=$!
sleep 6
# a crash, as the kernel's OOM killer or a segfault ends it: the engine's
# restart policy must bring it back (`docker kill` would not do: Docker
# counts it as a stop by hand, which unless-stopped leaves stopped)
kill -KILL "$pid0"
wait "$load" || { cat "$T/load.log" >&2; fail "the load generator failed"; }
acked=$(sed -n 's/.*acked=\([0-9]*\).*/\1/p' "$T/load.log")
restarted() { [[ $(docker inspect -f '{{.State.Pid}}' "$wid") != "$pid0" && $(docker inspect -f '{{.State.Running}}' "$wid") = true ]]; }
wait_until 30 "the writer running again after SIGKILL (restart: unless-stopped)" restarted
settled() { local a; a=$(count sys_kill seq); sleep 2; [[ $(count sys_kill seq) = "$a" && $a -gt 0 ]]; }
wait_until 60 "sys_kill points settling in InfluxDB" settled
got=$(count sys_kill seq)
# commit_ms (the writer's window, 1 s by default) at 500 points/s, with the
# batch in flight: at most 1,000 of what the broker acknowledged
lost=$((acked - got))
say "writer SIGKILLed at 500 points/s: acked $acked, in InfluxDB $got, lost $lost"
echo "writer_sigkill_acked $acked landed $got" >>"$figures"
[[ $lost -le 1000 ]] || fail "lost $lost of $acked acknowledged points to a SIGKILL (more than the commit window)"
ok "a writer killed under load loses at most the commit window, and the engine restarts it"

# ---- a burst: every container's peak memory within its limit ------------
"$bin/bench_loadgen" -p "$mqtt" -u homeassistant -P deploy/secrets/homeassistant.password \
	-t homebus/points/sys_burst -m sys_burst -n 100000 -l 100 -q 1 >"$T/burst.log" 2>&1 ||
	{ cat "$T/burst.log" >&2; fail "the burst failed"; }
wait_until 120 "100,000 burst points in InfluxDB" n_is sys_burst 100000 seq
kill "$sampler" 2>/dev/null || true
for s in "${homebus_services[@]}"; do
	limit=$(docker inspect -f '{{.HostConfig.Memory}}' "$(cid "$s")")
	peak=$(awk -v s="$s" '$1 == s && $2 > m { m = $2 } END { print m + 0 }' "$peak_file")
	say "$s: peak $((peak / 1024)) KiB of $((limit / 1024)) KiB"
	echo "peak_kib $s $((peak / 1024)) limit_kib $((limit / 1024))" >>"$figures"
	[[ $peak -gt 0 ]] || fail "no memory figure for $s"
	[[ $peak -lt $limit ]] || fail "$s reached its memory limit"
done
ok "under a burst of 100,000 points every container stays below its memory limit"

# ---- down, then up: the volumes keep everything ---------------------------
before=$(count sys_burst seq)
docker compose down >/dev/null 2>&1
docker compose up -d >/dev/null 2>&1
wait_until 60 "healthy containers after down/up" all_healthy
pub_points sys_after 100
wait_until 60 "100 points after down/up" n_is sys_after 100
[[ $(count sys_burst seq) = "$before" && $(count sys_persist) = 1000 ]] || fail "points lost across down/up"
ok "down then up -d: every point kept, new ones land"

if docker compose logs "${homebus_services[@]}" mosquitto 2>&1 | grep -i 'read-only file system'; then
	fail "a container logs a write refused by its read-only root"
fi
ok "no log shows a write refused by a read-only root"
