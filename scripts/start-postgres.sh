#!/usr/bin/env bash
# Starts the Debian PostgreSQL cluster on loopback for the tests (installing it if needed), makes a role that may
# create databases, and prints the URL the tests use: HOTLINE_TEST_POSTGRES_URL=$(scripts/start-postgres.sh)
set -euo pipefail
# Only the URL goes to standard output: pg_ctlcluster prints notices there ("Removed stale pid file.", a warning on
# machines that run systemd), which would otherwise become part of the URL.
start() {
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  if ! command -v pg_lsclusters >/dev/null; then
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends postgresql postgresql-client >/dev/null
  fi
  version=""
  read -r version cluster port status _ < <(pg_lsclusters -h | head -1) || true
  if [ -z "$version" ]; then
    $sudo pg_createcluster "$(ls /usr/lib/postgresql | sort -n | tail -1)" main >/dev/null
    read -r version cluster port status _ < <(pg_lsclusters -h | head -1) || true
  fi
  [ "$status" = "online" ] || $sudo pg_ctlcluster "$version" "$cluster" start
  as_postgres() { if [ "$(id -u)" -eq 0 ]; then su postgres -c "$1"; else sudo -u postgres sh -c "$1"; fi; }
  for _ in $(seq 1 30); do as_postgres "psql -p $port -qAtc 'SELECT 1'" >/dev/null 2>&1 && break; sleep 0.5; done
  if ! as_postgres "psql -p $port -qAtc \"SELECT 1 FROM pg_roles WHERE rolname = 'hotline'\"" | grep -q 1; then
    as_postgres "psql -p $port -qc \"CREATE ROLE hotline LOGIN CREATEDB PASSWORD 'hotline'\"" >/dev/null
  fi
}
start >&2
echo "postgres://hotline:hotline@127.0.0.1:$port/postgres"
