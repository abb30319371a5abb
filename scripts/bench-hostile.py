#!/usr/bin/env python3
"""Figures for the hostile-input defences (BENCHMARKS.md): one lport build against servers,
processes and clients that try to hang, flood or starve it, all on loopback.

  python3 scripts/bench-hostile.py                       # target/release/lport
  python3 scripts/bench-hostile.py --lport /path/to/an/older/lport

Needs python3 and prlimit (util-linux). Each figure is capped (a build that hangs shows the
cap, marked with >=), and every process started here is stopped at the end.
"""

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time

SERVERS = r"""
import ctypes, json, os, socket, sys, threading, time
mode = sys.argv[1]
def drip_tls(c):
    c.sendall(b"\x16\x03\x03\x00\x40")
    for _ in range(200):
        time.sleep(0.3)
        c.sendall(b"\x02")
def endless(c):
    while True:
        c.sendall(b"A" * 65536)
def redirect(c):
    c.recv(65536)
    c.sendall(b"HTTP/1.1 302 Found\r\nLocation: /login\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
def idle(c):
    time.sleep(60)
if mode == "name":
    ctypes.CDLL(None).prctl(15, ctypes.c_char_p(b"\xff\x1b]0;pwn\x07"), 0, 0, 0)
h = {"drip-tls": drip_tls, "endless": endless, "redirect": redirect, "name": idle}[mode]
s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen(64)
print(json.dumps({"port": s.getsockname()[1], "pid": os.getpid()}), flush=True)
def serve(c):
    try: h(c)
    except OSError: pass
    finally: c.close()
while True:
    c, _ = s.accept()
    threading.Thread(target=serve, args=(c,), daemon=True).start()
"""

started = []


def server(mode):
    p = subprocess.Popen([sys.executable, "-c", SERVERS, mode], stdout=subprocess.PIPE)
    started.append(p)
    info = json.loads(p.stdout.readline())
    return info["port"], info["pid"]


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def timed(argv, cap):
    t = time.monotonic()
    try:
        r = subprocess.run(argv, capture_output=True, timeout=cap)
        return time.monotonic() - t, r
    except subprocess.TimeoutExpired:
        return None, None


def secs(t, cap):
    return ">= %.0f s (cut off)" % cap if t is None else "%.2f s" % t


