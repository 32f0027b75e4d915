#!/usr/bin/env bash
# Pooler throughput and latency, side by side in one run: pgbench -S
# (read-only point selects) with 50 clients, each protocol mode in turn,
# against
#   direct      pgbench -> PostgreSQL
#   pgbouncer   pgbench -> PgBouncer (Debian's package, transaction mode, pool 10) -> PostgreSQL
#   holdfast    pgbench -> holdfast serve (pooler section, transaction mode, pool 10) -> PostgreSQL
# Several rounds, the targets taking turns in each; prints the median TPS,
# average latency and pooler CPU time per transaction, and holdfast's
# ratio to PgBouncer. A mode a pooler cannot serve (PgBouncer 1.18 and
# -M prepared) prints the error instead.
#
#   bash bench/pooler.sh                       # 10 s per run, 3 rounds
#   DURATION=20 ROUNDS=5 CLIENTS=100 bash bench/pooler.sh
#   MODES="simple extended" bash bench/pooler.sh
#
# Everything listens on 127.0.0.1; every pgbench run is bounded by -T.
# Installs postgresql, postgresql-contrib (pgbench) and pgbouncer with
# apt-get when run as root.
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION=${DURATION:-10}
ROUNDS=${ROUNDS:-3}
CLIENTS=${CLIENTS:-50}
THREADS=${THREADS:-2}
POOL=${POOL:-10}
SCALE=${SCALE:-10}
MODES=${MODES:-simple extended prepared}
BASE_PORT=${BASE_PORT:-18540}
PGPORT=$BASE_PORT; PGBPORT=$((BASE_PORT+1)); HFPORT=$((BASE_PORT+2))

pg_bin=""
for d in ${HOLDFAST_PG_BIN:-} /usr/lib/postgresql/*/bin; do
  if [ -n "$d" ] && [ -x "$d/initdb" ] && [ -x "$d/postgres" ]; then pg_bin=$d; fi
done
missing=()
[ -n "$pg_bin" ] || missing+=(postgresql)
command -v pgbench >/dev/null || missing+=(postgresql-contrib)
command -v pgbouncer >/dev/null || [ -x /usr/sbin/pgbouncer ] || missing+=(pgbouncer)
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
    for d in /usr/lib/postgresql/*/bin; do [ -x "$d/initdb" ] && pg_bin=$d; done
  else
    echo "bench: missing ${missing[*]}; run: sudo apt-get install -y ${missing[*]}" >&2; exit 1
  fi
fi
PGBOUNCER=$(command -v pgbouncer || echo /usr/sbin/pgbouncer)

work=$(mktemp -d -t holdfast-poolbench-XXXXXX)
chmod 755 "$work"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  if [ -n "${KEEP:-}" ]; then echo "bench: kept $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT INT TERM

# PostgreSQL and PgBouncer refuse to run as root: use the postgres account.
as_pg=()
if [ "$(id -u)" = 0 ]; then as_pg=(runuser -u postgres --); fi

wait_port() {
  for _ in $(seq 1 200); do
    if (exec 3<>/dev/tcp/127.0.0.1/"$1") 2>/dev/null; then return 0; fi
    sleep 0.1
  done
  echo "bench: nothing listening on 127.0.0.1:$1" >&2; exit 1
}

go build -o "$work/holdfast" ./cmd/holdfast

PW=$(head -c 18 /dev/urandom | base64 | tr -dc 'A-Za-z0-9')
printf '%s\n' "$PW" > "$work/pw"
chmod 640 "$work/pw"
if [ "$(id -u)" = 0 ]; then chown root:postgres "$work/pw"; fi

# PostgreSQL: a throwaway cluster tuned for a benchmark, not for safety.
mkdir -p "$work/pg" "$work/sock"
if [ "$(id -u)" = 0 ]; then chown postgres "$work/pg" "$work/sock"; fi
"${as_pg[@]}" "$pg_bin/initdb" -D "$work/pg" -U bench -A scram-sha-256 --pwfile="$work/pw" >/dev/null
"${as_pg[@]}" "$pg_bin/postgres" -D "$work/pg" -p "$PGPORT" -k "$work/sock" -c listen_addresses=127.0.0.1 \
  -c max_connections=200 -c shared_buffers=256MB -c fsync=off -c synchronous_commit=off \
  >"$work/pg.log" 2>&1 & pids+=($!)
wait_port "$PGPORT"
export PGPASSWORD=$PW PGUSER=bench
for _ in $(seq 1 50); do psql -h 127.0.0.1 -p "$PGPORT" -d postgres -Atc 'SELECT 1' >/dev/null 2>&1 && break; sleep 0.1; done
psql -h 127.0.0.1 -p "$PGPORT" -d postgres -qc 'CREATE DATABASE bench' >/dev/null
pgbench -h 127.0.0.1 -p "$PGPORT" -i -q -s "$SCALE" bench >/dev/null 2>&1

# PgBouncer, transaction mode, the same pool size.
cat > "$work/userlist.txt" <<EOF
"bench" "$PW"
EOF
cat > "$work/pgbouncer.ini" <<EOF
[databases]
bench = host=127.0.0.1 port=$PGPORT dbname=bench user=bench password=$PW
[pgbouncer]
listen_addr = 127.0.0.1
listen_port = $PGBPORT
unix_socket_dir =
auth_type = scram-sha-256
auth_file = $work/userlist.txt
pool_mode = transaction
default_pool_size = $POOL
max_client_conn = 1000

EOF
chmod 644 "$work/userlist.txt" "$work/pgbouncer.ini"
pgb_user=()
if [ "$(id -u)" = 0 ]; then pgb_user=(-u postgres); fi
"$PGBOUNCER" "${pgb_user[@]}" "$work/pgbouncer.ini" >"$work/pgbouncer.out" 2>&1 & pids+=($!)
PGB_PID=$!
wait_port "$PGBPORT"

