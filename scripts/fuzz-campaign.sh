#!/bin/sh
# A long libFuzzer campaign for one target, then its corpus minimised back into
# the repository (tests/fuzz/corpus/<name>), so that CI's short runs (`make fuzz`)
# start from what the long run reached.
#
#   scripts/fuzz-campaign.sh NAME SECONDS     e.g. scripts/fuzz-campaign.sh http_head 1800
#
# Needs build-fuzz (`make fuzz` builds it, or FUZZ_SECONDS=1 make fuzz). Runs at
# nice 19 (the machine is shared), bounded by SECONDS. Work files stay in
# build-fuzz/campaign-NAME/: the growing corpus, the log and any crash-* input.
# The summary line gives executions, minutes and the final coverage (cov: edges).
# A crash, leak or timeout exits 1 and leaves the repository's corpus untouched.
set -eu
name=${1:?usage: fuzz-campaign.sh NAME SECONDS}
seconds=${2:?usage: fuzz-campaign.sh NAME SECONDS}
bin=build-fuzz/fuzz_$name
seeds=tests/fuzz/corpus/$name
work=build-fuzz/campaign-$name
[ -x "$bin" ] || { echo "fuzz-campaign: $bin is missing: run 'FUZZ_SECONDS=1 make fuzz' first" >&2; exit 2; }
mkdir -p "$work/corpus" "$seeds"
cp -R "$seeds/." "$work/corpus/"
start=$(date +%s)
status=0
nice -n 19 "$bin" -max_total_time="$seconds" -timeout=30 -rss_limit_mb=2048 -print_final_stats=1 \
    -artifact_prefix="$work/crash-" "$work/corpus" >"$work/fuzz.log" 2>&1 || status=$?
minutes=$(( ($(date +%s) - start + 30) / 60 ))
runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$work/fuzz.log")
cov=$(grep -o 'cov: [0-9]*' "$work/fuzz.log" | tail -1 | cut -d' ' -f2)
if [ "$status" -ne 0 ]; then
    tail -60 "$work/fuzz.log"
    echo "fuzz_$name: FAILED after $minutes min; input(s): $(ls "$work"/crash-* 2>/dev/null | tr '\n' ' ')"
    exit 1
fi
# Minimise: the seeds first (kept when they add coverage), then what the run found.
# -use_counters=0 keeps one input per covered edge rather than one per hit-count
# bucket: the same edges in a corpus a fraction of the size (tens to hundreds of files).
# Named seeds (hand-written inputs, regression inputs of past findings) are
# kept as they are; libFuzzer names what it adds by the SHA-1 of its content.
rm -rf "$work/min"
mkdir -p "$work/min"
for f in "$seeds"/*; do
    case ${f##*/} in
    *[!0-9a-f]*) cp "$f" "$work/min/" ;;
    *) [ ${#f} -ne $(( ${#seeds} + 41 )) ] && cp "$f" "$work/min/" ;;
    esac
done
nice -n 19 "$bin" -merge=1 -use_counters=0 "$work/min" "$seeds" "$work/corpus" >"$work/merge.log" 2>&1
rm -rf "$seeds"
mkdir -p "$seeds"
cp "$work/min"/* "$seeds/"
echo "fuzz_$name: ok, ${runs:-?} executions in $minutes min, cov ${cov:-?} edges, corpus $(ls "$seeds" | wc -l) files"
