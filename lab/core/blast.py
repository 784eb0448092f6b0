"""Blast radius and the run summary, derived from the history alone (pure).

A probe event's data: client, group ("resolver" | "direct"), endpoint, outcome, rcode,
addresses, latency_ms. A failed probe is any outcome but "ok".
"""

import statistics
from collections import defaultdict
from dataclasses import dataclass

from lab.core.checkers import automation_stuck, check_all, never_delete_active_plan
from lab.core.history import Event, Kind


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


def group_view(events: list[Event], group: str, endpoints: set[str] | None = None,
               since: float | None = None) -> GroupView:
    ps = [e for e in probes(events) if e.data.get("group") == group
          and (endpoints is None or e.data.get("endpoint") in endpoints)]
    fails = [e for e in ps if _failed(e) and (since is None or e.t >= since)]
    first = fails[0].t if fails else None
    oks_before = [e.t for e in ps if not _failed(e) and first is not None and e.t < first]
    return GroupView(len({e.data.get("client") for e in ps}), len(ps), len(fails), first,
                     fails[-1].t if fails else None, oks_before[-1] if oks_before else None)


def client_seconds_lost(events: list[Event]) -> float:
    """Per client, each failed probe costs the time until that client's next probe."""
    by_client: dict[str, list[Event]] = defaultdict(list)
    for e in probes(events):
        by_client[e.data.get("client")].append(e)
    lost = 0.0
    for ps in by_client.values():
        gaps = [b.t - a.t for a, b in zip(ps, ps[1:])]
        typical = statistics.median(gaps) if gaps else 0.0
        for i, e in enumerate(ps):
            if _failed(e):
                lost += (ps[i + 1].t - e.t) if i + 1 < len(ps) else typical
    return round(lost, 3)


def outage(events: list[Event]) -> dict:
    ps = probes(events)
    failed = [e for e in ps if _failed(e)]
    clients = {e.data.get("client") for e in ps}
    affected = {e.data.get("client") for e in failed}
    duration = 0.0
    if failed:
        start = failed[0].t
        end = failed[-1].t
        for client in affected:
            mine = [e for e in ps if e.data.get("client") == client]
            last_fail = max(e.t for e in mine if _failed(e))
            after = [e.t for e in mine if e.t > last_fail and not _failed(e)]
            end = max(end, after[0] if after else last_fail)
        duration = end - start
    return {
        "detected": bool(failed),
        "duration_s": round(duration, 3),
        "clients_affected_fraction": round(len(affected) / len(clients), 4) if clients else 0.0,
        "client_seconds_lost": client_seconds_lost(events),
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


def summarize(events: list[Event], *, backend: str, seed: int, status: str | None = None,
              **extra) -> dict:
    """The run's summary.json. ``status`` "aborted"/"error" overrides the verdict."""
    events = sorted(events, key=lambda e: e.t)
    invariants = check_all(events)
    out = outage(events)
    violated = out["detected"] or any(v.held is False for v in invariants)
    unknown = any(v.held is None for v in invariants)
    verdict = status or ("hypothesis-violated" if violated
                         else "error" if unknown else "hypothesis-held")
    found = emptied(events)
    return {
        "verdict": verdict,
        "backend": backend,
        "seed": seed,
        "outage": out,
        "emptied": {"t": found[0], "endpoints": found[1]} if found else None,
        "detection_lag_ms": detection_lag_ms(events),
        "automation_stuck": automation_stuck(events),
        "recovered_by": recovered_by(events),
        "invariants": [v.to_json() for v in invariants],
        "groups": {g: group_view(events, g).__dict__ for g in ("resolver", "direct")},
        **extra,
    }
