"""Benchmark: how fast schedule search finds, shrinks and runs, on one core and on Dask.

    .venv/bin/python benchmarks/search.py [--seeds 20] [--file experiments/steady-state.yaml]
        [--rate-budget 512] [--workers 2]

Prints:
1. time to the first empty endpoint (never-delete-active-plan violated) from the file with
   the default fault space, over --seeds search seeds (random strategy, one core): median
   and worst wall seconds, schedules explored, and the faults of each shrunk schedule
   (median and most); target: median <= 10 s, shrunk to <= 4 faults;
2. schedules per second per core on the control-plane path (a --rate-budget search with
   --exhaust, one process); target >= 500;
3. the same search on a local Dask cluster of --workers processes: schedules per second,
   the speed-up over (2), and whether the results are identical (they must be).
"""

import argparse
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from lab import scenario as scenarios  # noqa: E402
from lab.core.faultspace import FaultSpace  # noqa: E402
from lab.search.engine import search  # noqa: E402
from lab.search.shrink import Shrinker  # noqa: E402
from lab.search.trial import EMPTY, run_trial  # noqa: E402


def signature(r) -> tuple:
    return (r.explored, tuple(sorted(r.counts.items())),
            tuple(sorted((v, f.index, f.schedule) for v, f in r.found.items())),
            frozenset(r.interleavings), frozenset(r.pairs))


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--file", default=str(ROOT / "experiments" / "steady-state.yaml"))
    p.add_argument("--seeds", type=int, default=20)
    p.add_argument("--rate-budget", type=int, default=512)
    p.add_argument("--workers", type=int, default=2)
    args = p.parse_args()
    base = scenarios.load(args.file)
    space = base.search or FaultSpace()

    times, explored, faults, missing = [], [], [], []
    for seed in range(1, args.seeds + 1):
        began = time.perf_counter()
        r = search(base, space, seed=seed, budget=20000)
        took = time.perf_counter() - began
        found = r.found.get(EMPTY)
        if found is None:
            missing.append(seed)
            continue
        times.append(took)
        explored.append(found.index + 1)
        small = Shrinker(lambda s: EMPTY in run_trial(base, s, space).violations
                         ).shrink(found.schedule)
        faults.append(len(small))
    print(f"1. first empty endpoint from {Path(args.file).name}, {args.seeds} seeds: "
          f"found in {len(times)}/{args.seeds}"
          + (f" (not found: seeds {missing})" if missing else ""))
    if times:
        print(f"   wall seconds to find: median {statistics.median(times):.2f}, worst "
              f"{max(times):.2f} (target median <= 10)")
        print(f"   schedules explored: median {statistics.median(explored):.0f}, worst "
              f"{max(explored)}")
        print(f"   shrunk faults: median {statistics.median(faults):.0f}, most {max(faults)} "
              "(target <= 4)")

    began = time.perf_counter()
    one = search(base, space, seed=1, budget=args.rate_budget, exhaust=True)
    solo = args.rate_budget / (time.perf_counter() - began)
    print(f"2. control-plane path, one process: {solo:.0f} schedules/s per core "
          "(target >= 500)")

    try:
        from lab.search.dist import Dask
    except ImportError:
        print("3. Dask: not installed (pip install 'dask[distributed]')")
        return 0
    dask = Dask(workers=args.workers)
    try:
        search(base, space, seed=2, budget=64, exhaust=True, executor=dask)   # warm workers
        began = time.perf_counter()
        many = search(base, space, seed=1, budget=args.rate_budget, exhaust=True,
                      executor=dask)
        rate = args.rate_budget / (time.perf_counter() - began)
    finally:
        dask.close()
    same = signature(one) == signature(many)
    print(f"3. Dask, {args.workers} worker processes: {rate:.0f} schedules/s, speed-up "
          f"{rate / solo:.2f}x over one process; results identical: {same}")
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
