"""Pure checkers over a run's history. Each returns held True/False, or None (unknown) when
it cannot decide; a checker that crashes yields unknown, never a false pass.

One implementation: ``Structure`` folds a history event by event, in history order, and
keeps only what the checkers decide on (the plan each endpoint points at, the first
violations, the deletions of active plans), so a run of any length is checked in constant
memory; the list functions below fold the list they are given."""

from dataclasses import dataclass
from typing import Callable, Iterable

from lab.core.history import Event, Kind

EMPTY_OUTCOMES = ("nodata", "nxdomain")
NAMES = ("never-delete-active-plan", "applied-generation-monotonic", "endpoint-never-empty")


@dataclass(frozen=True)
class Verdict:
    name: str
    held: bool | None
    first_violation: dict | None = None

    def to_json(self) -> dict:
        return {"name": self.name, "held": self.held, "first_violation": self.first_violation}


def empty_direct_probe(e: Event) -> bool:
    """An authoritative (direct) probe that got no address: the endpoint is empty."""
    return e.kind is Kind.PROBE and e.data.get("group") == "direct" and \
        e.data.get("outcome") in EMPTY_OUTCOMES


class Structure:
    """The plan-level facts of a history, folded in history order (``add`` per event):
    the plan each endpoint points at, every deletion of an active plan (the first is the
    impact), the first stale apply, the first empty endpoint (structural or seen by a direct
    probe), whether the automation got stuck after the impact, and what first put each
    emptied endpoint's records back. O(1) per event; memory grows only with deletions of
    active plans."""

    def __init__(self):
        self.active: dict[str, int] = {}
        self.applied_any = False
        self.deletions: list[tuple[Event, list[str]]] = []   # every active-plan deletion
        self.stale: dict | None = None       # applied-generation-monotonic's first violation
        self.empty: dict | None = None       # endpoint-never-empty's first violation
        self.errors: dict[str, str] = {}     # checker -> why it crashed (unknown)
        # after the impact (the first active deletion)
        self.stuck: bool | None = None       # None: undecided yet (see automation_stuck)
        self._stuck_seen = False
        self.fixes: dict[str, Event] = {}    # emptied endpoint -> first repair/apply after
        self.first_fix: Event | None = None
        self.stuck_after: dict[str, Event] = {}   # enactor -> its first stuck after impact

    def clone(self) -> "Structure":
        """A copy to fold a few more events into (the state is small: containers copied,
        events shared)."""
        c = Structure.__new__(Structure)
        c.__dict__.update(self.__dict__)
        for name in ("active", "errors", "fixes", "stuck_after"):
            setattr(c, name, dict(getattr(self, name)))
        c.deletions = list(self.deletions)
        return c

    @property
    def impact(self) -> tuple[Event, list[str]] | None:
        return self.deletions[0] if self.deletions else None

    def _crash(self, names, e: Exception) -> None:
        for n in names:
            self.errors.setdefault(n, f"{type(e).__name__}: {e}")

    def add(self, e: Event) -> None:
        kind = e.kind
        if kind is Kind.PROBE:
            if self.empty is None and empty_direct_probe(e):
                self.empty = {"t": e.t, "endpoint": e.data.get("endpoint"),
                              "outcome": e.data.get("outcome"), "seen_by": e.source}
            return
        if kind is Kind.PLAN_DELETED:
            try:
                g = e.data["generation"]
                users = sorted(ep for ep, a in self.active.items() if a == g)
            except Exception as x:
                self._crash(NAMES[::2], x)
                return
            if users:
                if not self.deletions and self.empty is None:
                    self.empty = {"t": e.t, "endpoints": users, "generation": g,
                                  "seen_by": "history"}
                self.deletions.append((e, users))
            return
        impact = self.impact
        if kind in (Kind.ENDPOINT_APPLIED, Kind.REPAIRED):
            try:
                endpoint, g = e.data["endpoint"], e.data["generation"]
            except Exception as x:
                self._crash(NAMES, x)
                return
            self.applied_any = True
            if kind is Kind.ENDPOINT_APPLIED and self.stale is None:
                before = self.active.get(endpoint)
                if before is not None and g < before:
                    self.stale = {"t": e.t, "source": e.source, "endpoint": endpoint,
                                  "generation": g, "previous": before}
            self.active[endpoint] = g
            if impact is not None:
                emptied = impact[1]
                if endpoint in emptied and e.t > impact[0].t and endpoint not in self.fixes:
                    self.fixes[endpoint] = e
                    if self.first_fix is None:
                        self.first_fix = e
                if self.stuck is None:
                    if kind is Kind.REPAIRED:
                        self.stuck = self._stuck_seen
                    elif endpoint in emptied:
                        self.stuck = False
        elif kind is Kind.ENACTOR_STUCK and impact is not None:
            if self.stuck is None:
                self._stuck_seen = True
            if e.t >= impact[0].t:
                self.stuck_after.setdefault(e.source, e)

    # -- the verdicts ------------------------------------------------------------------
    def never_delete_active_plan(self) -> Verdict:
        name = NAMES[0]
        if name in self.errors:
            return Verdict(name, None, {"error": self.errors[name]})
        if self.impact is None:
            return Verdict(name, True)
        e, users = self.impact
        return Verdict(name, False, {"t": e.t, "source": e.source,
                                     "generation": e.data["generation"], "endpoints": users})

    def applied_generation_monotonic(self) -> Verdict:
        name = NAMES[1]
        if name in self.errors:
            return Verdict(name, None, {"error": self.errors[name]})
        return Verdict(name, self.stale is None, self.stale)

    def endpoint_never_empty(self) -> Verdict:
        name = NAMES[2]
        if name in self.errors:
            return Verdict(name, None, {"error": self.errors[name]})
        return Verdict(name, self.empty is None, self.empty)

    def check_all(self) -> list[Verdict]:
        if not self.applied_any:
            return [Verdict(name, None, {"error": "no endpoint was ever applied in this history"})
                    for name in NAMES]
        return [self.never_delete_active_plan(), self.applied_generation_monotonic(),
                self.endpoint_never_empty()]

    def automation_stuck(self) -> bool:
        if self.impact is None:
            return False
        return self._stuck_seen if self.stuck is None else self.stuck


