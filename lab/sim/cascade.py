"""The cascade (lab/core/cascade.py) on a virtual clock: the regional endpoint answers with
no addresses during ``outage`` (start, end) in seconds, and with its addresses otherwise.
No Docker, no scheduler tasks: the model is stepped to the end of the run. The same
parameters, outage and seed give the same windows.

``tipping_outage_s`` bisects the outage length that tips the fleet into collapse.
"""

import random as random_module
from dataclasses import dataclass

from lab.core.cascade import Cascade, CascadeParams, Thresholds, Window, cascade_summary

OUTAGE_START_S = 30.0      # a steady fleet before the endpoint empties


@dataclass(frozen=True)
class CascadeRun:
    windows: list[Window]
    summary: dict


def grace_s(params: CascadeParams) -> float:
    """How long DNS must have been healthy before a low goodput counts: one lease TTL (the
    renewals that failed in the outage and the first re-establishments have had their
    chance)."""
    return params.lease_ttl_s


def simulate_cascade(params: CascadeParams, outage: tuple[float, float] | None, *,
                     seed: int = 1, duration_s: float = 600.0,
                     thresholds: Thresholds = Thresholds()) -> CascadeRun:
    """Run the cascade for ``duration_s`` virtual seconds with the endpoint empty during
    ``outage`` (None: never). ``summary['dns_restored_at_s']`` is the outage's end (0.0
    without an outage: DNS healthy from the start)."""
    if outage is not None:
        start, end = outage
        if not 0 <= start <= end <= duration_s:
            raise ValueError(f"cascade: outage {outage} must lie within 0..{duration_s} s")

        def resolves(t: float) -> bool:
            return not (start <= t < end)
        restored = float(end)
    else:
        def resolves(t: float) -> bool:
            return True
        restored = 0.0
    rng = random_module.Random(seed)
    model = Cascade(params, resolves=resolves, random=rng.random)
    model.advance_to(duration_s)
    summary = cascade_summary(model.windows, restored, renew_period_s=params.renew_period_s,
                              grace_s=grace_s(params), thresholds=thresholds)
    return CascadeRun(model.windows, summary)


def collapses(params: CascadeParams, outage_s: float, *, seed: int = 1,
              observe_s: float = 120.0) -> bool | None:
    """Whether an outage of ``outage_s`` (from OUTAGE_START_S) leaves the fleet metastable,
    judged over ``observe_s`` after DNS is back (None: undecided)."""
    end = OUTAGE_START_S + outage_s
    run = simulate_cascade(params, (OUTAGE_START_S, end) if outage_s > 0 else None,
                           seed=seed, duration_s=end + observe_s)
    return run.summary["metastable"]


def tipping_outage_s(params: CascadeParams, lo: float, hi: float, *, seed: int = 1,
                     tolerance_s: float = 0.5, observe_s: float = 120.0) -> float:
    """The smallest outage length in [lo, hi] that tips the fleet into collapse, to within
    ``tolerance_s``, assuming the outcome is monotone in the outage length (longer never
    heals what shorter broke). ``lo`` must not tip and ``hi`` must; an undecided run is an
    error, never taken for either."""
    def tips(outage_s: float) -> bool:
        verdict = collapses(params, outage_s, seed=seed, observe_s=observe_s)
        if verdict is None:
            raise ValueError(f"cascade: an outage of {outage_s:g} s is undecided over "
                             f"{observe_s:g} s: observe longer")
        return verdict

    if tips(lo):
        raise ValueError(f"cascade: an outage of {lo:g} s already tips the fleet")
    if not tips(hi):
        raise ValueError(f"cascade: an outage of {hi:g} s does not tip the fleet")
    return bisect(tips, lo, hi, tolerance_s)


def bisect(tips, lo: float, hi: float, tolerance_s: float) -> float:
    """The smallest outage in (lo, hi] for which ``tips`` holds, to within ``tolerance_s``,
    given that ``lo`` does not tip and ``hi`` does."""
    while hi - lo > tolerance_s:
        mid = (lo + hi) / 2
        if tips(mid):
            hi = mid
        else:
            lo = mid
    return hi
