#!/bin/sh
# Registers the namespace Offboard uses (30 days of closed-workflow retention for audits) and the
# search attributes its workflows carry (SEARCH_ATTRIBUTES: space-separated Name=Type pairs, the list
# of contract/index.ts). Idempotent: existing attributes are left alone.
set -eu
NS="${NAMESPACE:-default}"
until temporal operator cluster health --address "$TEMPORAL_ADDRESS" | grep -q SERVING; do sleep 1; done
temporal operator namespace describe -n "$NS" --address "$TEMPORAL_ADDRESS" >/dev/null 2>&1 \
  || temporal operator namespace create -n "$NS" --retention 30d --address "$TEMPORAL_ADDRESS"
echo "Namespace $NS ready"
# A namespace just created takes a moment to reach every frontend's cache.
until existing=$(temporal operator search-attribute list -n "$NS" --address "$TEMPORAL_ADDRESS" 2>/dev/null); do
  sleep 1
done
for pair in ${SEARCH_ATTRIBUTES:-}; do
  name="${pair%%=*}"
  type="${pair#*=}"
  if printf '%s\n' "$existing" | grep -qw "$name"; then
    echo "Search attribute $name exists"
  else
    temporal operator search-attribute create -n "$NS" --address "$TEMPORAL_ADDRESS" --name "$name" --type "$type"
    echo "Search attribute $name ($type) registered"
  fi
done
