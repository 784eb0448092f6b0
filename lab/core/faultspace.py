"""The fault space schedule search draws from (``dnslab search``; a file's ``search:``
section narrows or widens it). A *schedule* is a tuple of timed faults, ``at_s`` counted
from the start of injection, exactly what an experiment file's ``faults`` hold.

By default: delays at every named step of every enactor, pauses and thaws of every worker,
lock losses, kills (and restarts) of every worker, planner bursts; each at any time in the
window, with seconds up to a bound. An *atom* is one (kind, target, step) choice; drawing a
fault picks an atom uniformly, then its time and size. Pure: every draw takes the caller's
``Rng``.
"""

from dataclasses import dataclass, replace
from typing import Protocol

from lab.core.enactor import STEPS
from lab.core.experiment import TimedFault as Timed
from lab.core.faults import Fault, FaultKind

DEFAULT_KINDS = (FaultKind.DELAY, FaultKind.PAUSE, FaultKind.LOSE_LOCK, FaultKind.KILL,
                 FaultKind.BURST)
MIN_SECONDS = 0.1        # the shortest delay, pause or kill a schedule holds
GRID_S = 0.05            # times and lengths are on this grid (the run loop's timeline tick)
SETTLE_S = 5.0           # after the last fault can have ended: time for its effects


class Rng(Protocol):
    """The caller's seeded generator (a ``random.Random``): the core draws, never seeds."""

    def random(self) -> float: ...
    def randrange(self, n: int) -> int: ...
    def randint(self, a: int, b: int) -> int: ...
    def uniform(self, a: float, b: float) -> float: ...
    def gauss(self, mu: float, sigma: float) -> float: ...


# A schedule's faults are timed from the start of injection (``after`` None); the emitted
# experiment file may chain them (lab/search/story.py).
Schedule = tuple[Timed, ...]


