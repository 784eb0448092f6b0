"""The run loop: one experiment in named phases, against any world, on an injected clock.

    SETUP -> START -> STEADY -> INJECT -> OBSERVE -> (REPAIR -> RECOVER) -> STEADY_AFTER
          -> ROLLBACK (always reached) -> DECIDE (the caller: lab.core.blast.summarize)

The loop decides everything a run decides: when each fault of the timeline is injected
(``at_s`` after injection starts, or after the fault it depends on took effect), when a
container fault is restored, whether steady state held, when the stop condition aborts,
when the method ends (an endpoint emptied, or ``duration_s`` passed), whether to repair.
It does nothing itself: a ``World`` does (the real lab in lab/run.py, the simulation in
lab/sim/world.py), and a ``Clock`` tells and passes time (wall time there, virtual time in
the simulation, where ``sleep`` is what runs the simulated workers and clients).
"""

import math
from contextlib import nullcontext
from dataclasses import dataclass
from enum import StrEnum
from typing import Callable, ContextManager, Protocol

from lab.core.checkers import Structure
from lab.core.experiment import CASCADE_MITIGATIONS
from lab.core.faults import CHANNEL_KINDS, Fault, FaultKind
from lab.core.fold import REORDER_S, Reorder
from lab.core.history import Event, History, Kind
from lab.core.plan import DEFAULT_ENDPOINTS
from lab.core.verdict import Verdict, fault_firings

STRUCTURAL = (Kind.ENDPOINT_APPLIED, Kind.REPAIRED, Kind.PLAN_DELETED, Kind.FAULT_STARTED,
              Kind.FAULT_ARMED)
INDEXED = frozenset(STRUCTURAL + (Kind.CASCADE_WINDOW, Kind.PROBE))   # what _index reads
READY_WITHIN_S = 30.0       # a component the world started in set-up (serve-stale resolver)
FIRST_PLAN_WITHIN_S = 60.0
FIRST_PROBES_WITHIN_S = 30.0
TICK_S = 0.1            # how often a wait looks at the world
TIMELINE_TICK_S = 0.05  # how often the timeline looks for faults that took effect
CHECK_EVERY_S = 1.0     # how often the world is asked whether a worker died
# The cascade's fleet must report a healthy window (every lease held) within this long of
# its start, or the run aborts: a fleet that never held cannot collapse.
FLEET_HEALTHY_WITHIN_S = 60.0
FLEET_HEALTHY = 0.95
FOLD_LATE = 512         # most plan events the loop holds before folding them (see _index)


class Phase(StrEnum):
    SETUP = "setup"
    START = "start"
    STEADY = "steady-state-before"
    INJECT = "inject"
    OBSERVE = "observe"
    REPAIR = "repair"
    RECOVER = "recover"
    STEADY_AFTER = "steady-state-after"
    ROLLBACK = "rollback"
    DECIDE = "decide"


LAST_PHASE = Phase.STEADY_AFTER.value    # a history without it ends before the run did


class Aborted(Exception):
    """The run cannot go on (steady state not met, a worker died); message says why."""


class Clock(Protocol):
    def now(self) -> float:
        """Seconds; event times and every decision of the loop use it."""

    def sleep(self, seconds: float) -> None: ...


class World(Protocol):
    """What a run does to the outside. Worker and client events go into the history given
    to ``set_up`` (``history.add`` or ``history.append``)."""

    def set_up(self, history: History) -> list[tuple[str, Callable[[], bool]]]:
        """Reset the plan store, the DNS backend and caches; clear what earlier runs left.
        Returns what must be ready before the control plane starts: (what, ready?) pairs
        the loop waits on (``READY_WITHIN_S`` each)."""

    def start_control_plane(self) -> None:
        """Start the planner and the enactors."""

    def start_clients(self) -> None: ...

    def arm(self, index: int, fault: Fault) -> None:
        """Put a channel fault (delay, lose-lock, burst) where the workers consult it."""

    def inject(self, index: int, fault: Fault) -> None:
        """Do a container fault (pause, kill) now."""

    def restore(self, index: int, fault: Fault) -> None:
        """Undo a container fault (thaw, restart)."""

    def repair(self) -> int | None:
        """Operator repair: every endpoint to the newest plan; its generation."""

    def check(self, killed: set[str]) -> None:
        """Raise Aborted when a worker (not one in ``killed``) died, or the run cannot go on."""

    def disarm(self) -> None:
        """Remove the run's channel faults (first step of the rollback)."""

    def roll_back(self) -> None:
        """Thaw, stop and remove the run's workers; collect their last events. Must not
        raise."""

    # A world that runs cascades (a scenario with a `cascade:` section) also has:
    #   start_cascade() -- the lease service and the fleet manager, leases held;
    #   cascade_act(action) -- "remediate" (switch the remediations on) or "restart-manager".


