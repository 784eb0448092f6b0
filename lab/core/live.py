"""What a run looks like right now, folded from its history event by event: the live view's
state (lab/live.py renders it on a terminal or as plain lines).

``LiveState.add(event)`` is called for every event as it arrives (in arrival order, which on
the real lab is only roughly time order: each worker's stream is in order, the streams
interleave); ``LiveState.view(now)`` returns a frozen ``View`` of the run at ``now`` (the
run's clock). Adding is O(1) per event; a view costs at most the checkers over the
structural events (a few thousand in a real run), and only when one arrived since the last
view. Pure: no clock, no terminal; the time is always given.
"""

from dataclasses import dataclass
from enum import StrEnum

from lab.core.checkers import EMPTY_OUTCOMES, Structure
from lab.core.fold import REORDER_S, Reorder
from lab.core.history import Event, Kind
from lab.core.plan import DEFAULT_ENDPOINTS

SERIES_S = 30          # seconds of failing share kept per client group (the sparkline)
DELETED_KEPT = 256     # plan deletions remembered before the old ones are forgotten
DELETED_HORIZON_S = 30
SHARE_WINDOW_S = 3     # "failing now" = share of failed probes over the last few seconds
ALERTS_KEPT = 20
ABOUT = ("endpoint", "group", "invariant")     # an alert's labels that say what it is about


def check_all(plans: Structure):
    """The checkers' verdicts on the structural events folded so far."""
    return plans.check_all()


class EnactorState(StrEnum):
    STARTING = "starting"       # no event from it yet
    IDLE = "idle"
    APPLYING = "applying"       # a fresh plan found, being applied
    STALLED = "stalled"         # a delay fault holds it at a step
    STUCK = "stuck"             # an endpoint points at a deleted plan
    REFUSED = "refused"         # a guarded write was refused (fencing, freshness, interlock)
    PAUSED = "paused"           # its container is frozen
    KILLED = "killed"


@dataclass(frozen=True)
class GroupView:
    name: str
    failing: float | None                 # share of failed probes over SHARE_WINDOW_S
    series: tuple[float | None, ...]      # one share per second, oldest first (None: no probe)
    probes: int                           # every probe of the group so far


@dataclass(frozen=True)
class EndpointView:
    name: str
    generation: int | None      # the plan it points at (last applied or repaired)
    addresses: int | None       # addresses in the direct group's latest probe of it
    plan_deleted: bool          # the plan it points at was deleted by a clean-up

    @property
    def empty(self) -> bool:
        return self.addresses == 0 or self.plan_deleted


@dataclass(frozen=True)
class EnactorView:
    name: str
    state: EnactorState
    generation: int | None = None   # the plan it is applying (or refused, or stuck on)
    detail: str = ""                # the step it is stalled at, the endpoint it is stuck on
    left_s: float | None = None     # how long a stall or pause still lasts

    def text(self) -> str:
        """Compact: ``applying 12``, ``stalled@after-freshness-check 7s``, ``stuck@ep``."""
        s = self.state.value
        if self.state is EnactorState.APPLYING and self.generation is not None:
            s += f" {self.generation}"
        if self.detail:
            s += f"@{self.detail}"
        if self.left_s is not None:
            s += f" {max(0.0, self.left_s):.0f}s"
        return s


@dataclass(frozen=True)
class FaultView:
    kind: str
    target: str
    step: str | None
    left_s: float | None     # None: no set length (armed, or already over)
    armed: bool = False      # waiting in the channel for its step

    def text(self) -> str:
        s = f"{self.kind} {self.target}"
        if self.step:
            s += f"@{self.step}"
        if self.armed:
            return s + " armed"
        if self.left_s is not None:
            s += f" {max(0.0, self.left_s):.0f}s left"
        return s


@dataclass(frozen=True)
class Violation:
    name: str
    t: float
    detail: str


