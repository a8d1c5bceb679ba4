#!/usr/bin/env bash
# Peak memory of `s301 run` against screens of growing size, next to the
# goal: at most two framebuffers (4 bytes a pixel) plus 64 MiB.
#
# Each case starts a terminal out of process (the mock, or a hostile
# screen), so only the harness is measured, runs
#   /usr/bin/time -v target/release/s301 run --terminal DECL --only ...
# and prints the peak resident set size ("Maximum resident set size").
#
# Usage: scripts/bench-memory.sh [CASE...]
#   cases: mock-1920x1080 mock-3840x2160 mock-4096x4096 rre-flood-4096x4096
#          over-limit-16384x4096 (default: all of them, in that order)
# Environment:
#   S301_BENCH_NO_BUILD=1   use target/release/s301 as it is (no cargo build)
#   S301_BENCH_SCENARIO=F   scenario file (default scenarios/ci.toml)
#   S301_BENCH_ONLY=IDS     checks to run (default 1-2-1,1-2-2: the screen)
#   S301_BENCH_OUT=DIR      keep the run directories here (default: a temp dir)
#   S301_BENCH_PER_CHECK=1  also run each screen check alone (a row per check),
#                           to see which check holds how many framebuffers
# Other variables reach s301 unchanged, e.g. MALLOC_MMAP_THRESHOLD_=1048576
# (glibc: keep freed framebuffer copies under 32 MiB out of the heap).
set -euo pipefail

cd "$(dirname "$0")/.."
root=$(pwd)
bin="$root/target/release/s301"
scenario="${S301_BENCH_SCENARIO:-$root/scenarios/ci.toml}"
only="${S301_BENCH_ONLY:-1-2-1,1-2-2}"
out="${S301_BENCH_OUT:-$(mktemp -d /tmp/s301-bench-memory.XXXXXX)}"
mkdir -p "$out"

if [ ! -x /usr/bin/time ]; then
    echo "bench-memory: /usr/bin/time is missing (Debian package: time)" >&2
    exit 2
fi
if [ "${S301_BENCH_NO_BUILD:-0}" != "1" ]; then
    cargo build --release --locked --bin s301 >&2
fi

cases=("$@")
if [ ${#cases[@]} -eq 0 ]; then
    cases=(mock-1920x1080 mock-3840x2160 mock-4096x4096 rre-flood-4096x4096 over-limit-16384x4096)
fi

mock_pid=""
stop_mock() {
    if [ -n "$mock_pid" ]; then
        kill "$mock_pid" 2>/dev/null || true
        wait "$mock_pid" 2>/dev/null || true
        mock_pid=""
    fi
}
trap stop_mock EXIT

# Starts `s301 mock ARGS` and writes its declaration to $1 once it serves.
start_terminal() {
    local decl=$1
    shift
    "$bin" mock "$@" >"$decl" 2>"$decl.log" &
    mock_pid=$!
    for _ in $(seq 1 600); do
        if grep -q '^# s301 mock: serving' "$decl" 2>/dev/null; then
            return 0
        fi
        if ! kill -0 "$mock_pid" 2>/dev/null; then
            echo "bench-memory: the terminal exited: $(cat "$decl.log")" >&2
            return 1
        fi
        sleep 0.1
    done
    echo "bench-memory: the terminal did not start within 60 s" >&2
    return 1
}

mib() { awk -v b="$1" 'BEGIN { printf "%.1fMB", b / 1048576 }'; }

# Runs `s301 run --only $3` against the terminal declared in $2 and prints
# the row of case $1 (label $4).
measure() {
    local c=$1 decl=$2 ids=$3 label=$4
    local tag="$c-${ids//,/_}"
    local run_dir="$out/run-$tag"
    rm -rf "$run_dir"
    set +e
    /usr/bin/time -v -o "$out/$tag.time" "$bin" run --terminal "$decl" --scenario "$scenario" \
        --only "$ids" --seed 1 --out "$run_dir" >"$out/$tag.stdout" 2>"$out/$tag.stderr"
    local status=$?
    set -e
    local peak_kb fb goal peak ok verdicts
    peak_kb=$(awk -F': ' '/Maximum resident set size/ {print $2}' "$out/$tag.time")
    fb=$((w * h * 4))
    goal=$((2 * fb + 64 * 1024 * 1024))
    peak=$((peak_kb * 1024))
    ok=yes
    [ "$peak" -le "$goal" ] || ok=NO
    verdicts=$(sed -nE 's/^\[ *[0-9]+\/[0-9]+\] ([A-Z]{2}-[0-9]{2}) ([a-z_]+).*/\1=\2/p' \
        "$out/$tag.stdout" | tr '\n' ' ')
    printf '%-32s %10s %12s %12s %4s  exit %s: %s\n' "$label" "$(mib "$fb")" "$(mib "$peak")" \
        "$(mib "$goal")" "$ok" "$status" "$verdicts"
}

printf '%-32s %10s %12s %12s %4s  %s\n' case framebuf "peak RSS" "2fb+64MB" ok verdicts
for c in "${cases[@]}"; do
    size=${c##*-}
    w=${size%x*}
    h=${size#*x}
    kind=${c%-*}
    decl="$out/$c.toml"
    case "$kind" in
        mock | over-limit) start_terminal "$decl" --width "$w" --height "$h" ;;
        rre-flood) start_terminal "$decl" --hostile rre-flood --width "$w" --height "$h" ;;
        *)
            echo "bench-memory: unknown case $c" >&2
            exit 2
            ;;
    esac
    measure "$c" "$decl" "$only" "$c"
    if [ "${S301_BENCH_PER_CHECK:-0}" = "1" ]; then
        for id in ST-01 ST-02 ST-03 ST-04 OP-01 OP-02 OP-03 OP-04 EX-01 EX-02 EX-03; do
            measure "$c" "$decl" "$id" "  $c $id"
        done
    fi
    stop_mock
done
echo "run directories and /usr/bin/time output: $out"
