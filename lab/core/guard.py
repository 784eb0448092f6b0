"""One guard decision: what an endpoint write and a plan clean-up do under the safeguards.

Every DNS backend (PowerDNS, CoreDNS, the simulation's memory backend) reads what the
decision needs - the generation an endpoint points at, the highest fencing token a write to
it carried, which generations the endpoints point at - asks here, and only encodes the
answer in its own terms (an API PATCH, an etcd transaction with compares, a dict update).
Where a backend can make the read and the write one transaction (CoreDNS: etcd compares on
the keys it read) the decision holds atomically; PowerDNS 4.x has no conditional write, so
its window between the read and the PATCH stays open (lab/backends/pdns_plans.py).
"""

from typing import Iterable

from lab.core.ports import WriteRefused


def decide_write(endpoint: str, generation: int, *, current: int | None, highest_fence: int,
                 only_if_newer: bool = False, fence: int | None = None) -> int | None:
    """Whether ``generation`` may be written to ``endpoint``: raises WriteRefused (nothing is
    written) when ``only_if_newer`` and the endpoint already points at this generation or a
    newer one (freshness CAS), or when ``fence`` is lower than ``highest_fence`` (a stalled
    holder is fenced). Returns the fencing token to record with the write (None: none)."""
    if only_if_newer and current is not None and current >= generation:
        raise WriteRefused(f"{endpoint} already at plan {current}")
    if fence is None:
        return None
    if fence < highest_fence:
        raise WriteRefused(f"{endpoint}: fencing token {fence} is stale (fence {highest_fence})")
    return fence


def decide_delete(generation: int, pointed_at: Iterable[int | None], *,
                  keep_if_referenced: bool = False, present: bool = True) -> bool:
    """Whether clean-up deletes ``generation``, given the generations the endpoints point at:
    always (the incident's flaw), or, with the clean-up-skips-active safeguard, only while no
    endpoint points at it. A generation with no records left (``present`` False) has
    nothing to keep: True."""
    return not (present and keep_if_referenced and generation in set(pointed_at))
