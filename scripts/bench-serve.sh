#!/usr/bin/env bash
# Static-file throughput of `lport serve` against nginx and `python3 -m http.server`:
# the same 1 KiB file, wrk with keep-alive, one server at a time on loopback.
# Needs nginx, wrk and python3 (`apt-get install nginx wrk`).
#
#   scripts/bench-serve.sh            # 10 s per run
#   DURATION=5s scripts/bench-serve.sh
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${DURATION:-10s}
THREADS=${THREADS:-2}
CONNS=${CONNS:-50}
for tool in nginx wrk python3; do
    command -v "$tool" >/dev/null || { echo "bench-serve.sh: $tool is missing" >&2; exit 2; }
done
cargo build --release --locked -q
LPORT=$PWD/target/release/lport
work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
mkdir -p "$work/www" "$work/nginx/logs"
head -c 768 /dev/urandom | base64 -w0 > "$work/www/1k.txt"   # exactly 1024 bytes
[ "$(stat -c %s "$work/www/1k.txt")" = 1024 ]

port() { "$LPORT" free; }
run_wrk() { # name port
    "$LPORT" wait -q "127.0.0.1:$2" --timeout 10s
    local rps
    rps=$(wrk -t"$THREADS" -c"$CONNS" -d"$DURATION" "http://127.0.0.1:$2/1k.txt" | awk '/Requests\/sec/ {print $2}')
    echo "$1 $rps"
}

P=$(port)
cat > "$work/nginx/nginx.conf" <<NGINX
worker_processes auto;
daemon off;
pid $work/nginx/nginx.pid;
error_log $work/nginx/logs/error.log;
events { worker_connections 1024; }
http {
    access_log off;
    sendfile on;
    tcp_nopush on;
    keepalive_requests 100000;
    types { text/plain txt; }
    client_body_temp_path $work/nginx/body;
    proxy_temp_path $work/nginx/proxy;
    fastcgi_temp_path $work/nginx/fastcgi;
    uwsgi_temp_path $work/nginx/uwsgi;
    scgi_temp_path $work/nginx/scgi;
    server { listen 127.0.0.1:$P; root $work/www; }
}
NGINX
nginx -p "$work/nginx" -c "$work/nginx/nginx.conf" & pids+=($!)
results=$(run_wrk nginx "$P")
kill "${pids[-1]}"; wait "${pids[-1]}" 2>/dev/null || true

P=$(port)
"$LPORT" serve "$work/www" --port "$P" -q >/dev/null 2>&1 & pids+=($!)
results+=$'\n'$(run_wrk lport "$P")
kill "${pids[-1]}"; wait "${pids[-1]}" 2>/dev/null || true

P=$(port)
"$LPORT" serve "$work/www" --port "$P" >/dev/null 2>/dev/null & pids+=($!)
results+=$'\n'$(run_wrk lport-logging "$P")
kill "${pids[-1]}"; wait "${pids[-1]}" 2>/dev/null || true

P=$(port)
python3 -m http.server --bind 127.0.0.1 --directory "$work/www" "$P" >/dev/null 2>&1 & pids+=($!)
results+=$'\n'$(run_wrk python "$P")
kill "${pids[-1]}"; wait "${pids[-1]}" 2>/dev/null || true

echo "$results" | python3 -c '
import sys
r = dict(l.split() for l in sys.stdin if l.strip())
r = {k: float(v) for k, v in r.items()}
print("| server (wrk -t'"$THREADS"' -c'"$CONNS"' -d'"$DURATION"', 1 KiB file) | requests/s | lport -q vs it |")
print("|---|---:|---:|")
for k in ["lport", "lport-logging", "nginx", "python"]:
    name = {"lport": "`lport serve -q`", "lport-logging": "`lport serve` (logging to /dev/null)", "nginx": "nginx (access_log off, sendfile on)", "python": "`python3 -m http.server`"}[k]
    ours = r["lport"]
    ratio = "" if k.startswith("lport") else f"{ours / r[k]:.2f}x"
    print(f"| {name} | {r[k]:,.0f} | {ratio} |")
'