# holdfast serve with a pooler section, transaction mode, the same pool size.
cat > "$work/holdfast.yaml" <<EOF
data_dir: $work/hf-data
admin:
  listen: 127.0.0.1:0
listeners:
  - name: public
    listen: 127.0.0.1:0
access_log:
  path: off
upstreams:
  - name: none
    url: http://127.0.0.1:1
routes:
  - name: none
    targets: [{upstream: none, weight: 1}]
pooler:
  listen: 127.0.0.1:$HFPORT
  users:
    - name: bench
      password_file: $work/pw
  databases:
    bench:
      port: $PGPORT
      user: bench
      password_file: $work/pw
  pool_mode: transaction
  default_pool_size: $POOL
  max_client_conn: 1000
EOF
"$work/holdfast" serve --config "$work/holdfast.yaml" >"$work/holdfast.log" 2>&1 & pids+=($!)
HF_PID=$!
wait_port "$HFPORT"

median() { sort -g | awk '{a[NR]=$1} END {if (NR==0) {print ""} else if (NR%2) {print a[(NR+1)/2]} else {printf "%.3f\n", (a[NR/2]+a[NR/2+1])/2}}'; }

# cputicks PID -> user+system clock ticks the process has used so far
cputicks() { awk '{print $14 + $15}' "/proc/$1/stat" 2>/dev/null || echo 0; }
TICK_US=$((1000000 / $(getconf CLK_TCK)))

# once PORT MODE PID -> "tps latency cpu" of one pgbench run, or "ERR message";
# cpu is the pooler's CPU time per transaction in microseconds (0 without PID)
once() {
  local port=$1 mode=$2 pid=$3 out err t0=0 n cpu=0
  [ -z "$pid" ] || t0=$(cputicks "$pid")
  if out=$(pgbench -h 127.0.0.1 -p "$port" -n -S -c "$CLIENTS" -j "$THREADS" -T "$DURATION" -M "$mode" bench 2>&1) \
     && grep -q '^tps' <<<"$out"; then
    if [ -n "$pid" ]; then
      n=$(awk -F': ' '/^number of transactions actually processed/ {print $2; exit}' <<<"$out" | cut -d/ -f1)
      cpu=$(awk -v a="$t0" -v b="$(cputicks "$pid")" -v n="$n" -v u="$TICK_US" 'BEGIN {printf "%.1f\n", (b-a)*u/n}')
    fi
    echo "$(awk '/^tps/ {print $3; exit}' <<<"$out") $(awk '/^latency average/ {print $4; exit}' <<<"$out") $cpu"
  else
    err=$(grep -m1 -iE 'error|fatal|aborted' <<<"$out" | sed 's/^pgbench: //' | cut -c1-150)
    echo "ERR ${err:-pgbench failed}"
  fi
}

# The targets take turns within each round, so a machine that speeds up
# or slows down during the run weighs on all of them alike; the ratio is
# the median of each round's holdfast / PgBouncer.
echo "pgbench -S, $CLIENTS clients, $THREADS threads, pool $POOL, ${DURATION}s x $ROUNDS rounds (median), scale $SCALE, $(nproc) cores"
printf '%-9s %-10s %12s %12s %12s   %s\n' mode target tps "latency ms" "cpu us/txn" note
for mode in $MODES; do
  declare -A err=()
  for round in $(seq 1 "$ROUNDS"); do
    for target in direct pgbouncer holdfast; do
      [ -z "${err[$target]:-}" ] || continue
      case $target in
        direct) port=$PGPORT pid="" ;;
        pgbouncer) port=$PGBPORT pid=$PGB_PID ;;
        holdfast) port=$HFPORT pid=$HF_PID ;;
      esac
      res=$(once "$port" "$mode" "$pid")
      if [[ $res == ERR* ]]; then err[$target]=${res#ERR }; continue; fi
      echo "$res" >> "$work/res-$mode-$target"
      echo "$round ${res%% *}" >> "$work/tps-$mode-$target"
    done
  done
  for target in direct pgbouncer holdfast; do
    if [ -n "${err[$target]:-}" ]; then
      printf '%-9s %-10s %12s %12s %12s   %s\n' "$mode" "$target" "-" "-" "-" "${err[$target]}"
      continue
    fi
    f=$work/res-$mode-$target
    t=$(awk '{print $1}' "$f" | median) l=$(awk '{print $2}' "$f" | median) c=$(awk '{print $3}' "$f" | median)
    [ "$target" != direct ] || c=-
    printf '%-9s %-10s %12.0f %12.3f %12s\n' "$mode" "$target" "$t" "$l" "$c"
    [ "$target" != holdfast ] || echo "$t" > "$work/hf-$mode"
  done
  if [ -z "${err[holdfast]:-}" ] && [ -z "${err[pgbouncer]:-}" ]; then
    ratios=$(awk 'NR==FNR {pgb[$1]=$2; next} ($1 in pgb) {printf "%.3f\n", $2/pgb[$1]}' \
      "$work/tps-$mode-pgbouncer" "$work/tps-$mode-holdfast")
    printf '%-9s holdfast / pgbouncer: %.2fx (rounds: %s)\n' "$mode" "$(median <<<"$ratios")" "$(tr '\n' ' ' <<<"$ratios" | sed 's/ $//')"
  fi
  unset err
done
if [ -f "$work/hf-prepared" ] && [ -f "$work/hf-extended" ]; then
  printf 'holdfast prepared / holdfast extended: %.2fx\n' "$(awk -v a="$(cat "$work/hf-prepared")" -v b="$(cat "$work/hf-extended")" 'BEGIN {print a/b}')"
fi