def time_bound(s) -> float:
    """Longest a run can last: workers and faults expire by themselves after it."""
    faults = max((f.fault.seconds for f in s.faults), default=0)   # all start by duration_s
    return 180 + s.steady_state_s + s.duration_s + faults + s.hold_stuck_s + \
        s.recovery_window_s


@dataclass(frozen=True)
class RunResult:
    """How the method ended. ``status`` None: it ran to the end and the history decides."""

    status: Verdict | None
    reason: str | None
    steady_after: dict | None
    interrupted: bool = False     # Ctrl-C or SIGTERM


@dataclass
class _Pending:
    due: float
    index: int
    fault: Fault


def _first_due(start: float, waiting: list, began: dict[int, float]) -> float:
    """The earliest time a waiting fault of the timeline is due (inf: none can be yet):
    ``at_s`` after injection started, or after the fault it follows took effect."""
    due = math.inf
    for _, timed in waiting:
        base = start if timed.after is None else began.get(timed.after)
        if base is not None and base + timed.at_s < due:
            due = base + timed.at_s
    return due


class RunLoop:
    """One run of ``scenario`` in ``world``. ``run()`` returns a RunResult; the history it
    built is ``self.history``. ``shield`` is entered around the rollback (the real lab
    ignores a second Ctrl-C there); ``errors`` are exception types whose message is the
    reason as it is (others are prefixed with their type name). ``probes`` False runs the
    control plane only: no clients, so the steady-state windows are only waits."""

    def __init__(self, scenario, world: World, clock: Clock, *,
                 sink: Callable[[Event], None] | None = None, echo=print,
                 shield: Callable[[], ContextManager] = nullcontext,
                 errors: tuple[type, ...] = (), probes: bool = True,
                 method_only: bool = False, keep=True, threads: bool = True):
        self.s = scenario
        self.probes = probes      # False: the control plane only (schedule search), no clients
        # True: end after the method (and the hold when an endpoint emptied): no repair, no
        # steady state afterwards. Schedule search needs the prefix only; it is the same
        # prefix a full run has.
        self.method_only = method_only
        self.world = world
        self.clock = clock
        self.echo = echo
        self.shield = shield
        self.errors = errors
        self._outer_sink = sink
        # ``keep``: which events the history keeps in memory (a predicate; True: all). The
        # runner (lab/execute.py) keeps only the few it reads back and folds the rest.
        # ``threads`` False: only the loop's own thread appends (the simulation's control
        # plane), so the history takes no lock.
        self.history = History(clock.now, self._index, keep=keep, threads=threads)
        self.pending: list[_Pending] = []
        self._structure: list[Event] = []     # fault events (armed, started): few
        self._applied: set[str] = set()       # endpoints some plan was applied to
        # Plan events in time order (out of order they are held REORDER_S), folded: what
        # the emptied check reads once the streams interleave. Constant memory.
        self._order = Reorder()
        self._plans = Structure()
        # Plan events not yet pushed through _order into _plans: only read once the streams
        # interleave, so while they come in order they are folded late (identically: the
        # same pushes and releases in the same order), at most FOLD_LATE at a time.
        self._unfolded: list[Event] = []
        self._window: list | None = None      # the steady-state window: [since, failed, total]
        self._dirty = self._empty = self._faults_dirty = False
        # While structural events arrive in time order (always in the simulation), the
        # emptied check is kept as they come; out of order, it is redone from the sorted list.
        self._in_order = True
        self._last_structural_t = -math.inf
        self._active: dict[str, int] = {}
        self._clients: set = set()
        self._affected: set = set()
        self._stopping = False
        self._checked = -math.inf
        self.steady_after: dict | None = None
        self._fleet_healthy = False           # a cascade window with every lease held came
        self.actions: list[tuple[float, str]] = []   # the operator's timed cascade actions

    # -- the history's index -----------------------------------------------------------
    def _index(self, event: Event) -> None:
        """Every event: to the caller's sink, then into what the loop polls (clients seen
        and affected for the stop condition; structural events for the method's end)."""
        if self._outer_sink is not None:
            self._outer_sink(event)
        if event.kind not in INDEXED:
            return                            # most events: idle polls, passes, plans
        if event.kind is Kind.CASCADE_WINDOW:
            held = event.data.get("healthy_capacity")
            if isinstance(held, (int, float)) and held >= FLEET_HEALTHY:
                self._fleet_healthy = True
        elif event.kind is Kind.PROBE:
            client = event.data.get("client")
            self._clients.add(client)
            failed = event.data.get("outcome") != "ok"
            if failed:
                self._affected.add(client)
            window = self._window
            if window is not None and event.t >= window[0]:
                window[1] += failed
                window[2] += 1
        elif event.kind in STRUCTURAL:
            if event.kind in (Kind.FAULT_STARTED, Kind.FAULT_ARMED):
                self._structure.append(event)
            else:
                self._unfolded.append(event)
            if event.t < self._last_structural_t:
                self._in_order = False       # workers' streams interleaved (the real lab)
                self._dirty = True
            if not self._in_order or len(self._unfolded) >= FOLD_LATE:
                self._fold_plans()
            self._last_structural_t = max(self._last_structural_t, event.t)
            if event.kind is Kind.PLAN_DELETED:
                if not self._in_order:
                    self._dirty = True
                elif event.data["generation"] in self._active.values():
                    self._empty = True
            elif event.kind in (Kind.ENDPOINT_APPLIED, Kind.REPAIRED):
                self._active[event.data["endpoint"]] = event.data["generation"]
                self._applied.add(event.data["endpoint"])
            elif event.kind in (Kind.FAULT_STARTED, Kind.FAULT_ARMED):
                self._faults_dirty = True

    def _fold_plans(self) -> None:
        """Push the plan events not yet folded through the reorder heap into ``_plans``."""
        order, plans = self._order, self._plans
        for event in self._unfolded:
            order.push(event)
            for e in order.release(event.t - REORDER_S):
                plans.add(e)
        self._unfolded.clear()

    def _structure_sorted(self) -> list[Event]:
        return sorted(self._structure, key=lambda e: e.t)

    # -- the run -------------------------------------------------------------------------
    def run(self) -> RunResult:
        status, reason, interrupted = None, None, False
        try:
            self._method()
        except KeyboardInterrupt as e:
            status, reason = Verdict.ABORTED, f"interrupted ({str(e) or 'SIGINT'})"
            interrupted = True
        except Aborted as e:
            status, reason = Verdict.ABORTED, str(e)
        except self.errors as e:
            status, reason = Verdict.ERROR, str(e)
        except Exception as e:  # a crash is an error verdict, never a pass
            status, reason = Verdict.ERROR, f"{type(e).__name__}: {e}"
        finally:
            self._rollback()
        return RunResult(status, reason, self.steady_after, interrupted)

    def phase(self, phase: Phase) -> None:
        self.history.append("runner", Kind.PHASE, phase=phase.value)
        self.echo(f"run: {phase.value}")

    def _method(self) -> None:
        s = self.s
        self.phase(Phase.SETUP)
        for what, ready in self.world.set_up(self.history) or ():
            if not self.wait(READY_WITHIN_S, ready):
                raise Aborted(f"{what} did not answer within {READY_WITHIN_S:.0f} s")

        self.phase(Phase.START)
        self.world.start_control_plane()
        endpoints = set(DEFAULT_ENDPOINTS)
        if not self.wait(FIRST_PLAN_WITHIN_S, lambda: endpoints <= self._applied):
            raise Aborted(f"the enactors did not apply a first plan to every endpoint within "
                          f"{FIRST_PLAN_WITHIN_S:.0f} s; see the enactors' logs "
                          "(`docker logs dnslab-worker-enactor-a`)")
        self.world.start_clients()
        # Without probes, a world may still say when its clients would have started (the
        # simulation does, so the control-plane path injects when a full run would).
        ready = (lambda: len(self._clients) >= s.clients) if self.probes else \
            getattr(self.world, "clients_ready", None)
        if ready is not None and not self.wait(FIRST_PROBES_WITHIN_S, ready):
            raise Aborted(f"not all {s.clients} clients probed within "
                          f"{FIRST_PROBES_WITHIN_S:.0f} s")

        if s.cascade is not None:
            self.world.start_cascade()
            if not self.wait(FLEET_HEALTHY_WITHIN_S, lambda: self._fleet_healthy):
                raise Aborted(f"the fleet manager reported no window with every lease held "
                              f"within {FLEET_HEALTHY_WITHIN_S:.0f} s of its start; see its log "
                              "(`docker logs dnslab-worker-fleet-manager`)")

        self.phase(Phase.STEADY)
        held, seen = self.steady_state()
        if not held:
            raise Aborted(f"steady state not met before injection: {seen['failed_probes']} of "
                          f"{seen['total_probes']} probes failed in {s.steady_state_s} s "
                          f"(tolerance {s.max_failed_ratio:.0%})")

        self.phase(Phase.INJECT)
        self._stopping = True
        start = self.clock.now()
        self.timeline(start, start + s.duration_s)
        self.wait(max(0.0, start + s.duration_s - self.clock.now()), until=self.emptied_yet)

        self.phase(Phase.OBSERVE)
        if self.emptied_yet():
            self.wait(s.hold_stuck_s)
            if self.method_only:
                return
            if s.repair:
                self.phase(Phase.REPAIR)
                self._stopping = False
                generation = self.world.repair()
                self.echo(f"run: operator repair pointed every endpoint at plan {generation}")
                self._schedule_cascade_actions()
                self.phase(Phase.RECOVER)
                self.wait(s.recovery_window_s)
        elif self.method_only:
            return
        else:
            self.wait(2 * s.client_interval_s + 1)
        while self.pending:
            self.wait(self.pending[0].due - self.clock.now() + TICK_S)
        self.phase(Phase.STEADY_AFTER)
        held, seen = self.steady_state()
        self.steady_after = {"held": held, "failed_probes": seen["failed_probes"],
                             "total_probes": seen["total_probes"], "window_s": s.steady_state_s}

    # -- waiting ---------------------------------------------------------------------------
    def wait(self, seconds: float, until: Callable[[], bool] | None = None,
             tick: float = TICK_S) -> bool:
        """Pass up to ``seconds`` in steps of ``tick``; True as soon as ``until()`` holds.
        Each step restores container faults that are due and looks at the world."""
        now, sleep = self.clock.now, self.clock.sleep
        deadline = now() + seconds
        while now() < deadline:
            if until and until():
                return True
            self.tick()
            sleep(min(tick, max(0.0, deadline - now())) or tick)
        return bool(until and until())

    def tick(self) -> None:
        now = self.clock.now()
        if now - self._checked >= CHECK_EVERY_S:
            self._checked = now
            self.world.check({p.fault.target for p in self.pending
                              if p.fault.kind is FaultKind.KILL})
            if self._stopping:
                self.check_stop()
        # Both lists are kept sorted by time: nothing is due unless the first is.
        if self.pending and self.pending[0].due <= now:
            for p in [p for p in self.pending if p.due <= now]:
                self.pending.remove(p)
                self._restore(p)
        if self.actions and self.actions[0][0] <= now:
            for due, action in [a for a in self.actions if a[0] <= now]:
                self.actions.remove((due, action))
                self._act(action)

    # -- the cascade's operator --------------------------------------------------------
    def _schedule_cascade_actions(self) -> None:
        """After the repair: the cascade's remediations switched on, the manager restarted,
        each at its time from the file (none of them while DNS is still broken)."""
        c, now = self.s.cascade, self.clock.now()
        if c is None:
            return
        cascade_on = [m for m in self.s.mitigations if m in CASCADE_MITIGATIONS]
        if c.remediations_after_repair_s is not None and \
                [m for m in cascade_on if m != "restart-manager"]:
            self.actions.append((now + c.remediations_after_repair_s, "remediate"))
        if "restart-manager" in cascade_on and c.restart_after_repair_s is not None:
            self.actions.append((now + c.restart_after_repair_s, "restart-manager"))
        self.actions.sort()

    def _act(self, action: str) -> None:
        self.world.cascade_act(action)
        if action == "restart-manager":
            self.history.append("operator", Kind.MANAGER_RESTARTED,
                                reason="the operator's lever: restart the fleet manager")
        else:
            self.history.append("operator", Kind.REMEDIATIONS_ON, remediations=[
                m for m in self.s.mitigations
                if m in CASCADE_MITIGATIONS and m != "restart-manager"])
        self.echo(f"run: operator {action.replace('-', ' ')}")

    def _restore(self, p: _Pending) -> None:
        self.world.restore(p.index, p.fault)
        self.history.append("faults", Kind.FAULT_ENDED, fault=p.fault.kind.value,
                            target=p.fault.target, index=p.index)

    def steady_state(self) -> tuple[bool, dict]:
        """The hypothesis over one window: failed probes / probes <= max_failed_ratio."""
        self._window = window = [self.clock.now(), 0, 0]
        try:
            self.wait(self.s.steady_state_s)
        finally:
            self._window = None
        if not self.probes:
            return True, {"failed_probes": 0, "total_probes": 0}
        seen = {"failed_probes": window[1], "total_probes": window[2]}
        total = seen["total_probes"]
        return total > 0 and seen["failed_probes"] <= self.s.max_failed_ratio * total, seen

    def check_stop(self) -> None:
        """The stop condition: abort the method when the blast radius passes its bound."""
        bound = self.s.stop_clients_affected_fraction
        if bound is not None and self._clients and \
                len(self._affected) / len(self._clients) > bound:
            raise Aborted(f"stop condition: {len(self._affected)} of {len(self._clients)} "
                          f"clients affected, beyond stop_clients_affected_fraction {bound}")

    def emptied_yet(self) -> bool:
        """Has an endpoint lost its active plan? Kept as events come while they come in
        order; otherwise re-checked after each new deletion."""
        if self._dirty:
            self._dirty = False
            self._fold_plans()
            self._empty = self._plans.impact is not None or self._emptied_pending()
        return self._empty

    def _emptied_pending(self) -> bool:
        """Does a plan event still held for reordering delete an active plan?"""
        self._fold_plans()
        active = dict(self._plans.active)
        for e in self._order.pending():
            if e.kind is Kind.PLAN_DELETED:
                if e.data["generation"] in active.values():
                    return True
            else:
                active[e.data["endpoint"]] = e.data["generation"]
        return False

    # -- the fault timeline -------------------------------------------------------------------
    def timeline(self, start: float, deadline: float) -> None:
        """Inject each fault at its time: ``at_s`` after injection starts, or after the
        fault it depends on (``after``) took effect (``lab.core.verdict``). A fault whose
        time does not come before ``deadline`` is not injected, and the verdict says so
        (not-fired): it never passes silently."""
        waiting = list(enumerate(self.s.faults))
        began: dict[int, float] = {}        # fault index -> time it took effect
        due = _first_due(start, waiting, began)
        while waiting and self.clock.now() < deadline:
            now = self.clock.now()
            if now >= due:                  # some fault's time has come
                for i, timed in list(waiting):
                    base = start if timed.after is None else began.get(timed.after)
                    if base is not None and now >= base + timed.at_s:
                        self._inject(i, timed.fault)
                        waiting.remove((i, timed))
                due = _first_due(start, waiting, began)
            if self._faults_dirty:
                self._faults_dirty = False
                for i, t in fault_firings(self._structure_sorted(), self.s.faults).items():
                    began.setdefault(i, t)
                due = _first_due(start, waiting, began)
            if waiting:
                self.wait(min(TIMELINE_TICK_S, max(0.0, deadline - self.clock.now())) or
                          TIMELINE_TICK_S, tick=TIMELINE_TICK_S)
        for i, timed in waiting:
            self.echo(f"run: fault [{i}] {timed.fault.kind.value} {timed.fault.target} not "
                      "injected: the method ended before its time")

    def _inject(self, index: int, fault: Fault) -> None:
        if fault.kind in CHANNEL_KINDS:
            armed = fault.to_json()
            armed["fault"] = armed.pop("kind")
            self.history.append("runner", Kind.FAULT_ARMED, index=index, **armed)
            self.world.arm(index, fault)
            self.echo(f"run: armed {fault.kind.value} on {fault.target}"
                      + (f" at {fault.step}" if fault.step else ""))
            return
        # Restored by the rollback even if the injection itself fails, and on schedule: its
        # seconds count from when it took effect (a docker pause or kill takes a while on a
        # loaded host; in the simulation no time passes), its start event's time.
        pending = _Pending(math.inf, index, fault)
        self.pending.append(pending)
        self.world.inject(index, fault)
        pending.due = self.clock.now() + fault.seconds
        self.pending.sort(key=lambda p: p.due)
        self.history.append("faults", Kind.FAULT_STARTED, fault=fault.kind.value,
                            target=fault.target, seconds=fault.seconds, index=index)
        self.echo(f"run: {fault.kind.value} {fault.target} for {fault.seconds} s")

    # -- rollback -------------------------------------------------------------------------------
    def _rollback(self) -> None:
        """Always reached: no fault, paused container or worker outlives the run. Container
        faults are restored first (each a FAULT_ENDED event), then the world rolls back."""
        try:
            self.phase(Phase.ROLLBACK)
        except Exception:
            pass
        with self.shield():
            try:
                self.world.disarm()
            except Exception as e:
                self.echo(f"run: rollback: could not clear the run's faults: {e}")
            while self.pending:
                p = self.pending.pop()
                try:
                    self._restore(p)
                except Exception as e:
                    self.echo(f"run: rollback: could not restore {p.fault.kind.value} "
                              f"{p.fault.target}: {e}")
            self.world.roll_back()
