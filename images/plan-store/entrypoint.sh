#!/bin/sh
# Start etcd $LAB_ETCD_STORE (plan-store or zone-store) with TLS, client certificates and
# authentication: https on 2379 with the lab's CA (--client-cert-auth), peers on loopback,
# metrics (no data) on http 2381. On a fresh data directory it creates root and the users
# of secrets' `users` file ("user permission prefix" per line; each password in
# <user>.password) with one role each, then enables authentication. Idempotent: a step
# already done is skipped. The health check passes only once this is done.
# Simple tokens live etcd's default 5 minutes; the lab's client takes a new one on "invalid
# auth token" (lab/etcd.py). CoreDNS uses no token at all: its etcd client (v3.7) cannot
# renew one (its Authenticate call carries the stale token and is refused, forever), so it
# is user coredns by its certificate's CN (images/coredns/Corefile).
set -eu
name=${LAB_ETCD_STORE:?LAB_ETCD_STORE must be plan-store or zone-store}
secrets=/run/secrets/etcd
own=$secrets/$name
ready=/run/etcd-ready
for f in "$secrets/ca.crt" "$own/server.crt" "$own/server.key" "$own/root.crt" \
         "$own/root.key" "$own/root.password" "$own/users"; do
  [ -s "$f" ] || { echo "$name: $f is missing; the keygen service must run first" >&2; exit 1; }
done
rm -f "$ready"
etcd --name="$name" --data-dir="/var/lib/etcd/$name" \
  --listen-client-urls=https://0.0.0.0:2379 --advertise-client-urls="https://$name:2379" \
  --cert-file="$own/server.crt" --key-file="$own/server.key" \
  --trusted-ca-file="$secrets/ca.crt" --client-cert-auth \
  --listen-peer-urls=http://127.0.0.1:2380 --initial-advertise-peer-urls=http://127.0.0.1:2380 \
  --initial-cluster="$name=http://127.0.0.1:2380" \
  --listen-metrics-urls=http://0.0.0.0:2381 --log-level=warn &
pid=$!
trap 'kill -TERM "$pid" 2>/dev/null' TERM INT

ctl() {
  ETCDCTL_API=3 etcdctl --endpoints=https://127.0.0.1:2379 --cacert="$secrets/ca.crt" \
    --cert="$own/root.crt" --key="$own/root.key" --dial-timeout=2s "$@"
}
tries=0
until ctl endpoint health >/dev/null 2>&1; do
  kill -0 "$pid" 2>/dev/null || { echo "$name: etcd exited before it answered" >&2; exit 1; }
  tries=$((tries + 1)); [ "$tries" -lt 300 ] || { echo "$name: etcd never answered" >&2; exit 1; }
  sleep 0.1
done
if ! ctl auth status 2>/dev/null | grep -q 'Authentication Status: true'; then
  ctl user get root >/dev/null 2>&1 \
    || ctl user add root --new-user-password="$(cat "$own/root.password")" >/dev/null
  ctl user grant-role root root >/dev/null 2>&1 || true
  while read -r user permission prefix; do
    [ -n "$user" ] || continue
    ctl role get "$user" >/dev/null 2>&1 || ctl role add "$user" >/dev/null
    ctl role grant-permission --prefix=true "$user" "$permission" "$prefix" >/dev/null
    ctl user get "$user" >/dev/null 2>&1 \
      || ctl user add "$user" --new-user-password="$(cat "$own/$user.password")" >/dev/null
    ctl user grant-role "$user" "$user" >/dev/null
  done < "$own/users"
  ctl auth enable >/dev/null
  echo "$name: authentication on; users: root $(cut -d' ' -f1 "$own/users" | tr '\n' ' ')" >&2
fi
touch "$ready"
while kill -0 "$pid" 2>/dev/null; do wait "$pid" || true; done
