#!/usr/bin/env bash
# demo.sh : what `make demo` runs after building.
#
# Starts kiseki-collector, kiseki-agent and kiseki-query on build/demo/,
# then the demo shop: four small C services instrumented with
# libkiseki-trace (gateway -> inventory, gateway -> orders -> payments) that
# call each other over NNG with W3C traceparent, send their spans to the
# agent's intake and write logs with trace IDs that the agent tails. The
# gateway drives traffic; some checkouts fail (card declined) and some are
# slow (fraud model, stock lock). It prints the UI address and a
# `kiseki trace <id>` command for a real failed trace, and keeps running
# until Ctrl-C, which stops everything it started.
#
# Ports (loopback): collector 14250 (intake) / 14251 (query), agent
# metrics 14270, query + UI 16686, services 14301-14303.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
bin="$root/build/bin"
demo="$root/build/demo"
rate="${KSK_DEMO_RATE:-10}"
rm -rf "$demo"
mkdir -p "$demo/logs"
pids=()
cleanup() {
  trap - EXIT INT TERM
  echo
  echo "Stopping the demo..."
  for ((i = ${#pids[@]} - 1; i >= 0; i--)); do
    kill -TERM "${pids[i]}" 2>/dev/null || true
    wait "${pids[i]}" 2>/dev/null || true
  done
  echo "Stopped. Data, logs and spool stay in $demo."
}
trap cleanup EXIT
trap 'exit 0' INT TERM

for b in kiseki-collector kiseki-agent kiseki-query kiseki kiseki-demo-svc; do
  if [ ! -x "$bin/$b" ]; then
    echo "demo: $bin/$b is missing; run 'make' first" >&2
    exit 1
  fi
done

wait_ready() { # file name
  for _ in $(seq 1 150); do
    if grep -q '^ready ' "$1" 2>/dev/null; then return 0; fi
    sleep 0.1
  done
  echo "demo: $2 did not start; see ${1%.out}.log" >&2
  exit 1
}

start() { # name args...
  local name=$1
  shift
  "$@" > "$demo/$name.out" 2> "$demo/$name.log" &
  pids+=($!)
  wait_ready "$demo/$name.out" "$name"
}

echo "Kiseki demo in $demo"
start collector "$bin/kiseki-collector" --data-dir "$demo/data" \
  --listen tcp://127.0.0.1:14250 --query-listen tcp://127.0.0.1:14251 \
  --metrics-listen 127.0.0.1:14269
tails=()
for s in gateway orders payments inventory; do
  tails+=(--tail "$demo/logs/$s.log=$s")
done
start agent "$bin/kiseki-agent" --spool-dir "$demo/spool" \
  --collector tcp://127.0.0.1:14250 --intake "ipc://$demo/intake.sock" \
  --otlp-listen 127.0.0.1:4318 --zipkin-listen 127.0.0.1:9411 \
  --metrics-listen 127.0.0.1:14270 --batch-max-age 200ms "${tails[@]}"
start query "$bin/kiseki-query" --collector tcp://127.0.0.1:14251 \
  --listen 127.0.0.1:16686 --ui-dir "$root/ui-static"
echo "  collector, agent and query are up"

svc() { # role port [--call ...]
  local role=$1 port=$2
  shift 2
  start "$role" "$bin/kiseki-demo-svc" --role "$role" --listen "tcp://127.0.0.1:$port" \
    --log "$demo/logs/$role.log" --agent "ipc://$demo/intake.sock" "$@"
}
svc payments 14301
svc inventory 14302
svc orders 14303 --call payments=tcp://127.0.0.1:14301
"$bin/kiseki-demo-svc" --role gateway --log "$demo/logs/gateway.log" \
  --agent "ipc://$demo/intake.sock" --call orders=tcp://127.0.0.1:14303 \
  --call inventory=tcp://127.0.0.1:14302 --drive "$rate" \
  > "$demo/gateway.out" 2> "$demo/gateway.log" &
pids+=($!)
echo "  the demo shop is up: gateway drives $rate checkouts/s"
echo "  (gateway -> inventory, gateway -> orders -> payments)"
echo
echo "Collecting traces for 15 seconds..."
sleep 15

search() { "$bin/kiseki" --server http://127.0.0.1:16686 search "$@" 2>/dev/null || true; }
trace_id=""
for _ in $(seq 1 20); do
  trace_id=$(search --service gateway --errors --since 5m --limit 1 | grep -oE '^[0-9a-f]{32}' | head -n 1)
  [ -n "$trace_id" ] && break
  sleep 1
done
echo
echo "Recent checkouts:"
search --service gateway --since 5m --limit 5
echo
if [ -n "$trace_id" ]; then
  echo "A failed checkout, across four services, with its logs:"
  echo
  "$bin/kiseki" --server http://127.0.0.1:16686 trace "$trace_id" || true
fi
echo
echo "Kiseki is running:"
echo "  web UI:        http://127.0.0.1:16686/"
[ -n "$trace_id" ] && echo "  this trace:    http://127.0.0.1:16686/trace/$trace_id"
[ -n "$trace_id" ] && echo "  in a terminal: $bin/kiseki trace $trace_id"
echo "  search:        $bin/kiseki search --service gateway --errors"
echo "  logs:          $bin/kiseki logs --service payments --level warn -f"
echo "  dependencies:  $bin/kiseki deps"
echo "  Jaeger API:    curl http://127.0.0.1:16686/api/services"
echo "  OTLP/HTTP in:  http://127.0.0.1:4318/v1/traces   Zipkin in: http://127.0.0.1:9411/api/v2/spans"
echo
echo "Press Ctrl-C to stop."
while true; do sleep 3600; done
