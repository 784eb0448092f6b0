"""Benchmark: how fast the simulation world runs, against real time and against the real lab.

    .venv/bin/python benchmarks/simulation.py [--repeat 7] [--real results/suite-powerdns]

Prints three figures, each the fastest (and the median) of --repeat runs on one core (this
process):
1. the default race (experiments/dynamodb-race.yaml, 52 clients) with full outputs
   (summary.json, events.jsonl, report.html, junit.xml): wall seconds, and the ratio of the
   virtual seconds it covered to them (the speed-up over real time, measured in this run);
   with --real, also the ratio to that real run's own duration (its events.jsonl);
2. the whole suite (experiments/*.yaml) on both backends, full outputs: wall seconds;
3. the control plane only (planner, enactors, faults, the run loop; no clients: the path
   schedule search uses): wall milliseconds per 60 virtual seconds.
Targets (docs/design.md): 1. <= 0.2 s and >= 400x the real run; 2. <= 10 s; 3. <= 5 ms.
"""

import argparse
import dataclasses
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from lab import scenario as scenarios  # noqa: E402
from lab.eventlog import read_events  # noqa: E402
from lab.sim.run import control_plane, simulate  # noqa: E402

RACE = ROOT / "experiments" / "dynamodb-race.yaml"


def _quiet(_: str) -> None:
    pass


def timed(fn, repeat: int) -> tuple[float, float, object]:
    """(fastest, median) wall seconds of ``repeat`` calls, and the last value. On a shared
    2-core machine the fastest is the cost of the code; the median adds the neighbours'."""
    times, value = [], None
    for _ in range(repeat):
        began = time.perf_counter()
        value = fn()
        times.append(time.perf_counter() - began)
    return min(times), statistics.median(times), value


def virtual_seconds(events) -> float:
    return events[-1].t - events[0].t if events else 0.0


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeat", type=int, default=7)
    p.add_argument("--real", default=None, metavar="DIR",
                   help="a real suite (or run) directory: the race's real duration is read "
                        "from its dynamodb-race/events.jsonl")
    args = p.parse_args()
    race = scenarios.load(RACE)
    files = sorted((ROOT / "experiments").glob("*.yaml"))
    suite = [dataclasses.replace(scenarios.load(f), backend=b)
             for b in ("powerdns", "coredns") for f in files]

    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)

        def one_race():
            simulate(race, out / "race", echo=_quiet)

        def whole_suite():
            for i, s in enumerate(suite):
                simulate(s, out / f"suite-{i}", echo=_quiet)

        race_s, race_med, _ = timed(one_race, args.repeat)
        events = read_events(out / "race" / "events.jsonl")
        suite_s, suite_med, _ = timed(whole_suite, max(1, args.repeat // 3))
        cp_s, cp_med, (_, cp_events) = timed(lambda: control_plane(race), args.repeat)

    race_virtual = virtual_seconds(events)
    cp_virtual = virtual_seconds(cp_events)
    print(f"1. default race, 52 clients, full outputs: {race_s:.3f} s (median {race_med:.3f}) "
          f"for {race_virtual:.1f} virtual s: {race_virtual / race_s:.0f}x real time "
          "(target <= 0.2 s, >= 400x)")
    if args.real:
        real_dir = Path(args.real)
        real_dir = real_dir / "dynamodb-race" if (real_dir / "dynamodb-race").is_dir() else real_dir
        real_events = read_events(real_dir / "events.jsonl")
        real_s = virtual_seconds(real_events)
        print(f"   the real run in {real_dir}: {real_s:.1f} s: simulation {real_s / race_s:.0f}x "
              "faster")
    print(f"2. whole suite, {len(files)} files x 2 backends, full outputs: {suite_s:.2f} s "
          f"(median {suite_med:.2f}; target <= 10 s)")
    per_minute_ms = cp_s * 1000 * 60 / cp_virtual if cp_virtual else float("nan")
    print(f"3. control plane only (no clients): {cp_s * 1000:.1f} ms (median "
          f"{cp_med * 1000:.1f}) for {cp_virtual:.1f} virtual s: {per_minute_ms:.1f} ms per 60 "
          "virtual s (target <= 5 ms)")
    print(json.dumps({"race_s": round(race_s, 4), "race_virtual_s": round(race_virtual, 1),
                      "suite_s": round(suite_s, 3),
                      "control_plane_ms_per_60s": round(per_minute_ms, 2)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
