"""Benchmark: how often the cascade reproduces on real containers (issue 18).

    .venv/bin/python benchmarks/cascade_repeat.py --runs 10            # experiments/dynamodb-cascade.yaml
    .venv/bin/python benchmarks/cascade_repeat.py --runs 1 --no-faults  # the same fleet, no DNS fault
    ... --out cascade-repeat.json

The lab must be up (`dnslab up`); take /tmp/dnslab-docker.lock around it (one Docker user
at a time). Each run is `dnslab run FILE --no-up --seed N` (seeds 1..runs), and each is
also run in the simulation with the same seed: per run the verdict, whether the fleet ended
metastable, when DNS came back to the fleet, when it recovered (if it did), and whether
`dnslab diff` agrees. Prints one line per run and the totals; every loop is bounded (one run
at a time, a timeout per run).
"""

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FILE = ROOT / "experiments" / "dynamodb-cascade.yaml"


def run(args: list[str], timeout_s: float) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "lab", *args], capture_output=True,
                          text=True, cwd=ROOT, timeout=timeout_s)


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--runs", type=int, default=10)
    p.add_argument("--no-faults", action="store_true",
                   help="the same file with no fault and expect: hold")
    p.add_argument("--out", default=None)
    args = p.parse_args()
    if not 1 <= args.runs <= 50:
        sys.exit("--runs: 1 to 50")
    work = Path(tempfile.mkdtemp(prefix="dnslab-cascade-repeat-"))
    source = FILE
    if args.no_faults:
        import re
        text = FILE.read_text()
        text = re.sub(r"(?ms)^faults:\n(  - .*?\n)+", "faults: []\n", text)
        text = text.replace("expect: metastable", "expect: hold")
        source = work / "dynamodb-cascade-no-faults.yaml"
        source.write_text(text)
    rows = []
    for seed in range(1, args.runs + 1):
        real, sim = work / f"real-{seed}", work / f"sim-{seed}"
        began = time.monotonic()
        r = run(["run", str(source), "--no-up", "--seed", str(seed), "--out", str(real),
                 "--view", "none"], 900)
        took = time.monotonic() - began
        run(["run", str(source), "--sim", "--seed", str(seed), "--out", str(sim),
             "--view", "none"], 300)
        d = run(["diff", str(real), str(sim)], 120)
        try:
            s = json.loads((real / "summary.json").read_text())
        except (OSError, ValueError):
            s = {"verdict": f"no summary (exit {r.returncode}): {r.stderr.strip()[-300:]}"}
        c = s.get("cascade") or {}
        row = {"seed": seed, "verdict": s.get("verdict"), "as_expected": s.get("as_expected"),
               "metastable": c.get("metastable"), "dns_restored_at_s": c.get("dns_restored_at_s"),
               "recovered_at_s": c.get("recovered_at_s"), "reason": c.get("reason"),
               "diff_agrees": d.returncode == 0, "seconds": round(took, 1)}
        rows.append(row)
        print(json.dumps(row), flush=True)
    want = False if args.no_faults else True
    matched = sum(r["metastable"] is want for r in rows)
    agreed = sum(r["diff_agrees"] for r in rows)
    print(f"cascade repeat: {matched}/{len(rows)} runs ended metastable={want}; "
          f"{agreed}/{len(rows)} agreed with their simulation (dnslab diff); "
          f"{sum(r['seconds'] for r in rows) / len(rows):.0f} s a run")
    if args.out:
        Path(args.out).write_text(json.dumps({"file": str(source.name), "runs": rows}, indent=2))
    return 0 if matched == len(rows) else 1


if __name__ == "__main__":
    sys.exit(main())
