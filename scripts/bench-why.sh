#!/usr/bin/env bash
# Figures for `lport why` and `lport ls --identify`: a refused loopback port, an nginx HTTP
# port (side by side with `nmap -sV`, and with an older lport given as LPORT_BEFORE), a port
# a firewall drops (in a namespace made here), and identification of 20 listeners. Needs
# root, nginx, nmap, nftables, hyperfine, python3.
set -euo pipefail
cd "$(dirname "$0")/.."
for tool in hyperfine nginx nmap nft python3 ip; do
    command -v "$tool" >/dev/null || { echo "bench-why.sh: $tool is missing" >&2; exit 2; }
done
cargo build --release --locked -q
LPORT=$PWD/target/release/lport
work=$(mktemp -d)
NS=lport-bench-$$
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    ip netns del "$NS" 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT
median() { python3 -c 'import json,sys; r=json.load(open(sys.argv[1]))["results"]; print(" ".join("%.1f" % (x["median"] * 1000) for x in r))' "$1"; }

REFUSED=$("$LPORT" free)
hyperfine -N -i -w 3 -r 30 --export-json "$work/refused.json" "$LPORT why 127.0.0.1:$REFUSED" >&2

P=$("$LPORT" free)
mkdir -p "$work/www"; echo '<title>Hello</title>' > "$work/www/index.html"
cat > "$work/nginx.conf" <<NGINX
daemon off; pid $work/nginx.pid; error_log $work/error.log; events {}
http { access_log off; client_body_temp_path $work/b; proxy_temp_path $work/p; fastcgi_temp_path $work/f; uwsgi_temp_path $work/u; scgi_temp_path $work/s;
server { listen 127.0.0.1:$P; root $work/www; } }
NGINX
nginx -p "$work" -c "$work/nginx.conf" & pids+=($!)
"$LPORT" wait -q "127.0.0.1:$P" --timeout 10s
hyperfine -N -i -w 3 -r 30 --export-json "$work/nginx.json" "$LPORT why 127.0.0.1:$P" "nmap -sV -p $P 127.0.0.1" >&2
before=""
if [ -n "${LPORT_BEFORE:-}" ]; then
    hyperfine -N -i -w 3 -r 30 --export-json "$work/before.json" "$LPORT_BEFORE why 127.0.0.1:$P" >&2
    read -r before < <(median "$work/before.json")
fi

ip netns add "$NS"
ip -n "$NS" link set lo up
D=$("$LPORT" free)
ip netns exec "$NS" python3 -c "import socket,time; s=socket.socket(); s.bind(('127.0.0.1',$D)); s.listen(); time.sleep(600)" & pids+=($!)
ip netns exec "$NS" nft add table inet bench
ip netns exec "$NS" nft 'add chain inet bench input { type filter hook input priority 0; }'
ip netns exec "$NS" nft add rule inet bench input tcp dport "$D" counter drop
sleep 0.3
hyperfine -N -i -w 1 -r 5 --export-json "$work/drop.json" "ip netns exec $NS $LPORT why 127.0.0.1:$D --timeout 1s" >&2

python3 -c "
import socket, time, http.server, threading, os
class Q(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *a): pass
srv = http.server.HTTPServer(('127.0.0.1', 0), Q)
threading.Thread(target=srv.serve_forever, daemon=True).start()
held = []
for _ in range(19):
    s = socket.socket(); s.bind(('127.0.0.1', 0)); s.listen(); held.append(s)
open('$work/ident.pid', 'w').write(str(os.getpid()))
time.sleep(600)" & pids+=($!)
while [ ! -s "$work/ident.pid" ]; do sleep 0.1; done
hyperfine -N -w 1 -r 5 --export-json "$work/ident.json" "$LPORT ls --pid $(cat "$work/ident.pid") --identify" >&2

read -r refused < <(median "$work/refused.json")
read -r why_nginx nmap < <(median "$work/nginx.json")
read -r drop < <(median "$work/drop.json")
read -r ident < <(median "$work/ident.json")
python3 - "$refused" "$why_nginx" "$nmap" "$drop" "$ident" "${before:-0}" <<'PY'
import sys
refused, why, nmap, drop, ident, before = map(float, sys.argv[1:])
ok = lambda c: "ok" if c else "MISSED"
print("| measure | median | target |")
print("|---|---:|---:|")
print(f"| `lport why` on a refused loopback port | {refused:.1f} ms | <= 30 ms {ok(refused <= 30)} |")
print(f"| `lport why` on an nginx HTTP port | {why:.1f} ms | <= 40 ms {ok(why <= 40)} |")
if before:
    print(f"| ... the same with LPORT_BEFORE | {before:.1f} ms | |")
print(f"| ... vs `nmap -sV -p PORT 127.0.0.1` ({nmap:.0f} ms) | {why / nmap:.3f}x | <= 0.05x {ok(why / nmap <= 0.05)} |")
print(f"| `lport why --timeout 1s` on a port an nft rule drops (in a namespace, incl. `ip netns exec`) | {drop:.0f} ms | <= 1100 ms {ok(drop <= 1100)} |")
print(f"| `lport ls --identify` over 20 listeners (1 HTTP, 19 silent) | {ident:.0f} ms | <= 1500 ms {ok(ident <= 1500)} |")
PY
