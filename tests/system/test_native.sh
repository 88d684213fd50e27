#!/usr/bin/env bash
# The native install as an owner runs it, under a real systemd: a Debian 12
# host (systemd as PID 1 in a container, Debian's mosquitto and InfluxDB as
# its services), `deploy/install.sh --mosquitto` from the checkout, then the
# steps it prints. What an owner would notice: every unit active, a hung
# service restarted by the watchdog, the first deploy of a packed release
# done, a broken release rolled back to the version that ran with `current`
# pointing back, a deployer stopped in the middle of a deploy finishing it
# at its next start. `systemd-analyze security` of each unit goes to
# $HB_SYSTEM_RUN/figures-native.txt.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
sys_engine_env

bin=${HB_BIN_DIR:-$sys_root/build/bin}
[[ -x $bin/homebus-writer ]] || fail "build the checkout first ($bin)"
host=hb-system-native
figures=$sys_run/figures-native.txt
: >"$figures"
cleanup() {
	local rc=$?
	if [[ $rc != 0 ]]; then
		docker exec "$host" systemctl --no-pager --failed >&2 2>&1 || true
		docker exec "$host" journalctl --no-pager -n 40 -u 'homebus-*' >&2 2>&1 || true
	fi
	[[ -n ${HBT_KEEP:-} && $rc != 0 ]] || docker rm -f "$host" >/dev/null 2>&1 || true
}
trap cleanup EXIT
in_host() { docker exec "$host" "$@"; }

docker rm -f "$host" >/dev/null 2>&1 || true
docker run -d --name "$host" --hostname nuc \
	--cap-add SYS_ADMIN --cap-add NET_ADMIN --cap-add SYS_PTRACE \
	--security-opt seccomp=unconfined --security-opt apparmor=unconfined \
	--tmpfs /run --tmpfs /run/lock --tmpfs /tmp -v /sys/fs/cgroup:/sys/fs/cgroup:ro \
	-v "$sys_root:/src:ro" -v "$bin:/homebus-build/bin:ro" \
	homebus-systemd-host /sbin/init >/dev/null
booted() { [[ $(in_host systemctl is-system-running 2>/dev/null) =~ ^(running|degraded)$ ]]; }
wait_until 60 "systemd running in $host" booted
ok "systemd $(in_host systemctl --version | head -n 1 | cut -d' ' -f2) is PID 1, mosquitto and influxdb are its services"

# ---- install.sh, then the steps it prints ---------------------------------
in_host /src/deploy/install.sh --mosquitto --tag v1 --build-dir /homebus-build >"$sys_run/native-install.log" 2>&1 ||
	{ tail -n 20 "$sys_run/native-install.log" >&2; fail "install.sh --mosquitto failed"; }
grep -q 'Start them: systemctl enable --now' "$sys_run/native-install.log" ||
	fail "install.sh printed no start step: $(tail -n 12 "$sys_run/native-install.log")"
! grep -q 'mosquitto_passwd' "$sys_run/native-install.log" ||
	fail "install.sh --mosquitto still asks the owner to make broker passwords"
in_host influx -execute 'CREATE DATABASE homebus'
# readings every backup from here on holds: a restore must bring them back
in_host sh -c 'for i in $(seq 100); do echo "restore_probe,room=attic value=$i $((1700000000 + i))000000000"; done |
	curl -fsS -XPOST "http://127.0.0.1:8086/write?db=homebus" --data-binary @-' ||
	fail "100 readings into the host's InfluxDB"
# a quick verify, as an owner may set it, and the health watcher's targets
# on this host (no Home Assistant, no Grafana here)
in_host sh -c 'jq ".deployer.verify.stable_s = 5 | .deployer.verify.timeout_s = 45
	| .health.targets |= map(select(.name != \"home-assistant\" and .name != \"grafana\"))" \
	/etc/homebus/homebus.json >/tmp/j && cat /tmp/j >/etc/homebus/homebus.json'
in_host /opt/homebus/current/bin/homebus-writer --check-config -c /etc/homebus/homebus.json >/dev/null ||
	fail "the configuration install.sh made does not check"
start=$(sed -n 's/.*Start them: //p' "$sys_run/native-install.log")
in_host sh -c "$start" >/dev/null 2>&1 || fail "the printed start step failed: $start"
units=(writer ingest health notifier deployer)
all_active() {
	local u
	for u in "${units[@]}"; do in_host systemctl is-active --quiet "homebus-$u" || return 1; done
}
wait_until 30 "every homebus unit active" all_active
ok "install.sh --mosquitto --tag v1 and its printed steps: every unit active"
status_ok() { in_host homebus status >"$sys_run/native-status.log" 2>&1; }
wait_until 60 "homebus status answering ($(tail -n 1 "$sys_run/native-status.log" 2>/dev/null))" status_ok
ok "homebus status with the account install.sh made"

# ---- the watchdog: a hung writer is killed and started again ---------------
pid0=$(in_host systemctl show -p MainPID --value homebus-writer)
in_host kill -STOP "$pid0"
replaced() {
	local p
	p=$(in_host systemctl show -p MainPID --value homebus-writer)
	[[ $p != 0 && $p != "$pid0" ]] && in_host systemctl is-active --quiet homebus-writer
}
wait_until 90 "the hung writer restarted by the watchdog (WatchdogSec=30)" replaced
ok "a SIGSTOPped writer is killed by the watchdog and running again"

# ---- the first deploy of a packed release -----------------------------------
in_host /opt/homebus/libexec/homebus-release pack /homebus-build/bin v2 /opt/homebus/dist >/dev/null
rc=0
in_host homebus deploy v2 --wait >"$sys_run/native-deploy-v2.log" 2>&1 || rc=$?
[[ $rc = 0 ]] || fail "homebus deploy v2 --wait exited $rc: $(tail -n 6 "$sys_run/native-deploy-v2.log")"
[[ $(in_host readlink /opt/homebus/current) = releases/v2 ]] || fail "current does not point at releases/v2"
say "deploy v2: $(tail -n 1 "$sys_run/native-deploy-v2.log")"
ok "the first deploy of a packed release ends done, current -> releases/v2"

# ---- a broken release: rolled back to v2 -------------------------------------
in_host sh -c 'rm -rf /var/tmp/v3 && cp -r /homebus-build/bin /var/tmp/v3 && cat >/var/tmp/v3/homebus-writer <<"EOF"
#!/bin/sh
# a release whose writer passes the checks and exits at start
case "$1" in
--version) echo "homebus-writer 0.1.0"; exit 0 ;;
--check-config) echo "configuration OK"; exit 0 ;;
esac
echo "homebus-writer: this release cannot start" >&2
exit 1
EOF
chmod 0755 /var/tmp/v3/homebus-writer && /opt/homebus/libexec/homebus-release pack /var/tmp/v3 v3 /opt/homebus/dist >/dev/null'
rc=0
in_host homebus deploy v3 --wait >"$sys_run/native-deploy-v3.log" 2>&1 || rc=$?
[[ $rc = 1 ]] || fail "homebus deploy v3 --wait exited $rc, not 1: $(tail -n 6 "$sys_run/native-deploy-v3.log")"
grep -q rolled_back "$sys_run/native-deploy-v3.log" || fail "v3 was not rolled back: $(tail -n 4 "$sys_run/native-deploy-v3.log")"
[[ $(in_host readlink /opt/homebus/current) = releases/v2 ]] || fail "current does not point back at releases/v2"
wait_until 30 "every unit active after the rollback" all_active
ok "a release whose writer exits at start is rolled back: current -> releases/v2, every unit active"

