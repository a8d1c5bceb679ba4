#!/usr/bin/env bash
# Frames per second and CPU of the live witness console (--witness-ui) at
# 1920x1080, against a mock terminal run out of process.
#
# The terminal is `s301 mock --hostile rre-flood --width 1920 --height 1080`:
# every update request is answered at once by one full-screen rectangle of a
# new colour, so every frame the console receives changes every pixel (the
# most damage there can be; the pictures compress well, so this is not the
# worst case for the PNG encoder). ST-04 alone runs for S301_BENCH_SECONDS
# (default 20) with an incremental request every 50 ms: the screen changes
# 20 times a second. A browser stand-in (python3, stdlib only) long-polls
# /api/frame as the page does and counts the frames it gets, then reads the
# CPU time of the server's own thread ("witness-ui") from /proc.
#
# Printed: frames/s received, bytes/s, the witness-ui thread's CPU (user+sys
# over wall), and the whole s301 process's CPU from /usr/bin/time -v, both
# with the browser stand-in and without it (the difference is what the live
# view costs the process), and the load average. When chromium and
# chromedriver are installed, a third case opens the page itself in headless
# Chromium (WebDriver through curl) and reads the frames it drew.
#
# Usage: scripts/bench-witness-ui.sh
# Environment:
#   S301_BENCH_NO_BUILD=1   use target/release/s301 as it is (no cargo build)
#   S301_BENCH_SECONDS=N    how long ST-04 keeps the screen changing (default 20)
set -euo pipefail

cd "$(dirname "$0")/.."
root=$(pwd)
bin="$root/target/release/s301"
secs="${S301_BENCH_SECONDS:-20}"
work=$(mktemp -d /tmp/s301-bench-ui.XXXXXX)
mock_pid=""
cleanup() {
    if [ -n "$mock_pid" ]; then kill "$mock_pid" 2>/dev/null || true; fi
}
trap cleanup EXIT

if [ "${S301_BENCH_NO_BUILD:-0}" != "1" ]; then
    cargo build --release --locked --bin s301
fi

cat >"$work/scenario.toml" <<TOML
name = "bench-witness-ui"
[screen]
sustain_ms = $((secs * 1000))
sustain_interval_ms = 50
TOML

decl="$work/terminal.toml"
"$bin" mock --hostile rre-flood --width 1920 --height 1080 >"$decl" 2>"$decl.log" &
mock_pid=$!
for _ in $(seq 1 600); do
    grep -q '^# s301 mock: serving' "$decl" 2>/dev/null && break
    sleep 0.1
done

port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

cat >"$work/client.py" <<'PY'
import http.client, os, sys, time
port, pidfile, out = int(sys.argv[1]), sys.argv[2], sys.argv[3]
deadline = time.time() + 60
while not os.path.exists(pidfile) and time.time() < deadline:
    time.sleep(0.05)
pid = open(pidfile).read().strip()
def ui_thread():
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            if open(f"/proc/{pid}/task/{tid}/comm").read().strip() == "witness-ui":
                return tid
        except OSError:
            pass
def cpu(tid):
    f = open(f"/proc/{pid}/task/{tid}/stat").read().rsplit(")", 1)[1].split()
    return (int(f[11]) + int(f[12])) / os.sysconf("SC_CLK_TCK")
tid = None
while tid is None and time.time() < deadline:
    tid = ui_thread()
    time.sleep(0.05)
session = since = 0
frames = nbytes = 0
first = None
c0 = cpu(tid); t0 = time.time()
last = (c0, t0)
while True:
    try:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        conn.request("GET", f"/api/frame?session={session}&since={since}")
        r = conn.getresponse(); body = r.read()
    except OSError:
        break
    if r.status == 200:
        session = int(r.getheader("x-frame-session")); since = int(r.getheader("x-frame-version"))
        if r.getheader("x-frame-size") == "1920,1080":
            if first is None:
                first = time.time(); c_first = cpu(tid)
            frames += 1; nbytes += len(body)
            try:
                last = (cpu(tid), time.time())
            except OSError:
                break
    elif r.status == 204 and first is not None:
        break
wall = last[1] - first if first else 0
with open(out, "w") as f:
    if wall > 0:
        f.write(f"frames {frames} in {wall:.1f} s: {frames / wall:.1f} frames/s, "
                f"{nbytes / wall / 1e6:.2f} MB/s of PNG; witness-ui thread CPU "
                f"{(last[0] - c_first):.2f} s = {100 * (last[0] - c_first) / wall:.1f}% of one core\n")
    else:
        f.write("no 1920x1080 frames received\n")
