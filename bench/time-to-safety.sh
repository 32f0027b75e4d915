#!/usr/bin/env bash
# Time to safety of a rollout: under steady load through `holdfast serve`,
# roll out a candidate that starts failing as soon as it takes traffic, and
# report the time from its first failed response to 100% of traffic back on
# stable, and how many requests got a bad answer, over several runs (median
# and worst). The route has the built-in error-rate alarm on 1-second
# periods (2 of 3 above 2%) and the default analysis.
#
#   bash bench/time-to-safety.sh                 # 5 runs, 400 req/s, 50% failures
#   RUNS=9 RATE=800 FAIL_RATE=0.1 bash bench/time-to-safety.sh
#
# Everything listens on 127.0.0.1; the load and every run are bounded.
set -euo pipefail
cd "$(dirname "$0")/.."

RUNS=${RUNS:-5}
RATE=${RATE:-400}
FAIL_RATE=${FAIL_RATE:-0.5}
STRATEGY=${STRATEGY:-steps:10%:30s,50%:30s}

work=$(mktemp -d "${TMPDIR:-/tmp}/holdfast-tts-bin-XXXXXX")
trap 'rm -rf "$work"' EXIT INT TERM
go build -o "$work/holdfast" ./cmd/holdfast
go build -o "$work/orders" ./examples/orders/cmd/orders
go run ./bench/timetosafety --holdfast "$work/holdfast" --orders "$work/orders" \
  --runs "$RUNS" --rate "$RATE" --fail-rate "$FAIL_RATE" --strategy "$STRATEGY"
