"""Judging the cascade's windows (lab/core/cascade.py): was the fleet metastable -- did its
collapse outlive DNS's return -- and when did it recover. Pure functions of the windows,
like the other checkers: metastable True / False / None map to violated / held / unknown,
and an undecidable observation is None, never a pass. The same functions judge a simulated
run and a real one (lab/core/cascade_judge.py reads the windows from the run's history)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from lab.core.cascade import Window

@dataclass(frozen=True)
class Thresholds:
    collapsed_below: float = 0.5     # fleet goodput under this: the fleet is not renewing
    recovered_goodput: float = 0.8   # fleet goodput at least this, and
    recovered_capacity: float = 0.95  # healthy capacity at least this, for
    sustain_periods: float = 3.0     # this many renew periods (both the collapse and recovery)


@dataclass(frozen=True)
class Verdict:
    metastable: bool | None          # None: not decidable from these windows
    recovered_at_s: float | None     # start of the first sustained healthy stretch after DNS
    reason: str


def detect(windows: list[Window], dns_restored_at_s: float, *, renew_period_s: float,
           grace_s: float, thresholds: Thresholds = Thresholds()) -> Verdict:
    """Metastable: once DNS has been healthy for ``grace_s``, the fleet's goodput averaged
    below ``collapsed_below`` over a stretch of contiguous windows at least
    ``sustain_periods`` renew periods long (the failure outlived its trigger; an average, so
    one window flickering just above the line does not break the stretch). Not metastable:
    at least that long was observed after the grace, no such stretch was seen, and the last
    window is not low (a stretch could still grow from it). Anything else is undecided
    (None), never a pass.
    ``recovered_at_s``: the start of the first stretch after DNS came back, of at least
    ``sustain_periods`` renew periods, with goodput and healthy capacity above their
    thresholds."""
    th = thresholds
    need = th.sustain_periods * renew_period_s
    eps = 1e-9
    after = sorted((w for w in windows if w.t0 >= dns_restored_at_s + grace_s - eps),
                   key=lambda w: w.t0)
    recovered_at = recovered(windows, dns_restored_at_s, renew_period_s=renew_period_s,
                             thresholds=th)
    if not after:
        return Verdict(None, recovered_at, "no window after the grace period")
    observed = after[-1].t1 - after[0].t0
    # A stretch of at least `need` seconds of contiguous windows whose goodput, averaged
    # over the stretch (time-weighted), stayed below the threshold: the fleet did not renew
    # for three renew periods, even if one window in it flickered just above the line.
    for i, first in enumerate(after):
        work = seconds = 0.0
        prev_end = first.t0
        for w in after[i:]:
            if w.t0 > prev_end + eps:
                break                        # a gap in the windows breaks a stretch
            prev_end = w.t1
            work += w.fleet_goodput * (w.t1 - w.t0)
            seconds += w.t1 - w.t0
            if seconds >= need - eps:
                if work / seconds < th.collapsed_below:
                    return Verdict(True, recovered_at,
                                   f"fleet goodput {work / seconds:.2f} on average, below "
                                   f"{th.collapsed_below}, from {first.t0:g} s for "
                                   f"{seconds:g} s, DNS healthy since {dns_restored_at_s:g} s")
                break
    if observed < need - eps:
        return Verdict(None, recovered_at,
                       f"only {observed:g} s observed after the grace period, {need:g} s needed")
    if after[-1].fleet_goodput < th.collapsed_below:
        return Verdict(None, recovered_at,
                       f"goodput low ({after[-1].fleet_goodput:g}) at the end of the "
                       "observation: a collapse could still be under way")
    return Verdict(False, recovered_at,
                   f"no stretch of {need:g} s with fleet goodput below {th.collapsed_below} "
                   "on average")


def held_capacity(w: Window) -> float:
    """The share of the fleet's hosts holding a lease at the window's end (in service,
    whether or not the front's health checks pass them yet)."""
    hosts = w.leases_held + w.out_of_service
    return w.leases_held / hosts if hosts else 0.0


def recovered(windows: list[Window], dns_restored_at_s: float, *, renew_period_s: float,
              thresholds: Thresholds = Thresholds(), capacity=None) -> float | None:
    """The start of the first stretch after DNS came back, of at least ``sustain_periods``
    renew periods, with goodput and capacity (``capacity(w)``; default: the healthy capacity
    the front passes) above their thresholds; None if there is none."""
    th, eps = thresholds, 1e-9
    need = th.sustain_periods * renew_period_s
    capacity = capacity or (lambda w: w.healthy_capacity)
    run_start = None
    for w in (w for w in sorted(windows, key=lambda w: w.t0)
              if w.t0 >= dns_restored_at_s - eps):
        if not (w.fleet_goodput >= th.recovered_goodput
                and capacity(w) >= th.recovered_capacity):
            run_start = None
            continue
        if run_start is None:
            run_start = w.t0
        if w.t1 - run_start >= need - eps:
            return run_start
    return None


def cascade_summary(windows: list[Window], dns_restored_at_s: float, *, renew_period_s: float,
                    grace_s: float, thresholds: Thresholds = Thresholds()) -> dict:
    verdict = detect(windows, dns_restored_at_s, renew_period_s=renew_period_s,
                     grace_s=grace_s, thresholds=thresholds)
    return {
        "metastable": verdict.metastable,
        "dns_restored_at_s": dns_restored_at_s,
        "recovered_at_s": verdict.recovered_at_s,
        # the same with the hosts holding a lease for capacity: the manager's recovery,
        # before the front's propagation and health checks (recovered_at_s - this: the
        # front's lag)
        "leases_recovered_at_s": recovered(windows, dns_restored_at_s,
                                           renew_period_s=renew_period_s,
                                           thresholds=thresholds, capacity=held_capacity),
        "goodput_windows": [w.fleet_goodput for w in windows],
        # the end of the last window: a fleet not recovered was not recovered until then
        "observed_until_s": max((w.t1 for w in windows), default=None),
        "leases_lapsed_max": max((w.out_of_service for w in windows), default=0),
        # what passed the front's health checks, at its lowest (the capacity users saw)
        "healthy_capacity_min": (min(w.healthy_hosts_min for w in windows)
                                 / (windows[0].leases_held + windows[0].out_of_service)
                                 if windows else None),
        "reason": verdict.reason,
    }
