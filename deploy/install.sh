#!/usr/bin/env bash
# Installs homebus natively, run by systemd (the other way is compose:
# `docker compose up -d`). Builds first if the binaries are not built.
#
#   sudo deploy/install.sh [--mosquitto] [--tag TAG] [--prefix DIR] [--dry-run]
#                          [--uninstall] [--build-dir DIR]
#
# Without --prefix (as root):
#   /opt/homebus/releases/<tag>/    bin/ (the services and the CLI), share/doc/homebus/
#   /opt/homebus/current            -> releases/<tag>: what the units run
#   /opt/homebus/libexec/homebus-release, /opt/homebus/dist/
#                                   the native deploy profile's steps, and where
#                                   release tarballs go (owned by homebus: the
#                                   deployer installs releases and switches current)
#   /usr/local/bin/homebus          -> the CLI
#   /etc/homebus/homebus.json       the example config with the native deploy
#                                   profile (deployer-native.json) merged in and
#                                   the CLI's broker account; never over an
#                                   existing one
#   /etc/homebus/examples/          homebus.example.json, deployer-native.json,
#                                   mosquitto.conf, mosquitto.acl
#   /etc/homebus/secrets/           a broker password for every account of
#                                   mosquitto.acl: the services, cli,
#                                   homeassistant, the devices' (made once)
#   /etc/systemd/system/            homebus-<service>.service (not enabled), and
#                                   homebus-deployer.service.d/release.conf: the
#                                   installed version, the deployer's running one
#                                   until its journal knows better
#   /etc/polkit-1/rules.d/          50-homebus-deployer.rules (systemctl restart of homebus-*)
#   /usr/local/share/bash-completion/completions/homebus
#   the system user homebus and the data folder /var/lib/homebus
# and says what to do next.
#
# --mosquitto   also sets up this host's mosquitto (Debian's package, installed
#               when missing) for homebus: /etc/mosquitto/conf.d/homebus.conf
#               (deploy/mosquitto.conf with Debian's paths), the ACL for this
#               host's instance (deploy/mosquitto-acl), the password file with
#               every account, then restarts it
# --tag TAG     the version installed (default: the checkout's short commit,
#               or "local")
# --prefix DIR  everything under DIR: bin/, etc/homebus/, lib/systemd/system/,
#               share/, libexec/, var/lib/homebus/, with the paths inside the files
#               pointing there. Nothing outside DIR is touched: no user, no
#               systemctl, no chown.
# --dry-run     prints what it would do (one "+ " line each), does nothing
# --uninstall   removes what it installed; the data folder stays, and the
#               configuration with its secrets is moved into it
#               (etc-homebus.uninstalled/). The system user stays (it owns
#               the data folder): `userdel homebus` removes it.
# --build-dir   where the binaries are built (default build/ in the checkout)
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

prefix=""
dry=0
uninstall=0
builddir=$root/build
mosq=0
tag=""
while [ $# -gt 0 ]; do
  case $1 in
    --mosquitto) mosq=1; shift ;;
    --tag) tag=${2:?--tag needs a version}; shift 2 ;;
    --prefix) prefix=${2:?--prefix needs a folder}; shift 2 ;;
    --dry-run) dry=1; shift ;;
    --uninstall) uninstall=1; shift ;;
    --build-dir) builddir=${2:?--build-dir needs a folder}; shift 2 ;;
    -h|--help) sed -n '2,55p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "install.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
done

services=(writer ingest health notifier deployer)
# people and devices: the accounts of deploy/mosquitto.acl that are not services
accounts=(cli homeassistant zigbee2mqtt tasmota shelly statestream)
binaries=(homebus "${services[@]/#/homebus-}")

