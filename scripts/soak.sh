#!/usr/bin/env bash
# Memory soak: ST-04 for an hour (scenarios/soak.toml) against the mock,
# run out of process so that only the harness is measured. The harness's
# resident set size (VmRSS) is sampled every minute into a CSV; at the end
# the samples after the first five minutes are summarised next to the goal
# (within +-5 MB, no growth trend): minimum, maximum, spread and the
# least-squares slope in MB per hour.
#
# Usage: scripts/soak.sh [OUT_DIR]
# Environment:
#   S301_SOAK_NO_BUILD=1    use target/release/s301 as it is
#   S301_SOAK_SCENARIO=F    scenario (default scenarios/soak.toml)
#   S301_SOAK_INTERVAL=S    seconds between samples (default 60)
#   S301_SOAK_WARMUP=S      seconds left out of the summary (default 300)
#   S301_SOAK_MOCK_ARGS=".." extra `s301 mock` options (e.g. "--blink")
set -euo pipefail

cd "$(dirname "$0")/.."
root=$(pwd)
bin="$root/target/release/s301"
scenario="${S301_SOAK_SCENARIO:-$root/scenarios/soak.toml}"
interval="${S301_SOAK_INTERVAL:-60}"
warmup="${S301_SOAK_WARMUP:-300}"
out="${1:-$(mktemp -d /tmp/s301-soak.XXXXXX)}"
mkdir -p "$out"

if [ "${S301_SOAK_NO_BUILD:-0}" != "1" ]; then
    cargo build --release --locked --bin s301 >&2
fi

mock_pid=""
run_pid=""
cleanup() {
    for p in $run_pid $mock_pid; do
        kill "$p" 2>/dev/null || true
        wait "$p" 2>/dev/null || true
    done
}
trap cleanup EXIT

decl="$out/mock.toml"
# shellcheck disable=SC2086
"$bin" mock ${S301_SOAK_MOCK_ARGS:-} >"$decl" 2>"$out/mock.log" &
mock_pid=$!
for _ in $(seq 1 600); do
    grep -q '^# s301 mock: serving' "$decl" 2>/dev/null && break
    kill -0 "$mock_pid" 2>/dev/null || { echo "soak: the mock exited: $(cat "$out/mock.log")" >&2; exit 1; }
    sleep 0.1
done

"$bin" run --terminal "$decl" --scenario "$scenario" --only ST-01,ST-04 \
    --out "$out/run" >"$out/run.log" 2>&1 &
run_pid=$!
start=$(date +%s)
csv="$out/rss.csv"
echo "seconds,rss_kb" >"$csv"
echo "soak: sampling s301 (pid $run_pid) every ${interval}s into $csv" >&2
while kill -0 "$run_pid" 2>/dev/null; do
    rss=$(awk '/^VmRSS:/ { print $2 }' "/proc/$run_pid/status" 2>/dev/null || true)
    [ -n "$rss" ] && echo "$(( $(date +%s) - start )),$rss" >>"$csv"
    # Sleep in short steps so the end of the run is noticed at once.
    for _ in $(seq 1 "$interval"); do
        kill -0 "$run_pid" 2>/dev/null || break
        sleep 1
    done
done
status=0
wait "$run_pid" || status=$?
run_pid=""

verdict=$(grep -o '"verdict": "[a-z_]*"' "$out/run/report.json" 2>/dev/null | head -5 | tr '\n' ' ' || true)
st04=$(python3 - "$out/run/report.json" <<'PY' 2>/dev/null || true
import json, sys
r = json.load(open(sys.argv[1]))
for c in r["checks"]:
    if c["id"] == "ST-04":
        print(c["verdict"], "-", c["detail"])
PY
)
echo "s301 run exit status: $status"
echo "ST-04: ${st04:-?}"
awk -F, -v w="$warmup" 'NR > 1 && $1 >= w {
        n++; x = $1 / 3600; y = $2 / 1024
        sx += x; sy += y; sxx += x * x; sxy += x * y
        if (n == 1 || y < lo) lo = y
        if (n == 1 || y > hi) hi = y
    }
    END {
        if (n < 2) { print "soak: fewer than two samples after the warm-up"; exit 1 }
        slope = (n * sxy - sx * sy) / (n * sxx - sx * sx)
        printf "samples after %ds: %d; RSS min %.1f MB, max %.1f MB, spread %.1f MB (goal: within +-5 MB, i.e. spread <= 10); trend %+.2f MB/h\n", w, n, lo, hi, hi - lo, slope
    }' "$csv"
