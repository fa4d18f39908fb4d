#!/usr/bin/env bash
# Runs the test suite against a throw-away PostgreSQL started (and stopped) here.
# Safe to run repeatedly and after a crashed run. Extra arguments go to mocha.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

ensure_debian_packages postgresql chromium haproxy libnss3-tools
ensure_node_modules
build_app

PG_DIR="$STATE_DIR/test-pg"
fresh_tmpdir test-tmp
trap 'pg_cluster_stop "$PG_DIR" immediate; rm -rf "$TMPDIR"' EXIT
# Durability is irrelevant for a throw-away cluster; skipping fsync keeps the suite fast.
PG_EXTRA_OPTS="-c fsync=off -c synchronous_commit=off -c full_page_writes=off"
export PG_EXTRA_OPTS
TEST_DATABASE_URL="$(pg_cluster_init "$PG_DIR")"
export TEST_DATABASE_URL CRM_STATE_DIR="$STATE_DIR"

cd "$APP_DIR"
npx tsc -p tsconfig.test.json --noEmit
npx mocha "$@"
