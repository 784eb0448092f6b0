"""Shrinking a schedule that broke something to a minimal one that breaks the same thing:
fewest faults first, then the shortest delays (and pauses, kill downtimes, bursts, lock
losses), then the earliest times. Greedy delta debugging: drop one fault at a time while
the violation stays; then binary-search each fault's size and time on the fault space's grid
while it stays; repeat until a round changes nothing. Every candidate is a trial of the same
file on the control-plane path, so what is kept is what the simulation shows."""

from dataclasses import replace
from typing import Callable

from lab.core.faultspace import GRID_S, MIN_SECONDS, Schedule, ordered
from lab.core.faults import FaultKind

MAX_ROUNDS = 3


class Shrinker:
    def __init__(self, breaks: Callable[[Schedule], bool], max_trials: int = 400):
        self._breaks = breaks
        self.cache: dict[Schedule, bool] = {}
        self.trials = 0
        self.max_trials = max_trials

    def breaks(self, schedule: Schedule) -> bool:
        schedule = ordered(schedule)
        if schedule not in self.cache:
            if self.trials >= self.max_trials:
                return False
            self.trials += 1
            self.cache[schedule] = self._breaks(schedule)
        return self.cache[schedule]

    def shrink(self, schedule: Schedule) -> Schedule:
        current = ordered(schedule)
        for _ in range(MAX_ROUNDS):
            before = current
            current = self._fewer(current)
            current = self._smaller(current)
            current = self._earlier(current)
            if current == before:
                break
        return ordered(current)

    # -- fewest faults ------------------------------------------------------------------------
    def _fewer(self, s: Schedule) -> Schedule:
        i = len(s) - 1
        while i >= 0 and len(s) > 1:
            candidate = s[:i] + s[i + 1:]
            if self.breaks(candidate):
                s = ordered(candidate)
                i = min(i, len(s)) - 1
            else:
                i -= 1
        return s

    # -- shortest sizes -----------------------------------------------------------------------
    def _smaller(self, s: Schedule) -> Schedule:
        for i in range(len(s)):
            t = s[i]
            f = t.fault
            if f.kind is FaultKind.BURST:
                n = self._least(1, f.count, lambda v: _at(s, i, replace(t, fault=replace(f, count=v))))
                s = _at(s, i, replace(t, fault=replace(f, count=n)))
            elif f.kind is FaultKind.LOSE_LOCK:
                n = self._least(1, f.times, lambda v: _at(s, i, replace(t, fault=replace(f, times=v))))
                s = _at(s, i, replace(t, fault=replace(f, times=n)))
            elif f.seconds > MIN_SECONDS:
                lo, hi = round(MIN_SECONDS / GRID_S), round(f.seconds / GRID_S)
                n = self._least(lo, hi, lambda v: _at(s, i, replace(
                    t, fault=replace(f, seconds=round(v * GRID_S, 2)))))
                s = _at(s, i, replace(t, fault=replace(f, seconds=round(n * GRID_S, 2))))
        return s

    # -- earliest times -----------------------------------------------------------------------
    def _earlier(self, s: Schedule) -> Schedule:
        for i in range(len(s)):
            t = s[i]
            if t.at_s <= 0:
                continue
            n = self._least(0, round(t.at_s / GRID_S),
                            lambda v: _at(s, i, replace(t, at_s=round(v * GRID_S, 2))))
            s = _at(s, i, replace(t, at_s=round(n * GRID_S, 2)))
        return s

    def _least(self, lo: int, hi: int, at: Callable[[int], Schedule]) -> int:
        """The least value in [lo, hi] for which the schedule still breaks, by bisection
        (``hi`` breaks; the violation need not be monotone in the value, so this is the
        least one bisection meets, which is what shrinkers settle for)."""
        while lo < hi:
            mid = (lo + hi) // 2
            if self.breaks(at(mid)):
                hi = mid
            else:
                lo = mid + 1
        return hi


def _at(s: Schedule, i: int, new) -> Schedule:
    """``s`` with fault ``i`` replaced; kept in the order given (indices stay put while a
    round works through them)."""
    return s[:i] + (new,) + s[i + 1:]
