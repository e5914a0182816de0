#!/bin/bash
# run.sh : the web UI's browser tests (ctest `ui_browser`, registered in
# tests/ui/CMakeLists.txt).
#
# Starts a kiseki-collector on free loopback ports, loads data (kiseki-gen
# traces and logs; one 10,000-span and one 50,000-span trace from
# ksk-ui-bigtrace), starts two kiseki-query (--ui-dir ui-static; the second
# with --auth-token-file), runs ui.test.mjs in headless Debian chromium via
# playwright-core, and stops everything it started.
#
# Installs what is missing: chromium (apt-get) and node_modules (npm ci).
# Exit 77 (ctest: skipped) only when node or npm is not installed.
#
# usage: run.sh --collector BIN --query BIN --gen BIN --bigtrace BIN
#               --ui-dir DIR --work DIR [--screenshot PNG]
set -u

HERE=$(cd "$(dirname "$0")" && pwd)
COLLECTOR= QUERY= GEN= BIGTRACE= UI_DIR= WORK= SHOT=${KSK_UI_SCREENSHOT:-}
while [ $# -gt 0 ]; do
	case "$1" in
	--collector) COLLECTOR=$2; shift 2 ;;
	--query) QUERY=$2; shift 2 ;;
	--gen) GEN=$2; shift 2 ;;
	--bigtrace) BIGTRACE=$2; shift 2 ;;
	--ui-dir) UI_DIR=$2; shift 2 ;;
	--work) WORK=$2; shift 2 ;;
	--screenshot) SHOT=$2; shift 2 ;;
	*) echo "run.sh: unknown argument $1" >&2; exit 2 ;;
	esac
done
for v in COLLECTOR QUERY GEN BIGTRACE UI_DIR WORK; do
	if [ -z "${!v}" ]; then
		echo "run.sh: --$(echo "$v" | tr 'A-Z_' 'a-z-') is required" >&2
		exit 2
	fi
done
for b in "$COLLECTOR" "$QUERY" "$GEN" "$BIGTRACE"; do
	if [ ! -x "$b" ]; then
		echo "run.sh: $b: not built" >&2
		exit 1
	fi
done

if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
	echo "SKIP: node and npm are needed for the UI tests (apt-get install nodejs npm)"
	exit 77
fi
if [ ! -x /usr/bin/chromium ]; then
	echo "run.sh: installing chromium"
	if ! { apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium; } >"${TMPDIR:-/tmp}/ksk-ui-apt.log" 2>&1; then
		tail -20 "${TMPDIR:-/tmp}/ksk-ui-apt.log" >&2
		echo "run.sh: cannot install chromium" >&2
		exit 1
	fi
fi
if [ ! -d "$HERE/node_modules/playwright-core" ]; then
	echo "run.sh: npm ci"
	if ! (cd "$HERE" && npm ci --no-audit --no-fund --loglevel=error); then
		echo "run.sh: npm ci failed" >&2
		exit 1
	fi
fi

rm -rf "$WORK"
mkdir -p "$WORK"
PIDS=()
cleanup() {
	local pid
	for pid in "${PIDS[@]}"; do
		kill -TERM "$pid" 2>/dev/null
	done
	for pid in "${PIDS[@]}"; do
		wait "$pid" 2>/dev/null
	done
}
trap cleanup EXIT
trap 'exit 1' INT TERM

free_port() {
	node -e 'const s=require("net").createServer();s.listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})'
}

# waits for "ready <name> <address>" in $1 (stdout file of pid $2); prints the address
wait_ready() {
	local out=$1 pid=$2 i
	for i in $(seq 1 300); do
		if grep -q '^ready ' "$out" 2>/dev/null; then
			awk '/^ready /{print $3; exit}' "$out"
			return 0
		fi
		if ! kill -0 "$pid" 2>/dev/null; then
			echo "run.sh: process $pid exited before its ready line:" >&2
			tail -20 "${out%.out}.err" >&2
			return 1
		fi
		sleep 0.1
	done
	echo "run.sh: no ready line in $out after 30 s" >&2
	return 1
}

