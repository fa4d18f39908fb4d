#!/usr/bin/env bash
# Manages a throw-away PostgreSQL cluster for tests:
#   pg-cluster.sh init DIR            fresh cluster, prints its DATABASE_URL
#   pg-cluster.sh stop DIR [MODE]     stop (MODE fast|immediate)
#   pg-cluster.sh resume DIR          start it again on the same port
set -euo pipefail
source "$(dirname "$0")/lib.sh"

case "${1:-}" in
  init) pg_cluster_init "$2" ;;
  stop) pg_cluster_stop "$2" "${3:-fast}" ;;
  resume) pg_cluster_resume "$2" ;;
  *) echo "usage: $0 init|stop|resume DIR [MODE]" >&2; exit 64 ;;
esac
