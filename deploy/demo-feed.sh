#!/usr/bin/env bash
# A demo feed for the quickstart: what a small home publishes on MQTT —
# zigbee2mqtt sensors and a plug, Home Assistant's mqtt_statestream (with
# retained attributes) and a Tasmota energy meter — a few messages a second
# until it is stopped.
#
#   deploy/demo-feed.sh [HOST] [PORT]
#
# HOMEBUS_DEMO_SECRETS=DIR: a broker with deploy/mosquitto.acl's accounts
# (compose-init.sh's deploy/secrets/): each source logs in as its own user,
# zigbee2mqtt, statestream or tasmota, with DIR/<user>.password.
set -u
host=${1:-127.0.0.1}
port=${2:-1883}
secrets=${HOMEBUS_DEMO_SECRETS:-}

pub() {	# topic payload [retain]
  local auth=() user
  if [ -n "$secrets" ]; then
    case $1 in
      zigbee2mqtt/*) user=zigbee2mqtt ;;
      homeassistant_statestream/*) user=statestream ;;
      *) user=tasmota ;;
    esac
    auth=(-u "$user" -P "$(cat "$secrets/$user.password")")
  fi
  mosquitto_pub -h "$host" -p "$port" "${auth[@]}" -q 0 ${3:+-r} -t "$1" -m "$2" || true
}

# a reading that drifts: base + a slow wave + a little noise, 2 decimals
drift() {	# base_hundredths amplitude_hundredths period_s
  local t=$SECONDS phase
  phase=$(( (t % $3) * 628 / $3 ))	# 0..628 (2*pi hundredths)
  # a triangle wave is close enough to a sine for a demo
  local tri=$(( phase < 314 ? phase - 157 : 471 - phase ))
  local v=$(( $1 + $2 * tri / 157 + RANDOM % 20 - 10 ))
  printf '%d.%02d' $((v / 100)) $(( (v < 0 ? -v : v) % 100 ))
}

# Home Assistant publishes attributes retained, once and on change.
ha=homeassistant_statestream
pub "$ha/sensor/outdoor_temperature/unit_of_measurement" '"\u00b0C"' r
pub "$ha/sensor/outdoor_temperature/friendly_name" '"Outdoor temperature"' r
pub "$ha/sensor/outdoor_temperature/device_class" '"temperature"' r
pub "$ha/sensor/outdoor_temperature/state_class" '"measurement"' r
pub "$ha/sensor/electricity_price/unit_of_measurement" '"EUR/kWh"' r
pub "$ha/sensor/electricity_price/friendly_name" '"Electricity price"' r
pub "$ha/light/hallway/friendly_name" '"Hallway"' r
pub "$ha/light/hallway/brightness" '180' r
pub "$ha/person/anna/friendly_name" '"Anna"' r

energy_wh=1234500
tick=0
while :; do
  tick=$((tick + 1))
  pub zigbee2mqtt/living_room_sensor "{\"temperature\":$(drift 2150 120 300),\"humidity\":$(drift 4800 500 600),\"battery\":94,\"voltage\":2995,\"linkquality\":$((100 + RANDOM % 60))}"
  pub zigbee2mqtt/bedroom_sensor "{\"temperature\":$(drift 1900 80 420),\"humidity\":$(drift 5200 300 500),\"battery\":71,\"linkquality\":$((60 + RANDOM % 40))}"
  watts=$(drift 15000 9000 120)
  energy_wh=$((energy_wh + ${watts%.*} / 3600 + 1))
  pub zigbee2mqtt/kitchen_plug "{\"state\":\"ON\",\"power\":$watts,\"energy\":$((energy_wh / 1000)).$((energy_wh % 1000 / 10)),\"voltage\":$(drift 23000 300 90),\"current\":0.$((40 + RANDOM % 50))}"
  if (( tick % 2 == 0 )); then
    pub "$ha/sensor/outdoor_temperature/state" "$(drift 800 400 900)"
  fi
  if (( tick % 5 == 0 )); then
    pub zigbee2mqtt/front_door "{\"contact\":$( ((RANDOM % 4)) && echo true || echo false),\"battery\":88,\"linkquality\":90}"
    pub "$ha/sensor/electricity_price/state" "0.$((21 + RANDOM % 15))"
    pub "$ha/light/hallway/state" "$( ((RANDOM % 2)) && echo on || echo off)"
    pub tele/washing_machine/SENSOR "{\"Time\":\"$(date +%Y-%m-%dT%H:%M:%S)\",\"ENERGY\":{\"TotalStartTime\":\"2025-01-01T00:00:00\",\"Total\":$((energy_wh / 2000)).$((energy_wh % 1000)),\"Yesterday\":0.812,\"Today\":0.$((RANDOM % 900 + 100)),\"Power\":$((RANDOM % 2000)),\"ApparentPower\":$((RANDOM % 2100)),\"ReactivePower\":12,\"Factor\":0.98,\"Voltage\":$((228 + RANDOM % 5)),\"Current\":$((RANDOM % 9)).$((RANDOM % 100))}}"
  fi
  if (( tick % 30 == 0 )); then
    pub "$ha/person/anna/state" "$( ((RANDOM % 3)) && echo home || echo not_home)"
  fi
  sleep 1
done
