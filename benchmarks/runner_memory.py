"""Benchmark: the runner's memory over a long run (issue 17, item 5: bounded memory).

    .venv/bin/python benchmarks/runner_memory.py --sim               # 24 virtual hours
    .venv/bin/python benchmarks/runner_memory.py --sim --hours 2     # shorter
    .venv/bin/python benchmarks/runner_memory.py                     # the real lab, 30 min

Both modes run experiments/steady-state.yaml (52 clients, two prober containers) with its
duration overridden, and print the runner process's resident memory (RSS):

- ``--sim``: this process runs the simulation; RSS at the start, after the first virtual
  minute, after each virtual hour and at the end of the method (read as the run's events go
  by), then after the results are written (and the peak). Baseline, measured in the same
  run: the memory a history held whole costs (the runner before the change kept every
  event), from loading the first 200,000 events of the run's events.jsonl.
- real: `dnslab run` in a child process against the Docker lab; its RSS every 10 s.

Each prints the growth from the first minute to the end (target: under 10 %), and checks
that the run's summary equals one computed afterwards from its events.jsonl (target: equal).
"""

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from lab import scenario as scenarios  # noqa: E402
from lab.eventlog import iter_events  # noqa: E402
from lab.execute import observed, summary_from_events  # noqa: E402

STEADY = ROOT / "experiments" / "steady-state.yaml"
PAGE = os.sysconf("SC_PAGE_SIZE")


def rss_mb(pid: int | str = "self") -> float:
    with open(f"/proc/{pid}/statm") as f:
        return int(f.read().split()[1]) * PAGE / 2**20


def growth(a: float, b: float) -> str:
    return f"{(b - a) / a * 100:+.1f} %"


class Sampler:
    """RSS when the run's clock passes each mark (seconds since its first event); fed by an
    observer of the run (lab/execute.py ``observed``)."""

    def __init__(self, marks):
        self.marks = sorted(marks)
        self.samples: list[tuple[str, float, float]] = []    # (label, run seconds, MB)
        self.t0 = None
        self.events = 0
        self.last = None

    def close(self):
        if self.t0 is not None:
            self.samples.append(("end of the method", self.last - self.t0, rss_mb()))

    def add(self, event):
        self.events += 1
        if self.t0 is None:
            self.t0 = event.t
        self.last = event.t if self.last is None else max(self.last, event.t)
        while self.marks and event.t - self.t0 >= self.marks[0][0]:
            _, label = self.marks.pop(0)
            self.samples.append((label, event.t - self.t0, rss_mb()))


def per_event_bytes(path: Path, n: int = 200_000) -> float:
    """What keeping events in memory costs, measured here: RSS before and after holding the
    first ``n`` events of ``path`` as the runner used to (a list of Event)."""
    import itertools
    before = rss_mb()
    held = list(itertools.islice(iter_events(path), n))
    after = rss_mb()
    count = len(held)
    del held
    return (after - before) * 2**20 / max(1, count)