@dataclass(frozen=True)
class FaultSpace:
    kinds: tuple[FaultKind, ...] = DEFAULT_KINDS
    targets: tuple[str, ...] = ()        # empty: every enactor (and the planner for pause/kill)
    steps: tuple[str, ...] = STEPS
    window_s: float = 20.0               # faults start in [0, window_s) after injection starts
    max_seconds: float = 15.0            # longest delay, pause, or kill before the restart
    max_burst: int = 10                  # most generations a planner burst publishes
    max_lock_losses: int = 5             # most consecutive lock losses of one lose-lock fault
    max_faults: int = 4                  # faults per schedule (at least one)
    duration_s: float | None = None      # the method's length; default window + max + settle

    @property
    def method_s(self) -> float:
        """The longest method a schedule of this space runs."""
        if self.duration_s is not None:
            return self.duration_s
        return self.window_s + self.max_seconds + SETTLE_S

    def method_for(self, schedule: Schedule, planner_period_s: float) -> float:
        """How long the method runs for ``schedule``: until its last fault can have ended
        (a channel fault takes effect at the worker's next pass through its step: within
        two planner periods) and ``SETTLE_S`` more, within ``method_s``. A schedule ends
        where its effects do; the emitted file keeps the same length, so it replays."""
        reach = 2 * planner_period_s
        starts: list[float] = []
        for t in schedule:       # a chained fault (``after``) starts once its base took effect
            starts.append(t.at_s if t.after is None else starts[t.after] + reach + t.at_s)
        last = max((at + t.fault.seconds for at, t in zip(starts, schedule)), default=0.0)
        return min(self.method_s, _grid(last + reach + SETTLE_S))

    def atoms(self, enactors: tuple[str, ...]) -> list[tuple[FaultKind, str, str | None]]:
        """Every (kind, target, step) the space holds, in a fixed order."""
        out = []
        for kind in self.kinds:
            if kind is FaultKind.BURST:
                targets = ["planner"]
            elif kind in (FaultKind.PAUSE, FaultKind.KILL):
                targets = [*enactors, "planner"]
            else:
                targets = list(enactors)
            if self.targets:
                targets = [t for t in targets if t in self.targets]
            for target in targets:
                for step in (self.steps if kind is FaultKind.DELAY else (None,)):
                    out.append((kind, target, step))
        return out

    # -- drawing --------------------------------------------------------------------------
    def draw_fault(self, rng: Rng, atoms) -> Timed:
        kind, target, step = atoms[rng.randrange(len(atoms))]
        at_s = _grid(rng.uniform(0.0, self.window_s - GRID_S))
        return Timed(at_s, self.sized(rng, kind, target, step))

    def sized(self, rng: Rng, kind: FaultKind, target: str, step: str | None) -> Fault:
        if kind is FaultKind.BURST:
            return Fault(kind, target, count=rng.randint(1, self.max_burst))
        if kind is FaultKind.LOSE_LOCK:
            return Fault(kind, target, times=rng.randint(1, self.max_lock_losses))
        return Fault(kind, target, seconds=self._seconds(rng.uniform(MIN_SECONDS,
                                                                     self.max_seconds)),
                     step=step)

    def _seconds(self, x: float) -> float:
        """``x`` on the grid, within [MIN_SECONDS, max_seconds] (an off-grid bound rounds
        down)."""
        top = int(self.max_seconds / GRID_S + 1e-9) * GRID_S
        return round(max(MIN_SECONDS, min(_grid(x), top)), 2)

    def sized_as(self, kind: FaultKind, target: str, step: str | None, size: float) -> Fault:
        """A fault of this atom at ``size`` (seconds; bursts and lock losses in proportion
        to their bounds)."""
        share = size / self.max_seconds
        if kind is FaultKind.BURST:
            return Fault(kind, target, count=max(1, round(share * self.max_burst)))
        if kind is FaultKind.LOSE_LOCK:
            return Fault(kind, target, times=max(1, round(share * self.max_lock_losses)))
        return Fault(kind, target, seconds=self._seconds(size), step=step)

    def draw(self, rng: Rng, enactors: tuple[str, ...]) -> Schedule:
        atoms = self.atoms(enactors)
        n = rng.randint(1, self.max_faults)
        return ordered(self.draw_fault(rng, atoms) for _ in range(n))

    def mutate(self, rng: Rng, schedule: Schedule, enactors: tuple[str, ...],
               other: Schedule = ()) -> Schedule:
        """A neighbour of ``schedule``: one fault moved, resized, retargeted, added or
        removed, or half of it spliced with ``other``."""
        atoms = self.atoms(enactors)
        faults = list(schedule)
        choice = rng.randrange(7)
        if choice == 0 and len(faults) < self.max_faults:
            faults.append(self.draw_fault(rng, atoms))
        elif choice == 6 and faults and len(faults) < self.max_faults:
            # a fault for a worker the schedule leaves alone, close in time to one it has:
            # races need every worker that could undo them held up at once
            hit = {t.fault.target for t in faults}
            spare = [a for a in atoms if a[1] not in hit] or atoms
            kind, target, step = spare[rng.randrange(len(spare))]
            near = faults[rng.randrange(len(faults))].at_s + rng.uniform(-2.0, 2.0)
            faults.append(Timed(_grid(_clamp(near, 0.0, self.window_s - GRID_S)),
                                self.sized(rng, kind, target, step)))
        elif choice == 1 and len(faults) > 1:
            del faults[rng.randrange(len(faults))]
        elif choice == 2 and other:
            keep = faults[:max(1, len(faults) // 2)]
            faults = (keep + list(other)[len(other) // 2:])[:self.max_faults]
        else:
            i = rng.randrange(len(faults))
            t = faults[i]
            if choice == 3:              # move it in time
                at = _clamp(t.at_s + rng.gauss(0.0, 2.0), 0.0, self.window_s - GRID_S)
                faults[i] = replace(t, at_s=_grid(at))
            elif choice == 4 and t.fault.seconds:   # resize it
                s = _clamp(t.fault.seconds * rng.uniform(0.5, 1.6), MIN_SECONDS,
                           self.max_seconds)
                faults[i] = replace(t, fault=replace(t.fault, seconds=self._seconds(s)))
            else:                        # another atom at the same time
                kind, target, step = atoms[rng.randrange(len(atoms))]
                faults[i] = Timed(t.at_s, self.sized(rng, kind, target, step))
        return ordered(faults)


def ordered(faults) -> Schedule:
    return tuple(sorted(faults, key=lambda t: (t.at_s, t.fault.kind.value, t.fault.target,
                                               t.fault.step or "")))


def _grid(x: float) -> float:
    return round(round(x / GRID_S) * GRID_S, 2)


def _clamp(x: float, lo: float, hi: float) -> float:
    return max(lo, min(hi, x))
