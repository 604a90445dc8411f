#!/bin/sh
# Profile webserv on the 1 KiB keep-alive workload (50 connections), pinned
# like the benchmark (server on CPU 0, wrk on CPU 1):
#   1. perf record -e cpu-clock (if perf works here): where the CPU goes, kernel included;
#   2. strace -c on a run of N requests (bench/fixed_load.py): syscalls per request;
#   3. valgrind callgrind on N requests: user-space instructions by function.
# Usage: bench/profile.sh [URL-PATH]   (default /1k.bin)
# Environment: N (requests, default 20000), PORT (default 18090), OUT (default build-bench/profile).
# Bounded: every load run has a duration or a request count and a timeout.
set -eu
cd "$(dirname "$0")/.."
N=${N:-20000}
PORT=${PORT:-18090}
OUT=${OUT:-build-bench/profile}
URLPATH=${1:-/1k.bin}
URL="http://127.0.0.1:$PORT$URLPATH"
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
CONF=$(python3 bench/run.py --prepare "$OUT/work" --port-base "$PORT" | tail -1)
BIN=$PWD/build-bench/webserv
WS_PID=""

stop_server() {
    if [ -n "$WS_PID" ] && kill -0 "$WS_PID" 2>/dev/null; then
        kill "$WS_PID"
        wait "$WS_PID" 2>/dev/null || true
    fi
    WS_PID=""
}
trap stop_server EXIT INT TERM

wait_port() {
    i=0
    while ! python3 -c "import socket; socket.create_connection(('127.0.0.1', $PORT), timeout=1).close()" 2>/dev/null; do
        i=$((i + 1))
        [ $i -lt 100 ] || { echo "profile: server does not listen on $PORT" >&2; exit 1; }
        sleep 0.1
    done
}

count_run() {  # exactly N requests over 50 connections (at most 300 s); prints the count
    taskset -c 1 python3 bench/fixed_load.py "$PORT" -n "$N" -c 50 --path "$URLPATH" |
        sed -n 's/^COUNT requests=\([0-9]*\).*/\1/p'
}

# ---- 1. perf
taskset -c 0 "$BIN" "$CONF" >"$OUT/webserv.out" 2>&1 &
WS_PID=$!
wait_port
if perf record -e cpu-clock -o "$OUT/probe.data" true >/dev/null 2>&1; then
    echo "== perf: 8 s of wrk -c50 $URLPATH"
    taskset -c 1 wrk -t1 -c50 -d10s "$URL" >"$OUT/perf-wrk.txt" &
    WRK=$!
    sleep 1
    perf record -e cpu-clock -F 4999 -g -p "$WS_PID" -o "$OUT/perf.data" -- sleep 8 >/dev/null 2>&1
    wait $WRK
    perf report -i "$OUT/perf.data" --no-children --sort dso --stdio -g none 2>/dev/null | grep '%' | head -8
    echo "-- self time, top symbols"
    perf report -i "$OUT/perf.data" --no-children --sort sym --stdio -g none 2>/dev/null | grep '%' | head -25
    echo "-- including callees: syscalls and user functions"
    perf report -i "$OUT/perf.data" --children --sort sym --stdio -g none 2>/dev/null |
        grep -E '__x64_sys|__do_sys|\[\.\]' | head -25
else
    echo "== perf: not usable here (skipped)"
fi

# ---- 2. strace -c
echo "== strace -c: syscalls per request over N=$N requests"
timeout 400 strace -c -f -p "$WS_PID" -o "$OUT/strace.txt" &
ST=$!
sleep 1
REQS=$(count_run)
sleep 0.5
kill -INT $ST 2>/dev/null || true
wait $ST 2>/dev/null || true
awk -v n="$REQS" 'BEGIN { printf "%-16s %10s %10s\n", "syscall", "calls", "per req" }
    $1 ~ /^[0-9.]+$/ && NF >= 5 && $NF != "total" { name = $NF; calls = $4;
        printf "%-16s %10d %10.3f\n", name, calls, calls / n; total += calls }
    END { printf "%-16s %10d %10.3f   (requests: %d)\n", "total", total, total / n, n }' "$OUT/strace.txt"
stop_server

# ---- 3. callgrind
if command -v valgrind >/dev/null 2>&1; then
    echo "== callgrind: N=$N requests (the startup is included, small)"
    taskset -c 0 valgrind --tool=callgrind --callgrind-out-file="$OUT/callgrind.out" "$BIN" "$CONF" \
        >"$OUT/callgrind.log" 2>&1 &
    WS_PID=$!
    wait_port
    REQS=$(count_run)
    stop_server
    echo "requests: $REQS   (instructions per request = total / requests;"
    echo " note: callgrind counts each rep-stosb byte of a large memset as one instruction)"
    callgrind_annotate "$OUT/callgrind.out" 2>/dev/null | sed -n '/PROGRAM TOTALS/p'
    echo "-- self"
    callgrind_annotate "$OUT/callgrind.out" 2>/dev/null | sed -n '/file:function/,$p' | sed -n '3,27p' | cut -c1-150
    echo "-- inclusive"
    callgrind_annotate --inclusive=yes "$OUT/callgrind.out" 2>/dev/null | sed -n '/file:function/,$p' | sed -n '3,40p' | cut -c1-150
fi
echo "== files in $OUT"
