"""One trial of a schedule: the file's set-up with the schedule as its faults, run on the
simulation's control-plane path (lab/sim/run.control_plane: the same planner, enactors, run
loop and checkers as every run, no clients), and what it showed: which violations, which
interleaving of the race's critical events, which (worker, step, fault) pairs fired.

The control-plane path runs exactly as the full simulation of the same file does (clients
draw from their own random stream and injection starts when it would with clients), so a
schedule found here replays with ``dnslab run FILE --sim``.
"""

import dataclasses
from collections import defaultdict
from dataclasses import dataclass

from lab.core.checkers import check_all
from lab.core.faultspace import FaultSpace, Schedule
from lab.core.faults import FaultKind
from lab.core.history import Event, Kind
from lab.core.verdict import fault_firings
from lab.search.names import BACKWARDS, EMPTY, VIOLATIONS  # noqa: F401 (named from here)
from lab.sim.run import control_plane

CRITICAL = (Kind.FRESHNESS_CHECKED, Kind.ENDPOINT_APPLIED, Kind.PLAN_DELETED,
            Kind.WRITE_REFUSED)
MAX_INTERLEAVING = 8        # notable passes kept per trial, in order


@dataclass(frozen=True)
class Outcome:
    violations: tuple[str, ...]        # EMPTY / BACKWARDS, in that order of severity
    empty_s: float                     # longest an endpoint pointed at a deleted plan
    recovered: bool                    # every emptied endpoint got a plan back by itself
    error: str | None                  # the run did not finish (a crash is never a pass)
    fired: int                         # faults of the schedule that took effect
    interleaving: tuple[str, ...]      # notable enactor passes, in order (see _passes)
    pairs: frozenset                   # (worker, step, fault kind) that fired

    @property
    def broke(self) -> bool:
        return bool(self.violations)

    def to_json(self) -> dict:
        return {"violations": list(self.violations), "empty_s": self.empty_s,
                "recovered": self.recovered, "error": self.error, "fired": self.fired,
                "interleaving": list(self.interleaving),
                "pairs": sorted(list(p) for p in self.pairs)}


def trial_scenario(base, schedule: Schedule, space: FaultSpace, mitigations=None):
    """The file's set-up with ``schedule`` as its faults and the search's method length."""
    return dataclasses.replace(
        base, faults=tuple(schedule),
        duration_s=space.method_for(schedule, base.planner_period_s),
        mitigations=base.mitigations if mitigations is None else tuple(mitigations))


def run_trial(base, schedule: Schedule, space: FaultSpace, mitigations=None) -> Outcome:
    s = trial_scenario(base, schedule, space, mitigations)
    # Search needs the method and, after a violation, the hold (what the automation does
    # by itself); the emitted file keeps the file's own repair and steady state after.
    result, events = control_plane(s, method_only=True)
    return judge(events, schedule, error=result.reason if result.status else None)


# The kinds each part of a judgement reads; each part ignores every other kind, so it is
# given only these (a trial's history is mostly idle polls and bookkeeping).
_FRESH, _APPLIED, _DELETED, _REFUSED = CRITICAL
_STRUCTURAL_ONLY = (Kind.REPAIRED, Kind.ENACTOR_STUCK, Kind.PROBE)   # checkers.Structure.add
_FAULT_EVENTS = (Kind.FAULT_ARMED, Kind.FAULT_STARTED)             # verdict.fault_firings
_WORKER_STEPS = (Kind.FRESHNESS_CHECKED, Kind.ENDPOINT_APPLIED, Kind.PLAN_APPLIED)


def judge(events: list[Event], schedule: Schedule, *, error: str | None = None) -> Outcome:
    end = events[-1].t if events else 0.0
    critical, structural, faults = [], [], []       # each in history order
    for e in events:
        k = e.kind
        if k is _FRESH or k is _REFUSED:
            critical.append(e)
        elif k is _APPLIED or k is _DELETED:
            critical.append(e)
            structural.append(e)
        elif k in _STRUCTURAL_ONLY:
            structural.append(e)
        elif k in _FAULT_EVENTS:
            faults.append(e)
    verdicts = {v.name: v.held for v in check_all(structural)}
    violations = tuple(name for name, inv in VIOLATIONS.items() if verdicts.get(inv) is False)
    empty_s, recovered = empty_spans(structural, end=end)
    return Outcome(violations, empty_s, recovered, error,
                   len(fault_firings(faults, schedule)), interleaving(critical),
                   _pairs([e for e in faults if e.kind is Kind.FAULT_STARTED], events))


def inject_start(events: list[Event]) -> float | None:
    """When the run's injection phase began (schedules are timed from it)."""
    return next((e.t for e in events if e.kind is Kind.PHASE
                 and e.data.get("phase") == "inject"), None)


