"""What a run's history proves, decided once, in the pure core. A verdict never passes by
accident:

- every fault of the experiment ends **fired** (when it took effect) or **not-fired** (why);
  a run with a not-fired fault is `error`;
- an **outage** is clients failing to get addresses *after the run's own action*: a fault
  that took effect, or an endpoint whose active plan was deleted. Each failed probe is
  attributed to its cause; a failure with no cause before it is *unexplained*, reported,
  and makes the run `error` beyond the steady-state tolerance (``max_failed_ratio``);
- a history with no probe, no planner or enactor event, or that ends before the run's last
  phase is `error`; checkers that cannot decide make it `error` unless something broke.

The functions take the experiment's timeline as items with ``fault`` (a core ``Fault``),
``at_s`` and ``after`` (``lab.scenario.TimedFault``), so the same decision serves the real
lab, the simulation and reports read back from disk.
"""

from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol, Sequence

from lab.core.checkers import active_deletions
from lab.core.faults import CHANNEL_KINDS, Fault
from lab.core.fold import WORKER_SOURCES, Cause, deletion_cause, fault_cause, fold  # noqa: F401
from lab.core.history import Event, Kind


class Verdict(StrEnum):
    VIOLATED = "hypothesis-violated"
    HELD = "hypothesis-held"
    ABORTED = "aborted"
    ERROR = "error"


class Expect(StrEnum):
    OUTAGE = "outage"          # clients lost an endpoint because of the run
    VIOLATION = "violation"    # an invariant broke (clients may not have noticed)
    NO_OUTAGE = "no-outage"    # clients never lost it (invariants may break, and are reported)
    HOLD = "hold"              # neither
    METASTABLE = "metastable"  # the fleet behind the endpoint stayed collapsed after DNS was back


class Timed(Protocol):
    fault: Fault
    at_s: float
    after: int | None


# -- faults: fired or not ------------------------------------------------------------------
@dataclass(frozen=True)
class FaultOutcome:
    index: int
    fault: Fault
    fired_at: float | None      # history time it took effect, None when it never did
    why: str | None = None      # why it did not fire

    @property
    def fired(self) -> bool:
        return self.fired_at is not None

    def to_json(self, t0: float | None) -> dict:
        f = self.fault
        out = {"index": self.index, "kind": f.kind.value, "target": f.target,
               "status": "fired" if self.fired else "not-fired"}
        if f.step:
            out["step"] = f.step
        if self.fired:
            out["fired_at_s"] = round(self.fired_at - t0, 3) if t0 is not None else None
        else:
            out["why"] = self.why
        return out


def _matches(fault: Fault, e: Event) -> bool:
    d = e.data
    return (d.get("fault") == fault.kind.value and d.get("target") == fault.target
            and (fault.step is None or d.get("step") == fault.step)
            and (fault.endpoint is None or d.get("endpoint") in (None, fault.endpoint)))


def fault_firings(events: Sequence[Event], timeline: Sequence[Timed]) -> dict[int, float]:
    """When each fault of ``timeline`` took effect: index -> history time. A container fault
    (pause, kill) takes effect when the runner does it (its FAULT_STARTED carries the index);
    a channel fault (delay, lose-lock, burst) when a worker reports it started, at or after
    the runner armed it (FAULT_ARMED with the index). Each worker report is claimed once, by
    the earliest-armed fault it matches."""
    armed: dict[int, float] = {}
    fired: dict[int, float] = {}
    for e in events:
        if e.kind is Kind.FAULT_ARMED and "index" in e.data:
            armed.setdefault(e.data["index"], e.t)
        elif e.kind is Kind.FAULT_STARTED and "index" in e.data:
            fired.setdefault(e.data["index"], e.t)
    claimed: set[int] = set()
    reports = [(pos, e) for pos, e in enumerate(events)
               if e.kind is Kind.FAULT_STARTED and "index" not in e.data]
    for i, t_armed in sorted(armed.items(), key=lambda kv: kv[1]):
        if i >= len(timeline) or timeline[i].fault.kind not in CHANNEL_KINDS:
            continue
        for pos, e in reports:
            if pos not in claimed and e.t >= t_armed - 0.01 and _matches(timeline[i].fault, e):
                claimed.add(pos)
                fired[i] = e.t
                break
    return fired


