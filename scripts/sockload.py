#!/usr/bin/env python3
"""lport's socket workload: many processes holding many loopback sockets, for the
differential test against `ss` and for the benchmarks (scripts/bench.sh).

Each of --procs worker processes holds:
  --listen  TCP listeners, on 127.0.0.1 and the other 127.0.0.x addresses, ::1 and 0.0.0.0
            (plus one more on 127.0.0.1 that accepts the worker's own connections),
  --conns   established TCP connections to that listener, both ends held by the worker,
  --udp     bound UDP sockets on 127.0.0.1,
  --files   descriptors of /dev/null, so descriptor tables are not all sockets.

When every worker is up, --manifest holds one JSON line per worker,
  {"pid": PID, "listeners": [["tcp", "127.0.0.1", PORT], ["udp", "127.0.0.1", PORT], ...]}
(the ground truth tests compare `lport ls --json` with), and --ready exists. SIGTERM or
SIGINT stops every worker. Nothing but loopback addresses is ever bound or connected.

  python3 scripts/sockload.py --procs 200 --listen 20 --conns 50 --udp 5 --files 20 \\
      --ready /tmp/sl.ready --manifest /tmp/sl.jsonl &

Each worker needs 2*conns + listen + udp + files + 1 descriptors (`ulimit -n`).
"""

import argparse
import json
import os
import signal
import socket
import sys


def listen_addresses(worker):
    """Where a worker's listeners go, in turn: every fifth on 127.0.0.1."""
    own = "127.0.0.%d" % (1 + worker % 8)
    return [
        (own, socket.AF_INET),
        ("::1", socket.AF_INET6),
        ("0.0.0.0", socket.AF_INET),
        (own, socket.AF_INET),
        ("::1", socket.AF_INET6),
    ]


def open_sockets(worker, args):
    """Opens the worker's sockets; returns (everything held, its listeners)."""
    held, listeners = [], []
    places = listen_addresses(worker)
    for i in range(args.listen):
        host, family = ("127.0.0.1", socket.AF_INET) if i % 5 == 0 else places[i % len(places)]
        s = socket.socket(family, socket.SOCK_STREAM)
        s.bind((host, 0))
        s.listen(128)
        held.append(s)
        listeners.append(["tcp", host, s.getsockname()[1]])
    hub = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    hub.bind(("127.0.0.1", 0))
    hub.listen(max(args.conns, 1))
    held.append(hub)
    listeners.append(["tcp", "127.0.0.1", hub.getsockname()[1]])
    for _ in range(args.conns):
        client = socket.create_connection(hub.getsockname())
        server, _ = hub.accept()
        held.extend([client, server])
    for _ in range(args.udp):
        u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        u.bind(("127.0.0.1", 0))
        held.append(u)
        listeners.append(["udp", "127.0.0.1", u.getsockname()[1]])
    held.extend(open(os.devnull, "rb") for _ in range(args.files))
    return held, listeners


def worker(index, args, report):
    """Runs in the forked child: open, report one line, then hold until SIGTERM."""
    signal.signal(signal.SIGTERM, lambda *_: os._exit(0))
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        held, listeners = open_sockets(index, args)
    except OSError as e:
        os.write(report, json.dumps({"error": str(e)}).encode() + b"\n")
        os._exit(1)
    os.write(report, json.dumps({"pid": os.getpid(), "listeners": listeners}).encode() + b"\n")
    os.close(report)
    while held:
        signal.pause()


def read_line(fd):
    data = b""
    while not data.endswith(b"\n"):
        chunk = os.read(fd, 65536)
        if not chunk:
            break
        data += chunk
    os.close(fd)
    return data


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--procs", type=int, default=50)
    p.add_argument("--listen", type=int, default=10)
    p.add_argument("--conns", type=int, default=20)
    p.add_argument("--udp", type=int, default=2)
    p.add_argument("--files", type=int, default=10)
    p.add_argument("--ready", required=True)
    p.add_argument("--manifest", required=True)
    args = p.parse_args()

    workers = []

    def end(code):
        for pid in workers:
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        for pid in workers:
            try:
                os.waitpid(pid, 0)
            except ChildProcessError:
                pass
        sys.exit(code)

    signal.signal(signal.SIGTERM, lambda *_: end(0))
    signal.signal(signal.SIGINT, lambda *_: end(0))
    lines = []
    for i in range(args.procs):
        r, w = os.pipe()
        pid = os.fork()
        if pid == 0:
            os.close(r)
            worker(i, args, w)
        os.close(w)
        workers.append(pid)
        line = read_line(r)
        rec = json.loads(line) if line else {"error": "exited without a word"}
        if "error" in rec:
            sys.stderr.write("sockload: worker %d: %s\n" % (i, rec["error"]))
            end(1)
        lines.append(line.decode())
    with open(args.manifest, "w") as m:
        m.writelines(lines)
    open(args.ready, "w").close()
    while True:
        signal.pause()


if __name__ == "__main__":
    main()
