"""Blast radius and the run summary, derived from the history alone (pure).

A probe event's data: client, group ("resolver" | "direct"), endpoint, outcome, rcode,
addresses, latency_ms. A failed probe is any outcome but "ok". The summary's post-event
timeline and time to page come from ``lab.core.timeline``.
"""

import statistics
from collections import defaultdict
from dataclasses import dataclass

from typing import Sequence

from lab.core.checkers import never_delete_active_plan
from lab.core import cascade_judge, timeline
from lab.core.history import Event, Kind
from lab.core.fold import Fold, fold
from lab.core.verdict import Expect, Verdict, as_expected, fault_outcomes, incomplete_of


@dataclass(frozen=True)
class GroupView:
    """What one client group saw around the outage (times in seconds, run clock)."""

    clients: int
    probes: int
    failed: int
    first_failure: float | None
    last_failure: float | None
    last_ok_before_first_failure: float | None


def probes(events: list[Event]) -> list[Event]:
    return [e for e in events if e.kind is Kind.PROBE]


def _failed(e: Event) -> bool:
    return e.data.get("outcome") != "ok"


def _counted(counted: set[int] | None):
    """The failure test: every failed probe, or only those whose id() is in ``counted``
    (the failures the run explains)."""
    if counted is None:
        return _failed
    return lambda e: _failed(e) and id(e) in counted


def group_view(events: list[Event], group: str, endpoints: set[str] | None = None,
               since: float | None = None, counted: set[int] | None = None) -> GroupView:
    failed = _counted(counted)
    ps = [e for e in probes(events) if e.data.get("group") == group
          and (endpoints is None or e.data.get("endpoint") in endpoints)]
    fails = [e for e in ps if failed(e) and (since is None or e.t >= since)]
    first = fails[0].t if fails else None
    oks_before = [e.t for e in ps if not _failed(e) and first is not None and e.t < first]
    return GroupView(len({e.data.get("client") for e in ps}), len(ps), len(fails), first,
                     fails[-1].t if fails else None, oks_before[-1] if oks_before else None)


def client_seconds_lost(events: list[Event], counted: set[int] | None = None) -> float:
    """Per client, each failed probe costs the time until that client's next probe."""
    failed = _counted(counted)
    by_client: dict[str, list[Event]] = defaultdict(list)
    for e in probes(events):
        by_client[e.data.get("client")].append(e)
    lost = 0.0
    for ps in by_client.values():
        gaps = [b.t - a.t for a, b in zip(ps, ps[1:])]
        typical = statistics.median(gaps) if gaps else 0.0
        for i, e in enumerate(ps):
            if failed(e):
                lost += (ps[i + 1].t - e.t) if i + 1 < len(ps) else typical
    return round(lost, 3)


def outage(events: list[Event], counted: set[int] | None = None) -> dict:
    """Clients failing to get addresses: every failed probe, or only the ``counted`` ones."""
    failed_test = _counted(counted)
    ps = probes(events)
    failed = [e for e in ps if failed_test(e)]
    clients = {e.data.get("client") for e in ps}
    affected = {e.data.get("client") for e in failed}
    duration = 0.0
    if failed:
        start = failed[0].t
        end = failed[-1].t
        by_client: dict[str, list[Event]] = defaultdict(list)
        for e in ps:
            if e.data.get("client") in affected:
                by_client[e.data.get("client")].append(e)
        for mine in by_client.values():
            last_fail = max(e.t for e in mine if failed_test(e))
            after = [e.t for e in mine if e.t > last_fail and not _failed(e)]
            end = max(end, after[0] if after else last_fail)
        duration = end - start
    return {
        "detected": bool(failed),
        "duration_s": round(duration, 3),
        "clients_affected_fraction": round(len(affected) / len(clients), 4) if clients else 0.0,
        "client_seconds_lost": client_seconds_lost(events, counted),
        "failed_probes": len(failed),
        "total_probes": len(ps),
        "clients": len(clients),
        "clients_affected": len(affected),
    }


def emptied(events: list[Event]) -> tuple[float, list[str]] | None:
    """(when, endpoints) the first time an endpoint lost its last address, from the history."""
    v = never_delete_active_plan(events)
    if v.held is not False:
        return None
    return v.first_violation["t"], v.first_violation["endpoints"]


def detection_lag_ms(events: list[Event]) -> float | None:
    """First failing probe of an emptied endpoint minus the moment its last address was
    removed (the clean-up's deletion), in milliseconds."""
    found = emptied(events)
    if found is None:
        return None
    t_empty, endpoints = found
    for e in probes(events):
        if e.t >= t_empty and _failed(e) and e.data.get("endpoint") in endpoints:
            return round((e.t - t_empty) * 1000, 1)
    return None


def recovered_by(events: list[Event]) -> str | None:
    found = emptied(events)
    if found is None:
        return None
    t_empty, endpoints = found
    for e in events:
        if e.t <= t_empty:
            continue
        if e.kind is Kind.REPAIRED and e.data.get("endpoint") in endpoints:
            return "operator-repair"
        if e.kind is Kind.ENDPOINT_APPLIED and e.data.get("endpoint") in endpoints:
            return "self-repair"
    return None