def structure(events: Iterable[Event]) -> Structure:
    s = Structure()
    for e in events:
        s.add(e)
    return s


def active_deletions(events: Iterable[Event]) -> list[tuple[Event, list[str]]]:
    """Every clean-up that deleted a plan some endpoint was pointing at, with those endpoints."""
    return structure(events).deletions


def never_delete_active_plan(events: list[Event]) -> Verdict:
    return structure(events).never_delete_active_plan()


def applied_generation_monotonic(events: list[Event]) -> Verdict:
    return structure(events).applied_generation_monotonic()


def endpoint_never_empty(events: list[Event]) -> Verdict:
    """Violated when an endpoint's active plan is deleted (structurally empty) or when an
    authoritative probe gets no address for it."""
    return structure(events).endpoint_never_empty()


CHECKERS: dict[str, Callable[[list[Event]], Verdict]] = {
    "never-delete-active-plan": never_delete_active_plan,
    "applied-generation-monotonic": applied_generation_monotonic,
    "endpoint-never-empty": endpoint_never_empty,
}


def check_all(events: list[Event]) -> list[Verdict]:
    """Every checker's verdict. A history in which no endpoint was ever applied proves
    nothing about plans: every checker is unknown there, never held."""
    return structure(events).check_all()


def empty_since(events: list[Event]) -> float | None:
    """When the first endpoint lost its last address (its active plan deleted), or None."""
    v = never_delete_active_plan(events)
    return v.first_violation["t"] if v.held is False else None


def automation_stuck(events: list[Event]) -> bool:
    """True when, after an endpoint went empty, an enactor reported itself stuck and no
    enactor applied any later plan to that endpoint before an operator repaired it."""
    return structure(events).automation_stuck()
