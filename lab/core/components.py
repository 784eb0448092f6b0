"""The lab's own components during a run: a plan store, zone store, DNS server or resolver
that restarts under a run changes what the run measures, and must be named, never left as
"failures nothing explains" (issue 17).

Pure: the real world (lab/run.py) looks at the containers; this module says what changed
between two looks and whether the run can go on. A change is an event in the history
(``Kind.COMPONENT``); a change of a component the run depends on ends it ``error``.
"""

from dataclasses import dataclass


@dataclass(frozen=True)
class Look:
    """One component's container as seen at one moment (``None`` fields: not there)."""

    id: str | None
    started_at: str | None = None
    state: str | None = None          # running, paused, exited, restarting, dead...

    @property
    def up(self) -> bool:
        # A paused server is up: pausing the authoritative server is a fault of the run's
        # own, which the run loop knows about and undoes.
        return self.id is not None and self.state in ("running", "paused")


GONE = Look(None)

# What a component went through between two looks, worst first.
REMOVED, RECREATED, RESTARTED, STOPPED, STARTED = (
    "removed", "recreated", "restarted", "stopped", "started")


def change(was: Look, now: Look) -> str | None:
    """What happened to one component between two looks (None: nothing)."""
    if now.id is None:
        return None if was.id is None else REMOVED
    if was.id is not None and now.id != was.id:
        return RECREATED
    if was.up and not now.up:
        return STOPPED
    if not was.up and now.up:
        return STARTED
    if was.started_at is not None and now.started_at != was.started_at:
        return RESTARTED        # stopped and started again between two looks
    return None


def changes(before: dict[str, Look], now: dict[str, Look]) -> list[tuple[str, str]]:
    """(component, what happened) for every component that changed, in name order."""
    out = []
    for name in sorted(before.keys() | now.keys()):
        what = change(before.get(name, GONE), now.get(name, GONE))
        if what is not None:
            out.append((name, what))
    return out


def depends_on(server: str, resolver: str, backend: str) -> frozenset[str]:
    """The components whose restart invalidates a run on ``backend``: the plan store (the
    plans and the run lock), the authoritative server and the resolver the clients ask, and
    on CoreDNS its zone store (the records themselves, on a tmpfs: a restart loses them).
    The others (Prometheus, Alertmanager, the pager, the other backend's services) only
    observe: their changes are recorded and the run goes on."""
    needed = {"plan-store", server, resolver}
    if backend == "coredns":
        needed.add("zone-store")
    return frozenset(needed)


def why_fatal(component: str, what: str) -> str:
    """The one-line reason a run ends ``error`` with."""
    return (f"lab component {component} {what} during the run: the run's "
            f"measurements are not the experiment's; see `docker logs dnslab-{component}-1`, "
            f"then run again")