class Summary(dict):
    """A run's summary.json: decided once from the history, then read-only (a frozen mapping
    of the JSON fields, so it serialises as it is), with typed access to what callers decide
    on."""

    def _frozen(self, *args, **kwargs):
        raise TypeError("a run's summary is decided once, from its history; it cannot change")

    __setitem__ = __delitem__ = __ior__ = clear = pop = popitem = setdefault = update = _frozen

    @property
    def verdict(self) -> Verdict:
        return Verdict(self["verdict"])

    @property
    def finished(self) -> bool:
        """The method ran to its end (the verdict comes from the history)."""
        return self.verdict in (Verdict.VIOLATED, Verdict.HELD)

    @property
    def interrupted(self) -> bool:
        """Ctrl-C or SIGTERM ended the run (a suite or comparison stops there too)."""
        return bool(self.get("interrupted"))


def summarize(events: list[Event], *, backend: str, seed: int, **kwargs) -> Summary:
    """The run's summary.json, decided from the history alone (``lab.core.verdict``): the
    history folded (``lab.core.fold``), then ``summarize_fold``."""
    return summarize_fold(fold(events), backend=backend, seed=seed, **kwargs)


def summarize_fold(f: Fold, *, backend: str, seed: int, status: str | None = None,
                   reason: str | None = None, faults: Sequence = (),
                   expected: str | None = None, max_failed_ratio: float = 0.0,
                   last_phase: str | None = None, steady_state_after: dict | None = None,
                   cascade: dict | None = None, **extra) -> Summary:
    """The run's summary.json from its folded history (``lab.core.fold.Fold``, closed): the
    runner's fold during the run, or events.jsonl's folded afterwards, give the same summary.
    ``status`` "aborted"/"error" (the runner's) overrides the verdict; otherwise the history
    must be complete, every fault must have fired and every failure must be explained."""
    st = f.structure
    invariants = st.check_all()
    fault_list = fault_outcomes(f.retained, faults)
    out = f.outage()
    total = out["total_probes"]
    violated = any(v.held is False for v in invariants)
    unexplained, first = f.unexplained, f.first_unexplained
    why_incomplete = incomplete_of(f, last_phase)
    problems = []
    if status is None:
        if why_incomplete:
            problems.append(why_incomplete)
        problems += [f"fault [{x.index}] {x.fault.kind.value} {x.fault.target} did not fire: "
                     f"{x.why}" for x in fault_list if not x.fired]
        if unexplained and unexplained > max_failed_ratio * total:
            problems.append(f"{unexplained} failed probe(s) nothing in the history explains "
                            f"(first: {first.data.get('client')} {first.data.get('outcome')} for "
                            f"{first.data.get('endpoint')}), beyond the steady-state tolerance "
                            f"{max_failed_ratio:.0%}")
    # The cascade (``cascade``: the judging parameters, renew_period_s and lease_ttl_s):
    # a fleet that stayed collapsed after DNS came back breaks the hypothesis as an outage
    # does; one that cannot be judged is an error, never a pass.
    fleet = None
    if cascade is not None:
        fleet = cascade_judge.judge(f.retained, **cascade,
                                    origin=f.t_first if f.t_first is not None else 0.0)
        if status is None and fleet["metastable"] is None:
            problems.append(f"the cascade could not be judged: {fleet['reason']}")
    metastable = fleet is not None and fleet["metastable"] is True
    if status is not None:
        verdict = Verdict(status)
    elif problems:
        verdict, reason = Verdict.ERROR, "; ".join(problems)
    elif out["detected"] or violated or metastable:
        verdict = Verdict.VIOLATED
    elif any(v.held is None for v in invariants):
        verdict = Verdict.ERROR
        reason = reason or "a checker could not decide: " + ", ".join(
            v.name for v in invariants if v.held is None)
    else:
        verdict = Verdict.HELD
    phases = {e.data.get("phase"): e.t for e in f.retained if e.kind is Kind.PHASE}
    t0 = phases.get("inject")
    impact = st.never_delete_active_plan()
    found = (impact.first_violation["t"], impact.first_violation["endpoints"]) \
        if impact.held is False else None
    fix = st.first_fix
    milestones = timeline.milestones_of(f)
    summary = {
        "verdict": verdict.value,
        "backend": backend,
        "seed": seed,
        "outage": {**out, "causes": [{"cause": what, "failed_probes": n}
                                     for what, n in f.by_cause.items()]},
        "unexplained_failures": {
            "count": unexplained,
            "first": None if not unexplained else {
                k: first.data.get(k) for k in ("client", "group", "endpoint", "outcome")}
            | {"t": first.t}},
        "faults": [x.to_json(t0) for x in fault_list],
        "history": {"events": f.events, "probes": total, "complete": why_incomplete is None},
        "emptied": {"t": found[0], "endpoints": found[1]} if found else None,
        "detection_lag_ms": None if found is None or f.detection is None else
        round((f.detection.t - found[0]) * 1000, 1),
        "automation_stuck": st.automation_stuck(),
        "recovered_by": None if fix is None else
        "operator-repair" if fix.kind is Kind.REPAIRED else "self-repair",
        "invariants": [v.to_json() for v in invariants],
        "groups": {g: f.group_view(g) for g in ("resolver", "direct")},
        "time_to_page_s": timeline.time_to_page_s(f.retained, impact.first_violation
                                                  if impact.held is False else None),
        "timeline": timeline.to_json(milestones, f.t_first if f.t_first is not None else 0.0),
        "timeline_durations": [d.to_json() for d in timeline.durations(milestones)],
        "steady_state_after": steady_state_after,
        "reason": reason,
        "expected": expected,
        "cascade": fleet,
        **extra,
    }
    if expected is not None:
        summary["as_expected"] = as_expected(
            verdict, Expect(expected), outage=out["detected"], violated=violated,
            steady_after_held=(steady_state_after or {}).get("held"),
            metastable=None if fleet is None else fleet["metastable"])
    return Summary(summary)
