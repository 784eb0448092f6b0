"""One guard decision: what an endpoint write and a plan clean-up do under the safeguards,
and what the safety interlock (lab/core/interlock.py) lets through.

Every DNS backend (PowerDNS, CoreDNS, the simulation's memory backend) reads what the
decision needs - the generation an endpoint points at, the highest fencing token a write to
it carried, which generations the endpoints point at - asks here, and only encodes the
answer in its own terms (an API PATCH, an etcd transaction with compares, a dict update).
Where a backend can make the read and the write one transaction (CoreDNS: etcd compares on
the keys it read) the decision holds atomically; PowerDNS 4.x has no conditional write, so
its window between the read and the PATCH stays open (lab/backends/pdns_plans.py).
"""

from typing import Iterable, Sequence

from lab.core.ports import WriteRefused


def decide_write(endpoint: str, generation: int, *, current: int | None, highest_fence: int,
                 only_if_newer: bool = False, fence: int | None = None) -> int | None:
    """Whether ``generation`` may be written to ``endpoint``: raises WriteRefused (nothing is
    written) when ``only_if_newer`` and the endpoint already points at this generation or a
    newer one (freshness CAS), or when ``fence`` is lower than ``highest_fence`` (a stalled
    holder is fenced). Returns the fencing token to record with the write (None: none)."""
    if only_if_newer and current is not None and current >= generation:
        raise WriteRefused(f"{endpoint} already at plan {current}", "freshness-cas")
    if fence is None:
        return None
    if fence < highest_fence:
        raise WriteRefused(f"{endpoint}: fencing token {fence} is stale (fence {highest_fence})",
                           "fencing")
    return fence


def decide_delete(generation: int, pointed_at: Iterable[int | None], *,
                  keep_if_referenced: bool = False, present: bool = True) -> bool:
    """Whether clean-up deletes ``generation``, given the generations the endpoints point at:
    always (the incident's flaw), or, with the clean-up-skips-active safeguard, only while no
    endpoint points at it. A generation with no records left (``present`` False) has
    nothing to keep: True."""
    return not (present and keep_if_referenced and generation in set(pointed_at))


def decide_interlock_write(endpoint: str, generation: int, *, new: set[str],
                           current: set[str], max_removed_fraction: float) -> None:
    """The safety interlock's check of a write (lab/core/interlock.py): raises WriteRefused
    when plan ``generation`` would leave ``endpoint`` with no addresses, or remove more than
    ``max_removed_fraction`` of its ``current`` addresses at once (the velocity control)."""
    if not new:
        raise WriteRefused(f"interlock: plan {generation} would leave {endpoint} "
                           "with no addresses", "interlock")
    removed = len(current - new) / len(current) if current else 0.0
    if removed > max_removed_fraction:
        raise WriteRefused(
            f"interlock: plan {generation} would remove {removed:.0%} of "
            f"{endpoint}'s capacity at once (limit {max_removed_fraction:.0%})", "interlock")


def decide_interlock_delete(generation: int, users: Sequence[str], *,
                            kept: bool = False) -> None:
    """The safety interlock's check of a clean-up: raises WriteRefused when endpoints
    (``users``) point at ``generation``, or the backend's own guarded deletion ``kept`` it
    (an endpoint came to point at it after ``users`` was read)."""
    if users or kept:
        raise WriteRefused(f"interlock: deleting plan {generation} would leave "
                           f"{', '.join(users) or 'an endpoint'} with no addresses", "interlock")