# ---- InfluxDB in the backups: a drill, then a restore -------------------------
probes() { in_host influx -database homebus -format csv -execute 'SELECT count(value) FROM restore_probe' | sed -n '2s/.*,//p'; }
# the deployer restarts itself after each job: asked until it takes it
drill() { rc=0; in_host homebus backups --drill >"$sys_run/native-drill.log" 2>&1 || rc=$?; [[ $rc != 3 ]]; }
wait_until 60 "a deployer online to take the drill" drill
[[ $rc = 0 ]] && grep -q 'as counted at backup time' "$sys_run/native-drill.log" ||
	fail "homebus backups --drill exited $rc: $(tail -n 5 "$sys_run/native-drill.log")"
ok "homebus backups --drill: InfluxDB's part restored aside, counts as at backup time"
listed() { in_host homebus backups --json >"$sys_run/native-backups.json" 2>/dev/null; }
wait_until 60 "the deployer's backups listed" listed
backup=$(jq -r '[.[] | select(.complete) | .name] | sort | last' "$sys_run/native-backups.json")
[[ $backup = 20* ]] || fail "no complete backup listed: $backup"
in_host influx -database homebus -execute 'DROP MEASUREMENT restore_probe'
[[ -z $(probes) ]] || fail "restore_probe was not dropped: $(probes)"
restore() { rc=0; in_host homebus restore "$backup" --wait >"$sys_run/native-restore.log" 2>&1 || rc=$?; [[ $rc != 3 ]]; }
wait_until 60 "a deployer online to take the restore" restore
[[ $rc = 0 ]] || fail "homebus restore $backup --wait exited $rc: $(tail -n 6 "$sys_run/native-restore.log")"
[[ $(probes) = 100 ]] || fail "after the restore restore_probe has '$(probes)' readings, not 100"
grep -q 'restored: .*notifier-outbox.db' "$sys_run/native-restore.log" ||
	fail "the CLI does not say which files were restored: $(tail -n 4 "$sys_run/native-restore.log")"
wait_until 30 "every unit active after the restore" all_active
ok "homebus restore $backup --wait: done, the dropped readings back, the outbox restored, every unit active"

# ---- the deployer stopped in the middle of a deploy ---------------------------
in_host /opt/homebus/libexec/homebus-release pack /homebus-build/bin v4 /opt/homebus/dist >/dev/null
state() {
	in_host sh -c 'mosquitto_sub -h 127.0.0.1 -u cli -P "$(cat /etc/homebus/secrets/cli.password)" \
		-t homebus/deploy/state -C 1 -W 3'
}
phase_is() { state | python3 -c 'import json,sys; s=json.load(sys.stdin); sys.exit(0 if s.get("phase") in sys.argv[1:] else 1)' "$@"; }
# the deployer restarted itself after the last job: asked until it takes it
wait_until 60 "the deployer taking a deploy of v4" in_host homebus deploy v4
wait_until 60 "the v4 deploy in verify" phase_is verify
in_host systemctl stop homebus-deployer
in_host systemctl start homebus-deployer
wait_until 120 "the v4 deploy finished after the deployer's restart" phase_is done rolled_back
final=$(state | python3 -c 'import json,sys; s=json.load(sys.stdin); print(s["phase"], s.get("running_tag"))')
cur=$(in_host readlink /opt/homebus/current)
say "after systemctl stop/start in verify: $final, current -> $cur"
[[ $cur = "releases/${final#* }" ]] || fail "current ($cur) is not the running version the deployer states ($final)"
ok "systemctl stop homebus-deployer in verify: the deploy is finished at its next start ($final)"

# ---- systemd-analyze security, per unit ----------------------------------------
for u in "${units[@]}"; do
	score=$(in_host systemd-analyze security "homebus-$u.service" 2>/dev/null | tail -n 1)
	echo "homebus-$u $score" >>"$figures"
	say "homebus-$u: ${score#*: }"
done
