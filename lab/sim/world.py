"""The simulation as a world of the run loop (lab/core/runloop.py): the same planner,
enactors (lab/core/loops.py), plan store and DNS backend decisions (lab/core/memory.py,
lab/core/guard.py) and checkers as the real lab, on a virtual clock.

What stands in for the outside:
- containers are scheduler tasks (lab/sim/sched.py) that start 0.3-0.8 s after they are
  asked for (a container start); pause freezes a task, kill ends it (its locks expire by
  their TTL, as an etcd lease does), a restart is a fresh task;
- every plan-store operation takes 1-3 ms and every DNS backend operation 3-10 ms on
  PowerDNS (an HTTP read and a PATCH), 1-3 ms on CoreDNS (etcd), seeded: each is a
  scheduling point where another worker can run;
- the fault channel is a list the workers consult at the same named steps;
- clients probe as the real probe loop does (phase-spread over one interval, the next probe
  at the later of one interval after the send and the answer), through the resolver model
  or straight to the authoritative model (lab/sim/dnsmodel.py); an answer takes 1 ms, a
  probe nobody answers ends as a timeout after 1 s.
"""

import dataclasses
import math
import random
from functools import partial

from lab.core.clients import IPV6_ENDPOINTS, client_blocks, clients_for
from lab.core.enactor import repair
from lab.core.experiment import (AUTHORITATIVE, ENACTOR_POLL_S, PROBE_TIMEOUT_S,
                                 SERVE_STALE_EXTENSIONS)
from lab.core.faults import Fault, FaultChannel, FaultKind
from lab.core.history import Event, History, Kind
from lab.core.loops import QUIET, enactor_for, enactor_loop, planner_loop
from lab.core.memory import MemoryDns, MemoryPlanStore
from lab.core.plan import DEFAULT_ENDPOINTS
from lab.core.planner import Planner, cascade_fleet
from lab.core.probe import classify
from lab.core.runloop import time_bound
from lab.core.cascade import Cascade
from lab.sim.dnsmodel import NODATA, OK, TIMEOUT, Authoritative, Resolver
from lab.sim.sched import Scheduler, Task

CONTAINER_START_S = (0.3, 0.8)
STORE_OP_S = (0.001, 0.003)
DNS_OP_S = {"powerdns": (0.003, 0.010), "coredns": (0.001, 0.003)}
ANSWER_S = 0.001
CASCADE_ENDPOINT = "dynamodb.us-east-1"   # the regional endpoint the fleet renews through
CASCADE_SERVICE = "198.51.100.45"         # the lease service's address in the simulation
CASCADE_TICK_S = 0.5                     # the fleet task catches up this often (the model
#                                          steps by its own step_s in between)


class SimClock:
    """The run loop's clock in the simulation: ``sleep`` runs the world for that long."""

    def __init__(self, sched: Scheduler):
        self.sched = sched
        # Read many times a step (every event's stamp): C callables, no Python frame each.
        self.now = partial(getattr, sched, "now")
        self.sleep = sched.sleep

    def now(self) -> float:
        return self.sched.now

    def sleep(self, seconds: float) -> None:
        self.sched.sleep(seconds)


class SimFaults(FaultChannel):
    """The fault channel: armed faults, consumed one firing at a time at the named steps
    (the same rules as the etcd channel, lab/faults.py). Every named step of an enactor is
    a scheduling point (``step_yield``), fault or not."""

    def __init__(self, step_yield=lambda: None):
        self.armed: list[Fault] = []
        self.step_yield = step_yield

    def take(self, kind: FaultKind, target: str, step=None, endpoint=None) -> Fault | None:
        for i, fault in enumerate(self.armed):
            if fault.fires_for(kind, target, step, endpoint):
                spent = fault.spent()
                if spent.times > 0:
                    self.armed[i] = spent
                else:
                    del self.armed[i]
                return fault
        return None

    def delay(self, enactor: str, step: str, endpoint: str | None = None) -> float:
        self.step_yield()
        return super().delay(enactor, step, endpoint) if self.armed else 0.0


READS = frozenset({"newest", "get", "generations", "applied", "intact", "addresses"})
ARITY = {"newest": 0, "generations": 0, "get": 1, "applied": 1, "intact": 1, "addresses": 1}


