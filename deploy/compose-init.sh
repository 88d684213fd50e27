#!/usr/bin/env bash
# Before the first `docker compose up -d`: makes what docker-compose.yml
# expects and the checkout does not hold, and never replaces what exists
# (run it again after an upgrade: it makes only what is missing, and writes
# the broker's ACL again from deploy/mosquitto.acl).
#
#   deploy/compose-init.sh
#
#   .env                   HOMEBUS_DIR, this folder: the deployer sees it at
#                          the same path (compose reads .env for every
#                          command, the deployer's too; put HOMEBUS_IMAGE
#                          there as well, never only in a shell)
#   deploy/homebus.json    the example config with the containers' addresses
#                          for health's targets (InfluxDB, Grafana, the
#                          broker, the services), the deployer's compose
#                          profile (deploy/deployer-compose.json), and for
#                          the `homebus` CLI on this host: the broker on
#                          127.0.0.1 as user cli
#   deploy/secrets/        (mode 0700) a broker password for every account
#                          of deploy/mosquitto.acl: the services, cli,
#                          homeassistant and the devices' (zigbee2mqtt,
#                          tasmota, shelly, statestream); the broker's
#                          password file and ACL; Grafana's admin password;
#                          an empty telegram.token
#
# The services' password files are 0644 in the 0700 folder: compose mounts
# each into its container, where the service's own user (not the owner's)
# must read it; nobody else on the host can reach them. The others (the
# broker's files, the passwords for people and devices) are the owner's,
# 0600: the broker's container copies its two to its own user at start.
set -euo pipefail
cd "$(dirname "$0")/.."
services=(writer ingest health notifier deployer)
# people and devices: the accounts of deploy/mosquitto.acl that are not services
accounts=(cli homeassistant zigbee2mqtt tasmota shelly statestream)
here=$(pwd)

if ! grep -qs '^HOMEBUS_DIR=' .env; then
  printf '# made by deploy/compose-init.sh: this folder, for the deployer\nHOMEBUS_DIR=%s\n' \
    "$here" >>.env
  echo "made .env: HOMEBUS_DIR=$here"
fi
# the host's port for the broker, which the CLI on this host uses
mqtt_port=$(sed -n 's/^HOMEBUS_MQTT_PORT=//p' .env | tail -n 1)
mqtt_port=${mqtt_port:-1883}
# and for the deployer's history and backups (GET /deploys, /backups)
deployer_port=$(sed -n 's/^HOMEBUS_DEPLOYER_PORT=//p' .env | tail -n 1)
deployer_port=${deployer_port:-9104}
instance=$(sed -n 's/^HOMEBUS_INSTANCE=//p' .env | tail -n 1)
instance=${instance:-nuc}

if [ ! -e deploy/homebus.json ]; then
  command -v jq >/dev/null || { echo "compose-init.sh needs jq (apt install jq)" >&2; exit 1; }
  # health's targets as the containers reach them (systemctl and docker do
  # not run inside a container); the deployer's compose profile over the
  # example (lists cannot come from the environment); the broker's port on
  # the host and the user cli, for the CLI on this host (the containers'
  # own address, port and user come from their environment)
  jq -s --arg pw "$here/deploy/secrets/cli.password" --argjson port "$mqtt_port" \
    --arg deployer "http://127.0.0.1:$deployer_port" '
    (.[0] * .[1])
    | .cli.username = "cli" | .cli.password_file = $pw | .bus.port = $port
    | .cli.deployer_url = $deployer
    | .health.targets = [
        {"name": "influxdb", "type": "http", "url": "http://influxdb:8086/ping"},
        {"name": "grafana", "type": "http", "url": "http://grafana:3000/api/health"},
        {"name": "disk", "type": "disk", "path": "/var/lib/homebus", "min_free_mb": 500},
        {"name": "broker", "type": "mqtt"}]
    | .health.expected_services = ["writer", "ingest", "notifier", "deployer"]' \
    deploy/homebus.example.json deploy/deployer-compose.json >deploy/homebus.json.tmp
  mv deploy/homebus.json.tmp deploy/homebus.json
  echo "made deploy/homebus.json: add Telegram's chat ids, then check it with"
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
for s in "${accounts[@]}"; do
  f=deploy/secrets/$s.password
  if [ ! -e "$f" ]; then
    (umask 077; head -c 18 /dev/urandom | base64 >"$f")
    made+=("$f")
  fi
done
[ -e deploy/secrets/telegram.token ] || { (umask 022; : >deploy/secrets/telegram.token); made+=(deploy/secrets/telegram.token); }

# the broker's ACL: the shipped one, with this box's instance where it keeps
# homebus's own Home Assistant discovery from the devices' accounts; written
# again at every run (the shipped one may have changed: add lines of your own
# to deploy/mosquitto.acl, the template)
(umask 077; deploy/mosquitto-acl "$instance" >deploy/secrets/mosquitto.acl.tmp)
if ! cmp -s deploy/secrets/mosquitto.acl.tmp deploy/secrets/mosquitto.acl; then
  made+=(deploy/secrets/mosquitto.acl)
fi
mv deploy/secrets/mosquitto.acl.tmp deploy/secrets/mosquitto.acl

# the broker's password file, every account in it, hashed by mosquitto's own
# tool from its own image (as the owner's user, so the file stays theirs)
passwd_add=()
if [ -e deploy/secrets/mosquitto.passwd ]; then
  for s in "${services[@]}" "${accounts[@]}"; do
    grep -q "^$s:" deploy/secrets/mosquitto.passwd || passwd_add+=("$s")
  done
else
  passwd_add=("${services[@]}" "${accounts[@]}")
fi
if [ ${#passwd_add[@]} -gt 0 ]; then
  (umask 077
   [ -e deploy/secrets/mosquitto.passwd ] && cp deploy/secrets/mosquitto.passwd deploy/secrets/.new.passwd
   for s in "${passwd_add[@]}"; do
     printf '%s:%s\n' "$s" "$(cat "deploy/secrets/$s.password")"
   done >deploy/secrets/.plain.passwd)
  docker run --rm --user "$(id -u):$(id -g)" -v "$here/deploy/secrets:/s" \
    --entrypoint sh eclipse-mosquitto:2.0 -c \
    'mosquitto_passwd -U /s/.plain.passwd && cat /s/.plain.passwd >>/s/.new.passwd' >/dev/null
  rm -f deploy/secrets/.plain.passwd
  chmod 0600 deploy/secrets/.new.passwd
  mv deploy/secrets/.new.passwd deploy/secrets/mosquitto.passwd
  made+=("deploy/secrets/mosquitto.passwd (${passwd_add[*]})")
fi
if [ ${#made[@]} -gt 0 ]; then
  echo "made: ${made[*]}"
fi
cat <<EOF
Grafana: admin, password in deploy/secrets/grafana-admin.password.
Home Assistant's MQTT integration: user homeassistant, password in
  deploy/secrets/homeassistant.password; devices: zigbee2mqtt, tasmota, shelly,
  statestream, each with its deploy/secrets/<user>.password (docs/security.md).
The homebus CLI on this host: export HOMEBUS_CONFIG=$here/deploy/homebus.json
Next: docker compose up -d
EOF
