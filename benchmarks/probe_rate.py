"""Benchmark: the lab's probers' sustained probe rate against dnsperf (Debian's package), on
the same PowerDNS in the same run, as a ratio. The lab's probes are real: each one is a UDP
query, a parsed answer and a timestamped event on the worker's stdout.

    .venv/bin/python benchmarks/probe_rate.py --seconds 10 --probers 3 --clients 18

Both load generators run in lab containers on the lab network against pdns-auth only, each
bounded by --seconds (they stop by themselves). The lab's target is >= 0.25.
"""

import argparse
import re
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from lab import config  # noqa: E402
from lab.core.plan import DEFAULT_ENDPOINTS  # noqa: E402
from lab.core.planner import Planner  # noqa: E402
from lab.eventlog import parse_line  # noqa: E402
from lab.runtime import Workers  # noqa: E402
from lab.stack import Stack  # noqa: E402
from lab.backends import plans_backend  # noqa: E402


def wait_exit(workers: Workers, name: str, timeout_s: float):
    deadline = time.monotonic() + timeout_s
    c = workers.get(name)
    while time.monotonic() < deadline:
        c.reload()
        if c.status == "exited":
            return c
        time.sleep(0.5)
    raise SystemExit(f"{name} did not stop within {timeout_s} s")


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seconds", type=int, default=10)
    p.add_argument("--clients", type=int, default=18, help="virtual clients in one prober")
    p.add_argument("--probers", type=int, default=3, help="prober containers")
    args = p.parse_args()
    subprocess.run([sys.executable, "-m", "lab", "up", "--no-grafana", "-q"], check=True, cwd=ROOT)
    stack = Stack(echo=None)
    auth = stack.address("pdns-auth")
    backend = plans_backend("powerdns", config.ZONE, empty_answer="nxdomain", ttl=5,
                            pdns_address=auth, pdns_api_key=stack.secret("pdns-api-key"))
    import random

    from lab.core.history import History
    from lab.core.memory import MemoryPlanStore
    plan = Planner(MemoryPlanStore(), History(time.time), random.Random(1)).publish()
    backend.reset(DEFAULT_ENDPOINTS)
    for endpoint in plan.endpoints:
        backend.apply(endpoint, plan, previous=None)

    workers = Workers(stack.client, run_id="bench", net_prefix=auth.rsplit(".", 1)[0])
    workers.remove_all()
    try:
        queries = "\\n".join(f"{e}.{config.ZONE} {'AAAA' if e.endswith('.api') else 'A'}"
                             for e in DEFAULT_ENDPOINTS)
        workers.start("dnsperf", ["-c", f"printf '{queries}\\n' > /tmp/q && exec dnsperf -s {auth} "
                                  f"-d /tmp/q -l {args.seconds} -c 4 -q 200"], 60, {},
                      entrypoint=["sh"])
        out = wait_exit(workers, "dnsperf", args.seconds + 60).logs().decode()
        m = re.search(r"Queries per second:\s+([\d.]+)", out)
        if not m:
            raise SystemExit(f"dnsperf gave no rate:\n{out[-1500:]}")
        dnsperf_qps = float(m.group(1))

        for j in range(args.probers):
            workers.start(f"bench-clients-{j + 1}", [
                "clients", "--group", "direct", "--first", str(j * args.clients),
                "--count", str(args.clients), "--auth", auth, "--resolver", auth,
                "--interval", "0", "--max-seconds", str(args.seconds),
                "--source", f"bench-clients-{j + 1}"], 61 + j, {})
        probes, stamped = 0, 0
        for j in range(args.probers):
            c = wait_exit(workers, f"bench-clients-{j + 1}", args.seconds + 60)
            for line in c.logs(stdout=True, stderr=False).splitlines():
                e = parse_line(line)
                if e is not None and e.kind.value == "probe":
                    probes += 1
                    stamped += e.t > 0
        lab_qps = probes / args.seconds
    finally:
        workers.remove_all()
    print(f"dnsperf on pdns-auth: {dnsperf_qps:.0f} queries/s")
    print(f"lab probers ({args.probers} containers x {args.clients} clients, every probe a "
          f"timestamped event; {stamped}/{probes} stamped): {lab_qps:.0f} probes/s")
    print(f"ratio lab/dnsperf: {lab_qps / dnsperf_qps:.3f} (target >= 0.25)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
