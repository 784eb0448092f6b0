"""The experiment model: what a run executes, typed. The loader (lab/scenario.py) reads a
file into it after checking every field; the checks across fields live here, because
``--duration`` re-runs them on a loaded scenario. Enums for every closed choice; their
members are strings (``StrEnum``), so summaries and messages show the file's words."""

import dataclasses
import math
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING

from lab.core.cascade import Remediation
from lab.core.faults import Fault
from lab.core.verdict import Expect
from lab.errors import ExperimentError

if TYPE_CHECKING:
    from lab.core.cascade import CascadeParams
    from lab.core.faultspace import FaultSpace

MAX_DURATION_S = 86400
# Settings every run has, in both worlds (lab/run.py, lab/sim/world.py).
ENACTOR_POLL_S = 0.2             # an enactor's wait after a pass that applied nothing
PROBE_TIMEOUT_S = 1.0            # a client's wait for an answer
SERVE_STALE_EXTENSIONS = 20      # pdns-recursor: serve an expired record up to 20 x 30 s


class Backend(StrEnum):
    POWERDNS = "powerdns"
    COREDNS = "coredns"


class EmptyAnswer(StrEnum):
    """What an emptied endpoint answers."""

    NXDOMAIN = "nxdomain"
    NODATA = "nodata"


class AliasStyle(StrEnum):
    """How an endpoint points at its plan tree."""

    FLATTENED = "flattened"   # the endpoint carries the tree's addresses (a Route 53 alias)
    CNAME = "cname"


class Mitigation(StrEnum):
    """The safeguards a file (or `dnslab compare`) can switch on: four in the enactor, the
    interlock at the DNS layer, serve-stale in the clients' resolver."""

    FRESHNESS_CAS = "freshness-cas"
    CLEANUP_SKIPS_ACTIVE = "cleanup-skips-active"
    INTERLOCK = "interlock"
    SELF_REPAIR = "self-repair"
    FENCING = "fencing"
    SERVE_STALE = "serve-stale"
    # The cascade's remediations (lab/core/cascade.py Remediation): a file with a
    # `cascade:` section only.
    ADMISSION_CONTROL = "admission-control"
    VELOCITY_CONTROL = "velocity-control"
    BACKOFF_BUDGET = "backoff-budget"
    LIFO_SHEDDING = "lifo-shedding"
    DEADLINE_SHEDDING = "deadline-shedding"
    RESTART_MANAGER = "restart-manager"


BACKENDS = tuple(b.value for b in Backend)
MITIGATIONS = tuple(m.value for m in Mitigation)
CASCADE_MITIGATIONS = tuple(r.value for r in Remediation)   # the model's own names
DNS_MITIGATIONS = tuple(m for m in MITIGATIONS if m not in CASCADE_MITIGATIONS)
# Negative TTLs a backend fixes whatever the zone asks: CoreDNS's etcd plugin synthesizes the
# SOA of its empty answers with a 30 s minimum (plugin/etcd MinTTL in CoreDNS 1.15.0).
FIXED_NEGATIVE_TTL_S = {Backend.COREDNS.value: 30}
# Pause target meaning the run's authoritative server (pdns-auth or coredns): it stops
# answering, as an unreachable authoritative does.
AUTHORITATIVE = "authoritative"


@dataclass(frozen=True, eq=False)
class Origin:
    """Where a scenario was read: its file and the line of each field, for messages."""

    path: Path | str
    lines: dict[tuple, int] = field(default_factory=dict)

    def __call__(self, *path) -> str:
        """``file:line`` of the deepest part of ``path`` the file has (else its first line)."""
        for n in range(len(path), -1, -1):
            if path[:n] in self.lines:
                return f"{self.path}:{self.lines[path[:n]]}"
        return f"{self.path}:1"


@dataclass(frozen=True)
class TimedFault:
    at_s: float       # seconds after injection starts, or after fault `after` took effect
    fault: Fault
    after: int | None = None   # index of an earlier fault (like AWS FIS `startAfter`)


@dataclass(frozen=True)
class CascadeSetup:
    """The `cascade:` section: a lease service behind the regional endpoint and a fleet
    manager renewing its hosts' leases through it (lab/core/cascade.py). ``params`` are the
    model's (remediations are the scenario's mitigations, switched on at the run's start or
    ``remediations_after_repair_s`` after the operator's repair; the manager is restarted
    ``restart_after_repair_s`` after it under `restart-manager`)."""

    params: "CascadeParams"
    remediations_after_repair_s: float | None = None
    restart_after_repair_s: float | None = None

    def params_for(self, mitigations) -> "CascadeParams":
        """The model's parameters with the run's cascade remediations (times are set by
        the world that runs it: they depend on when the repair happened)."""
        names = frozenset(m for m in mitigations if m in CASCADE_MITIGATIONS)
        restart = 0.0 if "restart-manager" in names else None
        return self.params.replace(remediations=names, restart_at_s=restart)


