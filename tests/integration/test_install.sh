#!/usr/bin/env bash
# deploy/install.sh --prefix into a temp folder, on the binaries of this build.
#
#   test_install.sh install BUILD_DIR   the install, what it leaves, --uninstall
#   test_install.sh units BUILD_DIR     every unit through systemd-analyze
#
# install: --dry-run names no path outside the prefix and runs no useradd or
# systemctl; the installed binaries pass --check-config on the installed
# example config with the environment their unit gives them; the native
# deploy profile is installed with the prefix's paths and passes the
# deployer's --check-config merged over that config; a second
# install keeps an edited config and the passwords; --uninstall leaves
# nothing but the data folder, with the config moved into it; nothing
# outside the prefix changed.
# units: `systemd-analyze verify` passes every installed unit (and the
# deployer's docker drop-in) without a word, and `systemd-analyze security`
# rates each at most 2.5 (OK).
set -uo pipefail
mode=${1:?mode}
build=${2:?build dir}
root=$(cd "$(dirname "$0")/../.." && pwd)
tmp=$(mktemp -d /tmp/hbt-install-XXXXXX)
failed=0
checks=0

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
finish() {
  echo "install ($mode): $((checks - failed)) passed, $failed failed"
  if [ $failed = 0 ]; then rm -rf "$tmp"; else echo "kept $tmp"; fi
  [ $failed = 0 ]
  exit
}

# The system paths a --prefix install must never touch: present or absent,
# and their change times.
system_paths=(/etc/homebus /opt/homebus /var/lib/homebus /usr/local/bin/homebus
  /etc/systemd/system/homebus-writer.service /etc/polkit-1/rules.d/50-homebus-deployer.rules
  /usr/local/share/bash-completion/completions/homebus)
snapshot() {
  for p in "${system_paths[@]}"; do
    if [ -e "$p" ] || [ -L "$p" ]; then stat -c "%n %Z" "$p"; else echo "$p absent"; fi
  done
  getent passwd homebus || echo "no user homebus"
}

prefix=$tmp/p
install_it() { bash "$root/deploy/install.sh" --prefix "$prefix" --build-dir "$build" "$@"; }

if [ "$mode" = units ]; then
  install_it >"$tmp/install.log" 2>&1
  check "install.sh --prefix exits 0" test $? = 0
  command -v systemd-analyze >/dev/null
  check "systemd-analyze is there (Debian's systemd package)" test $? = 0
  units=$prefix/lib/systemd/system
  # A unit whose service is not built is checked all the same, with its
  # ExecStart on /bin/true: verify refuses a command that does not exist.
  for f in "$root"/deploy/systemd/homebus-*.service; do
    u=$(basename "$f")
    if [ ! -e "$units/$u" ]; then
      echo "note: $u: its binary is not built; checked with ExecStart=/bin/true"
      sed 's#^ExecStart=[^ ]*#ExecStart=/bin/true#' "$f" >"$units/$u"
    fi
  done
  mkdir -p "$units/homebus-deployer.service.d"
  cp "$root/deploy/systemd/homebus-deployer.service.d/docker.conf" \
    "$units/homebus-deployer.service.d/"
  n=0
  for f in "$units"/homebus-*.service; do
    u=$(basename "$f")
    n=$((n + 1))
    out=$(cd "$units" && systemd-analyze verify --man=no "$u" 2>&1)
    rc=$?
    check "$u: systemd-analyze verify exits 0 ($rc)" test $rc = 0
    check "$u: and says nothing: ${out:-}" test -z "$out"
    level=$(cd "$units" && systemd-analyze security --offline=true "$u" 2>&1 |
      sed -n 's/.*Overall exposure level for [^:]*: \([0-9.]*\).*/\1/p')
    check "$u: exposure $level, at most 2.5" awk -v l="${level:-99}" 'BEGIN { exit !(l <= 2.5) }'
    for key in Type=notify WatchdogSec= ProtectSystem=strict ProtectHome=yes \
        PrivateTmp=yes NoNewPrivileges=yes Restart=on-failure MemoryMax= \
        "RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6"; do
      check "$u: $key" grep -q "^$key" "$f"
    done
    check "$u: CapabilityBoundingSet= empty" grep -qx "CapabilityBoundingSet=" "$f"
  done
  check "five units ($n)" test $n = 5
  finish
fi

before=$(snapshot)

# --dry-run: every path it names is under the prefix, the checkout or the build
out=$(install_it --dry-run 2>&1)
check "--dry-run exits 0" test $? = 0
check "--dry-run made nothing" test ! -e "$prefix"
outside=$(echo "$out" | grep '^+ ' | tr ' ' '\n' | grep '^/' |
  grep -v -e "^$prefix/" -e "^$root/" -e "^$build/" || true)
check "--dry-run names no path outside the prefix: ${outside:-none}" test -z "$outside"
check "--dry-run runs no useradd, chown, chgrp or systemctl" \
  bash -c '! grep -E "^\+ (useradd|chown|chgrp|systemctl)" <<<"$1"' _ "$out"
check "--dry-run installs the units" grep -q "lib/systemd/system/homebus-writer.service" <<<"$out"

install_it >"$tmp/install.log" 2>&1
check "install.sh --prefix exits 0" test $? = 0
for f in bin/homebus bin/homebus-writer etc/homebus/homebus.json \
    etc/homebus/examples/mosquitto.conf etc/homebus/examples/mosquitto.acl \
    lib/systemd/system/homebus-writer.service share/bash-completion/completions/homebus \
    etc/polkit-1/rules.d/50-homebus-deployer.rules etc/homebus/secrets/writer.password; do
  check "installed: $f" test -e "$prefix/$f"