def start_lport(lport, args, prefix=()):
    port = free_port()
    flag = ["--listen", "127.0.0.1:%d" % port] if args[0] == "exporter" else ["--port", str(port)]
    p = subprocess.Popen(list(prefix) + [lport] + args + flag, stdin=subprocess.DEVNULL,
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    started.append(p)
    deadline = time.monotonic() + 10
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return p, port
        except OSError:
            if time.monotonic() > deadline or p.poll() is not None:
                return p, None
            time.sleep(0.02)


def status(pid, key):
    for line in open("/proc/%d/status" % pid):
        if line.startswith(key):
            return int(line.split()[1])
    return 0


def ticks(pid):
    f = open("/proc/%d/stat" % pid).read().rsplit(")", 1)[1].split()
    return int(f[11]) + int(f[12])


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--lport", default=os.path.join(os.path.dirname(__file__), "..", "target", "release", "lport"))
    a = ap.parse_args()
    lport = os.path.abspath(a.lport)
    rows = []

    # 1. Deadlines against a server that drips a TLS record one byte every 0.3 s.
    port, _ = server("drip-tls")
    t, _ = timed([lport, "why", "127.0.0.1:%d" % port, "--timeout", "1s", "--json"], 40)
    rows.append(("`why --timeout 1s`, dripping TLS server", secs(t, 40)))
    t, _ = timed([lport, "wait", "https://127.0.0.1:%d/" % port, "--timeout", "1s"], 40)
    rows.append(("`wait https://... --timeout 1s`, same server", secs(t, 40)))
    ports = [server("drip-tls")[0] for _ in range(3)] + [server("endless")[0]]
    t, _ = timed([lport, "ls", "--identify"] + ["127.0.0.1:%d" % p for p in ports], 60)
    rows.append(("`ls --identify`, 3 dripping + 1 endless", secs(t, 60)))

    # 2. A process whose name is not UTF-8 and holds escapes.
    port, pid = server("name")
    _, r = timed([lport, "who", str(port)], 20)
    out = r.stdout if r else b""
    rows.append(("hostile-named process: `who` shows its pid",
                 "yes" if b"pid %d" % pid in out else "no (hidden)"))
    rows.append(("hostile-named process: raw ESC bytes on the terminal",
                 "%d" % out.count(b"\x1b")))

    # 3. A bare redirect for a foreign Host.
    port, _ = server("redirect")
    _, r = timed([lport, "why", "127.0.0.1:%d" % port, "--json"], 20)
    flagged = r is not None and b"rebinding-vulnerable" in r.stdout
    rows.append(("302 with an empty body flagged `rebinding-vulnerable`", "yes" if flagged else "no"))

    # 4. serve: 400 spellings of one 1 MiB file.
    d = tempfile.mkdtemp(prefix="lport-bench-")
    with open(os.path.join(d, "one.bin"), "wb") as f:
        f.write(b"\7" * (1 << 20))
    p, port = start_lport(lport, ["serve", d, "-q"])
    before = status(p.pid, "VmRSS:")
    c = socket.create_connection(("127.0.0.1", port))
    for i in range(400):
        c.sendall(b"GET /%sone.bin HTTP/1.1\r\nHost: x\r\n\r\n" % (b"./" * i))
        got = 0
        while got < (1 << 20):
            got += len(c.recv(1 << 20))
    c.close()
    rows.append(("`serve` RSS before / after 400 spellings of a 1 MiB file",
                 "%.0f / %.0f MB" % (before / 1024, status(p.pid, "VmRSS:") / 1024)))
    p.kill()

    # 5. Out of file descriptors: CPU of the accept loop.
    p, port = start_lport(lport, ["serve", "--tcp-echo", "-q"], ["prlimit", "--nofile=24:24", "--"])
    clients = [socket.create_connection(("127.0.0.1", port)) for _ in range(40)]
    time.sleep(0.3)
    t0 = ticks(p.pid)
    time.sleep(2)
    rows.append(("`serve --tcp-echo` CPU with 40 clients and 24 descriptors",
                 "%.0f%% of a core" % ((ticks(p.pid) - t0) / 2.0)))
    for c in clients:
        c.close()
    p.kill()

    # 6. Slowloris: 50 clients dripping headers at a server with 48 descriptors, fewer than
    # it would need for them all.
    p, port = start_lport(lport, ["serve", "--echo", "-q"], ["prlimit", "--nofile=48:48", "--"])
    stop = threading.Event()
    slow = []
    for _ in range(50):
        try:
            s = socket.create_connection(("127.0.0.1", port))
            s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n")
            slow.append(s)
        except OSError:
            break

    def drip():
        while not stop.wait(1):
            for s in slow:
                try:
                    s.sendall(b"X-a: b\r\n")
                except OSError:
                    pass

    threading.Thread(target=drip, daemon=True).start()
    t = time.monotonic()
    served = None
    while time.monotonic() - t < 45:
        try:
            c = socket.create_connection(("127.0.0.1", port), timeout=2)
            c.settimeout(2)
            c.sendall(b"GET /ok HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            if c.recv(12).startswith(b"HTTP/1.1 200"):
                served = time.monotonic() - t
                break
        except OSError:
            pass
        time.sleep(0.2)
    stop.set()
    rows.append(("`serve --echo`, 48 descriptors, 50 slowloris clients: a normal client served after",
                 secs(served, 45)))
    for s in slow:
        s.close()
    p.kill()

    # 7. 200 simultaneous scrapes.
    p, port = start_lport(lport, ["exporter"])
    go = threading.Barrier(200)
    ok = []

    def scrape():
        go.wait()
        try:
            c = socket.create_connection(("127.0.0.1", port), timeout=30)
            c.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            ok.append(c.recv(12).startswith(b"HTTP/1.1 200"))
        except OSError:
            ok.append(False)

    hs = [threading.Thread(target=scrape) for _ in range(200)]
    for h in hs:
        h.start()
    peak = 0
    while any(h.is_alive() for h in hs):
        peak = max(peak, status(p.pid, "Threads:"))
        time.sleep(0.005)
    rows.append(("exporter, 200 simultaneous scrapes: answered / peak threads / peak RSS",
                 "%d / %d / %.0f MB" % (sum(ok), peak, status(p.pid, "VmHWM:") / 1024)))
    p.kill()

    # 8. Input bounds.
    _, r = timed([lport, "free", "-n", "99999999999"], 20)
    rows.append(("`free -n 99999999999` exit code", str(r.returncode if r else "hung")))

    print("| defence | %s |" % os.path.basename(os.path.dirname(os.path.dirname(lport))))
    print("|---|---|")
    for k, v in rows:
        print("| %s | %s |" % (k, v))


try:
    main()
finally:
    for p in started:
        p.kill()
        p.wait()
