"""What one variant of a scenario cost and saved, derived from its history and summary
(pure): the rows of `dnslab compare`.

Benefit: outage yes/no, its duration, clients affected, client-seconds lost, the longest
outage one client saw per group, invariants violated, time to converge to the newest plan
after the faults ended. A variant whose run was not decided (aborted, error) has no benefit
figures (None): its numbers are not an outcome, and must never read as "no outage". Cost: DNS writes and lock waits per plan published, writes refused,
clean-ups skipped, and the latency from a plan's publication until every endpoint has it.
"""

import statistics
from collections import defaultdict

from lab.core import cascade_judge
from lab.core.history import Event, Kind
from lab.core.verdict import Verdict


def longest_client_outage_s(events: list[Event], group: str) -> float:
    """The longest run of failed probes one client of ``group`` saw, first failure to the
    next good answer (or its last probe)."""
    by_client: dict[str, list[Event]] = defaultdict(list)
    for e in events:
        if e.kind is Kind.PROBE and e.data.get("group") == group:
            by_client[e.data.get("client")].append(e)
    longest = 0.0
    for ps in by_client.values():
        began = None
        for e in ps:
            failed = e.data.get("outcome") != "ok"
            if failed and began is None:
                began = e.t
            elif not failed and began is not None:
                longest = max(longest, e.t - began)
                began = None
        if began is not None:
            longest = max(longest, ps[-1].t - began)
    return round(longest, 3)


def _published(events: list[Event]) -> dict[int, float]:
    return {e.data["generation"]: e.t for e in events if e.kind is Kind.PLAN_PUBLISHED}


def plan_latencies_s(events: list[Event], endpoints: set[str]) -> list[float]:
    """Per published generation, seconds until every endpoint pointed at it or a newer one
    (generations overtaken before reaching every endpoint are counted when that happens)."""
    published = _published(events)
    applied: dict[str, int] = {}
    pending = dict(published)
    out = []
    for e in events:
        if e.kind in (Kind.ENDPOINT_APPLIED, Kind.REPAIRED) and e.data.get("endpoint") in endpoints:
            applied[e.data["endpoint"]] = e.data["generation"]
            if len(applied) == len(endpoints):
                floor = min(applied.values())
                for g in [g for g in pending if g <= floor and pending[g] <= e.t]:
                    out.append(e.t - pending.pop(g))
    return out


def time_to_converge_s(events: list[Event], endpoints: set[str]) -> float | None:
    """Seconds from the end of the last injected fault until every endpoint points at the
    newest plan published so far; None when that never happened."""
    ended = [e.t for e in events if e.kind is Kind.FAULT_ENDED]
    if not ended:
        return None
    since = max(ended)
    newest, applied = 0, {}
    for e in events:
        if e.kind is Kind.PLAN_PUBLISHED:
            newest = max(newest, e.data["generation"])
        elif e.kind in (Kind.ENDPOINT_APPLIED, Kind.REPAIRED) and \
                e.data.get("endpoint") in endpoints:
            applied[e.data["endpoint"]] = e.data["generation"]
        else:
            continue
        if e.t >= since and len(applied) == len(endpoints) and \
                all(g >= newest for g in applied.values()):
            return round(e.t - since, 3)
    return None