@dataclass(frozen=True)
class Alert:
    t: float
    alert: str
    status: str
    about: str = ""         # what it is about: its endpoint, group or invariant label

    @property
    def name(self) -> str:
        return f"{self.alert} {self.about}" if self.about else self.alert


@dataclass(frozen=True)
class FleetView:
    """The cascade's fleet, from its last window and lookup (lab/core/cascade.py)."""
    goodput: float | None          # the last window's fleet goodput (1.0: steady renewals)
    capacity: float | None         # hosts in service / hosts
    out_of_service: int | None
    manager_queue: int | None
    dns_ok: bool | None            # the manager's latest lookup found addresses
    restarted: bool = False        # the operator restarted the manager

    @property
    def collapsed(self) -> bool:
        return self.goodput is not None and self.goodput < 0.5 and bool(self.dns_ok)

    def text(self) -> str:
        """Compact: ``fleet goodput 0.00 capacity 0% out 2000 queue 1800 dns ok``."""
        g = "-" if self.goodput is None else f"{self.goodput:.2f}"
        c = "-" if self.capacity is None else f"{self.capacity:.0%}"
        s = f"fleet goodput {g} capacity {c}"
        if self.out_of_service:
            s += f" out {self.out_of_service}"
        if self.manager_queue:
            s += f" queue {self.manager_queue}"
        s += " dns " + {True: "ok", False: "NONE", None: "-"}[self.dns_ok]
        if self.collapsed:
            s += " COLLAPSED"
        return s + (" (manager restarted)" if self.restarted else "")


@dataclass(frozen=True)
class View:
    title: str
    label: str
    phase: str | None
    phase_left_s: float | None
    elapsed_s: float
    now: float
    groups: tuple[GroupView, ...]
    endpoints: tuple[EndpointView, ...]
    enactors: tuple[EnactorView, ...]
    faults: tuple[FaultView, ...]
    violations: tuple[Violation, ...]
    alerts: tuple[Alert, ...]
    events: int
    fleet: FleetView | None = None     # a cascade's fleet (None: no fleet reported)

    def notable(self) -> tuple:
        """What, when it changes, is worth telling at once: the phase, emptied endpoints,
        violations, pages, stuck enactors, a fleet collapsing or recovering."""
        return (self.phase, tuple(e.name for e in self.endpoints if e.empty),
                tuple(v.name for v in self.violations), len(self.alerts),
                tuple(e.name for e in self.enactors if e.state is EnactorState.STUCK),
                self.fleet is not None and self.fleet.collapsed)


def planned_seconds(scenario, phase: str, emptied: bool) -> float | None:
    """How long the run loop (lab/core/runloop.py) means ``phase`` to last, or None where it
    waits on the world (set-up, start, repair, rollback)."""
    s = scenario
    if s is None:
        return None
    return {"steady-state-before": s.steady_state_s, "inject": s.duration_s,
            "observe": s.hold_stuck_s if emptied else 2 * s.client_interval_s + 1,
            "recover": s.recovery_window_s, "steady-state-after": s.steady_state_s,
            }.get(phase)


def refusal(data: dict) -> str:
    """Which safeguard refused a write: the event's ``safeguard`` (lab/core/guard.py), else
    (a history from before it was recorded) read from the refusal's message."""
    if data.get("safeguard"):
        return str(data["safeguard"])
    r = str(data.get("reason", "")).lower()
    if "interlock" in r:
        return "interlock"
    if "fenc" in r:
        return "fencing"
    return "freshness"


class _Enactor:
    __slots__ = ("state", "generation", "detail", "until", "before")

    def __init__(self):
        self.state, self.generation, self.detail = EnactorState.STARTING, None, ""
        self.until: float | None = None
        self.before: tuple | None = None     # what it was doing when stalled or paused

    def hold(self, state: EnactorState, detail: str, until: float | None) -> None:
        if self.before is None:
            self.before = (self.state, self.generation, self.detail)
        self.state, self.detail, self.until = state, detail, until

    def release(self) -> None:
        if self.before is not None:
            self.state, self.generation, self.detail = self.before
        self.before, self.until = None, None


