"""Does the simulation agree with the real lab? Two runs of the same experiment (same file,
seed, backend, mitigations), one real and one simulated, compared on what the lab claims:

- ``verdict``, ``as-expected``, each invariant (``invariant <name>``) and the emptied
  endpoints (``emptied``) must be equal;
- per client group (``<group> outage``) the outage one client saw, at its longest (first
  failure to the next good answer), must agree within max(2 s, 15 %) of the real one. The
  group's span (first to last failed probe the run explains), its start (seconds after
  injection) and the clients it affected are shown, not judged: which endpoint's cached
  answer expires just before or just after the clean-up is a matter of a second's phase in
  either world, and it moves the group's span by a whole record TTL.

- with a cascade (the fleet behind the endpoint): ``cascade metastable`` must be equal, and
  ``cascade recovery`` -- how long after DNS came back the fleet recovered, or that it did
  not within the run -- must agree within max(10 s, 25 %) (two windows: the fleet is judged
  per 5 s window, and the moment DNS comes back to it depends on the resolver's cache).

An experiment file may declare what its simulation cannot reproduce
(``simulation_differs: {quantity: why}``); a declared quantity that differs is shown as
``declared``, not as a disagreement. Pure: summaries and events in, rows out.
"""

from dataclasses import dataclass

from lab.core.compare import longest_client_outage_s
from lab.core.fold import Fold
from lab.core.history import Kind

GROUPS = ("resolver", "direct")
ABS_TOLERANCE_S = 2.0
REL_TOLERANCE = 0.15
CASCADE_ABS_TOLERANCE_S = 10.0
CASCADE_REL_TOLERANCE = 0.25


@dataclass(frozen=True)
class Row:
    quantity: str
    real: str
    sim: str
    agrees: bool
    declared: str | None = None      # why the file says the simulation differs here

    @property
    def status(self) -> str:
        if self.agrees:
            return "agrees"
        return "declared" if self.declared else "DIFFERS"

    def to_json(self) -> dict:
        return {"quantity": self.quantity, "real": self.real, "sim": self.sim,
                "status": self.status, **({"why": self.declared} if self.declared else {})}


@dataclass(frozen=True)
class GroupOutage:
    longest_s: float            # the longest outage one client of the group saw (judged)
    start_s: float | None       # first failed probe, seconds after injection
    span_s: float               # first to last failed probe of the group
    clients: int                # clients with a failed probe


def group_outage(summary: dict, events, group: str) -> GroupOutage:
    """A group's outage from the summary's group view (failures the run explains), its
    clients from the history: a list of events, or the run's events.jsonl folded
    (``lab.core.fold.Fold``: no probe held in memory; the same numbers)."""
    view = (summary.get("groups") or {}).get(group) or {}
    first, last = view.get("first_failure"), view.get("last_failure")
    if isinstance(events, Fold):
        t0 = next((e.t for e in events.retained if e.kind is Kind.PHASE
                   and e.data.get("phase") == "inject"), None)
        return GroupOutage(round(events.longest_client_outage_s(group), 1),
                           None if first is None or t0 is None else round(first - t0, 1),
                           round(last - first, 1) if first is not None else 0.0,
                           events.clients_failing_in_group_outage(group)
                           if first is not None else 0)
    t0 = next((e.t for e in events if e.kind is Kind.PHASE
               and e.data.get("phase") == "inject"), None)
    clients = {e.data.get("client") for e in events if e.kind is Kind.PROBE
               and e.data.get("group") == group and e.data.get("outcome") != "ok"
               and (first is None or e.t >= first) and (last is None or e.t <= last)}
    return GroupOutage(round(longest_client_outage_s(events, group), 1),
                       None if first is None or t0 is None else round(first - t0, 1),
                       round(last - first, 1) if first is not None else 0.0,
                       len(clients) if first is not None else 0)


def within(real: float, sim: float) -> bool:
    return abs(real - sim) <= max(ABS_TOLERANCE_S, REL_TOLERANCE * abs(real))


def _shown(value) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, (list, tuple)):
        return ", ".join(str(v) for v in value) or "none"
    return str(value)


