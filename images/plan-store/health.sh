#!/bin/sh
# Healthy: users and authentication are set up (entrypoint.sh) and etcd answers over TLS.
set -eu
secrets=/run/secrets/etcd
own=$secrets/${LAB_ETCD_STORE:?}
test -f /run/etcd-ready
ETCDCTL_API=3 exec etcdctl --endpoints=https://127.0.0.1:2379 --cacert="$secrets/ca.crt" \
  --cert="$own/root.crt" --key="$own/root.key" --dial-timeout=2s endpoint health >/dev/null
