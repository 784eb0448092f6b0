#!/bin/sh
# Start pdns-recursor forwarding the lab zone to the authoritative server.
# The lab network is internal: the recursor cannot (and must not) reach anything else.
# Its API key is its own (secrets volume `secrets-recursor`), not the authoritative's; the
# configuration holding it is readable by root only (pdns_recursor reads it before it drops
# to the pdns user).
set -eu
key_file=${RECURSOR_API_KEY_FILE:-/run/secrets/recursor-api-key}
zone=${LAB_ZONE:-lab.test}
auth=${LAB_AUTH_ADDRESS:?LAB_AUTH_ADDRESS must name the authoritative server IP address}
[ -s "$key_file" ] || { echo "recursor: no API key in $key_file; the keygen service must run first" >&2; exit 1; }
mkdir -p /etc/powerdns/recursor.d /var/run/pdns-recursor
umask 077
cat > /etc/powerdns/recursor.conf <<CONF
local-address=0.0.0.0
local-port=53
allow-from=0.0.0.0/0,::/0
forward-zones=$zone=$auth:53
dnssec=off
max-cache-ttl=${LAB_RESOLVER_MAX_CACHE_TTL:-86400}
max-negative-ttl=${LAB_RESOLVER_MAX_NEGATIVE_TTL:-3600}
serve-stale-extensions=${LAB_RESOLVER_SERVE_STALE_EXTENSIONS:-0}
webserver=yes
webserver-address=0.0.0.0
webserver-port=8082
webserver-allow-from=0.0.0.0/0,::/0
api-key=$(cat "$key_file")
setuid=pdns
setgid=pdns
socket-dir=/var/run/pdns-recursor
quiet=yes
CONF
chown -R pdns:pdns /var/run/pdns-recursor
chown root:root /etc/powerdns/recursor.conf
chmod 0600 /etc/powerdns/recursor.conf
exec pdns_recursor --daemon=no --disable-syslog --config-dir=/etc/powerdns
