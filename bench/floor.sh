#!/bin/sh
# The kernel's floor beside webserv: the 1 KiB keep-alive workloads against
# bench/floor_responder.c (canned answers, no parsing or files) and webserv,
# pinned like make bench (server on CPU 0, wrk on CPU 1), server CPU per
# request from /proc/PID/stat. Usage: bench/floor.sh [ROUNDS] (default 3);
# needs a built build-bench/ (make bench, or python3 bench/run.py --prepare DIR).
set -eu
cd "$(dirname "$0")/.."
ROUNDS=${1:-3}
OUT=build-bench/floor
mkdir -p "$OUT"
cc -O2 -Wall -o "$OUT/floor_responder" bench/floor_responder.c
CONF=$(python3 bench/run.py --prepare "$OUT/work" --port-base 18096 --no-build | tail -1)
HZ=$(getconf CLK_TCK)

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

measure() {  # name pid port conns -> one line
    t0=$(cpu_ticks "$2")
    res=$(taskset -c 1 wrk -t1 -c"$4" -d5s "http://127.0.0.1:$3/1k.bin" | awk '/requests in/ {print $1}')
    t1=$(cpu_ticks "$2")
    awk -v n="$res" -v t=$((t1 - t0)) -v hz="$HZ" -v name="$1" -v c="$4" \
        'BEGIN { printf "%-8s c=%-5d %9d requests  %6.1f us/request\n", name, c, n, t / hz * 1e6 / n }'
}

taskset -c 0 "$OUT/floor_responder" 18095 & FLOOR=$!
taskset -c 0 build-bench/webserv "$CONF" >"$OUT/webserv.out" 2>&1 & WS=$!
trap 'kill $FLOOR $WS 2>/dev/null || true' EXIT INT TERM
sleep 1
for r in $(seq "$ROUNDS"); do
    for c in 50 1000; do
        measure floor "$FLOOR" 18095 "$c"
        measure webserv "$WS" 18096 "$c"
    done
done
