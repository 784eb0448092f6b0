"""Benchmark: how often the default race empties the regional endpoint on a real backend
(PowerDNS or CoreDNS), and the detection lag (first failing probe minus the clean-up's
deletion) over those runs.

    .venv/bin/python benchmarks/race_reproduction.py --runs 20 --backend coredns

Each run uses seed = base seed + run index. Prints one line per run and the totals; writes
every run's summary.json/events.jsonl and a combined results.json under --out.
"""

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def percentile(values, q):
    values = sorted(values)
    if not values:
        return None
    k = max(0, min(len(values) - 1, round(q / 100 * len(values) + 0.5) - 1))
    return values[k]


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--runs", type=int, default=20)
    p.add_argument("--out", default=None, help="default results/race-bench-<backend>")
    p.add_argument("--backend", choices=("powerdns", "coredns"), default="powerdns")
    p.add_argument("--experiment", default=str(ROOT / "experiments/dynamodb-race.yaml"))
    p.add_argument("--seed", type=int, default=1)
    args = p.parse_args()
    out = Path(args.out or f"results/race-bench-{args.backend}")
    out.mkdir(parents=True, exist_ok=True)
    subprocess.run([sys.executable, "-m", "lab", "up", "--no-grafana", "-q"], check=True, cwd=ROOT)
    rows = []
    for i in range(args.runs):
        run_dir = out / f"run-{i + 1:02d}"
        began = time.monotonic()
        subprocess.run([sys.executable, "-m", "lab", "run", args.experiment, "--out", str(run_dir),
                        "--no-up", "--seed", str(args.seed + i), "--backend", args.backend], cwd=ROOT,
                       capture_output=True, text=True)
        s = json.loads((run_dir / "summary.json").read_text())
        held = {v["name"]: v["held"] for v in s["invariants"]}
        regional = bool(s.get("emptied")) and "dynamodb.us-east-1" in s["emptied"]["endpoints"]
        row = {"run": i + 1, "backend": s["backend"], "seed": args.seed + i, "verdict": s["verdict"],
               "regional_emptied": regional,
               "never_delete_active_plan_violated": held.get("never-delete-active-plan") is False,
               "stuck_until_repair": s["automation_stuck"] and s["recovered_by"] == "operator-repair",
               "detection_lag_ms": s["detection_lag_ms"],
               "seconds": round(time.monotonic() - began, 1)}
        rows.append(row)
        print(" ".join(f"{k}={v}" for k, v in row.items()), flush=True)
    reproduced = [r for r in rows if r["regional_emptied"] and r["never_delete_active_plan_violated"]
                  and r["stuck_until_repair"]]
    lags = [r["detection_lag_ms"] for r in rows if r["detection_lag_ms"] is not None]
    totals = {"runs": len(rows), "reproduced": len(reproduced),
              "detection_lag_ms_median": round(statistics.median(lags), 1) if lags else None,
              "detection_lag_ms_p99": percentile(lags, 99), "lag_samples": len(lags)}
    (out / "results.json").write_text(json.dumps({"totals": totals, "runs": rows}, indent=2))
    print(f"{args.backend}: race reproduced (regional endpoint emptied, never-delete-active-plan violated, "
          f"automation stuck until repair) in {totals['reproduced']}/{totals['runs']} runs")
    print(f"detection_lag_ms over {len(lags)} runs: median {totals['detection_lag_ms_median']}, "
          f"p99 {totals['detection_lag_ms_p99']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
