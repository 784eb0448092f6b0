#!/bin/sh
# Start PowerDNS Authoritative: install the per-lab API key, create the lab zone with its
# seed record on first start, then run pdns_server in the foreground.
set -eu
key_file=${PDNS_API_KEY_FILE:-/run/secrets/pdns-api-key}
zone=${LAB_ZONE:-lab.test}
soa_ttl=${LAB_SOA_TTL:-60}
neg_ttl=${LAB_NEGATIVE_TTL:-30}
seed_ttl=${LAB_SEED_TTL:-30}
seed_addr=${LAB_SEED_ADDRESS:-198.51.100.10}

if [ ! -s "$key_file" ]; then
  echo "pdns-auth: no API key in $key_file; the keygen service must run first" >&2
  exit 1
fi
umask 077
printf 'api-key=%s\n' "$(cat "$key_file")" > /etc/powerdns/pdns.d/api-key.conf
umask 022

if ! pdnsutil list-zone "$zone" >/dev/null 2>&1; then
  pdnsutil create-zone "$zone" "ns1.$zone" >/dev/null
  pdnsutil replace-rrset "$zone" @ SOA "$soa_ttl" \
    "ns1.$zone hostmaster.$zone 1 10800 3600 604800 $neg_ttl" >/dev/null
  pdnsutil add-record "$zone" ns1 A "$soa_ttl" 198.51.100.53 >/dev/null
  pdnsutil add-record "$zone" seed A "$seed_ttl" "$seed_addr" >/dev/null
  pdnsutil set-meta "$zone" SOA-EDIT-API DEFAULT >/dev/null
  echo "pdns-auth: created zone $zone (negative TTL ${neg_ttl}s) with seed.$zone A $seed_addr" >&2
fi
chown -R pdns:pdns /var/lib/powerdns
exec pdns_server --guardian=no --daemon=no --disable-syslog --write-pid=no
