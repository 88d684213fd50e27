# The system tier's shared shell: sourced by engine.sh and every system test.
# The engine's address and tools come from $HB_SYSTEM_RUN/engine.env, which
# `engine.sh start` writes; every docker and `docker compose` call after
# sourcing this goes to that engine, never to a system one.
#
#   HB_SYSTEM_RUN     the tier's run folder (ctest sets it: build/tests/system)
#   HB_SYSTEM_STATE   the engine's data root and the Debian base, kept between
#                     runs so that images are built once (/var/cache/homebus-system)

sys_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
sys_state=${HB_SYSTEM_STATE:-/var/cache/homebus-system}
sys_run=${HB_SYSTEM_RUN:-$sys_root/build/tests/system}
sys_name=$(basename "$0" .sh)

say() { printf '%s %s: %s\n' "$(date +%H:%M:%S)" "$sys_name" "$*"; }
fail() {
	printf '%s %s: FAIL: %s\n' "$(date +%H:%M:%S)" "$sys_name" "$*" >&2
	exit 1
}
ok() { say "ok - $*"; }

# wait_until SECONDS WHAT CMD...: runs CMD every half second until it
# succeeds; fails naming WHAT when SECONDS pass. Never a timed assertion: the
# limit only ends a wait for something that is not coming.
wait_until() {
	local limit=$1 what=$2 end
	shift 2
	end=$((SECONDS + limit))
	until "$@" >/dev/null 2>&1; do
		[[ $SECONDS -lt $end ]] || fail "no $what after ${limit} s"
		sleep 0.5
	done
}

# A free TCP port on loopback (the kernel's choice; the engine binds it next).
free_port() {
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

# The engine written by `engine.sh start`: DOCKER_HOST, the Debian docker CLI
# first on PATH, the compose shim as its plugin.
sys_engine_env() {
	[[ -r $sys_run/engine.env ]] ||
		fail "no engine: $sys_run/engine.env is missing (engine.sh start runs first, as the fixture system_engine)"
	# shellcheck disable=SC1091
	source "$sys_run/engine.env"
	export DOCKER_HOST DOCKER_CONFIG DOCKER_BUILDKIT=1 PATH
	docker info >/dev/null 2>&1 || fail "the engine at $DOCKER_HOST does not answer"
}

# InfluxDB 1.x: the number in the first row of a query's answer (0 when none).
influx_count() {	# url db query
	curl -fsS -G "$1/query" --data-urlencode "db=$2" --data-urlencode "q=$3" |
		python3 -c 'import json,sys
r=json.load(sys.stdin)["results"][0]
s=r.get("series")
print(s[0]["values"][0][1] if s else 0)'
}

# The running container of a compose service of the project homebus, by the
# labels compose puts on it (as v1 and v2 both do), without asking compose:
# v1's `ps` fails while another compose recreates a container.
cid() {
	docker ps -q --no-trunc --filter label=com.docker.compose.project=homebus \
		--filter "label=com.docker.compose.service=$1" | head -n 1
}
