#!/usr/bin/env bash
# Before the first `docker compose up -d`: makes what docker-compose.yml
# expects and the checkout does not hold, and never replaces what exists.
#
#   deploy/compose-init.sh
#
#   .env                   HOMEBUS_DIR, this folder: the deployer sees it at
#                          the same path (compose reads .env for every
#                          command, the deployer's too; put HOMEBUS_IMAGE
#                          there as well, never only in a shell)
#   deploy/homebus.json    the example config with the containers' addresses
#                          for health's targets (InfluxDB, Grafana), and the
#                          deployer's compose profile (deploy/deployer-compose.json)
#   deploy/secrets/        (mode 0700) a broker password per service, the
#                          broker's password file with those users, Grafana's
#                          admin password, an empty telegram.token
#
# The files in deploy/secrets/ are 0644 in a 0700 folder: compose mounts
# each into its container, where the service's own user (not the owner's)
# must read it; nobody else on the host can reach them.
set -euo pipefail
cd "$(dirname "$0")/.."
services=(writer ingest health notifier deployer)

if ! grep -qs '^HOMEBUS_DIR=' .env; then
  printf '# made by deploy/compose-init.sh: this folder, for the deployer\nHOMEBUS_DIR=%s\n' \
    "$(pwd)" >>.env
  echo "made .env: HOMEBUS_DIR=$(pwd)"
fi

if [ ! -e deploy/homebus.json ]; then
  command -v jq >/dev/null || { echo "compose-init.sh needs jq (apt install jq)" >&2; exit 1; }
  # the deployer's compose profile over the example (lists cannot come from
  # the environment)
  sed -e 's#"url": "http://127.0.0.1:8086/ping"#"url": "http://influxdb:8086/ping"#' \
      deploy/homebus.example.json |
    jq -s '.[0] * .[1]' - deploy/deployer-compose.json >deploy/homebus.json.tmp
  mv deploy/homebus.json.tmp deploy/homebus.json
  echo "made deploy/homebus.json: edit health.targets (systemctl and docker do not"
  echo "  run inside a container), Telegram's chat ids, then check it with"
  echo "  docker compose run --rm writer homebus-writer --check-config -c /etc/homebus/homebus.json"
fi

install -d -m 0700 deploy/secrets
made=()
for s in "${services[@]}" grafana-admin; do
  f=deploy/secrets/$s.password
  if [ ! -e "$f" ]; then
    (umask 022; head -c 18 /dev/urandom | base64 >"$f")
    made+=("$f")
  fi
done
[ -e deploy/secrets/telegram.token ] || { (umask 022; : >deploy/secrets/telegram.token); made+=(deploy/secrets/telegram.token); }

# mosquitto's password file: its own tool, from its own image
if [ ! -e deploy/secrets/mosquitto.passwd ]; then
  (umask 022; : >deploy/secrets/mosquitto.passwd)
  for s in "${services[@]}"; do
    docker run --rm -v "$(pwd)/deploy/secrets:/s" eclipse-mosquitto:2.0 \
      mosquitto_passwd -b /s/mosquitto.passwd "$s" "$(cat "deploy/secrets/$s.password")"
  done
  made+=(deploy/secrets/mosquitto.passwd)
fi
if [ ${#made[@]} -gt 0 ]; then
  echo "made: ${made[*]}"
fi
echo "Grafana: admin, password in deploy/secrets/grafana-admin.password. Next: docker compose up -d"
