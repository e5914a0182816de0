#!/usr/bin/env bash
# fuzz.sh BUILD_DIR SECONDS : runs every libFuzzer target in BUILD_DIR for
# SECONDS each, starting from the committed seed corpus (tests/fuzz/corpus/
# NAME) plus frames made by kiseki-gen. Fails if any target finds a crash.
set -euo pipefail
B="${1:-build/fuzz}"
SECS="${2:-60}"
root=$(cd "$(dirname "$0")/.." && pwd)
work="$B/fuzz-work"
mkdir -p "$work"
status=0
for t in $(cd "$B/bin" && ls fuzz_* 2>/dev/null); do
  name=${t#fuzz_}
  corpus="$work/corpus-$name"
  mkdir -p "$corpus"
  cp -n "$root/tests/fuzz/corpus/$name"/* "$corpus"/ 2>/dev/null || true
  echo "== $t for ${SECS}s (corpus: $(ls "$corpus" | wc -l) files) =="
  if ! "$B/bin/$t" -max_total_time="$SECS" -rss_limit_mb=2048 -timeout=10 \
        -artifact_prefix="$work/$name-" -print_final_stats=1 "$corpus" \
        > "$work/$t.log" 2>&1; then
    echo "$t FAILED: see $work/$t.log"; tail -n 40 "$work/$t.log"; status=1
  else
    grep -E '^stat::(number_of_executed_units|peak_rss_mb)|^Done' "$work/$t.log" || true
  fi
done
exit $status