@dataclass(frozen=True)
class Scenario:
    title: str
    expect: Expect       # what the run must end as (lab.core.verdict.as_expected)
    seed: int = 1
    backend: Backend = Backend.POWERDNS
    empty_answer: EmptyAnswer = EmptyAnswer.NXDOMAIN
    alias: AliasStyle = AliasStyle.FLATTENED     # Route 53 style, or a CNAME
    record_ttl_s: int = 5
    negative_ttl_s: int = 30
    planner_period_s: float = 1.0
    keep_generations: int = 5
    enactors: tuple[str, ...] = ("enactor-a", "enactor-b", "enactor-c")
    clients: int = 52
    prober_containers: int = 2
    client_interval_s: float = 0.5
    steady_state_s: float = 5.0          # the steady-state window, before and after
    max_failed_ratio: float = 0.0        # hypothesis: failed probes / probes in the window
    stop_clients_affected_fraction: float | None = None   # stop condition: abort beyond it
    duration_s: float = 30.0             # how long the method runs when no outage ends it
    hold_stuck_s: float = 8.0            # after the endpoint empties: show automation stuck
    repair: bool = True                  # operator repair after the outage
    recover_s: float | None = None       # after repair (default: both TTLs + 5 s)
    faults: tuple[TimedFault, ...] = field(default_factory=tuple)
    # Safeguards switched on (MITIGATIONS); the interlock's velocity bound.
    mitigations: tuple[Mitigation, ...] = ()
    interlock_max_removed_fraction: float = 0.5
    # What the simulation cannot reproduce of the real run: (quantity, why) pairs, quantities
    # as `dnslab diff` names them (lab/core/agreement.py).
    simulation_differs: tuple[tuple[str, str], ...] = ()
    # The fault space `dnslab search` draws schedules from (lab/core/faultspace.py); None:
    # its default.
    search: "FaultSpace | None" = None
    # The outage's second act (None: no fleet behind the endpoint).
    cascade: CascadeSetup | None = None
    # The backends a suite runs this file on (every one unless the file says).
    backends: tuple[Backend, ...] = (Backend.POWERDNS, Backend.COREDNS)
    origin: Origin | None = field(default=None, compare=False, repr=False)

    @property
    def effective_negative_ttl_s(self) -> int:
        """The negative TTL resolvers will see: the file's, unless the backend fixes it."""
        return FIXED_NEGATIVE_TTL_S.get(self.backend, self.negative_ttl_s)

    @property
    def recovery_window_s(self) -> float:
        if self.recover_s is not None:
            return self.recover_s
        return max(self.record_ttl_s, self.effective_negative_ttl_s) + self.record_ttl_s + 5

    def with_duration(self, seconds: float) -> "Scenario":
        """This scenario with ``duration_s`` overridden (``--duration``), checked again: a
        fault that no longer starts before the end is refused, by name."""
        at = self.origin or Origin("<scenario>")
        if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or \
                not 0 < seconds <= MAX_DURATION_S:
            raise ExperimentError(f"{at.path}: --duration {seconds!r}: must be a number of "
                                  f"seconds more than 0 and at most {MAX_DURATION_S}")
        s = dataclasses.replace(self, duration_s=float(seconds))
        check_together(s, at, duration_from="--duration")
        return s


def check_together(s: Scenario, at: Origin, *, duration_from: str) -> None:
    """The checks across fields, run on load and again after a ``--duration`` override."""
    if s.steady_state_s < s.client_interval_s:
        raise ExperimentError(
            f"{at('steady_state_s')}: field 'steady_state_s' ({s.steady_state_s:g} s) must be "
            f"at least client_interval_s ({s.client_interval_s:g} s): a shorter window may see "
            "no probe, and the run aborts")
    if s.clients < s.prober_containers:
        raise ExperimentError(f"{at('clients')}: field 'clients' ({s.clients}) must be at "
                              f"least 'prober_containers' ({s.prober_containers})")
    per = math.ceil(s.clients / s.prober_containers)
    if (used := math.ceil(s.clients / per)) < s.prober_containers:
        raise ExperimentError(
            f"{at('prober_containers')}: field 'prober_containers': {s.clients} clients at "
            f"{per} per container fill only {used} of {s.prober_containers} containers; use "
            f"{used} prober containers or more clients")
    check_fault_times(s, at, duration_from)
    check_cascade(s, at)


