"""How schedules are proposed, batch by batch. Every proposal is a pure function of the
search seed, the schedule's index and (coverage) what earlier batches found, so a search
with a given seed and budget proposes the same schedules however many workers run them.

- ``random``: each schedule drawn uniformly from the fault space (lab/core/faultspace.py).
- ``pct``: Probabilistic Concurrency Testing (Burckhardt et al., ASPLOS 2010), adapted to a
  timed world. PCT gives the n workers random priorities and, at d-1 change points chosen
  uniformly among the run's k scheduling steps, drops the running worker to the lowest
  priority; a bug of depth d (d ordering constraints) is then hit with probability at least
  1/(n*k^(d-1)) per run. Here the k steps are the named steps the enactors take in a
  fault-free run of the file (its profile: each after-freshness-check, before-endpoint and
  before-cleanup within the window), and a demotion is a delay of that worker at that step,
  armed just before it arrives there. The race of this lab has depth 2 or 3: one enactor
  demoted after its check, another during its clean-up.
- ``coverage``: coverage-guided, like a fuzzer. A schedule joins the corpus when its trial
  reached an interleaving of the race's critical events (check, write, clean-up) or a
  (worker, step, fault) pair no earlier schedule reached; later schedules are mostly
  mutations and splices of corpus schedules, the rest fresh draws.
"""

import random

from lab.core.faultspace import GRID_S, MIN_SECONDS, FaultSpace, Schedule, Timed, _grid, ordered
from lab.core.faults import Fault, FaultKind
from lab.core.history import Event, Kind
from lab.search.names import STRATEGIES
from lab.search.trial import inject_start

FRESH_FRACTION = 0.25     # coverage: the part of each batch drawn fresh


class Strategy:
    def __init__(self, space: FaultSpace, enactors: tuple[str, ...], seed: int):
        self.space = space
        self.enactors = enactors
        self.seed = seed

    def rng(self, index: int) -> random.Random:
        return random.Random(f"{self.seed}/{type(self).__name__}/{index}")

    def propose(self, first: int, count: int) -> list[Schedule]:
        return [self.one(i) for i in range(first, first + count)]

    def one(self, index: int) -> Schedule:
        return self.space.draw(self.rng(index), self.enactors)

    def observe(self, schedules: list[Schedule], outcomes: list) -> None:
        """What a batch showed, in index order (coverage learns from it)."""


class Uniform(Strategy):
    pass


class PCT(Strategy):
    """``profile``: the history of a fault-free run of the file (same set-up, the whole
    window); its enactor steps are the change points to choose from."""

    def __init__(self, space: FaultSpace, enactors, seed: int, *, depth: int,
                 profile: list[Event]):
        super().__init__(space, enactors, seed)
        self.depth = depth
        self.steps = arrivals(profile, space.window_s)
        if not self.steps:
            raise ValueError("pct: the fault-free profile run has no enactor step in the "
                             "window; widen the window")

    @property
    def k(self) -> int:
        return len(self.steps)

    def one(self, index: int) -> Schedule:
        rng = self.rng(index)
        points = rng.sample(range(self.k), min(self.k, max(1, self.depth - 1)))
        faults = []
        for p in points:
            at_s, worker, step, endpoint = self.steps[p]
            seconds = _grid(rng.uniform(MIN_SECONDS, self.space.max_seconds))
            faults.append(Timed(at_s, Fault(FaultKind.DELAY, worker, seconds, step, endpoint)))
        return ordered(faults)


def arrivals(events: list[Event], window_s: float) -> list[tuple[float, str, str, str | None]]:
    """(at_s, worker, step, endpoint) for every named step an enactor took within the window
    of a run's injection phase; ``at_s`` is one timeline tick before it, so a delay armed
    then is waiting when the worker arrives."""
    start = inject_start(events)
    if start is None:
        return []
    out = []
    for e in events:
        if not e.source.startswith("enactor") or not start < e.t - 2 * GRID_S < start + window_s:
            continue
        step, endpoint = None, None
        if e.kind is Kind.FRESHNESS_CHECKED and e.data.get("fresh"):
            step = "after-freshness-check"
        elif e.kind is Kind.ENDPOINT_APPLIED:
            step, endpoint = "before-endpoint", e.data["endpoint"]
        elif e.kind is Kind.PLAN_APPLIED:
            step = "before-cleanup"
        if step is not None:
            at = max(0.0, (e.t - start) - GRID_S)
            out.append((round(int(at / GRID_S) * GRID_S, 2), e.source, step, endpoint))
    return out


class Coverage(Strategy):
    def __init__(self, space: FaultSpace, enactors, seed: int):
        super().__init__(space, enactors, seed)
        self.corpus: list[Schedule] = []
        self.interleavings: set = set()
        self.pairs: set = set()

    def one(self, index: int) -> Schedule:
        rng = self.rng(index)
        if not self.corpus or rng.random() < FRESH_FRACTION:
            return self.space.draw(rng, self.enactors)
        parent = self.corpus[rng.randrange(len(self.corpus))]
        other = self.corpus[rng.randrange(len(self.corpus))]
        child = parent
        for _ in range(1 + int(rng.random() < 0.3)):
            child = self.space.mutate(rng, child, self.enactors, other)
        return child

    def observe(self, schedules, outcomes) -> None:
        for schedule, o in zip(schedules, outcomes):
            new = o.interleaving not in self.interleavings or not o.pairs <= self.pairs
            self.interleavings.add(o.interleaving)
            self.pairs |= o.pairs
            if new:
                self.corpus.append(schedule)


def strategy_for(name: str, space: FaultSpace, enactors, seed: int, *, depth: int = 3,
                 profile: list[Event] | None = None) -> Strategy:
    if name == "random":
        return Uniform(space, enactors, seed)
    if name == "pct":
        return PCT(space, enactors, seed, depth=depth, profile=profile or [])
    if name == "coverage":
        return Coverage(space, enactors, seed)
    raise ValueError(f"unknown strategy {name!r}; use one of {', '.join(STRATEGIES)}")
