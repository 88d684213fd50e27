#!/bin/sh
# as the real image's: the listening address into the template, then haproxy
# in the foreground
set -e
case $(echo "$DISABLE_IPV6" | tr '[:upper:]' '[:lower:]') in
1|true|yes) BIND_CONFIG=":2375" ;;
*) BIND_CONFIG="[::]:2375 v4v6" ;;
esac
sed "s/\${BIND_CONFIG}/$BIND_CONFIG/g" /usr/local/etc/haproxy/haproxy.cfg.template >/tmp/haproxy.cfg
if [ "${1#-}" != "$1" ]; then
	set -- haproxy "$@"
fi
if [ "$1" = haproxy ]; then
	shift
	set -- haproxy -W -db "$@"
fi
exec "$@"
