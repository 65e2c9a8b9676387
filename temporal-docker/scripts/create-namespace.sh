#!/bin/sh
# Registers the namespace Offboard uses (30 days of closed-workflow retention for audits).
set -eu
NS="${NAMESPACE:-default}"
until temporal operator cluster health --address "$TEMPORAL_ADDRESS" | grep -q SERVING; do sleep 1; done
temporal operator namespace describe -n "$NS" --address "$TEMPORAL_ADDRESS" >/dev/null 2>&1 \
  || temporal operator namespace create -n "$NS" --retention 30d --address "$TEMPORAL_ADDRESS"
echo "Namespace $NS ready"
