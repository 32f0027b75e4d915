#!/usr/bin/env bash
# Gateway throughput and p99, side by side in one run, with wrk against the
# same upstream (an nginx that answers a fixed JSON body):
#   direct      wrk -> upstream
#   nginx       wrk -> nginx reverse proxy -> upstream (a JSON access log with holdfast's fields)
#   nginx-text  the same nginx with a short text access log, buffered
#   nginx-dflt  the same nginx with its default access log (combined format, unbuffered)
#   caddy       wrk -> caddy reverse_proxy  -> upstream
#   holdfast    wrk -> holdfast serve (kill switch + telemetry + access log on) -> upstream
# Every proxy is started afresh for each of its runs. Prints requests/s and
# p99 for each (best round), each proxy's CPU time per request (median of
# rounds; nginx with its workers) and holdfast's ratios to nginx and Caddy:
# best round against best round, and the median of the rounds' own
# holdfast/nginx ratios (steadier when the machine's speed drifts between
# rounds).
#
#   bash bench/gateway.sh                # 10 s per run, 64 connections, 2 wrk threads
#   DURATION=20s CONNS=128 ROUNDS=3 bash bench/gateway.sh
#
# Everything listens on 127.0.0.1 and every run is bounded by DURATION.
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION=${DURATION:-10s}
CONNS=${CONNS:-64}
THREADS=${THREADS:-2}
ROUNDS=${ROUNDS:-1}
WORKERS=${WORKERS:-auto}   # nginx worker_processes; GOMAXPROCS for holdfast is the default
BASE_PORT=${BASE_PORT:-18480}
UP=$((BASE_PORT)); NGX=$((BASE_PORT+1)); CAD=$((BASE_PORT+2)); HF=$((BASE_PORT+3)); HFA=$((BASE_PORT+4)); CADA=$((BASE_PORT+5)); NGXT=$((BASE_PORT+6)); NGXD=$((BASE_PORT+7))

missing=()
command -v wrk >/dev/null || missing+=(wrk)
command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || missing+=(nginx-light)
command -v caddy >/dev/null || missing+=(caddy)
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  else
    echo "bench: missing ${missing[*]}; run: sudo apt-get install -y ${missing[*]}" >&2; exit 1
  fi
fi
NGINX=$(command -v nginx || echo /usr/sbin/nginx)

work=$(mktemp -d /tmp/holdfast-bench-XXXXXX)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT INT TERM

go build -o "$work/holdfast" ./cmd/holdfast

wait_port() {
  for _ in $(seq 1 100); do
    if (exec 3<>/dev/tcp/127.0.0.1/"$1") 2>/dev/null; then return 0; fi
    sleep 0.1
  done
  echo "bench: nothing listening on 127.0.0.1:$1" >&2; exit 1
}

nginx_conf() { # $1 = name, $2 = server block
  mkdir -p "$work/$1"
  cat > "$work/$1/nginx.conf" <<EOF
worker_processes $WORKERS;
daemon off;
pid $work/$1/nginx.pid;
error_log $work/$1/error.log warn;
events { worker_connections 4096; }
http {
  client_body_temp_path $work/$1/body; proxy_temp_path $work/$1/proxy;
  fastcgi_temp_path $work/$1/fcgi; uwsgi_temp_path $work/$1/uwsgi; scgi_temp_path $work/$1/scgi;
  $2
}
EOF
}

# The upstream: a fixed JSON body, no logging.
nginx_conf upstream "access_log off; keepalive_requests 1000000;
  server { listen 127.0.0.1:$UP; location / { default_type application/json; return 200 '{\"orders\":[{\"id\":1,\"customer_id\":1,\"total_cents\":4200}]}'; } }"
"$NGINX" -c "$work/upstream/nginx.conf" -e "$work/upstream/error.log" & pids+=($!)

