"""Pure checkers over a run's history. Each returns held True/False, or None (unknown) when
it cannot decide; a checker that crashes yields unknown, never a false pass."""

from dataclasses import dataclass
from typing import Callable, Iterable

from lab.core.history import Event, Kind

EMPTY_OUTCOMES = ("nodata", "nxdomain")


@dataclass(frozen=True)
class Verdict:
    name: str
    held: bool | None
    first_violation: dict | None = None

    def to_json(self) -> dict:
        return {"name": self.name, "held": self.held, "first_violation": self.first_violation}


def _active_generations(events: Iterable[Event]):
    """Yield (event, active) with active = endpoint -> generation it points at, before event."""
    active: dict[str, int] = {}
    for e in events:
        yield e, active
        if e.kind in (Kind.ENDPOINT_APPLIED, Kind.REPAIRED):
            active[e.data["endpoint"]] = e.data["generation"]


def _first_active_deletion(events: list[Event]) -> tuple[int, Event, list[str]] | None:
    """The first clean-up that deleted a plan some endpoint was pointing at."""
    for i, (e, active) in enumerate(_active_generations(events)):
        if e.kind is Kind.PLAN_DELETED:
            users = sorted(ep for ep, g in active.items() if g == e.data["generation"])
            if users:
                return i, e, users
    return None


def active_deletions(events: Iterable[Event]) -> list[tuple[Event, list[str]]]:
    """Every clean-up that deleted a plan some endpoint was pointing at, with those endpoints."""
    out = []
    for e, active in _active_generations(events):
        if e.kind is Kind.PLAN_DELETED:
            users = sorted(ep for ep, g in active.items() if g == e.data["generation"])
            if users:
                out.append((e, users))
    return out


def never_delete_active_plan(events: list[Event]) -> Verdict:
    found = _first_active_deletion(events)
    if found is None:
        return Verdict("never-delete-active-plan", True)
    _, e, users = found
    return Verdict("never-delete-active-plan", False,
                   {"t": e.t, "source": e.source, "generation": e.data["generation"],
                    "endpoints": users})


def applied_generation_monotonic(events: list[Event]) -> Verdict:
    for e, active in _active_generations(events):
        if e.kind is Kind.ENDPOINT_APPLIED:
            before = active.get(e.data["endpoint"])
            if before is not None and e.data["generation"] < before:
                return Verdict("applied-generation-monotonic", False,
                               {"t": e.t, "source": e.source, "endpoint": e.data["endpoint"],
                                "generation": e.data["generation"], "previous": before})
    return Verdict("applied-generation-monotonic", True)


def endpoint_never_empty(events: list[Event]) -> Verdict:
    """Violated when an endpoint's active plan is deleted (structurally empty) or when an
    authoritative probe gets no address for it."""
    deleted: set[int] = set()
    for e, active in _active_generations(events):
        if e.kind is Kind.PLAN_DELETED:
            deleted.add(e.data["generation"])
            users = sorted(ep for ep, g in active.items() if g == e.data["generation"])
            if users:
                return Verdict("endpoint-never-empty", False,
                               {"t": e.t, "endpoints": users, "generation": e.data["generation"],
                                "seen_by": "history"})
        elif e.kind is Kind.PROBE and e.data.get("group") == "direct" and \
                e.data.get("outcome") in EMPTY_OUTCOMES:
            return Verdict("endpoint-never-empty", False,
                           {"t": e.t, "endpoint": e.data.get("endpoint"),
                            "outcome": e.data.get("outcome"), "seen_by": e.source})
    return Verdict("endpoint-never-empty", True)


CHECKERS: dict[str, Callable[[list[Event]], Verdict]] = {
    "never-delete-active-plan": never_delete_active_plan,
    "applied-generation-monotonic": applied_generation_monotonic,
    "endpoint-never-empty": endpoint_never_empty,
}


def check_all(events: list[Event]) -> list[Verdict]:
    """Every checker's verdict. A history in which no endpoint was ever applied proves
    nothing about plans: every checker is unknown there, never held."""
    if not any(e.kind in (Kind.ENDPOINT_APPLIED, Kind.REPAIRED) for e in events):
        return [Verdict(name, None, {"error": "no endpoint was ever applied in this history"})
                for name in CHECKERS]
    verdicts = []
    for name, checker in CHECKERS.items():
        try:
            verdicts.append(checker(events))
        except Exception as e:  # a crashing checker is unknown, never a pass
            verdicts.append(Verdict(name, None, {"error": f"{type(e).__name__}: {e}"}))
    return verdicts


def empty_since(events: list[Event]) -> float | None:
    """When the first endpoint lost its last address (its active plan deleted), or None."""
    v = never_delete_active_plan(events)
    return v.first_violation["t"] if v.held is False else None


def automation_stuck(events: list[Event]) -> bool:
    """True when, after an endpoint went empty, an enactor reported itself stuck and no
    enactor applied any later plan to that endpoint before an operator repaired it."""
    found = _first_active_deletion(events)
    if found is None:
        return False
    index, _, emptied = found
    stuck = False
    for e in events[index + 1:]:
        if e.kind is Kind.REPAIRED:
            break
        if e.kind is Kind.ENACTOR_STUCK:
            stuck = True
        if e.kind is Kind.ENDPOINT_APPLIED and e.data["endpoint"] in emptied:
            return False
    return stuck
