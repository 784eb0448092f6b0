"""The cascade judged from the run's one history, in either world.

The fleet manager reports a window every ``window_s`` (``cascade-window``: a core
``Window``'s fields, its times in the manager's own seconds since it started) and each
change of its lookup of the endpoint (``cascade-dns``). Here the windows are put on the
run's clock (a window ends when its event was written), DNS's return is read from the
manager's own lookups (what the fleet saw, after the resolver's caches, not when the
operator repaired the zone), and ``lab.core.cascade.detect`` decides: metastable, not, or
undecided -- which is never a pass (the run's verdict is then ``error``).
"""

import dataclasses
from typing import Iterable

from lab.core.cascade import Thresholds, Window, cascade_summary
from lab.core.history import Event, Kind

WINDOW_FIELDS = tuple(f.name for f in dataclasses.fields(Window))


def windows_of(events: Iterable[Event], origin: float = 0.0) -> list[Window]:
    """The fleet's windows on the run's clock (minus ``origin``), in order; a malformed one
    is left out. The windows tile the manager's own clock without gaps; one offset puts them
    on the run's -- the smallest (event time - window end), the window written with the
    least delay -- so the milliseconds each event took to be written never open a gap
    between two windows (a gap ends a stretch of low goodput)."""
    found = []
    for e in events:
        if e.kind is not Kind.CASCADE_WINDOW:
            continue
        try:
            w = Window(**{k: e.data[k] for k in WINDOW_FIELDS})
            float(w.t1) - float(w.t0)
        except (KeyError, TypeError, ValueError):
            continue
        found.append((e.t, w))
    if not found:
        return []
    offset = min(t - float(w.t1) for t, w in found) - origin
    out = [dataclasses.replace(w, t0=round(float(w.t0) + offset, 3),
                               t1=round(float(w.t1) + offset, 3)) for _, w in found]
    return sorted(out, key=lambda w: w.t0)


def dns_restored_at(events: Iterable[Event], origin: float = 0.0) -> tuple[float | None, bool]:
    """(when the manager's lookup last came back with addresses after failing, whether it
    ever failed). (None, True): it failed and never came back; (None, False): it never
    failed (and the time is the manager's first lookup, if any)."""
    lookups = sorted((e for e in events if e.kind is Kind.CASCADE_DNS), key=lambda e: e.t)
    failed, restored = False, None
    for e in lookups:
        if not e.data.get("ok"):
            failed, restored = True, None
        elif failed and restored is None:
            restored = e.t
    if not failed:
        return (round(lookups[0].t - origin, 3) if lookups else None), False
    return (None if restored is None else round(restored - origin, 3)), True


def judge(events: list[Event], *, renew_period_s: float, lease_ttl_s: float,
          origin: float = 0.0, thresholds: Thresholds = Thresholds()) -> dict:
    """The summary's ``cascade``: ``cascade_summary`` over the run's windows, judged from
    one lease TTL after DNS came back for the fleet (or after its first lookup, when DNS
    never failed it). Times are seconds after ``origin`` (the history's first event, as in
    the summary's timeline). ``metastable`` None says why in ``reason``."""
    windows = windows_of(events, origin)
    restored, failed = dns_restored_at(events, origin)
    if not windows:
        return {"metastable": None, "dns_restored_at_s": restored, "recovered_at_s": None,
                "leases_recovered_at_s": None,
                "goodput_windows": [], "leases_lapsed_max": 0, "healthy_capacity_min": None,
                "dns_failed": failed,
                "reason": "the fleet manager reported no window (is it running?)"}
    if restored is None and failed:
        out = cascade_summary(windows, windows[-1].t1, renew_period_s=renew_period_s,
                              grace_s=lease_ttl_s, thresholds=thresholds)
        return {**out, "metastable": None, "dns_restored_at_s": None, "dns_failed": True,
                "reason": "DNS never answered the fleet manager again"}
    start = restored if restored is not None else windows[0].t0
    out = cascade_summary(windows, start, renew_period_s=renew_period_s, grace_s=lease_ttl_s,
                          thresholds=thresholds)
    return {**out, "dns_failed": failed}
