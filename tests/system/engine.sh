#!/usr/bin/env bash
# The system tier's Docker engine: Debian's dockerd with a data root and a
# socket of its own, never the system's, and every image the tier runs.
#
#   engine.sh start   starts dockerd (stopping one a crashed run left), makes
#                     debian:12-slim with debootstrap when it is missing,
#                     builds the images (BuildKit; layers are cached in the
#                     data root, so a second run builds only what changed)
#                     and writes $HB_SYSTEM_RUN/engine.env
#   engine.sh stop    removes every container, volume and network of the run
#                     and stops dockerd by its pid; the images stay cached
#
# Images: the homebus images from deploy/Dockerfile as the owner builds them
# (homebus:test, and homebus-deployer:test with Debian's docker tools:
# DOCKER_TOOLS=debian), and stand-ins for what no registry can bring here,
# built from Debian's packages under the real names with the official
# images' layout (tests/system/images/*/Dockerfile says what each
# reproduces): eclipse-mosquitto:2.0, influxdb:1.11,
# tecnativa/docker-socket-proxy:v0.4.2, grafana/grafana-oss:10.4.2,
# registry:2, and homebus-systemd-host (Debian 12 with systemd as PID 1).
set -euo pipefail
source "$(dirname "$0")/lib.sh"

data=$sys_state/docker
execroot=/run/homebus-engine
# the engine that runs on this data root, whichever checkout started it:
# one at a time (a crashed run's is stopped first)
pidfile=$sys_state/dockerd.pid
sockfile=$sys_state/dockerd.sock-path
sock=$sys_run/docker.sock
log=$sys_run/dockerd.log

stop_engine() {
	local pid old
	[[ -r $pidfile ]] || return 0
	pid=$(cat "$pidfile")
	old=$(cat "$sockfile" 2>/dev/null || echo "$sock")
	if kill -0 "$pid" 2>/dev/null; then
		if DOCKER_HOST=unix://$old /usr/bin/docker info >/dev/null 2>&1; then
			export DOCKER_HOST=unix://$old
			local c
			c=$(/usr/bin/docker ps -aq)
			[[ -z $c ]] || /usr/bin/docker rm -f $c >/dev/null 2>&1 || true
			/usr/bin/docker volume prune -f >/dev/null 2>&1 || true
			/usr/bin/docker network prune -f >/dev/null 2>&1 || true
			/usr/bin/docker image prune -f >/dev/null 2>&1 || true
		fi
		kill -TERM "$pid" 2>/dev/null || true
		for _ in $(seq 60); do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.5
		done
		kill -KILL "$pid" 2>/dev/null || true
		say "dockerd ($pid) stopped"
	fi
	rm -f "$pidfile" "$sockfile" "$sys_run/engine.env"
}

base_image() {
	docker image inspect debian:12-slim >/dev/null 2>&1 && return 0
	command -v debootstrap >/dev/null || fail "debootstrap is missing (apt-get install debootstrap)"
	local dir=$sys_state/rootfs.partial
	rm -rf "$dir"
	say "making debian:12-slim with debootstrap (about a minute)"
	debootstrap --variant=minbase bookworm "$dir" http://deb.debian.org/debian \
		>"$sys_run/debootstrap.log" 2>&1 ||
		fail "debootstrap failed: $(tail -n 3 "$sys_run/debootstrap.log")"
	tar -C "$dir" -c . | docker import - debian:12-slim >/dev/null
	rm -rf "$dir"
}

# build TAG LOG docker-build-args...: in the background; waited for by build_all
pids=()
build() {
	local tag=$1 out=$sys_run/build-${1//[\/:]/_}.log
	shift
	( docker build --progress=plain -t "$tag" "$@" >"$out" 2>&1 ||
		{ echo "build of $tag failed" >>"$out"; exit 1; } ) &
	pids+=("$!:$tag:$out")
}
build_all() {
	local p failed=0
	for p in "${pids[@]}"; do
		if ! wait "${p%%:*}"; then
			local rest=${p#*:}
			echo "--- ${rest%%:*} ---" >&2
			tail -n 20 "${rest#*:}" >&2
			failed=1
		fi
	done
	pids=()
	[[ $failed = 0 ]] || fail "an image did not build (its log above)"
}

start_engine() {
	[[ $(id -u) = 0 ]] || fail "the system tier needs root (it runs dockerd)"
	command -v dockerd >/dev/null || fail "dockerd is missing (apt-get install docker.io)"
	command -v docker-compose >/dev/null || fail "docker-compose is missing (apt-get install docker-compose)"
	mkdir -p "$sys_run" "$data" "$execroot"
	stop_engine
	rm -f "$sock"
	echo "$sock" >"$sockfile"
	say "starting dockerd (data root $data)"
	dockerd --data-root "$data" --exec-root "$execroot" --host "unix://$sock" \
		--pidfile "$pidfile" --log-level warn >"$log" 2>&1 &
	export DOCKER_HOST=unix://$sock
	local end=$((SECONDS + 60))
	until /usr/bin/docker info >/dev/null 2>&1; do
		if ! kill -0 $! 2>/dev/null || [[ $SECONDS -ge $end ]]; then
			tail -n 15 "$log" >&2
			fail "dockerd did not start (its log above)"
		fi
		sleep 0.5
	done

	# the Debian CLI first (a newer one on PATH would want buildx), and the
	# compose shim as its plugin
	mkdir -p "$sys_run/bin" "$sys_run/docker-config/cli-plugins"
	ln -sfn /usr/bin/docker "$sys_run/bin/docker"
	install -m 0755 "$sys_root/tests/system/compose-v1-plugin" \
		"$sys_run/docker-config/cli-plugins/docker-compose"
	cat >"$sys_run/engine.env.tmp" <<-EOF
		DOCKER_HOST=unix://$sock
		DOCKER_CONFIG=$sys_run/docker-config
		PATH=$sys_run/bin:$PATH
	EOF
	mv "$sys_run/engine.env.tmp" "$sys_run/engine.env"
	sys_engine_env
	docker compose version >/dev/null || fail "the compose shim does not run"

	base_image
	local t0=$SECONDS img=$sys_root/tests/system/images
	say "building the images"
	build eclipse-mosquitto:2.0 "$img/mosquitto"
	build influxdb:1.11 "$img/influxdb"
	build tecnativa/docker-socket-proxy:v0.4.2 "$img/socket-proxy"
	build grafana/grafana-oss:10.4.2 "$img/grafana"
	build registry:2 "$img/registry"
	build homebus-systemd-host "$img/systemd"
	build homebus:test -f "$sys_root/deploy/Dockerfile" --target services "$sys_root"
	build homebus-deployer:test -f "$sys_root/deploy/Dockerfile" --target deployer \
		--build-arg DOCKER_TOOLS=debian "$sys_root"
	build_all
	say "images ready in $((SECONDS - t0)) s"
	docker image prune -f >/dev/null 2>&1 || true
}

case ${1:-} in
start) start_engine ;;
stop) stop_engine ;;
*) echo "usage: engine.sh start|stop" >&2; exit 2 ;;
esac