def compare_runs(real: dict, real_events, sim: dict, sim_events,
                 declared: dict[str, str] | None = None) -> list[Row]:
    """The rows of one diff (``declared``: quantity -> why the simulation differs)."""
    declared = declared or {}
    rows = []

    def row(quantity: str, a, b, agrees: bool) -> None:
        rows.append(Row(quantity, _shown(a), _shown(b), agrees,
                        None if agrees else declared.get(quantity)))

    row("verdict", real.get("verdict"), sim.get("verdict"),
        real.get("verdict") == sim.get("verdict"))
    row("as-expected", real.get("as_expected"), sim.get("as_expected"),
        real.get("as_expected") == sim.get("as_expected"))
    held = {v["name"]: v["held"] for v in sim.get("invariants", [])}
    for v in real.get("invariants", []):
        row(f"invariant {v['name']}", "held" if v["held"] else "violated",
            "held" if held.get(v["name"]) else ("violated" if held.get(v["name"]) is False
                                                else "-"),
            v["held"] == held.get(v["name"]))
    emptied = [sorted((s.get("emptied") or {}).get("endpoints") or []) for s in (real, sim)]
    row("emptied", emptied[0], emptied[1], emptied[0] == emptied[1])
    for g in GROUPS:
        a, b = group_outage(real, real_events, g), group_outage(sim, sim_events, g)
        agrees = within(a.longest_s, b.longest_s)
        rows.append(Row(f"{g} outage", _group(a), _group(b), agrees,
                        None if agrees else declared.get(f"{g} outage")))
    ca, cb = real.get("cascade"), sim.get("cascade")
    if ca or cb:
        ma, mb = (ca or {}).get("metastable"), (cb or {}).get("metastable")
        row("cascade metastable", ma, mb, ma is not None and ma == mb)
        ra, rb = recovery_after_dns_s(ca), recovery_after_dns_s(cb)
        agrees = recoveries_agree(ra, rb, observed_after_dns_s(ca), observed_after_dns_s(cb))
        rows.append(Row("cascade recovery", _recovery(ra, observed_after_dns_s(ca)),
                        _recovery(rb, observed_after_dns_s(cb)), agrees,
                        None if agrees else declared.get("cascade recovery")))
    return rows


def _tolerance(seconds: float) -> float:
    return max(CASCADE_ABS_TOLERANCE_S, CASCADE_REL_TOLERANCE * abs(seconds))


def recoveries_agree(ra: float | None, rb: float | None, observed_a: float | None,
                     observed_b: float | None) -> bool:
    """Two recovery times (seconds after DNS; None: not recovered while observed) agree
    within max(10 s, 25 %). A run not recovered within its observation of O s says only
    "later than O": it agrees with a recovery at r if r is no earlier than O minus the
    tolerance (the observation ended before the two could differ by more)."""
    if ra is None and rb is None:
        return True
    if ra is not None and rb is not None:
        return abs(ra - rb) <= _tolerance(ra)
    r, observed = (rb, observed_a) if ra is None else (ra, observed_b)
    return observed is not None and r >= observed - _tolerance(r)


def observed_after_dns_s(cascade: dict | None) -> float | None:
    """How long after DNS's return (for the fleet) the fleet was observed."""
    if not cascade or cascade.get("observed_until_s") is None or \
            cascade.get("dns_restored_at_s") is None:
        return None
    return round(cascade["observed_until_s"] - cascade["dns_restored_at_s"], 1)


def recovery_after_dns_s(cascade: dict | None) -> float | None:
    """Seconds from DNS's return (for the fleet) to the fleet's recovery; None: it did not
    recover within the run (or there is no cascade)."""
    if not cascade or cascade.get("recovered_at_s") is None or \
            cascade.get("dns_restored_at_s") is None:
        return None
    return round(cascade["recovered_at_s"] - cascade["dns_restored_at_s"], 1)


def _recovery(value: float | None, observed: float | None = None) -> str:
    if value is None:
        return "not recovered" + ("" if observed is None else f" within {observed:g} s")
    return f"{value:g} s after DNS"


def _group(g: GroupOutage) -> str:
    if g.start_s is None and not g.longest_s:
        return "none"
    return (f"{g.longest_s} s (group: {g.span_s} s from +{g.start_s} s, "
            f"{g.clients} clients)")


def agree(rows: list[Row]) -> bool:
    """Every row agrees or is a declared difference."""
    return all(r.agrees or r.declared for r in rows)