PY

run_case() {
    local label=$1 with_client=$2 p=${3:-}
    [ -n "$p" ] || p=$(port)
    rm -f "$work/pid"
    if [ "$with_client" = 1 ]; then
        python3 "$work/client.py" "$p" "$work/pid" "$work/client.txt" &
        client=$!
    fi
    # shellcheck disable=SC2016
    /usr/bin/time -v -o "$work/time-$label.txt" sh -c 'echo $$ > "$1"; exec "$2" run --terminal "$3" --scenario "$4" --only ST-04 --witness-ui "127.0.0.1:$5" --out "$6"' \
        sh "$work/pid" "$bin" "$decl" "$work/scenario.toml" "$p" "$work/run-$label" >"$work/run-$label.log" 2>&1 || true
    if [ "$with_client" = 1 ]; then wait "$client" || true; fi
    local user sys wall
    user=$(awk -F': ' '/User time/ {print $2}' "$work/time-$label.txt")
    sys=$(awk -F': ' '/System time/ {print $2}' "$work/time-$label.txt")
    wall=$(awk -F': ' '/Elapsed \(wall clock\)/ {print $2}' "$work/time-$label.txt" | awk -F: '{ if (NF==3) print $1*3600+$2*60+$3; else print $1*60+$2 }')
    printf '%-22s s301 process: user %ss + sys %ss over %ss wall = %s%% of one core\n' "$label" "$user" "$sys" "$wall" \
        "$(awk -v u="$user" -v s="$sys" -v w="$wall" 'BEGIN { printf "%.1f", 100 * (u + s) / w }')"
}

echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs); load average $(cut -d' ' -f1-3 /proc/loadavg)"
run_case "without a browser" 0
run_case "with a browser" 1
echo "browser stand-in: $(cat "$work/client.txt")"

# The page itself, in headless Chromium: frames drawn on its canvas.
if [ -x /usr/bin/chromedriver ] && [ -x /usr/bin/chromium ]; then
    wd=$(port)
    /usr/bin/chromedriver --port="$wd" >/dev/null 2>&1 &
    driver=$!
    p=$(port)
    rm -f "$work/pid"
    (
        for _ in $(seq 1 100); do curl -fs "http://127.0.0.1:$wd/status" >/dev/null && break; sleep 0.1; done
        sid=$(curl -fs -X POST "http://127.0.0.1:$wd/session" -H 'content-type: application/json' \
            -d '{"capabilities":{"alwaysMatch":{"goog:chromeOptions":{"binary":"/usr/bin/chromium","args":["--headless=new","--no-sandbox","--disable-gpu","--disable-dev-shm-usage"]}}}}' \
            | python3 -c 'import json,sys; print(json.load(sys.stdin)["value"]["sessionId"])')
        for _ in $(seq 1 100); do curl -fs "http://127.0.0.1:$p/" >/dev/null && break; sleep 0.1; done
        curl -fs -X POST "http://127.0.0.1:$wd/session/$sid/url" -H 'content-type: application/json' \
            -d "{\"url\":\"http://127.0.0.1:$p/\"}" >/dev/null
        js() { curl -fs -X POST "http://127.0.0.1:$wd/session/$sid/execute/sync" -H 'content-type: application/json' \
            -d "{\"script\":\"$1\",\"args\":[]}" | python3 -c 'import json,sys; print(json.load(sys.stdin)["value"])'; }
        # Count from the first full-size frame to the end of the changes.
        for _ in $(seq 1 300); do [ "$(js 'return document.getElementById(\"screen\").width')" = 1920 ] && break; sleep 0.1; done
        f0=$(js 'return window.s301.frames'); t0=$(date +%s.%N)
        sleep $((secs - 4))
        f1=$(js 'return window.s301.frames'); t1=$(date +%s.%N)
        awk -v a="$f0" -v b="$f1" -v s="$t0" -v e="$t1" 'BEGIN { printf "headless Chromium drew %d frames in %.1f s: %.1f frames/s\n", b - a, e - s, (b - a) / (e - s) }' >"$work/chromium.txt"
        curl -fs -X DELETE "http://127.0.0.1:$wd/session/$sid" >/dev/null || true
    ) &
    page=$!
    run_case "with headless Chromium" 0_page "$p"
    wait "$page" || true
    kill "$driver" 2>/dev/null || true
    echo "$(cat "$work/chromium.txt" 2>/dev/null || echo 'headless Chromium: no figure')"
fi
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
