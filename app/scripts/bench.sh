#!/usr/bin/env bash
# Benchmarks one server against its own throw-away PostgreSQL (see bench.ts for what is
# measured). Bounded: about 2 x BENCH_SECONDS (default 10) plus start-up.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

ensure_debian_packages postgresql
ensure_node_modules
build_app

PG_DIR="$STATE_DIR/bench-pg"
fresh_tmpdir bench-tmp
trap 'pg_cluster_stop "$PG_DIR" immediate; rm -rf "$TMPDIR"' EXIT
TEST_DATABASE_URL="$(pg_cluster_init "$PG_DIR")"
export TEST_DATABASE_URL

cd "$APP_DIR"
node --import=tsx scripts/bench.ts
