"""The search loop: propose a batch of schedules, run their trials (here, or fanned out over
Dask: lab/search/dist.py), learn from the outcomes in index order, stop at the budget, the
time limit, or (unless ``exhaust``) after the batch where a wanted violation first showed.

Batches have a fixed size and every proposal depends only on the seed, the index and earlier
batches, so a search's result for a given seed and budget is the same whatever runs the
trials; only ``--time`` (a wall-clock limit) makes it depend on speed.
"""

import time
from dataclasses import dataclass, field
from typing import Callable

from lab.core.faultspace import FaultSpace, Schedule
from lab.search.strategies import strategy_for
from lab.search.trial import EMPTY, Outcome, VIOLATIONS, run_trial, trial_scenario

BATCH = 64          # schedules per batch: the unit of learning and of stopping
CHUNK = 16          # schedules per task sent to a worker


def run_chunk(job: tuple) -> list[Outcome]:
    """One worker task: trials of a few schedules (a module-level function, so Dask can
    send it to another process or machine)."""
    base, space, mitigations, schedules = job
    return [run_trial(base, s, space, mitigations) for s in schedules]


class Here:
    """Runs every task in this process."""

    workers = 1

    def map(self, fn: Callable, jobs: list) -> list:
        return [fn(j) for j in jobs]

    def close(self) -> None:
        pass


@dataclass
class Found:
    violation: str
    index: int
    schedule: Schedule
    outcome: Outcome
    after_s: float          # wall seconds into the search when its batch finished


@dataclass
class SearchResult:
    variant: str
    mitigations: tuple[str, ...]
    strategy: str
    seed: int
    explored: int = 0
    elapsed_s: float = 0.0
    counts: dict = field(default_factory=lambda: {v: 0 for v in VIOLATIONS})
    errors: int = 0
    first_error: str | None = None
    found: dict = field(default_factory=dict)            # violation -> Found
    interleavings: set = field(default_factory=set)
    pairs: set = field(default_factory=set)
    possible_pairs: int = 0
    max_empty_s: float = 0.0
    unrecovered: int = 0                                 # emptied and never given a plan back
    curve: list = field(default_factory=list)            # (explored, interleavings, pairs)
    same_as: str | None = None      # a variant with the same control plane, whose search this is

    @property
    def rate(self) -> float:
        return self.explored / self.elapsed_s if self.elapsed_s else 0.0


def possible_pairs(space: FaultSpace, enactors) -> int:
    """How many (worker, step, fault) pairs the space can reach: delays at their steps, lock
    losses, bursts, and pauses/kills in one of four states of the worker."""
    n = 0
    for kind, _target, _step in space.atoms(enactors):
        n += 4 if kind.value in ("pause", "kill") else 1
    return n


def search(base, space: FaultSpace, *, strategy: str = "random", depth: int = 3,
           seed: int = 1, budget: int = 10000, time_s: float | None = None,
           mitigations: tuple[str, ...] | None = None, variant: str | None = None,
           find: tuple[str, ...] = (EMPTY,), exhaust: bool = False, executor=None,
           progress: Callable[[SearchResult], None] | None = None) -> SearchResult:
    executor = executor or Here()
    mitigations = tuple(base.mitigations if mitigations is None else mitigations)
    result = SearchResult(variant or ("+".join(mitigations) or "none"), mitigations,
                          strategy, seed, possible_pairs=possible_pairs(space, base.enactors))
    profile = None
    if strategy == "pct":
        from lab.sim.run import control_plane
        quiet = trial_scenario(base, (), space, mitigations)
        _, profile = control_plane(quiet.with_duration(space.window_s + 5), method_only=True)
    proposer = strategy_for(strategy, space, base.enactors, seed, depth=depth, profile=profile)
    began = time.perf_counter()
    while result.explored < budget:
        count = min(BATCH, budget - result.explored)
        schedules = proposer.propose(result.explored, count)
        jobs = [(base, space, mitigations, schedules[i:i + CHUNK])
                for i in range(0, len(schedules), CHUNK)]
        outcomes = [o for chunk in executor.map(run_chunk, jobs) for o in chunk]
        proposer.observe(schedules, outcomes)
        _tally(result, result.explored, schedules, outcomes, time.perf_counter() - began)
        result.explored += count
        result.elapsed_s = time.perf_counter() - began
        result.curve.append((result.explored, len(result.interleavings), len(result.pairs)))
        if progress:
            progress(result)
        if not exhaust and any(v in result.found for v in find):
            break
        if time_s is not None and result.elapsed_s >= time_s:
            break
    return result


def _tally(r: SearchResult, first: int, schedules, outcomes, elapsed: float) -> None:
    for i, (schedule, o) in enumerate(zip(schedules, outcomes)):
        if o.error:
            r.errors += 1
            r.first_error = r.first_error or o.error
        for v in o.violations:
            r.counts[v] += 1
            if v not in r.found:
                r.found[v] = Found(v, first + i, schedule, o, round(elapsed, 3))
        if o.violations and EMPTY in o.violations:
            r.max_empty_s = max(r.max_empty_s, o.empty_s)
            r.unrecovered += not o.recovered
        r.interleavings.add(o.interleaving)
        r.pairs |= o.pairs
