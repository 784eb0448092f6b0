"""Benchmark: write-to-visible delay on each backend. For each of --updates plan updates to a
bench endpoint, the time from the backend write's return (PowerDNS: the API PATCH; CoreDNS:
the etcd transaction) to the first direct probe of the authoritative server that answers
with the new address. Probes go back to back (each waits for its answer), so the figure's
resolution is one probe round trip; the round trip to an unchanged name is measured in the
same run as the baseline.

    .venv/bin/python benchmarks/write_visible.py --updates 60

Prints median / p99 per backend and writes results/write-visible.json.
"""

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

import dns.exception
import dns.message
import dns.query

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from lab import config  # noqa: E402
from lab.backends import BACKENDS, SERVICES, plans_backend  # noqa: E402
from lab.core.plan import Plan, Target  # noqa: E402
from lab.stack import Stack  # noqa: E402

ENDPOINT = "bench-visible"
TIMEOUT_PER_UPDATE_S = 10.0


def percentile(values, q):
    values = sorted(values)
    k = max(0, min(len(values) - 1, round(q / 100 * len(values) + 0.5) - 1))
    return values[k]


def probe(server: str, name: str) -> set[str]:
    r = dns.query.udp(dns.message.make_query(name, "A"), server, timeout=0.5)
    return {rd.to_text() for rrset in r.answer if rrset.rdtype == 1 for rd in rrset}


def measure(kind: str, stack: Stack, updates: int) -> dict:
    backend = plans_backend(kind, config.ZONE, empty_answer="nxdomain", ttl=5,
                            pdns_address=stack.address("pdns-auth"),
                            pdns_api_key=stack.secret("pdns-api-key"),
                            zone_store_address=stack.address("zone-store"))
    server = stack.address(SERVICES[kind].server)
    name = f"{ENDPOINT}.{config.ZONE}"
    backend.reset([ENDPOINT])
    delays, probes, rtts = [], [], []
    previous = None
    try:
        for i in range(updates):
            generation = 10_000 + i
            address = f"198.51.100.{100 + i % 100}"
            plan = Plan(generation, {"bench": (Target(address, 1),)}, {ENDPOINT: "bench"})
            backend.apply(ENDPOINT, plan, previous)
            written = time.perf_counter()
            count = 0
            while True:
                count += 1
                try:
                    seen = address in probe(server, name)
                except dns.exception.Timeout:
                    seen = False
                now = time.perf_counter()
                if seen:
                    delays.append((now - written) * 1000)
                    probes.append(count)
                    break
                if now - written > TIMEOUT_PER_UPDATE_S:
                    raise SystemExit(f"{kind}: update {i} not visible after "
                                     f"{TIMEOUT_PER_UPDATE_S} s")
            previous = generation
            # Baseline: the round trip of a probe that needs no change to become visible.
            began = time.perf_counter()
            probe(server, name)
            rtts.append((time.perf_counter() - began) * 1000)
            time.sleep(0.05)
    finally:
        backend.reset([ENDPOINT])     # (also removes plan trees: run it outside a lab run)
    return {"backend": kind, "updates": updates,
            "median_ms": round(statistics.median(delays), 2),
            "p99_ms": round(percentile(delays, 99), 2),
            "max_ms": round(max(delays), 2),
            "probes_median": statistics.median(probes),
            "probe_rtt_median_ms": round(statistics.median(rtts), 2),
            "median_over_rtt": round(statistics.median(delays) / statistics.median(rtts), 2)}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--updates", type=int, default=60)
    p.add_argument("--out", default=str(ROOT / "results" / "write-visible.json"))
    p.add_argument("--no-up", action="store_true")
    args = p.parse_args()
    if args.updates < 50:
        raise SystemExit("--updates must be at least 50")
    if not args.no_up:
        subprocess.run([sys.executable, "-m", "lab", "up", "--no-grafana", "-q"], check=True,
                       cwd=ROOT)
    stack = Stack(echo=None)
    rows = [measure(kind, stack, args.updates) for kind in BACKENDS]
    for r in rows:
        print(f"{r['backend']}: write-to-visible over {r['updates']} updates: median "
              f"{r['median_ms']} ms, p99 {r['p99_ms']} ms, max {r['max_ms']} ms "
              f"(probe round trip {r['probe_rtt_median_ms']} ms; median/rtt "
              f"{r['median_over_rtt']}; probes to see it, median {r['probes_median']})")
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(rows, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
