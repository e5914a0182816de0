#!/usr/bin/env bash
# bench.sh BUILD_DIR : runs every benchmark built in BUILD_DIR (Release) and
# prints medians with the baseline beside each, as docs/BENCHMARKS.md shows.
set -euo pipefail
B="${1:-build/release}"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

echo "== wire: encode+compress / decompress+decode vs zstd (in process) =="
"$B/bin/bench_wire" --write-span-payload "$tmp/spans.msgpack" --write-log-payload "$tmp/logs.msgpack"

if command -v zstd >/dev/null 2>&1; then
  echo
  echo "== the zstd CLI on the same payload bytes (zstd -b1: level 1, compress and decompress) =="
  for f in spans logs; do
    printf '%s: ' "$f"
    # zstd -b prints its result on stderr, with carriage-return progress lines
    zstd -b1 -i3 "$tmp/$f.msgpack" 2>&1 | tr '\r' '\n' | grep -E 'MB/s, .*MB/s' | tail -n 1
  done
fi

if [ -x "$B/bin/bench_ingest" ]; then
  echo
  echo "== collector ingest: real kiseki-collector on CPU 0, --fsync interval, ipc =="
  "$B/bin/bench_ingest" "$B/bin/kiseki-collector" "${KSK_BENCH_FRAMES:-1000}" 1000 3
fi

if [ -x "$B/bin/bench_segment" ]; then
  echo
  echo "== collector store: bytes/span, trace by ID, search =="
  "$B/bin/bench_segment" ${KSK_BENCH_SEGMENT_ARGS:-}
fi

if [ -x "$B/bin/bench_query" ]; then
  echo
  echo "== kiseki-query: trace by ID and search through the HTTP API, vs the collector protocol alone =="
  "$B/bin/bench_query" "${KSK_BENCH_QUERY_BACKGROUND:-1000000}" 9
fi

if [ -x "$B/bin/bench_trace" ]; then
  echo
  echo "== libkiseki-trace: ns per span on the service thread vs the 2 clock reads alone =="
  "$B/bin/bench_trace" "${KSK_BENCH_TRACE_SPANS:-1048576}" 7
fi

if [ -x "$B/bin/bench_ui_bigtrace" ] && [ -x "$B/bin/kiseki-query" ] && command -v node >/dev/null 2>&1; then
  echo
  echo "== web UI: a 10,000-span trace interactive (headless chromium, Release kiseki-query), budget 1000 ms =="
  KSK_UI_BUDGET_MS=1000 "$(dirname "$0")/../tests/ui/run.sh" --collector "$B/bin/kiseki-collector" \
    --query "$B/bin/kiseki-query" --gen "$B/bin/kiseki-gen" --bigtrace "$B/bin/bench_ui_bigtrace" \
    --ui-dir "$(dirname "$0")/../ui-static" --work "$tmp/ui" 2>&1 |
    grep -E '^# (10K|50K)|interactive|^# (pass|fail)' || true
fi

if [ -x "$B/bin/bench_agent" ]; then
  echo
  echo "== agent: tail a ${KSK_BENCH_AGENT_MIB:-1024} MiB log until acked, vs zstd -1 -T1; idle with 1000 files =="
  "$B/bin/bench_agent" "$B/bin/kiseki-agent" "$B/bin/kiseki-collector" "${KSK_BENCH_AGENT_MIB:-1024}" 3
fi

if [ -x "$B/bin/bench_logfile" ]; then
  echo
  echo "== rsyslog on the agent benchmark's log: imfile -> omfwd over loopback TCP, vs zstd -1 -T1 =="
  "$(dirname "$0")/bench_rsyslog.sh" "$B" "${KSK_BENCH_AGENT_MIB:-1024}" 3
fi