def _phase_times(events: Sequence[Event]) -> dict[str, float]:
    out: dict[str, float] = {}
    for e in events:
        if e.kind is Kind.PHASE:
            out.setdefault(e.data.get("phase"), e.t)
    return out


def fault_outcomes(events: Sequence[Event], timeline: Sequence[Timed]) -> list[FaultOutcome]:
    fired = fault_firings(events, timeline)
    armed = {e.data["index"]: e.t for e in events
             if e.kind is Kind.FAULT_ARMED and "index" in e.data}
    phases = _phase_times(events)
    t0 = phases.get("inject")
    out = []
    for i, timed in enumerate(timeline):
        if i in fired:
            out.append(FaultOutcome(i, timed.fault, fired[i]))
            continue
        f = timed.fault
        if i in armed:
            rel = f" at +{armed[i] - t0:.1f} s" if t0 is not None else ""
            where = (f"reached {f.step}" if f.step else
                     "made a lock attempt" if f.kind.value == "lose-lock" else
                     "began its next period")
            why = f"armed{rel}, but {f.target} never {where} before the run ended"
        elif t0 is None:
            why = "the run ended before its injection phase"
        elif timed.after is not None and timed.after not in fired:
            why = f"it follows fault [{timed.after}], which never fired"
        else:
            base = "injection start" if timed.after is None else f"fault [{timed.after}]"
            why = f"its time (+{timed.at_s:g} s after {base}) had not come when the method ended"
        out.append(FaultOutcome(i, f, None, why))
    return out


# -- outage: failures and their causes -------------------------------------------------------
def causes(events: Sequence[Event]) -> list[Cause]:
    """The run's own actions that can make clients fail, in history order: every fault that
    took effect, and every deletion of a plan an endpoint pointed at."""
    events = list(events)
    found = [fault_cause(e) for e in events if e.kind is Kind.FAULT_STARTED]
    found += [deletion_cause(e, users) for e, users in active_deletions(events)]
    return sorted(found, key=lambda c: c.t)


def _failed(e: Event) -> bool:
    return e.data.get("outcome") != "ok"


def attribute(events: Sequence[Event]) -> tuple[list[tuple[Event, Cause]], list[Event]]:
    """(explained, unexplained) failed probes. A failure is explained by the latest cause at
    or before it: an emptied endpoint it asked for first, else the latest fault."""
    known = causes(events)
    explained, unexplained = [], []
    for e in events:
        if e.kind is not Kind.PROBE or not _failed(e):
            continue
        before = [c for c in known if c.t <= e.t]
        if not before:
            unexplained.append(e)
            continue
        same = [c for c in before if c.endpoints and e.data.get("endpoint") in c.endpoints]
        faults = [c for c in before if c.endpoints is None]
        explained.append((e, (same or faults or before)[-1]))
    return explained, unexplained


# -- completeness and the verdict ------------------------------------------------------------
def incomplete(events: Sequence[Event], last_phase: str | None) -> str | None:
    """Why this history cannot carry a verdict, or None."""
    return incomplete_of(fold(events), last_phase)


def incomplete_of(f, last_phase: str | None) -> str | None:
    """``incomplete`` of a folded history (``lab.core.fold.Fold``)."""
    if not f.probes:
        return "the history holds no probe: no client reported"
    if not f.worker_seen:
        return "the history holds no planner or enactor event"
    if last_phase and last_phase not in _phase_times(f.retained):
        return f"the history ends before the run's last phase ({last_phase})"
    return None


def as_expected(verdict: Verdict, expect: Expect, *, outage: bool, violated: bool,
                steady_after_held: bool | None, metastable: bool | None = None) -> bool:
    """Only a decided run can be as expected, and only if the system came back to its steady
    state afterwards."""
    if verdict not in (Verdict.VIOLATED, Verdict.HELD) or steady_after_held is False:
        return False
    return {Expect.OUTAGE: outage, Expect.VIOLATION: violated,
            Expect.NO_OUTAGE: not outage, Expect.HOLD: verdict is Verdict.HELD,
            Expect.METASTABLE: metastable is True}[expect]