# nginx as a plain reverse proxy, with a buffered access log like holdfast's:
# one JSON line per request with the same fields (nginx has no route, error
# kind or trace, so those are constants or its request id), about as many
# bytes per line as holdfast writes.
nginx_conf proxy "log_format hf escape=json '{\"time\":\"\$time_iso8601\",\"route\":\"orders\",\"target\":\"\$upstream_addr\",\"status\":\$status,\"duration_ms\":\$request_time,\"request_id\":\"\$request_id\",\"trace_id\":\"\$request_id\",\"method\":\"\$request_method\",\"path\":\"\$uri\",\"bytes\":\$body_bytes_sent,\"kind\":\"none\",\"attempts\":1}';
  access_log $work/proxy/access.log hf buffer=64k flush=1s; keepalive_requests 1000000;
  upstream up { server 127.0.0.1:$UP; keepalive 128; }
  server { listen 127.0.0.1:$NGX; location / { proxy_pass http://up; proxy_http_version 1.1; proxy_set_header Connection \"\"; proxy_set_header Host \$host; proxy_set_header X-Forwarded-For \$proxy_add_x_forwarded_for; } }"

# The same nginx with a short text access log (about a third of the bytes
# per line): the figure beside it shows what logging costs each side.
nginx_conf proxytext "log_format main '\$remote_addr [\$time_local] \"\$request\" \$status \$body_bytes_sent \$request_time';
  access_log $work/proxytext/access.log main buffer=64k flush=1s; keepalive_requests 1000000;
  upstream up { server 127.0.0.1:$UP; keepalive 128; }
  server { listen 127.0.0.1:$NGXT; location / { proxy_pass http://up; proxy_http_version 1.1; proxy_set_header Connection \"\"; proxy_set_header Host \$host; proxy_set_header X-Forwarded-For \$proxy_add_x_forwarded_for; } }"

# And nginx as shipped: its default access log (the combined format,
# written line by line).
nginx_conf proxydefault "access_log $work/proxydefault/access.log; keepalive_requests 1000000;
  upstream up { server 127.0.0.1:$UP; keepalive 128; }
  server { listen 127.0.0.1:$NGXD; location / { proxy_pass http://up; proxy_http_version 1.1; proxy_set_header Connection \"\"; proxy_set_header Host \$host; proxy_set_header X-Forwarded-For \$proxy_add_x_forwarded_for; } }"

# Caddy as a plain reverse proxy.
cat > "$work/Caddyfile" <<EOF
{
  admin 127.0.0.1:$CADA
  auto_https off
}
http://127.0.0.1:$CAD {
  reverse_proxy 127.0.0.1:$UP
}
EOF

# holdfast with a kill switch, telemetry and its JSON access log on.
mkdir -p "$work/hf"
cat > "$work/hf/holdfast.yaml" <<EOF
data_dir: $work/hf/data
admin:
  listen: 127.0.0.1:$HFA
listeners:
  - name: public
    listen: 127.0.0.1:$HF
upstreams:
  - name: real
    url: http://127.0.0.1:$UP
  - name: mock
    url: http://127.0.0.1:$UP
flags:
  - name: real-on
routes:
  - name: orders
    targets:
      - upstream: real
        weight: 1
    kill_switch: real-on
    fallback:
      upstream: mock
EOF
wait_port "$UP"

# start NAME -> starts the proxy NAME in the background; its pid in
# pid_of[NAME], once its port answers. stop NAME ends it.
declare -A pid_of
start() {
  case $1 in
    nginx) "$NGINX" -c "$work/proxy/nginx.conf" -e "$work/proxy/error.log" & ;;
    nginx-text) "$NGINX" -c "$work/proxytext/nginx.conf" -e "$work/proxytext/error.log" & ;;
    nginx-dflt) "$NGINX" -c "$work/proxydefault/nginx.conf" -e "$work/proxydefault/error.log" & ;;
    caddy) HOME=$work XDG_DATA_HOME=$work XDG_CONFIG_HOME=$work caddy run --config "$work/Caddyfile" --adapter caddyfile >>"$work/caddy.log" 2>&1 & ;;
    holdfast) "$work/holdfast" serve --config "$work/hf/holdfast.yaml" --log-level warn >>"$work/hf/out.log" 2>&1 & ;;
    *) return 0 ;;
  esac
  pid_of[$1]=$!
  pids+=($!)
  wait_port "$2"
}
stop() {
  local p=${pid_of[$1]:-}
  [ -n "$p" ] || return 0
  kill "$p" 2>/dev/null || true
  wait "$p" 2>/dev/null || true
  pid_of[$1]=
}

# cputicks PID -> user+system clock ticks used so far by PID and its
# children (nginx's workers)
cputicks() {
  local t=0 p
  for p in "$1" $(pgrep -P "$1" || true); do
    t=$((t + $(awk '{print $14 + $15}' "/proc/$p/stat" 2>/dev/null || echo 0)))
  done
  echo "$t"
}
TICK_US=$((1000000 / $(getconf CLK_TCK)))

# run NAME PORT [PID] -> "rps p99_ms cpu_us_per_request" (cpu 0 without PID)
run() {
  local out rps p99 t0=0 n cpu=0
  [ -z "${3:-}" ] || t0=$(cputicks "$3")
  out=$(wrk -t"$THREADS" -c"$CONNS" -d"$DURATION" --latency "http://127.0.0.1:$2/orders" 2>&1)
  if grep -q "Non-2xx" <<<"$out"; then echo "bench: $1 answered non-2xx:" >&2; echo "$out" >&2; exit 1; fi
  rps=$(awk '/^Requests\/sec:/ {print $2}' <<<"$out")
  p99=$(awk '$1=="99%" {v=$2; if (v ~ /us$/) {sub(/us$/,"",v); v=v/1000} else if (v ~ /ms$/) {sub(/ms$/,"",v)} else if (v ~ /s$/) {sub(/s$/,"",v); v=v*1000}; printf "%.2f", v}' <<<"$out")
  if [ -n "${3:-}" ]; then
    n=$(awk '/requests in/ {print $1; exit}' <<<"$out")
    cpu=$(awk -v a="$t0" -v b="$(cputicks "$3")" -v n="$n" -v u="$TICK_US" 'BEGIN {printf "%.1f", (b-a)*u/n}')
  fi
  echo "$rps $p99 $cpu"
}