CASCADE_SUSTAIN_PERIODS = 3.0   # lab.core.cascade.Thresholds.sustain_periods


def cascade_observation_s(s: Scenario) -> float:
    """How long after the repair a run must watch the fleet to judge it: DNS back through
    the caches, a lease TTL of grace, the sustained stretch, and two windows of slack."""
    p = s.cascade.params
    return (s.effective_negative_ttl_s + s.record_ttl_s + p.lease_ttl_s
            + CASCADE_SUSTAIN_PERIODS * p.renew_period_s + 2 * p.window_s)


def check_cascade(s: Scenario, at: Origin) -> None:
    """The cascade's remediations and expectation need a cascade; its timed actions need the
    operator's repair (they count from it)."""
    cascade_on = [m for m in s.mitigations if m in CASCADE_MITIGATIONS]
    if s.cascade is None:
        if cascade_on:
            raise ExperimentError(f"{at('mitigations')}: mitigation {cascade_on[0]!r} acts on "
                                  "the fleet manager; add a cascade: section or remove it")
        if s.expect == "metastable":
            raise ExperimentError(f"{at('expect')}: expect: metastable needs a cascade: "
                                  "section (a fleet behind the endpoint)")
        return
    c = s.cascade
    if "restart-manager" in cascade_on and c.restart_after_repair_s is None:
        raise ExperimentError(f"{at('cascade')}: mitigation 'restart-manager' needs "
                              "cascade.restart_after_repair_s (when the operator restarts the "
                              "manager)")
    if not s.repair and (c.restart_after_repair_s is not None
                         or c.remediations_after_repair_s is not None):
        key = "restart_after_repair_s" if c.restart_after_repair_s is not None else \
            "remediations_after_repair_s"
        raise ExperimentError(f"{at('cascade', key)}: cascade.{key} counts from the "
                              "operator's repair, and this file has repair: false")
    if s.repair:
        need = cascade_observation_s(s)
        if s.recovery_window_s < need:
            raise ExperimentError(
                f"{at('recover_s')}: field 'recover_s' ({s.recovery_window_s:g} s) is too short "
                f"to judge the fleet: DNS comes back to it up to {s.effective_negative_ttl_s} + "
                f"{s.record_ttl_s} s after the repair (the caches), then one lease TTL of grace "
                f"and {CASCADE_SUSTAIN_PERIODS:g} renew periods must be seen; make it at least "
                f"{need:g} s")
        for key in ("restart_after_repair_s", "remediations_after_repair_s"):
            when = getattr(c, key)
            if when is not None and when >= s.recovery_window_s:
                raise ExperimentError(f"{at('cascade', key)}: cascade.{key} ({when:g} s) must "
                                      f"come before the recovery window ends "
                                      f"({s.recovery_window_s:g} s after the repair)")
    if c.params.lease_ttl_s <= c.params.renew_period_s:
        raise ExperimentError(f"{at('cascade', 'lease_ttl_s')}: cascade.lease_ttl_s "
                              f"({c.params.lease_ttl_s:g} s) must be longer than "
                              f"cascade.renew_period_s ({c.params.renew_period_s:g} s), or "
                              "every lease lapses between renewals")


def check_fault_times(s: Scenario, at: Origin, duration_from: str) -> None:
    """Every fault starts before the method ends. A fault ``after: N`` starts ``at_s`` after
    fault N took effect, known only at run time, but never before fault N's own earliest
    start: that lower bound must be inside the run."""
    earliest: list[float] = []
    for i, tf in enumerate(s.faults):
        base = 0.0 if tf.after is None else earliest[tf.after]
        earliest.append(base + tf.at_s)
        if earliest[i] < s.duration_s:
            continue
        chain, j = [], i
        while j is not None:
            chain.append(f"faults[{j}].at_s {s.faults[j].at_s:g} s")
            j = s.faults[j].after
        start = f"{tf.at_s:g} s is" if tf.after is None else \
            f"starts at least {earliest[i]:g} s into the method " \
            f"({' + '.join(reversed(chain))}), which is"
        if duration_from == "duration_s":
            end, fix = f"the run's duration_s ({s.duration_s:g} s)", "lengthen duration_s"
        else:
            end, fix = f"the run's duration ({s.duration_s:g} s, from {duration_from})", \
                f"give a longer {duration_from}"
        raise ExperimentError(f"{at('faults', i, 'at_s')}: faults[{i}].at_s: {start} not "
                              f"before {end}; shorten at_s or {fix}")
