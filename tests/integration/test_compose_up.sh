#!/usr/bin/env bash
# deploy/compose-up, the compose profile's up step and the deployer's own
# restart, against a recording `docker` stand-in (no Docker engine here) and
# a stand-in for the deployer's /health.
#
#   test_compose_up.sh
#
# up: the services only (the deployer left out), with --no-deps and
# --force-recreate, then deployer-restart started as a one-shot container;
# refused without a service; a failing compose up fails the step; a
# restarter already waiting is fine. restart-deployer: no compose call
# while the deployer's job runs, then one `up -d --no-deps deployer` with
# IMAGE_TAG set to the running version from /health; none without one.
set -uo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
tool=$root/deploy/compose-up
tmp=$(mktemp -d /tmp/hbt-compose-up-XXXXXX)
failed=0
checks=0
server_pid=""
cleanup() { [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null; }
trap cleanup EXIT

check() {	# description, then the command
  local what=$1
  shift
  checks=$((checks + 1))
  if "$@"; then
    echo "ok: $what"
  else
    echo "FAIL: $what"
    failed=$((failed + 1))
  fi
}

# the stand-in: records "IMAGE_TAG=<tag> <args>"; STUB_UP_RC fails compose
# up, STUB_RUN_RC fails compose run, STUB_RUNNING is what inspect says
mkdir -p "$tmp/bin"
cat >"$tmp/bin/docker" <<'EOF'
#!/usr/bin/env bash
echo "IMAGE_TAG=${IMAGE_TAG:-} $*" >>"$STUB_CALLS"
case " $* " in
  *" compose "*" up "*) exit "${STUB_UP_RC:-0}" ;;
  *" compose "*" run "*) [ "${STUB_RUN_RC:-0}" = 0 ] || echo "Conflict. The container name is already in use"; exit "${STUB_RUN_RC:-0}" ;;
  " inspect "*) echo "${STUB_RUNNING:-false}" ;;
  " rm "*) exit 1 ;;
esac
exit 0
EOF
chmod +x "$tmp/bin/docker"
export PATH=$tmp/bin:$PATH STUB_CALLS=$tmp/calls
F=/srv/homebus/docker-compose.yml

# ---- up ----
: >"$tmp/calls"
out=$(IMAGE_TAG=v2 bash "$tool" up "$F" writer ingest deployer health 2>&1)
check "up exits 0: $out" test $? = 0
want="IMAGE_TAG=v2 compose -f $F up -d --no-deps --force-recreate writer ingest health
IMAGE_TAG=v2 rm homebus-deployer-restart
IMAGE_TAG=v2 compose -f $F run -d --rm --no-deps --name homebus-deployer-restart deployer-restart"
check "up: the services without the deployer, then the one-shot restarter: $(cat "$tmp/calls")" \
  test "$(cat "$tmp/calls")" = "$want"

: >"$tmp/calls"
out=$(IMAGE_TAG=v2 bash "$tool" up "$F" deployer 2>&1)
check "up with no service but the deployer is refused: $out" test $? != 0
check "and runs nothing" test ! -s "$tmp/calls"

out=$(IMAGE_TAG=v2 STUB_UP_RC=1 bash "$tool" up "$F" writer 2>&1)
check "a failing compose up fails the step" test $? != 0

out=$(IMAGE_TAG=v2 STUB_RUN_RC=1 STUB_RUNNING=true bash "$tool" up "$F" writer 2>&1)
check "a restarter already waiting: exit 0 ($out)" test $? = 0
check "and says so" grep -q "waiting already" <<<"$out"
out=$(IMAGE_TAG=v2 STUB_RUN_RC=1 STUB_RUNNING=false bash "$tool" up "$F" writer 2>&1)
check "a restarter that cannot start: exit 0 with a warning ($out)" \
  bash -c '[ "$1" = 0 ] && grep -q "^warning: deployer-restart did not start" <<<"$2"' _ $? "$out"

# ---- restart-deployer ----
# /health says a job runs for the first three requests, then idle with
# running_tag $1; it counts the requests in $tmp/requests
serve() {
  /usr/bin/python3 - "$tmp" "$1" <<'EOF' &
import http.server, json, sys
tmp, tag = sys.argv[1], sys.argv[2]
n = 0
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        global n
        n += 1
        open(tmp + "/requests", "w").write(str(n))
        # no compose call may come while the job runs
        if n <= 3:
            open(tmp + "/calls_while_busy", "w").write(open(tmp + "/calls").read())
        body = {"service": "deployer", "running_tag": "v1",
                "deploy": {"id": "j1", "phase": "verify"}} if n <= 3 else \
               {"service": "deployer", "deploy": "idle"}
        if n > 3 and tag:
            body["running_tag"] = tag
        data = json.dumps(body, separators=(",", ":")).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(data)
    def log_message(self, *a):
        pass
s = http.server.HTTPServer(("127.0.0.1", 0), H)
open(tmp + "/port", "w").write(str(s.server_port))
s.serve_forever()
EOF
  server_pid=$!
  for _ in $(seq 1 100); do [ -s "$tmp/port" ] && break; sleep 0.05; done
}

: >"$tmp/calls"
rm -f "$tmp/port" "$tmp/requests" "$tmp/calls_while_busy"
serve v2
out=$(HOMEBUS_DEPLOYER_URL=http://127.0.0.1:$(cat "$tmp/port") IMAGE_TAG=v9 \
  bash "$tool" restart-deployer "$F" 2>&1)
check "restart-deployer exits 0: $out" test $? = 0
check "it asked until the deployer was idle ($(cat "$tmp/requests") requests)" \
  test "$(cat "$tmp/requests")" -ge 4
check "no compose call while the job ran" test ! -s "$tmp/calls_while_busy"
check "then the deployer, to the running version: $(cat "$tmp/calls")" \
  test "$(cat "$tmp/calls")" = "IMAGE_TAG=v2 compose -f $F up -d --no-deps deployer"
kill "$server_pid"; wait "$server_pid" 2>/dev/null; server_pid=""

: >"$tmp/calls"
rm -f "$tmp/port" "$tmp/requests"
serve ""
out=$(HOMEBUS_DEPLOYER_URL=http://127.0.0.1:$(cat "$tmp/port") \
  bash "$tool" restart-deployer "$F" 2>&1)
check "no running version known: exit 1 ($out)" test $? = 1
check "and no compose call" test ! -s "$tmp/calls"

echo "compose-up: $((checks - failed)) passed, $failed failed"
if [ $failed = 0 ]; then rm -rf "$tmp"; else echo "kept $tmp"; fi
[ $failed = 0 ]
