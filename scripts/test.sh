#!/usr/bin/env bash
# The project's test command: installs what the tests need when it is missing
# (with apt-get when run as root; otherwise it prints the command to run), then
# runs go vet and the whole test suite with the race detector.
set -euo pipefail
cd "$(dirname "$0")/.."

need_pkgs=()
pg_bin=""
for d in ${HOLDFAST_PG_BIN:-} /usr/lib/postgresql/*/bin; do
  if [ -n "$d" ] && [ -x "$d/initdb" ] && [ -x "$d/postgres" ]; then pg_bin=$d; fi
done
[ -n "$pg_bin" ] || need_pkgs+=(postgresql)
command -v psql >/dev/null 2>&1 || need_pkgs+=(postgresql-client)
command -v pgbench >/dev/null 2>&1 || need_pkgs+=(postgresql-contrib)
command -v gcc >/dev/null 2>&1 || need_pkgs+=(gcc) # the race detector needs cgo
command -v pgbouncer >/dev/null 2>&1 || [ -x /usr/sbin/pgbouncer ] || need_pkgs+=(pgbouncer) # tests/clients compares against it
command -v npm >/dev/null 2>&1 || need_pkgs+=(npm)

if [ ${#need_pkgs[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "test.sh: installing ${need_pkgs[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_pkgs[@]}" >/dev/null
  else
    echo "test.sh: missing ${need_pkgs[*]}; install them with:" >&2
    echo "  sudo apt-get install -y ${need_pkgs[*]}" >&2
    exit 1
  fi
fi
command -v go >/dev/null 2>&1 || { echo "test.sh: Go is not on PATH; install Go 1.26 or newer" >&2; exit 1; }

# The pooler's Node.js client harness (node-postgres, Prisma 7): exact
# versions from the lockfile, installed once per lockfile. Prisma's
# install step must not try to download its schema engine.
node_major=$(node -p 'process.versions.node.split(".").map(Number).slice(0,2).join(".")' 2>/dev/null || echo 0)
if ! awk -v v="$node_major" 'BEGIN { split(v, a, "."); exit !(a[1] > 20 || (a[1] == 20 && a[2] >= 19)) }'; then
  echo "test.sh: Node.js 20.19 or newer is needed by tests/clients (Prisma 7); found ${node_major}" >&2
  exit 1
fi
lock_sum=$(sha256sum tests/clients/package-lock.json | cut -d' ' -f1)
if [ "$(cat tests/clients/node_modules/.holdfast-lock 2>/dev/null)" != "$lock_sum" ]; then
  echo "test.sh: npm ci in tests/clients"
  (cd tests/clients && PRISMA_SCHEMA_ENGINE_BINARY="$(type -P true)" CHECKPOINT_DISABLE=1 npm ci --no-audit --no-fund --loglevel=error)
  echo "$lock_sum" > tests/clients/node_modules/.holdfast-lock
fi

echo "test.sh: go vet ./..."
go vet ./...
echo "test.sh: go test -race ./..."
go test -race -count=1 -timeout 20m ./...
