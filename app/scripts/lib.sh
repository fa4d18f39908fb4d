# Shared shell for test.sh, bench.sh, bundle.sh and pg-cluster.sh. Source it; it defines
# functions only (plus APP_DIR, STATE_DIR and PATH).

APP_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# Throw-away clusters live here; a run that crashed leaves them for the next run to clean. One
# folder per checkout: two checkouts testing at once on one machine must not replace each
# other's cluster.
STATE_DIR="${CRM_STATE_DIR:-/tmp/crm-app-state-$(printf %s "$APP_DIR" | md5sum | cut -c1-8)}"
# The infrastructure project pins Node 24 in its own node_modules; prefer it when present.
if [ -x "$APP_DIR/../node_modules/.bin/node" ]; then
  PATH="$APP_DIR/../node_modules/.bin:$PATH"
fi
export PATH

log() { printf '%s: %s\n' "$(basename "$0")" "$*" >&2; }

# Installs the given Debian packages unless all are already installed.
ensure_debian_packages() {
  local missing=() p
  for p in "$@"; do
    dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
  done
  [ "${#missing[@]}" -eq 0 ] && return 0
  log "installing ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
}

# Runs npm ci when node_modules is missing or older than package-lock.json.
ensure_node_modules() {
  local stamp="$APP_DIR/node_modules/.package-lock.json"
  if [ ! -f "$stamp" ] || [ "$APP_DIR/package-lock.json" -nt "$stamp" ]; then
    log "npm ci"
    (cd "$APP_DIR" && npm ci --no-audit --no-fund --ignore-scripts >/dev/null)
  fi
}

# Compiles src/ to dist/ from scratch, so no output of a deleted source file survives.
build_app() {
  rm -rf "$APP_DIR/dist"
  (cd "$APP_DIR" && npx tsc -p tsconfig.json)
}

# Points TMPDIR at a fresh folder for this run's upload folders and browser profiles.
fresh_tmpdir() {
  TMPDIR="$STATE_DIR/$1"
  export TMPDIR
  rm -rf "$TMPDIR"
  mkdir -p "$TMPDIR"
}

free_port() {
  node -e 'const s = require("net").createServer().listen(0, "127.0.0.1", () => { console.log(s.address().port); s.close(); });'
}

pg_bin() {
  local dir
  dir="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)"
  [ -n "$dir" ] || { log "PostgreSQL server binaries not found under /usr/lib/postgresql"; return 1; }
  echo "$dir"
}

# From /: the checkout may sit where postgres may not enter (root's home is 0700).
as_postgres() { (cd / && runuser -u postgres -- "$@"); }

# pg_cluster_stop DIR [MODE]: stops the cluster in DIR if it runs (MODE: fast|immediate).
pg_cluster_stop() {
  local dir="$1" mode="${2:-fast}" bin
  bin="$(pg_bin)"
  if [ -f "$dir/data/postmaster.pid" ] && as_postgres "$bin/pg_ctl" -D "$dir/data" status >/dev/null 2>&1; then
    as_postgres "$bin/pg_ctl" -D "$dir/data" stop -m "$mode" -w >/dev/null
  fi
}

# pg_cluster_resume DIR: starts an existing cluster again on its original port.
pg_cluster_resume() {
  local dir="$1" bin port
  bin="$(pg_bin)"
  port="$(cat "$dir/port")"
  as_postgres "$bin/pg_ctl" -D "$dir/data" -l "$dir/postgres.log" -w -t 30 start \
    -o "-c listen_addresses=127.0.0.1 -p $port -c unix_socket_directories=$dir ${PG_EXTRA_OPTS:-}" >/dev/null
}

# pg_cluster_init DIR: a fresh cluster in DIR on a free loopback port, owned and run by
# the postgres user, password-protected. Replaces whatever an earlier run left in DIR.
# Prints the superuser's DATABASE_URL.
pg_cluster_init() {
  local dir="$1" bin password
  bin="$(pg_bin)"
  pg_cluster_stop "$dir" immediate
  rm -rf "$dir"
  mkdir -p "$dir"
  chown postgres: "$dir"
  chmod 700 "$dir"
  password="$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')"
  printf '%s\n' "$password" > "$dir/pwfile"
  chown postgres: "$dir/pwfile"
  as_postgres "$bin/initdb" -D "$dir/data" -U postgres --pwfile="$dir/pwfile" \
    --auth-host=scram-sha-256 --auth-local=peer -E UTF8 --locale=C.UTF-8 >/dev/null
  rm -f "$dir/pwfile"
  free_port > "$dir/port"
  pg_cluster_resume "$dir"
  echo "postgres://postgres:${password}@127.0.0.1:$(cat "$dir/port")/postgres"
}
