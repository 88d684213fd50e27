#!/bin/bash
# as the official 1.x image's: options alone run influxd; an empty data
# folder is initialised first (init-influxdb.sh)
set -e
if [ "${1:0:1}" = '-' ]; then
	set -- influxd "$@"
fi
if [ "$1" = 'influxd' ]; then
	/init-influxdb.sh "${@:2}"
fi
exec "$@"
