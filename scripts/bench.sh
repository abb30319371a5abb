#!/usr/bin/env bash
# Reproduces the figures in BENCHMARKS.md: lport against ss, fuser and lsof on the reference
# workload from scripts/sockload.py, side by side in one hyperfine run each, and the
# peak memory of `lport ls -a`. Needs root for the full owner scan, plus hyperfine, ss
# (iproute2), lsof, fuser (psmisc) and GNU time: `apt-get install hyperfine lsof psmisc time`.
#
#   scripts/bench.sh            # reference workload: 200 procs, 20 listeners, 50 conns each
#   PROCS=50 scripts/bench.sh   # a smaller one
set -euo pipefail
cd "$(dirname "$0")/.."

PROCS=${PROCS:-200}
RUNS=${RUNS:-20}
SOCKLOAD=scripts/sockload.py
for tool in hyperfine ss lsof fuser python3; do
    command -v "$tool" >/dev/null || { echo "bench.sh: $tool is missing" >&2; exit 2; }
done
[ -x /usr/bin/time ] || { echo "bench.sh: GNU time (/usr/bin/time) is missing" >&2; exit 2; }

cargo build --release --locked -q
LPORT=target/release/lport
work=$(mktemp -d)
ulimit -n 4096
python3 "$SOCKLOAD" --procs "$PROCS" --listen 20 --conns 50 --udp 5 --files 20 \
    --ready "$work/ready" --manifest "$work/manifest.jsonl" &
load=$!
cleanup() { kill "$load" 2>/dev/null || true; wait "$load" 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
while [ ! -e "$work/ready" ]; do sleep 0.2; done
PORT=$(python3 -c 'import json,sys; print(json.loads(open(sys.argv[1]).readline())["listeners"][0][2])' "$work/manifest.jsonl")
echo "workload: $PROCS processes, $(ss -tanH | wc -l) TCP sockets, probe port $PORT"

bench() { # name, then commands
    local name=$1; shift
    hyperfine -N -w 3 -r "$RUNS" --export-json "$work/$name.json" "$@" >&2
}
bench ls "$LPORT ls" "ss -ltnupH"
bench all "$LPORT ls -a" "ss -tuanpH"
bench who "$LPORT who $PORT" "fuser -n tcp $PORT" "lsof -nP -i :$PORT"
rss=$(/usr/bin/time -f %M "$LPORT" ls -a 2>&1 >/dev/null | tail -1)

python3 - "$work" "$rss" <<'PY'
import json, sys
work, rss = sys.argv[1], int(sys.argv[2])
def med(name):
    return [(r["command"], r["median"] * 1000) for r in json.load(open(f"{work}/{name}.json"))["results"]]
rows = []
for name, limits in [("ls", [0.35]), ("all", [0.5]), ("who", [0.6, 0.1])]:
    res = med(name)
    ours = res[0][1]
    for (cmd, ms), limit in zip(res[1:], limits):
        ratio = ours / ms
        rows.append((res[0][0], ours, cmd, ms, ratio, limit))
print("| lport command | median | compared with | median | ratio | target |")
print("|---|---:|---|---:|---:|---:|")
for a, am, b, bm, r, lim in rows:
    print(f"| `{a.replace('target/release/', '')}` | {am:.1f} ms | `{b}` | {bm:.1f} ms | {r:.2f}x | <= {lim}x {'ok' if r <= lim else 'MISSED'} |")
print(f"\nPeak memory of `lport ls -a`: {rss / 1024:.1f} MiB (target <= 20 MiB {'ok' if rss <= 20 * 1024 else 'MISSED'})")
PY