class _Slow:
    """A plan store or DNS backend whose every operation takes a seeded while. A write (or
    lock operation) happens after its while: a scheduling point where another worker can
    run. A read is an instant snapshot whose while is paid at the worker's next sleep
    (``Task.debt``): time passes as it does on the real lab, so workers that poll
    on the same period do not stay locked in one phase, without a scheduling point per
    read."""

    def __init__(self, inner, sched: Scheduler, rng: random.Random, span: tuple[float, float],
                 writes: list[int]):
        self._inner = inner
        lo, width = span[0], span[1] - span[0]
        span = (lo, width)
        draw, sleep = rng.random, sched.sleep

        def slow(method):
            def call(*args, **kwargs):
                sleep(lo + width * draw())
                writes[0] += 1         # whatever it changed, a quiet pass is not repeated
                return method(*args, **kwargs)
            return call

        def timed(method):       # reads are most calls: kept to few attribute lookups
            def call(*args):
                task = sched.current
                if task is not None:
                    task.debt += lo + width * draw()
                    if task.spans is not None:
                        task.spans.append(span)
                return method(*args)

            def call0():         # the same, for the reads without arguments ...
                task = sched.current
                if task is not None:
                    task.debt += lo + width * draw()
                    if task.spans is not None:
                        task.spans.append(span)
                return method()

            def call1(arg):      # ... and with one (an endpoint, a generation)
                task = sched.current
                if task is not None:
                    task.debt += lo + width * draw()
                    if task.spans is not None:
                        task.spans.append(span)
                return method(arg)
            return {0: call0, 1: call1}.get(ARITY.get(method.__name__), call)
        for name in dir(inner):
            attr = getattr(inner, name)
            if not name.startswith("_") and callable(attr):
                setattr(self, name, timed(attr) if name in READS else slow(attr))

    def __getattr__(self, name):
        return getattr(self._inner, name)


