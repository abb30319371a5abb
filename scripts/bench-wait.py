#!/usr/bin/env python3
"""Measures `lport wait`: how soon a port that opens is noticed, and the CPU it uses while
waiting. Prints markdown for BENCHMARKS.md.

  scripts/bench-wait.py [--trials 30] [--idle 10]
"""
import argparse, os, random, resource, socket, statistics, subprocess, time

LPORT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "target", "release", "lport")


def free_port():
    return int(subprocess.check_output([LPORT, "free"]).strip())


def latency_once():
    port = free_port()
    p = subprocess.Popen([LPORT, "wait", "-q", f"127.0.0.1:{port}", "--timeout", "10s"])
    time.sleep(random.uniform(0.2, 0.4))
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("127.0.0.1", port))
    s.listen(16)
    t0 = time.monotonic()
    rc = p.wait()
    t1 = time.monotonic()
    s.close()
    assert rc == 0, rc
    return (t1 - t0) * 1000


def idle_cpu(seconds):
    port = free_port()
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.monotonic()
    subprocess.run([LPORT, "wait", "-q", f":{port}", "--timeout", f"{seconds}s"])
    wall = time.monotonic() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return cpu, wall


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--trials", type=int, default=30)
    ap.add_argument("--idle", type=float, default=10)
    a = ap.parse_args()
    lat = sorted(latency_once() for _ in range(a.trials))
    cpu, wall = idle_cpu(a.idle)
    print(f"| `lport wait` measure | result | target |")
    print(f"|---|---:|---:|")
    print(f"| port opens -> lport exits, median of {a.trials} | {statistics.median(lat):.1f} ms (min {lat[0]:.1f}, max {lat[-1]:.1f}) | <= 20 ms |")
    print(f"| CPU while waiting {wall:.0f} s on a closed port | {cpu * 1000:.0f} ms = {100 * cpu / wall:.2f}% of a core | < 1% |")


if __name__ == "__main__":
    main()