class LiveState:
    """The fold. ``scenario`` (optional) gives the title, phase lengths and the enactors'
    names; ``label`` says which run of a command this is (``variant fencing (3/6)``)."""

    def __init__(self, scenario=None, label: str = ""):
        self.scenario = scenario
        self.title = getattr(scenario, "title", "") or ""
        self.label = label
        self.events = 0
        self.started: float | None = None
        self.latest: float | None = None
        self.phase: str | None = None
        self.phase_t = 0.0
        self._buckets: dict[str, dict[int, list[int]]] = {}   # group -> second -> [fail, all]
        self._probes: dict[str, int] = {}
        self._active: dict[str, tuple[float, int]] = {}        # endpoint -> (t, generation)
        self._addresses: dict[str, tuple[float, int]] = {}     # endpoint -> (t, count)
        self._deleted: dict[int, float] = {}                   # generation -> deleted at
        self._enactors: dict[str, _Enactor] = {
            name: _Enactor() for name in getattr(scenario, "enactors", ())}
        self._faults: dict[tuple[str, str], tuple[float, float | None, str | None]] = {}
        self._armed: list[tuple[float, str, str, str | None]] = []
        # the checkers' state over the structural events in time order (Reorder holds the
        # last REORDER_S of them, which may still arrive out of order): constant memory
        self._order = Reorder()
        self._plans = Structure()
        self._first_empty_probe: Event | None = None
        self._checked = True
        self._violations: tuple[Violation, ...] = ()
        self._alerts: list[Alert] = []
        self._fleet: dict | None = None        # the fleet's last window
        self._fleet_dns: bool | None = None
        self._restarted = False

    # -- the fold ------------------------------------------------------------------------
    def add(self, e: Event) -> None:
        self.events += 1
        if self.started is None:
            self.started = e.t
        self.latest = e.t if self.latest is None else max(self.latest, e.t)
        d = e.data
        k = e.kind
        if k is Kind.PROBE:
            self._probe(e)
        elif k is Kind.CASCADE_WINDOW:
            self._fleet = d
        elif k is Kind.CASCADE_DNS:
            self._fleet_dns = bool(d.get("ok"))
        elif k is Kind.MANAGER_RESTARTED:
            self._restarted = True
        elif k is Kind.PHASE:
            self.phase, self.phase_t = d.get("phase"), e.t
        elif k in (Kind.ENDPOINT_APPLIED, Kind.REPAIRED):
            ep = d.get("endpoint")
            if ep not in self._active or self._active[ep][0] <= e.t:
                self._active[ep] = (e.t, d.get("generation"))
            self._structural(e)
        elif k is Kind.PLAN_DELETED:
            g = d.get("generation")
            self._deleted[g] = max(e.t, self._deleted.get(g, e.t))
            if len(self._deleted) > DELETED_KEPT:
                self._forget_deletions()
            self._structural(e)
        elif k is Kind.FRESHNESS_CHECKED:
            if d.get("fresh"):
                en = self._enactor(e.source)
                if en.before is None:
                    en.state, en.generation, en.detail = EnactorState.APPLYING, \
                        d.get("generation"), ""
        elif k is Kind.ENACTOR_STUCK:
            en = self._enactor(e.source)
            en.release()
            en.state, en.generation, en.detail = EnactorState.STUCK, d.get("generation"), \
                str(d.get("endpoint", ""))
        elif k is Kind.WRITE_REFUSED:
            en = self._enactor(e.source)
            en.release()
            en.state, en.generation = EnactorState.REFUSED, d.get("generation")
            en.detail = refusal(d)
        elif k is Kind.PASS:
            en = self._enactor(e.source)
            if en.before is None and d.get("result") == "applied":
                en.state, en.detail = EnactorState.IDLE, ""
        elif k is Kind.FAULT_ARMED:
            self._armed.append((e.t, str(d.get("fault")), str(d.get("target")), d.get("step")))
        elif k is Kind.FAULT_STARTED:
            self._fault_started(e)
        elif k is Kind.FAULT_ENDED:
            self._fault_ended(e)
        elif k is Kind.PAGED:
            labels = d.get("labels") if isinstance(d.get("labels"), dict) else {}
            about = next((str(labels[k]) for k in ABOUT if k in labels), "")
            self._alerts.append(Alert(e.t, str(d.get("alert", "?")), str(d.get("status", "?")),
                                      about))
            del self._alerts[:-ALERTS_KEPT]

    def _enactor(self, name: str) -> _Enactor:
        if name not in self._enactors:
            self._enactors[name] = _Enactor()
        return self._enactors[name]

    def _probe(self, e: Event) -> None:
        d = e.data
        group = str(d.get("group", "?"))
        failed = d.get("outcome") != "ok"
        second = int(e.t // 1)
        buckets = self._buckets.setdefault(group, {})
        b = buckets.get(second)
        if b is None:
            b = buckets[second] = [0, 0]
            if len(buckets) > 4 * SERIES_S:      # forget seconds long gone
                newest = max(buckets)
                for s in [s for s in buckets if s < newest - 2 * SERIES_S]:
                    del buckets[s]
        b[0] += failed
        b[1] += 1
        self._probes[group] = self._probes.get(group, 0) + 1
        if group == "direct":
            ep = d.get("endpoint")
            if ep not in self._addresses or self._addresses[ep][0] <= e.t:
                count = d.get("addresses")
                self._addresses[ep] = (e.t, count if isinstance(count, int) else
                                       (0 if d.get("outcome") in EMPTY_OUTCOMES else None))
            if d.get("outcome") in EMPTY_OUTCOMES and (
                    self._first_empty_probe is None or e.t < self._first_empty_probe.t):
                self._first_empty_probe = e
                self._structural(e)

    def _structural(self, e: Event) -> None:
        self._order.push(e)
        for x in self._order.release(self.latest - REORDER_S):
            self._plans.add(x)
        self._checked = False

    def _forget_deletions(self) -> None:
        """Deletions only matter to an endpoint written before them: forget those long gone
        of plans no endpoint points at."""
        active = {g for _, g in self._active.values()}
        horizon = self.latest - 2 * DELETED_HORIZON_S
        for g in [g for g, t in self._deleted.items() if t < horizon and g not in active]:
            del self._deleted[g]

    def _fault_started(self, e: Event) -> None:
        d = e.data
        kind, target, step = str(d.get("fault")), str(d.get("target")), d.get("step")
        seconds = d.get("seconds")
        until = e.t + seconds if isinstance(seconds, (int, float)) and seconds else None
        for i, (_, ak, at, astep) in enumerate(self._armed):
            if ak == kind and at == target and (astep is None or astep == step):
                del self._armed[i]
                break
        if kind in ("lose-lock", "planner-burst"):
            return         # over as it starts (the ended event follows at once)
        self._faults[(kind, target)] = (e.t, until, step)
        if kind == "delay":
            self._enactor(target).hold(EnactorState.STALLED, str(step or ""), until)
        elif kind in ("pause", "kill") and target in self._enactors:
            self._enactor(target).hold(EnactorState.PAUSED if kind == "pause"
                                       else EnactorState.KILLED, "", until)

    def _fault_ended(self, e: Event) -> None:
        kind, target = str(e.data.get("fault")), str(e.data.get("target"))
        self._faults.pop((kind, target), None)
        if (kind == "delay" or kind in ("pause", "kill")) and target in self._enactors:
            self._enactor(target).release()

    # -- the view ------------------------------------------------------------------------
    def violations(self) -> tuple[Violation, ...]:
        """The invariants broken so far (lab/core/checkers.py over the structural events
        and the first empty answer a direct probe saw), recomputed only after one of those
        arrived."""
        if not self._checked:
            self._checked = True
            plans = self._plans.clone()
            for e in self._order.pending():
                plans.add(e)
            found = []
            for v in check_all(plans):
                if v.held is False:
                    f = v.first_violation or {}
                    found.append(Violation(v.name, float(f.get("t", 0.0)), _detail(f)))
            self._violations = tuple(sorted(found, key=lambda v: v.t))
        return self._violations

    def view(self, now: float | None = None) -> View:
        now = (self.latest if self.latest is not None else 0.0) if now is None else now
        violations = self.violations()
        emptied = any(v.name == "never-delete-active-plan" for v in violations)
        planned = planned_seconds(self.scenario, self.phase or "", emptied)
        left = None if planned is None else self.phase_t + planned - now
        return View(
            title=self.title, label=self.label, phase=self.phase,
            phase_left_s=None if left is None else max(0.0, left),
            elapsed_s=max(0.0, now - self.started) if self.started is not None else 0.0,
            now=now, groups=tuple(self._group(g, now) for g in sorted(self._buckets)),
            endpoints=self._endpoints(), enactors=self._enactor_views(now),
            faults=self._fault_views(now), violations=violations,
            alerts=tuple(self._alerts), events=self.events, fleet=self._fleet_view())

    def _fleet_view(self) -> FleetView | None:
        w = self._fleet
        if w is None and self._fleet_dns is None:
            return None

        def num(key):
            x = (w or {}).get(key)
            return x if isinstance(x, (int, float)) and not isinstance(x, bool) else None
        return FleetView(num("fleet_goodput"), num("healthy_capacity"), num("out_of_service"),
                         num("manager_queue"), self._fleet_dns, self._restarted)

    def _group(self, name: str, now: float) -> GroupView:
        buckets = self._buckets[name]
        last = int(now // 1)
        series = []
        for s in range(last - SERIES_S + 1, last + 1):
            b = buckets.get(s)
            series.append(b[0] / b[1] if b and b[1] else None)
        recent = [buckets[s] for s in range(last - SHARE_WINDOW_S + 1, last + 1) if s in buckets]
        total = sum(b[1] for b in recent)
        failing = sum(b[0] for b in recent) / total if total else None
        return GroupView(name, failing, tuple(series), self._probes.get(name, 0))

    def _endpoints(self) -> tuple[EndpointView, ...]:
        names = list(DEFAULT_ENDPOINTS) + sorted(
            n for n in set(self._active) | set(self._addresses) if n not in DEFAULT_ENDPOINTS)
        out = []
        for n in names:
            t, gen = self._active.get(n, (None, None))
            addresses = self._addresses[n][1] if n in self._addresses else None
            # A stale write re-creates a deleted plan's records: only a deletion at or after
            # the endpoint's last write left it pointing at nothing.
            out.append(EndpointView(n, gen, addresses,
                                    gen is not None and gen in self._deleted and
                                    self._deleted[gen] >= t))
        return tuple(out)

    def _enactor_views(self, now: float) -> tuple[EnactorView, ...]:
        return tuple(EnactorView(n, en.state, en.generation, en.detail,
                                 None if en.until is None else en.until - now)
                     for n, en in sorted(self._enactors.items()))

    def _fault_views(self, now: float) -> tuple[FaultView, ...]:
        running = [FaultView(k, t, step, None if until is None else until - now)
                   for (k, t), (_, until, step) in sorted(self._faults.items(),
                                                          key=lambda kv: kv[1][0])]
        return tuple(running) + tuple(FaultView(k, t, step, None, armed=True)
                                      for _, k, t, step in self._armed)


def _detail(f: dict) -> str:
    if "endpoints" in f:
        return f"plan {f.get('generation')} deleted while {', '.join(f['endpoints'])} " \
               f"pointed at it" + (f" ({f['source']})" if f.get("source") else "")
    if "previous" in f:
        return f"{f.get('endpoint')} went back from plan {f.get('previous')} to " \
               f"{f.get('generation')} ({f.get('source')})"
    if "outcome" in f:
        return f"{f.get('endpoint')} answered {f.get('outcome')} ({f.get('seen_by')})"
    return ""