if [ -n "$prefix" ]; then
  case $prefix in /*) ;; *) prefix=$(pwd)/$prefix ;; esac
  prefix=${prefix%/}
  release=$prefix			# the program tree
  current=$prefix			# what the units run
  optdir=$prefix
  confdir=$prefix/etc/homebus
  unitdir=$prefix/lib/systemd/system
  polkitdir=$prefix/etc/polkit-1/rules.d
  complete=$prefix/share/bash-completion/completions
  mandir=$prefix/share/man
  clilink=""
  datadir=$prefix/var/lib/homebus
else
  if [ "$(id -u)" != 0 ] && [ $dry = 0 ]; then
    echo "install.sh: run as root (sudo), or with --prefix DIR for a folder of your own" >&2
    exit 1
  fi
  [ -n "$tag" ] || tag=$(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo local)
  [[ ${#tag} -le 128 && $tag =~ ^[A-Za-z0-9][A-Za-z0-9._-]*$ ]] ||
    { echo "install.sh: not a valid version: $tag" >&2; exit 2; }
  optdir=/opt/homebus
  release=$optdir/releases/$tag
  current=$optdir/current
  confdir=/etc/homebus
  unitdir=/etc/systemd/system
  polkitdir=/etc/polkit-1/rules.d
  complete=/usr/local/share/bash-completion/completions
  mandir=/usr/local/share/man
  clilink=/usr/local/bin/homebus
  datadir=/var/lib/homebus
fi

# Every change goes through one of these, so that --dry-run shows them all.
say() { echo "+ $*"; }
act() {	# command...
  say "$@"
  [ $dry = 1 ] || "$@"
}
# Copies src to dst with mode, the paths inside rewritten for this layout.
put() {	# mode src dst
  say "install -m $1 $2 $3"
  [ $dry = 1 ] && return
  mkdir -p "$(dirname "$3")"
  sed -e "s#/opt/homebus/current#$current#g" -e "s#/opt/homebus#$optdir#g" \
      -e "s#/etc/homebus#$confdir#g" -e "s#/var/lib/homebus#$datadir#g" \
      "$2" >"$3.tmp"
  if [ -n "$prefix" ] && [ "${3%.service}" != "$3" ]; then
    # StateDirectory= is always under /var/lib: a prefix gets its own folder
    sed -i -e "s#^StateDirectory=homebus\$#ReadWritePaths=$datadir#" \
      -e '/^StateDirectoryMode=/d' "$3.tmp"
  fi
  chmod "$1" "$3.tmp"
  mv -f "$3.tmp" "$3"
}
system() { [ -z "$prefix" ]; }
have_systemd() { system && command -v systemctl >/dev/null && [ -d /run/systemd/system ]; }

# ---- uninstall ----

if [ $uninstall = 1 ]; then
  units=()
  for s in "${services[@]}"; do
    [ -e "$unitdir/homebus-$s.service" ] && units+=("homebus-$s.service")
  done
  if have_systemd && [ ${#units[@]} -gt 0 ]; then
    act systemctl disable --now "${units[@]}" || true
  fi
  for u in "${units[@]}"; do act rm -f "$unitdir/$u"; done
  [ -d "$unitdir/homebus-deployer.service.d" ] &&
    act rm -rf "$unitdir/homebus-deployer.service.d"
  have_systemd && act systemctl daemon-reload
  [ -e "$polkitdir/50-homebus-deployer.rules" ] &&
    act rm -f "$polkitdir/50-homebus-deployer.rules"
  [ -e "$complete/homebus" ] && act rm -f "$complete/homebus"
  for page in "$mandir"/man1/homebus.1 "$mandir"/man8/homebus-*.8; do
    [ -e "$page" ] && act rm -f "$page"
  done
  [ -n "$clilink" ] && [ -L "$clilink" ] && act rm -f "$clilink"
  if [ -n "$prefix" ]; then
    for b in "${binaries[@]}"; do
      [ -e "$prefix/bin/$b" ] && act rm -f "$prefix/bin/$b"
    done
    [ -d "$prefix/share/doc/homebus" ] && act rm -rf "$prefix/share/doc/homebus"
  else
    [ -d "$optdir/releases" ] && act rm -rf "$optdir/releases"
    [ -L "$optdir/current" ] && act rm -f "$optdir/current"
    [ -d "$optdir/dist" ] && act rm -rf "$optdir/dist"
    [ -e "$optdir/deployer-restart.log" ] && act rm -f "$optdir/deployer-restart.log"
  fi
  [ -e "$optdir/libexec/homebus-release" ] && act rm -f "$optdir/libexec/homebus-release"
  [ -e "$optdir/libexec/homebus-influx" ] && act rm -f "$optdir/libexec/homebus-influx"
  if [ -d "$confdir" ]; then
    # what the owner wrote (the config, tokens) is kept, in the data folder
    act mkdir -p "$datadir"
    [ -e "$datadir/etc-homebus.uninstalled" ] &&
      act rm -rf "$datadir/etc-homebus.uninstalled"
    act mv "$confdir" "$datadir/etc-homebus.uninstalled"
  fi
  # the folders this script made, when nothing else is left in them
  for d in "$prefix/bin" "$prefix/etc/polkit-1/rules.d" "$prefix/etc/polkit-1" \
      "$prefix/etc" "$prefix/lib/systemd/system" "$prefix/lib/systemd" "$prefix/lib" \
      "$prefix/share/bash-completion/completions" "$prefix/share/bash-completion" \
      "$prefix/share/man/man1" "$prefix/share/man/man8" "$prefix/share/man" \
      "$prefix/share/doc" "$prefix/share" "$optdir/libexec" "$optdir"; do
    if [ -n "$prefix" ] || [ "$d" = "$optdir" ] || [ "$d" = "$optdir/libexec" ]; then
      [ -d "$d" ] && [ -z "$(ls -A "$d")" ] && act rmdir "$d"
    fi
  done
  echo "homebus is uninstalled. The data folder $datadir stays (delete it to remove the data too)."
  [ -d "$datadir/etc-homebus.uninstalled" ] || [ $dry = 1 ] &&
    echo "The configuration and secrets are in $datadir/etc-homebus.uninstalled/."
  if system && getent passwd homebus >/dev/null; then
    echo "The system user homebus stays (it owns the data folder): userdel homebus removes it."
  fi
  exit 0
fi

# ---- build ----

if [ ! -x "$builddir/bin/homebus-writer" ]; then
  if [ $dry = 1 ]; then
    say "build: cmake -S $root -B $builddir -DHB_TESTS=OFF && cmake --build $builddir"
  else
    bash "$root/deploy/install-deps.sh" cmake make gcc pkg-config libpaho-mqtt-dev \
      libssl-dev libcurl4-openssl-dev libjansson-dev libsqlite3-dev libevent-dev \
      zlib1g-dev nettle-dev go-md2man
    cmake -S "$root" -B "$builddir" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DHB_TESTS=OFF >/dev/null
    cmake --build "$builddir" -j "$(nproc 2>/dev/null || echo 2)" >/dev/null
  fi
fi

# ---- the user and the data folder ----

if system; then
  if ! getent passwd homebus >/dev/null; then
    act useradd --system --user-group --home-dir "$datadir" --no-create-home \
      --shell /usr/sbin/nologin --comment "homebus services" homebus
  fi
  act install -d -o homebus -g homebus -m 0750 "$datadir"
else
  act mkdir -p "$datadir"
fi

# ---- programs ----

installed=()
for b in "${binaries[@]}"; do
  if [ -x "$builddir/bin/$b" ]; then
    act install -D -m 0755 -s "$builddir/bin/$b" "$release/bin/$b"
    installed+=("$b")
  elif [ $dry = 0 ] || [ "$b" = homebus-writer ]; then
    echo "  ($b is not built: skipped, with its unit)"
  fi
done
for doc in "$root"/docs/*.md "$root/README.md"; do
  act install -D -m 0644 "$doc" "$release/share/doc/homebus/$(basename "$doc")"
done
# the man pages, when the build made them (go-md2man): man homebus,
# man homebus-health, ...
for page in "$builddir"/man/homebus*.[18]; do
  [ -e "$page" ] || continue
  act install -D -m 0644 "$page" "$mandir/man${page##*.}/$(basename "$page")"
done
# the native deploy profile's steps (deploy/deployer-native.json)
act install -D -m 0755 "$root/deploy/homebus-release" "$optdir/libexec/homebus-release"
act install -D -m 0755 "$root/deploy/homebus-influx" "$optdir/libexec/homebus-influx"
if system; then
  # a new link renamed over the old: current is always one release or the other
  act ln -sfn "releases/$tag" "$optdir/.current.new"
  act mv -Tf "$optdir/.current.new" "$current"
  act ln -sfn "$current/bin/homebus" "$clilink"
  # the deployer (user homebus, ReadWritePaths=/opt/homebus in its unit)
  # installs releases and switches current; CI copies tarballs into dist/
  act install -d -o homebus -g homebus -m 0755 "$optdir/dist"
  act chown homebus:homebus "$optdir" "$optdir/releases"
fi

# ---- configuration ----

act install -d -m 0755 "$confdir"
put 0644 "$root/deploy/homebus.example.json" "$confdir/examples/homebus.example.json"
put 0644 "$root/deploy/deployer-native.json" "$confdir/examples/deployer-native.json"
put 0644 "$root/deploy/mosquitto.conf" "$confdir/examples/mosquitto.conf"
put 0644 "$root/deploy/mosquitto.acl" "$confdir/examples/mosquitto.acl"
put 0755 "$root/deploy/mosquitto-acl" "$confdir/examples/mosquitto-acl"
if [ -e "$confdir/homebus.json" ]; then
  echo "  $confdir/homebus.json exists: kept (the new example is $confdir/examples/homebus.example.json)"
else
  # the native deploy profile over the example, and the CLI's own account
  say "make $confdir/homebus.json (homebus.example.json with deployer-native.json, cli.username cli)"
  if [ $dry = 0 ]; then
    command -v jq >/dev/null || bash "$root/deploy/install-deps.sh" jq
    mkdir -p "$confdir"
    jq -s --arg pw "$confdir/secrets/cli.password" \
      '(.[0] * .[1]) | .cli.username = "cli" | .cli.password_file = $pw' \
      "$confdir/examples/homebus.example.json" "$confdir/examples/deployer-native.json" \
      >"$confdir/homebus.json.tmp"
    chmod 0640 "$confdir/homebus.json.tmp"
    mv "$confdir/homebus.json.tmp" "$confdir/homebus.json"
    system && chgrp homebus "$confdir/homebus.json"
  fi
fi
# a broker password for every account, services through
# HOMEBUS_BUS_PASSWORD_FILE (the units), the CLI through cli.password_file,
# the others for Home Assistant and the devices; made once, never replaced
if system; then
  act install -d -o root -g homebus -m 0750 "$confdir/secrets"
else
  act install -d -m 0750 "$confdir/secrets"
fi
for s in "${services[@]}" "${accounts[@]}"; do
  f=$confdir/secrets/$s.password
  [ -e "$f" ] && continue
  say "make $f (a random password)"
  if [ $dry = 0 ]; then
    (umask 027; head -c 18 /dev/urandom | base64 >"$f")
    system && chgrp homebus "$f"
  fi
done

# ---- the local broker (--mosquitto) ----

if [ $mosq = 1 ]; then
  system || { echo "install.sh: --mosquitto sets up this host's broker: not with --prefix" >&2; exit 2; }
  [ $dry = 1 ] || command -v mosquitto >/dev/null ||
    bash "$root/deploy/install-deps.sh" mosquitto mosquitto-clients
  instance=$(jq -r '.bus.instance // empty' "$confdir/homebus.json" 2>/dev/null || true)
  instance=${instance:-$(hostname)}
  # Debian's mosquitto.conf sets persistence, its folder and the log file:
  # the drop-in leaves those out (mosquitto refuses a path set twice)
  say "write /etc/mosquitto/conf.d/homebus.conf, /etc/mosquitto/homebus.acl (instance $instance), /etc/mosquitto/homebus.passwd"
  if [ $dry = 0 ]; then
    mkdir -p /etc/mosquitto/conf.d
    sed -e 's#/mosquitto/config/homebus\.#/etc/mosquitto/homebus.#' \
        -e '/^persistence_location /d' -e '/^persistence /d' -e '/^log_dest /d' \
        "$root/deploy/mosquitto.conf" >/etc/mosquitto/conf.d/homebus.conf
    (umask 077; "$root/deploy/mosquitto-acl" "$instance" >/etc/mosquitto/homebus.acl.tmp)
    (umask 077
     for s in "${services[@]}" "${accounts[@]}"; do
       printf '%s:%s\n' "$s" "$(cat "$confdir/secrets/$s.password")"
     done >/etc/mosquitto/homebus.passwd.tmp)
    mosquitto_passwd -U /etc/mosquitto/homebus.passwd.tmp
    chown mosquitto:mosquitto /etc/mosquitto/homebus.acl.tmp /etc/mosquitto/homebus.passwd.tmp
    mv /etc/mosquitto/homebus.acl.tmp /etc/mosquitto/homebus.acl
    mv /etc/mosquitto/homebus.passwd.tmp /etc/mosquitto/homebus.passwd
    if have_systemd; then
      systemctl restart mosquitto.service
      systemctl is-active --quiet mosquitto.service ||
        { echo "install.sh: mosquitto did not start: journalctl -u mosquitto" >&2; exit 1; }
    fi
  fi
fi

# ---- units, polkit, completion ----

for s in "${services[@]}"; do
  if printf '%s\n' "${installed[@]}" | grep -qx "homebus-$s" || [ $dry = 1 ]; then
    put 0644 "$root/deploy/systemd/homebus-$s.service" "$unitdir/homebus-$s.service"
  fi
done
if getent group docker >/dev/null; then
  put 0644 "$root/deploy/systemd/homebus-deployer.service.d/docker.conf" \
    "$unitdir/homebus-deployer.service.d/docker.conf"
fi
put 0644 "$root/deploy/systemd/homebus-deployer.rules" "$polkitdir/50-homebus-deployer.rules"
if system; then
  # the version just installed is the one that runs, until the deployer's
  # journal records a deploy (a first rollback returns here)
  say "write $unitdir/homebus-deployer.service.d/release.conf (HOMEBUS_DEPLOYER_INITIAL_TAG=$tag)"
  if [ $dry = 0 ]; then
    mkdir -p "$unitdir/homebus-deployer.service.d"
    printf '# made by deploy/install.sh: the installed version\n[Service]\nEnvironment=HOMEBUS_DEPLOYER_INITIAL_TAG=%s\n' \
      "$tag" >"$unitdir/homebus-deployer.service.d/release.conf"
  fi
fi
put 0644 "$root/deploy/completion/homebus.bash" "$complete/homebus"
have_systemd && act systemctl daemon-reload

[ $dry = 1 ] && exit 0
start="systemctl enable --now"
# units outside systemd's folders are linked in first
system || start="systemctl link $unitdir/homebus-*.service; systemctl enable --now"
units=""
for s in "${services[@]}"; do
  [ -e "$unitdir/homebus-$s.service" ] && units="$units homebus-$s"
done
n=1
step() { printf ' %d. %s\n' "$n" "$1"; shift; n=$((n + 1)); [ $# -eq 0 ] || printf '    %s\n' "$@"; }
echo
echo "homebus $tag is installed in $release."
echo "What to do next:"
if [ $mosq = 0 ]; then
  step "The broker: on this host, run install.sh again with --mosquitto; on another," \
    "give it $confdir/examples/mosquitto.conf, the ACL from" \
    "$confdir/examples/mosquitto-acl <bus.instance>, and every account of" \
    "$confdir/secrets/<user>.password (docs/security.md)."
fi
step "Edit $confdir/homebus.json (InfluxDB, health's targets, Telegram's chat ids)," \
  "then check it: $current/bin/homebus-writer --check-config -c $confdir/homebus.json"
step "Start them: $start$units" \
  "and look: homebus status; homebus doctor; journalctl -u 'homebus-*' -f" \
  "(the CLI logs in as cli with $confdir/secrets/cli.password: as root, or in group homebus)"
step "Home Assistant's MQTT integration: user homeassistant, password in" \
  "$confdir/secrets/homeassistant.password; the devices' accounts likewise (docs/security.md)."
step "Telegram (optional): the bot token in $confdir/secrets/telegram.token (group homebus," \
  "mode 0640) and notifier.telegram.token_file set to that path."
echo "Deploys: a release is homebus-<tag>.tar.gz in $optdir/dist/ ($optdir/libexec/homebus-release"
echo "pack makes one), then homebus deploy <tag> --wait (docs/packaging.md#the-native-profile)."