class SimWorld:
    """``probes`` False: the control plane only (no clients), for fast schedule search."""

    repeat_quiet_passes = True    # False: every idle poll runs (the same results, slower)

    def __init__(self, scenario, sched: Scheduler, *, probes: bool = True):
        self.s = scenario
        self.sched = sched
        self.probes = probes
        self.rng = random.Random(f"sim/{scenario.seed}")   # latencies and worker starts
        # Clients draw from their own stream, so the control plane runs the same with
        # clients or without (the fast path of schedule search replays as a full run).
        self.client_rng = random.Random(f"sim/{scenario.seed}/clients")
        self._clients_ready_at: float | None = None
        self.tasks: dict[str, Task] = {}
        self.sink_error = lambda: None
        self.stopped = False

    # -- set-up ------------------------------------------------------------------------------
    def set_up(self, history: History) -> list:
        s = self.s
        self.history = history
        self.store = MemoryPlanStore(clock=partial(getattr, self.sched, "now"))
        self.dns = MemoryDns()
        self.faults = SimFaults(lambda: self.sched.sleep(0.0))
        self.auth = Authoritative(self.dns, backend=s.backend, alias=s.alias,
                                  empty_answer=s.empty_answer, record_ttl_s=s.record_ttl_s,
                                  negative_ttl_s=s.effective_negative_ttl_s)
        self.resolver = Resolver(self.auth, serve_stale_extensions=SERVE_STALE_EXTENSIONS
                                 if "serve-stale" in s.mitigations else 0)
        self.writes = [0]        # plan-store and DNS writes so far (both count)
        self.slow_store = _Slow(self.store, self.sched, self.rng, STORE_OP_S, self.writes)
        self.slow_dns = _Slow(self.dns, self.sched, self.rng, DNS_OP_S[s.backend], self.writes)
        return []

    def _start(self, name: str, fn) -> None:
        lo, hi = CONTAINER_START_S
        self.tasks[name] = self.sched.spawn(name, fn, delay=lo + (hi - lo) * self.rng.random())

    # -- workers ------------------------------------------------------------------------------
    def _planner(self) -> None:
        s = self.s
        # With a cascade the regional endpoint leads to the lease service, as in the lab
        # (one always-healthy load balancer: lab/core/planner.py cascade_fleet).
        planner = Planner(self.slow_store, self.history, random.Random(s.seed),
                          fleet=cascade_fleet((CASCADE_SERVICE,)) if s.cascade else None)
        planner_loop(planner, self.history, SimClock(self.sched), period_s=s.planner_period_s,
                     max_seconds=time_bound(s), burst=self.faults.burst)

    def _enactor(self, name: str):
        s = self.s

        def run() -> None:
            enactor = enactor_for(name, self.slow_store, self.slow_dns, self.history,
                                  sleep=self.sched.sleep, random=self.rng.random,
                                  faults=self.faults,
                                  keep=s.keep_generations, mitigations=s.mitigations,
                                  interlock_max_removed=s.interlock_max_removed_fraction)
            bound = time_bound(s)
            if self.repeat_quiet_passes:
                self._repeat_quiet_passes(enactor, bound)
            enactor_loop(enactor, self.history, SimClock(self.sched), poll_s=ENACTOR_POLL_S,
                         max_seconds=bound)
        return run

    def _repeat_quiet_passes(self, enactor, max_seconds: float) -> None:
        """An idle enactor's polls, without running them: after a quiet pass (nothing newer,
        no write, no scheduling point in it), while no plan-store or DNS write has happened
        the next pass would read the same, find the same and record nothing (the enactor
        records a quiet check once). So when its poll comes, the scheduler only draws the
        pass's read latencies (the same draws from the same generator, in the same order)
        and schedules the poll after; a write since makes it run the pass for real. Results
        are those of running every poll, event for event (checked: tests/unit/test_sim.py)."""
        sched, writes, draw = self.sched, self.writes, self.rng.random
        task, start, inner = sched.current, sched.now, enactor.run_once
        poll_s = ENACTOR_POLL_S

        def run_once():
            task.repeat, yields, spans = None, sched.yields, []
            task.spans = spans
            try:
                result = inner()
            finally:
                task.spans = None
            if result in QUIET and sched.yields == yields:
                task.repeat = partial(repeat, tuple(spans), writes[0])
            return result

        def repeat(spans, seen: int) -> float | None:
            now = sched.now
            if writes[0] != seen or now - start >= max_seconds:
                return None          # something changed, or the loop ends: run for real
            debt = 0.0
            for lo, width in spans:
                debt += lo + width * draw()
            seconds = poll_s + debt
            return now + seconds if seconds > 0 else now
        enactor.run_once = run_once

    def _worker(self, name: str):
        return self._planner if name == "planner" else self._enactor(name)

    def start_control_plane(self) -> None:
        self._start("planner", self._planner)
        for name in self.s.enactors:
            self._start(name, self._enactor(name))

    # -- clients ------------------------------------------------------------------------------
    def start_clients(self) -> None:
        s = self.s
        endpoints = list(DEFAULT_ENDPOINTS)
        lo, hi = CONTAINER_START_S
        ready = self.sched.now
        for j, (first, count) in enumerate(client_blocks(s.clients, s.prober_containers)):
            source = f"clients-{j + 1}"
            start = self.sched.now + lo + (hi - lo) * self.client_rng.random()
            if not self.probes:
                # The control plane only: no clients to lay out, only when the last of this
                # block's ``count`` would send its first probe (the same sums as below).
                for i in range(count):
                    ready = max(ready, start + s.client_interval_s * i / max(1, count))
                continue
            clients = clients_for(first, count, endpoints, IPV6_ENDPOINTS)
            for i, c in enumerate(clients):
                first_probe = start + s.client_interval_s * i / max(1, len(clients))
                ready = max(ready, first_probe)
                self.sched.at(first_probe, self._prober(c, source))
        self._clients_ready_at = ready

    def clients_ready(self) -> bool:
        """Whether every client has sent its first probe, with clients or without: the run
        loop waits on it in the control-plane-only path, so injection starts when it would
        in a full run."""
        return self._clients_ready_at is not None and self.sched.now >= self._clients_ready_at

    def _prober(self, c, source: str):
        """One client's probes, each scheduling the next."""
        s, sched, add = self.s, self.sched, self.history.add
        name = c.endpoint                       # the models name endpoints as the backend does
        interval, direct = s.client_interval_s, c.group == "direct"
        fixed = {"client": c.id, "group": c.group, "endpoint": c.endpoint}

        def probe() -> None:
            if self.stopped:
                return
            sent = sched.now
            if direct:
                rcode, count = self.auth.resolve(name, c.rdtype)
            else:
                rcode, count = self.resolver.resolve(name, c.rdtype, sent)
            if rcode == TIMEOUT:
                done, outcome, shown = sent + PROBE_TIMEOUT_S, "timeout", "none"
            else:
                shown = "NOERROR" if rcode == NODATA else rcode
                done, outcome = sent + ANSWER_S, classify(shown, count).value
            add(Event(done, source, Kind.PROBE, {
                **fixed, "outcome": outcome, "rcode": shown, "addresses": count,
                "latency_ms": round((done - sent) * 1000, 2)}))
            sched.at(max(sent + interval, done), probe)
        return probe

    # -- the cascade ---------------------------------------------------------------------------
    def start_cascade(self) -> None:
        """The lease service and the fleet manager (lab/core/cascade.py), stepped on the
        virtual clock as one task; the manager looks the regional endpoint up through the
        resolver model, as the real one asks the lab's recursor."""
        self._start("fleet-manager", self._fleet)

    def _fleet(self) -> None:
        s, sched, add = self.s, self.sched, self.history.add
        setup = s.cascade
        params = setup.params_for(s.mitigations)
        start = sched.now
        seen = {"ok": None}

        def resolves(t: float) -> bool:
            rcode, count = self.resolver.resolve(CASCADE_ENDPOINT, "A", start + t)
            ok = rcode == OK and count > 0
            if ok != seen["ok"]:
                seen["ok"] = ok
                add(Event(start + t, "fleet-manager", Kind.CASCADE_DNS,
                          {"ok": ok, "addresses": count}))
            return ok
        model = Cascade(params, resolves=resolves,
                        random=random.Random(f"sim/{s.seed}/fleet").random)
        if setup.remediations_after_repair_s is not None:
            model.remediate_step = math.inf          # the operator switches them on
        model.restart_step = None                    # the operator restarts the manager
        self.cascade = model
        emitted = 0
        while not self.stopped:
            model.advance_to(sched.now - start)
            for w in model.windows[emitted:]:
                data = dataclasses.asdict(w)
                add(Event(start + w.t1, "fleet-manager", Kind.CASCADE_WINDOW, data))
                add(Event(start + w.t1, "lease-service", Kind.SERVICE_WINDOW, {
                    "t0": w.t0, "t1": w.t1, "useful_units": w.service_useful_units,
                    "wasted_units": w.service_wasted_units,
                    "shed_units": w.service_shed_units, "queue_units": w.service_queue_units,
                    "goodput": w.service_goodput}))
            emitted = len(model.windows)
            sched.sleep(CASCADE_TICK_S)

    def cascade_act(self, action: str) -> None:
        model = getattr(self, "cascade", None)
        if model is None:
            return
        if action == "restart-manager":
            model.restart_step = model.step_no + 1
        else:
            model.remediate_step = model.step_no + 1

    # -- faults -------------------------------------------------------------------------------
    def arm(self, index: int, fault: Fault) -> None:
        self.faults.armed.append(fault)

    def inject(self, index: int, fault: Fault) -> None:
        if fault.kind is FaultKind.PAUSE and fault.target == AUTHORITATIVE:
            self.auth.paused = True
        elif fault.kind is FaultKind.PAUSE:
            self.sched.pause(self.tasks[fault.target])
        elif fault.kind is FaultKind.KILL:
            self.sched.kill(self.tasks[fault.target])

    def restore(self, index: int, fault: Fault) -> None:
        if fault.kind is FaultKind.PAUSE and fault.target == AUTHORITATIVE:
            self.auth.paused = False
        elif fault.kind is FaultKind.PAUSE:
            self.sched.thaw(self.tasks[fault.target])
        elif fault.kind is FaultKind.KILL and not self.stopped and \
                self.tasks[fault.target].dead:
            # A restart of a worker already running again (two kills of one worker, the
            # second before the first's restart) is a no-op, as `docker start` is on a
            # running container: one planner, never two.
            self._start(fault.target, self._worker(fault.target))

    def repair(self) -> int | None:
        return repair(self.slow_store, self.slow_dns, self.history)

    def check(self, killed: set[str]) -> None:
        self.sink_error()

    # -- rollback -------------------------------------------------------------------------------
    def disarm(self) -> None:
        if hasattr(self, "faults"):
            self.faults.armed.clear()

    def roll_back(self) -> None:
        self.stopped = True
        for task in self.tasks.values():
            task.paused = False
            self.sched.kill(task)
