#!/bin/sh
# as the official image's: as root, /mosquitto to the broker's user, then exec
set -e
if [ "$(id -u)" = 0 ]; then
	[ -d /mosquitto ] && chown -R mosquitto:mosquitto /mosquitto || true
fi
exec "$@"