declare -A best_rps best_p99 cpus round_rps
targets=(direct:$UP nginx:$NGX nginx-text:$NGXT nginx-dflt:$NGXD caddy:$CAD holdfast:$HF)
ratios=""; ratios_text=""; ratios_dflt=""
n=${#targets[@]}
for r in $(seq 1 "$ROUNDS"); do
  # Each round starts with another target, so that none always runs right
  # after the same neighbour (Caddy's garbage collection, say). Every
  # proxy is started afresh for its run and warmed up for a second, so
  # that one process's luck (where its threads and memory landed) does not
  # decide every round; the machine settles for a second before each run.
  for i in $(seq 0 $((n - 1))); do
    t=${targets[$(( (i + r - 1) % n ))]}
    name=${t%%:*}; port=${t##*:}
    start "$name" "$port"
    wrk -t"$THREADS" -c"$CONNS" -d1s "http://127.0.0.1:$port/orders" >/dev/null 2>&1 # warm-up, discarded
    sleep 1
    read -r rps p99 cpu < <(run "$name" "$port" "${pid_of[$name]:-}")
    stop "$name"
    echo "round $r: $name $rps req/s p99 ${p99} ms cpu ${cpu} us/request" >&2
    cpus[$name]="${cpus[$name]:-} $cpu"
    round_rps[$name]=$rps
    if [ -z "${best_rps[$name]:-}" ] || awk "BEGIN{exit !($rps > ${best_rps[$name]})}"; then
      best_rps[$name]=$rps; best_p99[$name]=$p99
    fi
  done
  ratios="$ratios $(awk -v h="${round_rps[holdfast]}" -v g="${round_rps[nginx]}" 'BEGIN {printf "%.3f", h/g}')"
  ratios_text="$ratios_text $(awk -v h="${round_rps[holdfast]}" -v g="${round_rps[nginx-text]}" 'BEGIN {printf "%.3f", h/g}')"
  ratios_dflt="$ratios_dflt $(awk -v h="${round_rps[holdfast]}" -v g="${round_rps[nginx-dflt]}" 'BEGIN {printf "%.3f", h/g}')"
done
median() { tr ' ' '\n' | grep . | sort -g | awk '{a[NR]=$1} END {if (NR%2) {print a[(NR+1)/2]} else {printf "%.4g\n", (a[NR/2]+a[NR/2+1])/2}}'; }

echo
echo "wrk -t$THREADS -c$CONNS -d$DURATION, best of $ROUNDS round(s), $(nproc) cores, all on 127.0.0.1"
printf '%-10s %12s %10s %16s\n' target "req/s" "p99 ms" "cpu us/request"
for t in "${targets[@]}"; do
  name=${t%%:*}
  cpu=-
  [ "$name" = direct ] || cpu=$(median <<<"${cpus[$name]}")
  printf '%-10s %12s %10s %16s\n' "$name" "${best_rps[$name]}" "${best_p99[$name]}" "$cpu"
done
awk -v h="${best_rps[holdfast]}" -v n="${best_rps[nginx]}" -v t="${best_rps[nginx-text]}" -v d="${best_rps[nginx-dflt]}" -v c="${best_rps[caddy]}" \
  'BEGIN { printf "holdfast/nginx throughput: %.2fx (best round of each)\nholdfast/nginx-text throughput: %.2fx\nholdfast/nginx-dflt throughput: %.2fx\nholdfast/caddy throughput: %.2fx\n", h/n, h/t, h/d, h/c }'
echo "holdfast/nginx per round:$ratios, median $(median <<<"$ratios")x"
echo "holdfast/nginx-text per round:$ratios_text, median $(median <<<"$ratios_text")x"
echo "holdfast/nginx-dflt per round:$ratios_dflt, median $(median <<<"$ratios_dflt")x"
lines=$(wc -l < "$work/hf/data/access.log" 2>/dev/null || echo 0)
echo "holdfast access log lines written: $lines (current file), $(tail -n 1 "$work/hf/data/access.log" | wc -c) bytes for the last"
echo "nginx access log: $(wc -l < "$work/proxy/access.log") lines, $(tail -n 1 "$work/proxy/access.log" | wc -c) bytes for the last"
