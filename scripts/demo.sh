#!/usr/bin/env bash
# demo.sh : what `make demo` runs after building.
#
# Kiseki is being built part by part. This script runs what exists today
# and says plainly what does not exist yet; it grows as the parts land.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
bin="$root/build/bin"
demo="$root/build/demo"
rm -rf "$demo"
mkdir -p "$demo"
collector_pid=""
agent_pid=""
cleanup() {
  for p in $agent_pid $collector_pid; do
    if kill -0 "$p" 2>/dev/null; then kill -TERM "$p"; wait "$p" 2>/dev/null || true; fi
  done
}
trap cleanup EXIT INT TERM

http_get() { # host port path
  exec 3<>"/dev/tcp/$1/$2"
  printf 'GET %s HTTP/1.0\r\nHost: %s\r\n\r\n' "$3" "$1" >&3
  cat <&3
  exec 3<&-
}

echo "Kiseki demo"
echo
echo "Built so far: the shared library (records, wire format, frames), kiseki-gen,"
echo "kiseki-dump, kiseki-collector and kiseki-agent."
echo
echo "1. kiseki-gen writes 3 frames of realistic spans and logs from 5 services;"
echo "   kiseki-dump checks each frame (CRC, zstd, every record) and prints it:"
"$bin/kiseki-gen" --out "$demo/sample.frames" --frames 3 --spans 12 --logs 4 --seed 7
"$bin/kiseki-dump" "$demo/sample.frames" > "$demo/sample.txt"; head -n 16 "$demo/sample.txt"
echo "   ..."
echo
echo "2. kiseki-collector starts on $demo/data:"
"$bin/kiseki-collector" --data-dir "$demo/data" --listen tcp://127.0.0.1:14250 \
  --query-listen tcp://127.0.0.1:14251 --metrics-listen 127.0.0.1:14269 \
  > "$demo/collector.out" 2> "$demo/collector.log" &
collector_pid=$!
for _ in $(seq 1 100); do
  grep -q '^ready ' "$demo/collector.out" 2>/dev/null && break
  sleep 0.1
done
cat "$demo/collector.out"
echo
echo "3. 20 batches of 200 spans and 50 logs go to its intake; each is acked"
echo "   only once it is durable:"
"$bin/kiseki-gen" --send tcp://127.0.0.1:14250 --frames 20 --spans 200 --logs 50 --seed 8 | tail -n 3
echo "   A resent batch is recognised and stored once:"
"$bin/kiseki-gen" --send tcp://127.0.0.1:14250 --frames 1 --spans 200 --logs 50 --seed 8
echo "   A damaged batch is refused with a precise reason:"
cp "$demo/sample.frames" "$demo/damaged.frames"
printf '\xff' | dd of="$demo/damaged.frames" bs=1 seek=100 conv=notrunc status=none
"$bin/kiseki-dump" --headers "$demo/damaged.frames" || true
echo
echo "4. Its metrics (http://127.0.0.1:14269/metrics):"
http_get 127.0.0.1 14269 /metrics | grep -E '^kiseki_collector_(batches_accepted|batches_duplicate|spans_accepted|logs_accepted|fsync_total)'
echo
echo "5. kiseki-agent tails a service's log file (with trace IDs in its lines) and"
echo "   ships it to the collector through its disk spool:"
mkdir -p "$demo/logs"
"$bin/kiseki-agent" --spool-dir "$demo/spool" --collector tcp://127.0.0.1:14250 \
  --tail "$demo/logs/*.log=checkout" --otlp-listen off --zipkin-listen off \
  --metrics-listen 127.0.0.1:14270 > "$demo/agent.out" 2> "$demo/agent.log" &
agent_pid=$!
for _ in $(seq 1 100); do
  grep -q '^ready ' "$demo/agent.out" 2>/dev/null && break
  sleep 0.1
done
cat "$demo/agent.out"
for i in $(seq 1 2000); do
  printf '2026-11-29T10:00:%02d.%03dZ INFO [checkout] order placed order=%d traceparent=00-%032x-%016x-01\n' \
    $((i % 60)) $((i % 1000)) "$i" "$((i * 7919 + 1))" "$((i + 1))"
done > "$demo/logs/checkout.log"
printf '2026-11-29T10:01:00.000Z ERROR [checkout] payment failed order=2001 trace_id=%032x\n' 9999 >> "$demo/logs/checkout.log"
sleep 2
echo "   Its metrics (http://127.0.0.1:14270/metrics):"
http_get 127.0.0.1 14270 /metrics | grep -E '^kiseki_agent_(lines_total|records_total|frames_acked_total|delivery_lag_seconds|file_lag_bytes)'
echo "   The collector now holds them too:"
http_get 127.0.0.1 14269 /metrics | grep -E '^kiseki_collector_logs_accepted_total'
echo
for part in kiseki-query kiseki; do
  if [ ! -x "$bin/$part" ]; then
    echo "Not built yet: $part."
  fi
done
echo "The full demo (query + UI + instrumented services, the UI address and a"
echo "'kiseki trace <id>' command) arrives with the query and demo issues."