def variant_row(name: str, summary: dict, events: list[Event], endpoints: set[str],
                longest: dict[str, float] | None = None) -> dict:
    """``longest``: each group's longest client outage when known already (the history's
    probes folded, lab/core/fold.py; ``events`` may then leave the probes out)."""
    events = sorted(events, key=lambda e: e.t)
    o = summary["outage"]
    plans = max(1, len(_published(events)))
    count = defaultdict(int)
    for e in events:
        count[e.kind] += 1
    latencies = plan_latencies_s(events, endpoints)
    decided = Verdict(summary["verdict"]) in (Verdict.VIOLATED, Verdict.HELD)
    known = (lambda value: value) if decided else (lambda value: None)
    return {
        "variant": name,
        "verdict": summary["verdict"],
        "decided": decided,
        "as_expected": summary.get("as_expected"),
        "reason": summary.get("reason"),
        "outage": known(o["detected"]),
        "outage_s": known(o["duration_s"]),
        "clients_affected_fraction": known(o["clients_affected_fraction"]),
        "client_seconds_lost": known(o["client_seconds_lost"]),
        "failed_probes": known({g: summary["groups"][g]["failed"] for g in summary["groups"]}),
        "longest_client_outage_s": known({g: longest[g] if longest is not None
                                          else longest_client_outage_s(events, g)
                                          for g in summary["groups"]}),
        "time_to_page_s": summary.get("time_to_page_s"),
        "endpoint_emptied": summary.get("emptied") is not None,
        "violations": [v["name"] for v in summary["invariants"] if v["held"] is False],
        "time_to_converge_s": time_to_converge_s(events, endpoints),
        "recovered_by": summary.get("recovered_by"),
        "cascade": cascade_cells(summary, events),
        "cost": {
            "dns_writes_per_plan": round((count[Kind.ENDPOINT_APPLIED]
                                          + count[Kind.PLAN_DELETED]) / plans, 3),
            "lock_waits_per_plan": round(count[Kind.LOCK_LOST] / plans, 3),
            "writes_refused": count[Kind.WRITE_REFUSED],
            "cleanups_skipped": count[Kind.CLEANUP_SKIPPED],
            "plan_latency_ms_median": round(statistics.median(latencies) * 1000, 1)
            if latencies else None,
        },
    }


def cascade_cells(summary: dict, events: list[Event]) -> dict | None:
    """A cascade run's effect and cost: metastable or not, how long after DNS came back the
    fleet recovered (None: not within the run), how long its goodput stayed below half, and
    what the recovery cost -- re-establishments started per lease that lapsed (work
    amplification) and the service's work nobody waited for."""
    fleet = summary.get("cascade")
    if not fleet:
        return None
    t_first = min((e.t for e in events), default=0.0)
    windows = cascade_judge.windows_of(events, t_first)
    back = fleet.get("dns_restored_at_s")
    after = [w for w in windows if back is not None and w.t0 >= back - 1e-9]
    lapsed = sum(w.lapsed for w in windows)
    started = sum(w.reestablish_started for w in windows)
    services = [e for e in events if e.kind is Kind.SERVICE_WINDOW]
    recovered = fleet.get("recovered_at_s")
    leases = fleet.get("leases_recovered_at_s")
    return {
        "metastable": fleet.get("metastable"),
        "dns_restored_at_s": back,
        "recovered_after_dns_s": None if recovered is None or back is None else
        round(recovered - back, 1),
        "leases_back_after_dns_s": None if leases is None or back is None else
        round(leases - back, 1),
        "observed_after_dns_s": round(after[-1].t1 - after[0].t0, 1) if after else 0.0,
        "low_goodput_s": round(sum(w.t1 - w.t0 for w in after if w.fleet_goodput < 0.5), 1),
        "leases_lapsed_max": fleet.get("leases_lapsed_max"),
        "healthy_capacity_min": fleet.get("healthy_capacity_min"),
        "reestablish_per_lapse": round(started / lapsed, 2) if lapsed else None,
        "wasted_units": sum(int(e.data.get("wasted_units") or 0) for e in services),
        "shed_units": sum(int(e.data.get("shed_units") or 0) for e in services),
    }


def with_baseline(rows: list[dict]) -> list[dict]:
    """Add each row's latency added per plan relative to the first row (the baseline)."""
    base = rows[0]["cost"]["plan_latency_ms_median"] if rows else None
    for r in rows:
        mine = r["cost"]["plan_latency_ms_median"]
        r["cost"]["added_latency_ms_per_plan"] = (round(mine - base, 1)
                                                  if mine is not None and base is not None
                                                  else None)
    return rows