def empty_spans(events: list[Event], end: float | None = None) -> tuple[float, bool]:
    """The longest time an endpoint pointed at a deleted plan, and whether every such
    endpoint got a plan back (by the automation: search runs have no operator repair).
    An endpoint still empty at the end counts until ``end`` (the history's last event)."""
    active: dict[str, int] = {}
    deleted: set[int] = set()
    since: dict[str, float] = {}
    longest = 0.0
    for e in events:
        if e.kind in (Kind.ENDPOINT_APPLIED, Kind.REPAIRED):
            ep = e.data["endpoint"]
            active[ep] = e.data["generation"]
            if ep in since and active[ep] not in deleted:
                longest = max(longest, e.t - since.pop(ep))
        elif e.kind is Kind.PLAN_DELETED:
            g = e.data["generation"]
            deleted.add(g)
            for ep, a in active.items():
                if a == g and ep not in since:
                    since[ep] = e.t
    if end is None:
        end = events[-1].t if events else 0.0
    for t in since.values():
        longest = max(longest, end - t)
    return round(longest, 3), not since


def _passes(events: list[Event]) -> list[tuple[str, dict]]:
    """Each enactor pass that found a newer plan: (worker, what happened around it)."""
    out: list[tuple[str, dict]] = []
    current: dict[str, dict] = {}
    active: dict[str, int] = {}
    fresh_kind = Kind.FRESHNESS_CHECKED
    for e in events:
        if e.kind is fresh_kind:
            if e.data.get("fresh"):
                p = {"gen": e.data["generation"], "wrote": False, "overtaken": False,
                     "stale": False, "cleaned_under": False, "deleted_active": False,
                     "refused": False}
                current[e.source] = p
                out.append((e.source, p))
            elif current:
                current.pop(e.source, None)
            continue
        if e.kind not in CRITICAL:
            continue
        w = e.source
        for other, p in current.items():
            if other == w or p["wrote"]:
                continue
            if e.kind is Kind.ENDPOINT_APPLIED and e.data["generation"] > p["gen"]:
                p["overtaken"] = True
            elif e.kind is Kind.PLAN_DELETED:
                p["cleaned_under"] = True
        p = current.get(w)
        if e.kind is Kind.ENDPOINT_APPLIED:
            ep = e.data["endpoint"]
            before = active.get(ep)
            active[ep] = e.data["generation"]
            if p is not None:
                p["wrote"] = True
                if before is not None and e.data["generation"] < before:
                    p["stale"] = True
        elif e.kind is Kind.PLAN_DELETED and p is not None:
            if e.data["generation"] in active.values():
                p["deleted_active"] = True
        elif e.kind is Kind.WRITE_REFUSED and p is not None:
            p["refused"] = True
    return out


_MARKS = (("overtaken", "overtaken"), ("cleaned_under", "cleaned-under"),
          ("stale", "stale-write"), ("refused", "refused"),
          ("deleted_active", "deleted-active"))


def interleaving(events: list[Event]) -> tuple[str, ...]:
    """The run's notable passes in order, each as what happened between its check, its
    writes and its clean-up (another enactor wrote a newer plan, another cleaned up, its
    write moved an endpoint back, a guarded write was refused, it deleted an active plan).
    Workers are named by order of appearance (W1, W2...), so the same race between other
    enactors is the same interleaving."""
    roles: dict[str, str] = {}
    seq: list[str] = []
    for w, p in _passes(events):
        marks = [name for key, name in _MARKS if p[key]]
        if not marks:
            continue
        role = roles.setdefault(w, f"W{len(roles) + 1}")
        token = f"{role}:{'+'.join(marks)}"
        if not seq or seq[-1] != token:
            seq.append(token)
        if len(seq) >= MAX_INTERLEAVING:
            break
    return tuple(seq)


def _doing(history: dict, target: str, t: float) -> str:
    """What a worker was doing at ``t``: its last critical step before it."""
    last = None
    for e in history.get(target, ()):
        if e.t > t:
            break
        last = e
    if last is None:
        return "idle"
    if last.kind is Kind.FRESHNESS_CHECKED:
        return "after-freshness-check" if last.data.get("fresh") else "idle"
    if last.kind is Kind.ENDPOINT_APPLIED:
        return "writing"
    if last.kind is Kind.PLAN_APPLIED:
        return "before-cleanup"
    return "idle"


def pairs(events: list[Event]) -> frozenset:
    """(worker, step, fault kind) of every fault that fired; a pause or kill's step is what
    the worker was doing when it struck."""
    return _pairs([e for e in events if e.kind is Kind.FAULT_STARTED], events)


def _pairs(started: list[Event], events: list[Event]) -> frozenset:
    by_worker: dict[str, list[Event]] | None = None     # built when a pause or kill needs it
    out = set()
    for e in started:
        kind, target = e.data.get("fault"), e.data.get("target")
        if kind == FaultKind.DELAY:
            step = e.data.get("step")
        elif kind == FaultKind.LOSE_LOCK:
            step = "lock"
        elif kind == FaultKind.BURST:
            step = "publish"
        else:
            if by_worker is None:
                by_worker = defaultdict(list)
                for w in events:
                    if w.kind in _WORKER_STEPS:
                        by_worker[w.source].append(w)
            step = _doing(by_worker, target, e.t)
        out.add((target, step, kind))
    return frozenset(out)
