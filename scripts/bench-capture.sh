#!/usr/bin/env bash
# Whole-process screen capture timing: `s301 capture` against gvnccapture
# (gtk-vnc) and vncdotool, each capturing one full 1920x1080 screen as PNG
# from TigerVNC's Xvnc while an xterm on it keeps changing (top -d 0.1 over
# a screenful of text). Every run is a fresh process, connection included.
#
# Runs are interleaved (s301, gvnccapture, vncdotool, then the next round,
# the order rotating each round) so that all three see the same machine;
# each run is timed with date +%s%N around the whole process, and the
# median of RUNS runs per tool is reported with the machine's load.
#
# Usage, from the repository root:  scripts/bench-capture.sh
# Environment: RUNS (default 15), DISPLAY_NUM (default 57: Xvnc on :57,
# port 5957), KEEP=1 keeps the last PNG of each tool in target/bench-capture/.
# Missing tools are installed when the script runs as root with apt-get
# (tigervnc-standalone-server, xterm, gvncviewer) and pip (vncdotool).
set -euo pipefail

if [[ ! -f Cargo.toml || ! -f scripts/bench-capture.sh ]]; then
    echo "run this from the repository root: scripts/bench-capture.sh" >&2
    exit 2
fi

RUNS=${RUNS:-15}
DISPLAY_NUM=${DISPLAY_NUM:-57}
PORT=$((5900 + DISPLAY_NUM))
OUT=target/bench-capture
mkdir -p "$OUT"

# ---------------------------------------------------------------- tools
apt_updated=0
need_apt() { # command package
    command -v "$1" >/dev/null 2>&1 && return 0
    if [[ $(id -u) -ne 0 ]] || ! command -v apt-get >/dev/null 2>&1; then
        echo "missing $1 (Debian package $2) and cannot install it here" >&2
        exit 2
    fi
    if [[ $apt_updated -eq 0 ]]; then
        apt-get update -qq
        apt_updated=1
    fi
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$2" >/dev/null
}
need_apt Xvnc tigervnc-standalone-server
need_apt xterm xterm
need_apt gvnccapture gvncviewer
if ! command -v vncdotool >/dev/null 2>&1; then
    python3 -m pip install --quiet vncdotool
fi
hash -r

cargo build --release --locked --bin s301 >&2
S301=target/release/s301

# ---------------------------------------------------------------- Xvnc + xterm
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    [[ ${KEEP:-0} == 1 ]] || rm -f "$OUT"/*.png
}
trap cleanup EXIT

Xvnc ":$DISPLAY_NUM" -geometry 1920x1080 -depth 24 -rfbport "$PORT" \
    -interface 127.0.0.1 -SecurityTypes None -AlwaysShared -nolisten tcp \
    >"$OUT/xvnc.log" 2>&1 &
pids+=($!)
for _ in $(seq 50); do
    (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null && break
    sleep 0.1
done
# A full-screen xterm (320x83 cells of the 6x13 font): a screenful of text,
# then top redrawing ten times a second.
DISPLAY=":$DISPLAY_NUM" xterm -geometry 320x83+0+0 \
    -e sh -c 'yes "s301 capture benchmark: a busy terminal screen" | head -c 100000000; exec top -d 0.1' \
    >/dev/null 2>&1 &
pids+=($!)
sleep 3

# ---------------------------------------------------------------- runs
declare -A CMD=(
    [s301]="$S301 capture rfb://127.0.0.1:$PORT $OUT/s301.png"
    [gvnccapture]="gvnccapture --quiet 127.0.0.1:$DISPLAY_NUM $OUT/gvnccapture.png"
    [vncdotool]="vncdotool -s 127.0.0.1::$PORT capture $OUT/vncdotool.png"
)
TOOLS=(s301 gvnccapture vncdotool)
declare -A TIMES

run_once() { # tool -> prints milliseconds
    local t0 t1
    rm -f "$OUT/$1.png"
    t0=$(date +%s%N)
    ${CMD[$1]} >/dev/null 2>"$OUT/$1.err" || {
        echo "$1 failed:" >&2
        cat "$OUT/$1.err" >&2
        exit 1
    }
    t1=$(date +%s%N)
    [[ -s $OUT/$1.png ]] || { echo "$1 wrote no PNG" >&2; exit 1; }
    echo $(((t1 - t0) / 1000))
}

# One warm-up round (page cache, Python bytecode), not counted.
for t in "${TOOLS[@]}"; do run_once "$t" >/dev/null; done

load_before=$(cut -d' ' -f1-3 /proc/loadavg)
for r in $(seq 0 $((RUNS - 1))); do
    for i in 0 1 2; do
        t=${TOOLS[$(((r + i) % 3))]}
        TIMES[$t]+="$(run_once "$t") "
    done
done
load_after=$(cut -d' ' -f1-3 /proc/loadavg)

# ---------------------------------------------------------------- report
median() { # microseconds... -> milliseconds with one decimal
    printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {
        m = (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2
        printf "%.1f", m / 1000 }'
}
size_of() { python3 -c 'import struct,sys; d=open(sys.argv[1],"rb").read(24); print("%dx%d" % struct.unpack(">II", d[16:24]))' "$1"; }

echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(uname -sr)"
echo "Xvnc $(Xvnc -version 2>&1 | grep -m1 -o 'TigerVNC[^ ]* [^ ]*' || true) at 1920x1080x24 on 127.0.0.1:$PORT, busy xterm (top -d 0.1)"
echo "load average (1/5/15 min): before $load_before, after $load_after; $RUNS interleaved runs per tool"
printf '%-12s %12s %10s  %s\n' tool "median (ms)" "PNG" "min..max (ms)"
declare -A MED
for t in "${TOOLS[@]}"; do
    # shellcheck disable=SC2086
    MED[$t]=$(median ${TIMES[$t]})
    # shellcheck disable=SC2086
    range=$(printf '%s\n' ${TIMES[$t]} | sort -n | awk 'NR==1{lo=$1} {hi=$1} END {printf "%.1f..%.1f", lo/1000, hi/1000}')
    printf '%-12s %12s %10s  %s\n' "$t" "${MED[$t]}" "$(size_of "$OUT/$t.png")" "$range"
done
awk -v s="${MED[s301]}" -v g="${MED[gvnccapture]}" -v v="${MED[vncdotool]}" 'BEGIN {
    printf "gvnccapture / s301: %.2fx; vncdotool / s301: %.2fx (goal: gvnccapture / s301 >= 2)\n", g / s, v / s }'