def sim(args) -> int:
    from lab.sim.run import simulate
    s = scenarios.load(STEADY).with_duration(args.hours * 3600)
    every = args.every_s
    marks = [(60, "after the first minute")] + [
        (k * every, f"after {k * every / 3600:.4g} h")
        for k in range(1, int(args.hours * 3600 // every) + 1)]
    sampler = Sampler(marks)

    class Views:
        def __call__(self, scenario, *, clock, experiment):
            return _Started(sampler)

    out = Path(args.out or tempfile.mkdtemp(prefix="dnslab-memory-")) / "steady"
    import lab.sim.world  # noqa: F401 (its imports count at the start, not as growth)
    start = rss_mb()
    print(f"runner memory, simulation: {s.clients} clients, {args.hours:g} virtual hours "
          f"(steady-state.yaml, duration_s {s.duration_s:g})")
    print(f"  RSS at start: {start:.1f} MB")
    began = time.perf_counter()
    with observed(Views()):
        summary = simulate(s, out, echo=lambda m: None, experiment={"file": str(STEADY)})
    wall = time.perf_counter() - began
    written = rss_mb()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    for label, t, mb in sampler.samples:
        print(f"  RSS {label} ({t / 3600:.2f} h, {t:.0f} s): {mb:.1f} MB")
    print(f"  RSS after the results were written: {written:.1f} MB; peak {peak:.1f} MB")
    first = next(mb for label, _, mb in sampler.samples if label == "after the first minute")
    end = sampler.samples[-1][2]
    print(f"  growth from the first minute to the end of the method: {growth(first, end)} "
          f"(target: under 10 %); to after the results: {growth(first, written)}")
    events = summary["history"]["events"]
    per_event = per_event_bytes(out / "events.jsonl")
    print(f"  history: {events} events ({summary['history']['probes']} probes), "
          f"events.jsonl {(out / 'events.jsonl').stat().st_size / 2**20:.0f} MB, "
          f"{wall:.0f} s wall ({s.duration_s / wall:.0f}x real time)")
    print(f"  baseline, measured here: an event held in memory costs {per_event:.0f} bytes; "
          f"the whole history held (the runner before this change) would be about "
          f"{events * per_event / 2**20:.0f} MB, "
          f"{events * per_event / 2**20 / max(1e-9, end - first):.0f}x this run's growth")
    return _same(summary, out / "events.jsonl", s)


class _Started:
    def __init__(self, sampler):
        self.sampler = sampler

    def start(self):
        return self

    def close(self):
        self.sampler.close()

    def __call__(self, event):
        self.sampler.add(event)


def _same(summary, path: Path, s) -> int:
    again = summary_from_events(path, s, summary)
    same = json.dumps(dict(summary), sort_keys=True) == json.dumps(dict(again), sort_keys=True)
    print(f"  summary equals the one computed from events.jsonl afterwards: "
          f"{'yes' if same else 'NO'} (verdict {summary['verdict']}, "
          f"{summary['outage']['failed_probes']}/{summary['outage']['total_probes']} failed)")
    if not same:
        for k in summary:
            if summary[k] != again.get(k):
                print(f"    differs: {k}: run {summary[k]!r} / file {again.get(k)!r}")
    return 0 if same else 1


def real(args) -> int:
    minutes = args.minutes
    out = Path(args.out or f"results/memory-{int(time.time())}")
    cmd = [sys.executable, "-m", "lab", "run", str(STEADY), "--duration", str(minutes * 60),
           "--out", str(out), "--view", "none"]
    print(f"runner memory, real lab: {' '.join(cmd[1:])}")
    proc = subprocess.Popen(cmd, cwd=ROOT)
    began, samples = time.monotonic(), []
    while proc.poll() is None:
        try:
            samples.append((time.monotonic() - began, rss_mb(proc.pid)))
        except (FileNotFoundError, ProcessLookupError, IndexError):
            pass
        time.sleep(10)
    if not samples:
        print("  the runner ended before a sample")
        return 1
    for t, mb in samples[::6] + [samples[-1]]:
        print(f"  RSS at {t:6.0f} s: {mb:.1f} MB")
    # the method starts after set-up and the first steady state: "the first minute" of
    # the run is taken from the run's own start (its first sample past 60 s + set-up)
    first = next((mb for t, mb in samples if t >= 60 + args.setup_s), samples[0][1])
    print(f"  RSS at start {samples[0][1]:.1f} MB, after the first minute {first:.1f} MB, "
          f"at the end {samples[-1][1]:.1f} MB: growth {growth(first, samples[-1][1])} "
          "(target: under 10 %)")
    summary = json.loads((out / "summary.json").read_text())
    s = scenarios.load(STEADY).with_duration(minutes * 60)
    return _same(summary, out / "events.jsonl", s) or (proc.returncode != 0)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sim", action="store_true", help="the simulation (default: the real lab)")
    p.add_argument("--hours", type=float, default=24.0, help="--sim: virtual hours")
    p.add_argument("--every-s", type=float, default=3600.0,
                   help="--sim: a sample every this many virtual seconds")
    p.add_argument("--minutes", type=float, default=30.0, help="real: minutes of method")
    p.add_argument("--setup-s", type=float, default=30.0,
                   help="real: seconds the run takes before its method starts (bring-up)")
    p.add_argument("--out", default=None)
    args = p.parse_args()
    return sim(args) if args.sim else real(args)


if __name__ == "__main__":
    sys.exit(main())