export ASAN_OPTIONS=${ASAN_OPTIONS:-allocator_may_return_null=1:detect_leaks=1}
P_IN=$(free_port)
P_Q=$(free_port)
"$COLLECTOR" --data-dir "$WORK/data" --listen "tcp://127.0.0.1:$P_IN" \
	--query-listen "tcp://127.0.0.1:$P_Q" >"$WORK/collector.out" 2>"$WORK/collector.err" &
PIDS+=($!)
INTAKE=$(wait_ready "$WORK/collector.out" $!) || exit 1
echo "collector: $INTAKE (query tcp://127.0.0.1:$P_Q)"

# data: ordinary traces and logs, then the two big traces
if ! "$GEN" --send "$INTAKE" --frames 4 --spans 300 --logs 200 --services 6 --seed 11 >"$WORK/gen.out" 2>&1; then
	cat "$WORK/gen.out" >&2
	exit 1
fi
T10K=$("$BIGTRACE" --send "$INTAKE" --spans 10000 --logs 300 --seed 3 | awk '/^trace /{print $2}')
T50K=$("$BIGTRACE" --send "$INTAKE" --spans 50000 --logs 1000 --seed 9 | awk '/^trace /{print $2}')
if [ -z "$T10K" ] || [ -z "$T50K" ]; then
	echo "run.sh: ksk-ui-bigtrace failed" >&2
	exit 1
fi
echo "data: kiseki-gen 1200 spans + 800 logs; trace $T10K (10,000 spans); trace $T50K (50,000 spans)"

"$QUERY" --collector "tcp://127.0.0.1:$P_Q" --listen 127.0.0.1:0 --ui-dir "$UI_DIR" \
	>"$WORK/query.out" 2>"$WORK/query.err" &
PIDS+=($!)
BASE=$(wait_ready "$WORK/query.out" $!) || exit 1
TOKEN="ui-test-$$-$RANDOM$RANDOM"
printf '%s\n' "$TOKEN" >"$WORK/token"
"$QUERY" --collector "tcp://127.0.0.1:$P_Q" --listen 127.0.0.1:0 --ui-dir "$UI_DIR" \
	--auth-token-file "$WORK/token" >"$WORK/query-auth.out" 2>"$WORK/query-auth.err" &
PIDS+=($!)
AUTH_BASE=$(wait_ready "$WORK/query-auth.out" $!) || exit 1
echo "query: $BASE (auth: $AUTH_BASE)"

cd "$HERE" || exit 1
KSK_UI_BASE=$BASE KSK_UI_AUTH_BASE=$AUTH_BASE KSK_UI_TOKEN=$TOKEN \
	KSK_UI_TRACE10K=$T10K KSK_UI_TRACE50K=$T50K KSK_UI_SCREENSHOT=$SHOT \
	node --test --test-concurrency=1 --test-reporter=spec ui.test.mjs
rc=$?

# the daemons must stop cleanly (sanitizer reports make a non-zero exit)
cleanup_rc=0
names=(kiseki-collector kiseki-query kiseki-query-auth)
for k in "${!PIDS[@]}"; do
	kill -TERM "${PIDS[$k]}" 2>/dev/null
	wait "${PIDS[$k]}"
	st=$?
	if [ "$st" -ne 0 ]; then
		echo "run.sh: ${names[$k]} exited with status $st after SIGTERM" >&2
		cleanup_rc=1
	fi
done
PIDS=()
for f in "$WORK"/*.err; do
	if grep -q 'ERROR: \(Address\|Leak\|Undefined\)Sanitizer\|runtime error:' "$f"; then
		echo "run.sh: sanitizer report in $f:" >&2
		grep -A 12 'Sanitizer\|runtime error:' "$f" | head -40 >&2
		cleanup_rc=1
	fi
done
if [ "$rc" -eq 0 ] && [ "$cleanup_rc" -ne 0 ]; then
	rc=1
fi
exit "$rc"
