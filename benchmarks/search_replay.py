"""Benchmark: does a schedule found by search replay on real DNS?

    .venv/bin/python benchmarks/search_replay.py [--runs 10] [--seed 4]
        [--file experiments/steady-state.yaml] [--found FOUND.yaml]

Searches --file (default fault space, --seed) in the simulation unless --found names an
emitted file already, then runs the emitted found-empty-endpoint.yaml --runs times on real
PowerDNS and --runs times on real CoreDNS (the lab is brought up once, and down at the end)
and in the simulation, and prints how many runs reproduced the violation (never-delete-
active-plan violated and the run as its file expects). Target: >= 9/10 on each backend, and
every simulated run.
"""

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DNSLAB = [sys.executable, "-m", "lab"]


def reproduced(out: Path) -> bool:
    try:
        summary = json.loads((out / "summary.json").read_text())
    except (OSError, ValueError):
        return False
    held = {i["name"]: i["held"] for i in summary.get("invariants", [])}
    return summary.get("as_expected") is True and held.get("never-delete-active-plan") is False


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--runs", type=int, default=10)
    p.add_argument("--seed", default="4")
    p.add_argument("--file", default=str(ROOT / "experiments" / "steady-state.yaml"))
    p.add_argument("--found", default=None)
    args = p.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        found = Path(args.found) if args.found else None
        if found is None:
            subprocess.run([*DNSLAB, "search", args.file, "--seed", args.seed, "--out",
                            str(tmp / "search"), "-q"], check=True, cwd=ROOT)
            found = tmp / "search" / "found-empty-endpoint.yaml"
        print(f"found file: {found}")
        print(found.read_text())
        counts = {}
        sim = sum(reproduced(_run(found, tmp / f"sim-{i}", "--sim")) for i in range(args.runs))
        counts["simulation"] = sim
        subprocess.run([*DNSLAB, "up"], check=True, cwd=ROOT, capture_output=True)
        try:
            for backend in ("powerdns", "coredns"):
                hits = 0
                for i in range(args.runs):
                    ok = reproduced(_run(found, tmp / f"{backend}-{i}", "--no-up",
                                         "--backend", backend))
                    hits += ok
                    print(f"  {backend} run {i + 1}: {'reproduced' if ok else 'did not'}",
                          flush=True)
                counts[backend] = hits
        finally:
            subprocess.run([*DNSLAB, "down"], cwd=ROOT, capture_output=True)
    for world, hits in counts.items():
        print(f"{world}: reproduced in {hits}/{args.runs} runs (target >= 9/10)")
    return 0


def _run(found: Path, out: Path, *flags: str) -> Path:
    subprocess.run([*DNSLAB, "run", str(found), "--out", str(out), "-q", *flags], cwd=ROOT,
                   capture_output=True)
    return out


if __name__ == "__main__":
    sys.exit(main())
