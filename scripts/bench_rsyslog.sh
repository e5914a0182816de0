#!/usr/bin/env bash
# bench_rsyslog.sh BUILD_DIR MIB RUNS : the agent benchmark's comparison with
# rsyslog (docs/BENCHMARKS.md). Writes the same log file bench_agent tails
# (bench_logfile), then times rsyslogd tailing it from the head with imfile
# and forwarding every line with omfwd over loopback TCP to a receiver that
# counts lines, until the last line has arrived; beside `zstd -1 -T1` on the
# same file in the same run. Prints medians of RUNS runs: MB/s, ratio to
# zstd, rsyslogd CPU seconds and peak RSS. Skips (exit 0) without rsyslogd.
set -euo pipefail
B="${1:-build/release}"
MIB="${2:-1024}"
RUNS="${3:-3}"
if ! command -v rsyslogd >/dev/null 2>&1 && [ ! -x /usr/sbin/rsyslogd ]; then
  echo "rsyslog is not installed: skipped (apt-get install rsyslog)"
  exit 0
fi
RSYSLOGD=$(command -v rsyslogd || echo /usr/sbin/rsyslogd)
tmp=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$tmp"
}
trap cleanup EXIT

read -r BYTES LINES < <("$B/bin/bench_logfile" "$tmp/app.log" "$MIB")
echo "log: $((BYTES / 1048576)) MiB, $LINES lines (the file bench_agent tails)"

# a loopback TCP receiver that counts lines and writes the count to a file
cat > "$tmp/recv.py" <<'PY'
import socket, sys, threading
port_file, count_file = sys.argv[1], sys.argv[2]
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", 0)); s.listen(8)
open(port_file, "w").write(str(s.getsockname()[1]))
total = 0; lock = threading.Lock()
def serve(c):
    global total
    while True:
        b = c.recv(1 << 20)
        if not b: break
        n = b.count(b"\n")
        with lock:
            total += n
            open(count_file, "w").write(str(total))
while True:
    c, _ = s.accept()
    threading.Thread(target=serve, args=(c,), daemon=True).start()
PY

median() { sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
now() { date +%s.%N; }
zs=() rs=() cpus=() rss=()
for r in $(seq 1 "$RUNS"); do
  t0=$(now); zstd -1 -T1 -q -c "$tmp/app.log" > /dev/null; t1=$(now)
  zs+=("$(echo "$BYTES / ($t1 - $t0) / 1000000" | bc -l)")

  rm -rf "$tmp/work" "$tmp/port" "$tmp/count"; mkdir -p "$tmp/work"
  python3 "$tmp/recv.py" "$tmp/port" "$tmp/count" & pids+=($!)
  for _ in $(seq 1 100); do [ -s "$tmp/port" ] && break; sleep 0.05; done
  port=$(cat "$tmp/port")
  cat > "$tmp/rsyslog.conf" <<CONF
global(workDirectory="$tmp/work" maxMessageSize="8k")
module(load="imfile" mode="inotify")
input(type="imfile" file="$tmp/app.log" tag="app:" facility="local0" severity="info"
      freshStartTail="off" reopenOnTruncate="on")
main_queue(queue.type="LinkedList" queue.size="100000")
action(type="omfwd" target="127.0.0.1" port="$port" protocol="tcp"
       template="RSYSLOG_ForwardFormat")
CONF
  t0=$(now)
  "$RSYSLOGD" -n -f "$tmp/rsyslog.conf" -i "$tmp/rsyslogd.pid" 2> "$tmp/rsyslogd.err" &
  rpid=$!
  pids+=("$rpid")
  peak=0
  while :; do
    c=$(cat "$tmp/count" 2>/dev/null || echo 0)
    m=$(awk '/VmHWM/ {print $2}' "/proc/$rpid/status" 2>/dev/null || echo 0)
    [ "${m:-0}" -gt "$peak" ] && peak=$m
    [ "${c:-0}" -ge "$LINES" ] && break
    if ! kill -0 "$rpid" 2>/dev/null; then echo "rsyslogd exited:"; cat "$tmp/rsyslogd.err"; exit 1; fi
    sleep 0.05
  done
  t1=$(now)
  ticks=$(awk '{print $14 + $15}' "/proc/$rpid/stat")
  hz=$(getconf CLK_TCK)
  kill -TERM "$rpid"; wait "$rpid" 2>/dev/null || true
  rs+=("$(echo "$BYTES / ($t1 - $t0) / 1000000" | bc -l)")
  cpus+=("$(echo "$ticks / $hz" | bc -l)")
  rss+=("$peak")
done
zm=$(printf '%s\n' "${zs[@]}" | median)
rm_=$(printf '%s\n' "${rs[@]}" | median)
cm=$(printf '%s\n' "${cpus[@]}" | median)
sm=$(printf '%s\n' "${rss[@]}" | median)
printf 'zstd -1 -T1 alone:            %8.1f MB/s\n' "$zm"
printf 'rsyslog imfile -> omfwd tcp:  %8.1f MB/s  (%.2fx zstd -1), %.2f CPU s (%.1f MB per CPU-second), peak RSS %.1f MiB\n' \
  "$rm_" "$(echo "$rm_ / $zm" | bc -l)" "$cm" "$(echo "$BYTES / $cm / 1000000" | bc -l)" "$(echo "$sm / 1024" | bc -l)"