done
check "the data folder" test -d "$prefix/var/lib/homebus"
# the native deploy profile: its steps' tool, and the profile with the
# prefix's paths, which the deployer takes merged over the installed config
check "installed: libexec/homebus-release, executable" test -x "$prefix/libexec/homebus-release"
check "installed: libexec/homebus-influx, executable" test -x "$prefix/libexec/homebus-influx"
profile=$prefix/etc/homebus/examples/deployer-native.json
check "installed: the native profile" test -e "$profile"
check "the profile's tree and config are the prefix's" /usr/bin/python3 -c '
import json, sys
d = json.load(open(sys.argv[1]))["deployer"]
sys.exit(not (d["workdir"] == sys.argv[2] and
              d["steps"]["pull"]["argv"][-1] == sys.argv[2] + "/etc/homebus/homebus.json"))' \
  "$profile" "$prefix"
/usr/bin/python3 - "$prefix/etc/homebus/homebus.json" "$profile" >"$tmp/native.json" <<'PY'
import json, sys
def merge(a, b):
    for k, v in b.items():
        a[k] = merge(a[k], v) if isinstance(v, dict) and isinstance(a.get(k), dict) else v
    return a
print(json.dumps(merge(json.load(open(sys.argv[1])), json.load(open(sys.argv[2])))))
PY
got=$("$prefix/bin/homebus-deployer" --check-config -c "$tmp/native.json" 2>&1)
check "the config with the native profile merged passes the deployer's --check-config: $got" \
  test "$got" = "configuration OK"
check "it says what to do next" grep -q "What to do next" "$tmp/install.log"
check "the config's data_dir is the prefix's" \
  grep -q "\"data_dir\": \"$prefix/var/lib/homebus\"" "$prefix/etc/homebus/homebus.json"

# each installed service, as its unit would run it, passes --check-config
n=0
for f in "$prefix"/lib/systemd/system/homebus-*.service; do
  exec_start=$(sed -n 's/^ExecStart=//p' "$f")
  read -r -a argv <<<"$exec_start"
  env_args=()
  while read -r e; do env_args+=("$e"); done < <(sed -n 's/^Environment=//p' "$f")
  check "$(basename "$f"): ExecStart is in the prefix (${argv[0]})" \
    test "${argv[0]#"$prefix"/bin/}" != "${argv[0]}"
  got=$(env "${env_args[@]}" "${argv[@]}" --check-config 2>&1)
  check "$(basename "$f"): $exec_start --check-config: $got" test "$got" = "configuration OK"
  n=$((n + 1))
done
check "a unit for each built service ($n)" test $n -ge 4
got=$("$prefix/bin/homebus" -c "$prefix/etc/homebus/homebus.json" --help 2>&1)
check "the CLI runs" grep -q "usage: homebus" <<<"$got"
got=$("$prefix/bin/homebus" help deploy 2>&1)
check "homebus help deploy names --instance: $got" grep -q -- "--instance NAME" <<<"$got"
"$prefix/bin/homebus" help nosuch >/dev/null 2>&1
check "homebus help of no command exits 2" test $? = 2
# the man pages, made at build time from the manuals (go-md2man)
if command -v go-md2man >/dev/null; then
  for page in man1/homebus.1 man8/homebus-health.8 man8/homebus-deployer.8 \
      man8/homebus-writer.8 man8/homebus-ingest.8 man8/homebus-notifier.8; do
    check "installed: share/man/$page" test -s "$prefix/share/man/$page"
  done
  got=$(MANWIDTH=80 man -l "$prefix/share/man/man1/homebus.1" 2>/dev/null | head -5)
  check "man homebus shows HOMEBUS(1) and its NAME: $got" \
    grep -q "HOMEBUS(1)" <<<"$got"
  got=$(MANWIDTH=80 man -l "$prefix/share/man/man8/homebus-health.8" 2>/dev/null)
  check "man homebus-health has the manual's sections" \
    grep -q "^Home Assistant" <<<"$got"
else
  echo "go-md2man is not installed: the man pages are not checked"
fi

# a second install keeps what the owner changed
sed -i 's#^{#{\n  "//mine": "edited by the owner",#' "$prefix/etc/homebus/homebus.json"
pw=$(cat "$prefix/etc/homebus/secrets/writer.password")
install_it >"$tmp/install2.log" 2>&1
check "a second install exits 0" test $? = 0
check "it keeps the edited config" grep -q "edited by the owner" "$prefix/etc/homebus/homebus.json"
check "and says so" grep -q "exists: kept" "$tmp/install2.log"
check "it keeps the passwords" test "$pw" = "$(cat "$prefix/etc/homebus/secrets/writer.password")"
"$prefix/bin/homebus-writer" --check-config -c "$prefix/etc/homebus/homebus.json" >/dev/null 2>&1
check "the edited config still passes" test $? = 0

# --uninstall: nothing but the data folder, the config kept inside it
echo "owner's data" >"$prefix/var/lib/homebus/writer-spool.db"
bash "$root/deploy/install.sh" --prefix "$prefix" --uninstall >"$tmp/uninstall.log" 2>&1
check "--uninstall exits 0" test $? = 0
left=$(cd "$prefix" && find . -mindepth 1 | grep -v -e '^./var$' -e '^./var/lib$' \
  -e '^./var/lib/homebus$' -e '^./var/lib/homebus/' || true)
check "nothing left but the data folder: ${left:-nothing}" test -z "$left"
check "the data is still there" grep -q "owner's data" "$prefix/var/lib/homebus/writer-spool.db"
check "the edited config is kept in the data folder" grep -q "edited by the owner" \
  "$prefix/var/lib/homebus/etc-homebus.uninstalled/homebus.json"

after=$(snapshot)
check "nothing outside the prefix changed" test "$before" = "$after"
finish
