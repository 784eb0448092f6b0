"""The run loop: one scenario against the real lab, in named phases, with rollback always
reached (also on Ctrl-C, SIGTERM and exceptions). Everything that happens lands in one
history; summary.json and the verdict are derived from it.

    SETUP -> START -> STEADY -> INJECT -> OBSERVE -> REPAIR -> RECOVER -> (ROLLBACK) -> DECIDE
"""

import math

import dns.exception
import dns.message
import dns.query
import signal
import threading
import time
import uuid
from contextlib import contextmanager
from enum import Enum
from pathlib import Path

from lab import config
from lab.backends import SERVICES, plans_backend
from lab import results
from lab.core.blast import emptied, outage, summarize
from lab.core.enactor import repair
from lab.core.faults import CHANNEL_KINDS, FaultKind
from lab.core.history import History, Kind
from lab.core.plan import DEFAULT_ENDPOINTS
from lab.core.ports import TransientError
from lab.core.verdict import Verdict, fault_firings
from lab.errors import LabError
from lab.etcd import EtcdGateway
from lab.eventlog import JsonLines, write_events
from lab.faults import EtcdFaults, RunLease, active_run
from lab.planstore.etcd import EtcdPlanStore
from lab.runtime import Workers, guard
from lab.scenario import AUTHORITATIVE, Scenario

IPV6_ENDPOINTS = {"dynamodb.us-east-1.api"}
PLANNER_HOST, FIRST_ENACTOR_HOST, FIRST_PROBER_HOST, STALE_RESOLVER_HOST = 40, 41, 31, 39
RESOLVER_IMAGE = "dnslab/recursor:dev"
SERVE_STALE_EXTENSIONS = 20      # pdns-recursor: serve an expired record up to 20 x 30 s
METRICS_PORT = 9100


STRUCTURAL = (Kind.ENDPOINT_APPLIED, Kind.REPAIRED, Kind.PLAN_DELETED, Kind.FAULT_STARTED,
              Kind.FAULT_ARMED)
LAST_PHASE = "steady-state-after"    # a history without it ends before the run did


class Phase(str, Enum):
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


class Aborted(Exception):
    """The run cannot go on (steady state not met, a worker died); message says why."""


@contextmanager
def sigterm_as_interrupt():
    previous = signal.getsignal(signal.SIGTERM)

    def handler(signum, frame):
        raise KeyboardInterrupt("SIGTERM")

    try:
        signal.signal(signal.SIGTERM, handler)
    except ValueError:  # not the main thread
        previous = None
    try:
        yield
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


@contextmanager
def signals_ignored():
    """A second Ctrl-C or SIGTERM must not cut the rollback short."""
    saved = {}
    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            saved[sig] = signal.signal(sig, signal.SIG_IGN)
        except ValueError:  # not the main thread
            pass
    try:
        yield
    finally:
        for sig, handler in saved.items():
            signal.signal(sig, handler)


class _Sink:
    """The run's events.jsonl, written as events arrive (a crash loses at most one), and the
    run loop's index of structural events. A write error (full disk) is kept, not raised in
    a worker's log thread: the run loop turns it into an error and still rolls back."""

    def __init__(self, stream, index):
        self.lines = JsonLines(stream)
        self.index = index
        self.error: OSError | None = None

    def __call__(self, event) -> None:
        if self.error is None:
            try:
                self.lines(event)
            except OSError as e:
                self.error = e
        self.index(event)


class Runner:
    """One run of ``scenario``: ``run()`` returns its summary. ``lease`` is the run lock,
    which the caller takes before anything is set up and may hold for several runs (a
    suite, a comparison): a refused run never reaches a Runner."""

    def __init__(self, scenario: Scenario, out_dir: Path, stack, *, lease: RunLease,
                 echo=print, experiment: dict | None = None):
        self.s = scenario
        self.out = Path(out_dir)
        self.stack = stack
        self.echo = echo
        self.lease = lease
        self.experiment = experiment or {}
        self.run_id = time.strftime("%Y%m%dT%H%M%S") + "-" + uuid.uuid4().hex[:6]

    # -- helpers -------------------------------------------------------------------------
    def phase(self, phase: Phase) -> None:
        self.history.append("runner", Kind.PHASE, phase=phase.value)
        self.echo(f"run: {phase.value}")

    def _wait(self, seconds: float, until=None) -> bool:
        """Sleep up to ``seconds`` (in small steps); True as soon as ``until()`` holds."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if until and until():
                return True
            self._tick()
            time.sleep(0.1)
        return bool(until and until())

    def _tick(self) -> None:
        """Carry out container-fault restorations that are due; notice dead workers, a lost
        run lease and a history that can no longer be written."""
        now = time.monotonic()
        if self.lease.lost:
            raise Aborted(f"the run lock was lost: {self.lease.lost}")
        if self._sink.error is not None:
            raise LabError(f"cannot write {self.staging / 'events.jsonl'}: "
                           f"{self._sink.error.strerror or self._sink.error}; free space there")
        if now - getattr(self, "_checked", 0) > 1.0 and hasattr(self, "workers"):
            self._checked = now
            killed = {target for _, kind, target, _ in self.pending if kind is FaultKind.KILL}
            for name, why in self.workers.dead(exclude=killed):
                raise Aborted(f"worker {name} exited: {why}")
            if self._stopping:
                self._check_stop()
        for item in [p for p in self.pending if p[0] <= now]:
            self.pending.remove(item)
            self._restore(*item[1:])

    def _restore(self, kind: FaultKind, target: str, index: int | None) -> None:
        if kind is FaultKind.PAUSE and target == AUTHORITATIVE:
            server = guard(self.stack.container(SERVICES[self.s.backend].server))
            server.reload()
            if server.status == "paused":
                server.unpause()
        elif kind is FaultKind.PAUSE:
            self.workers.unpause(target)
        elif kind is FaultKind.KILL:
            self.workers.restart(target, self._on_event)
        self.history.append("faults", Kind.FAULT_ENDED, fault=kind.value, target=target,
                            index=index)

    # -- the run -------------------------------------------------------------------------
    def run(self) -> dict:
        self.staging = results.stage(self.out, self.run_id)
        return self._run_and_decide()

    def _run_and_decide(self) -> dict:
        try:
            events_file = open(self.staging / "events.jsonl", "w")
        except OSError as e:
            raise LabError(f"cannot write {self.staging / 'events.jsonl'}: {e.strerror}") from None
        self.pending: list[tuple[float, FaultKind, str, int | None]] = []
        self._structure: list = []
        self._structure_lock = threading.Lock()
        self._sink = _Sink(events_file, self._index)
        self.history = History(time.time, self._sink)
        self._dirty, self._empty = False, False
        self._clients: set = set()
        self._affected: set = set()
        self._stopping = False
        self.steady_after = None
        status, reason = None, None
        try:
            with sigterm_as_interrupt():
                try:
                    self._method()
                except KeyboardInterrupt as e:
                    status, reason = Verdict.ABORTED.value, f"interrupted ({e or 'SIGINT'})"
                except Aborted as e:
                    status, reason = Verdict.ABORTED.value, str(e)
                except (LabError, TransientError) as e:
                    status, reason = Verdict.ERROR.value, str(e)
                except Exception as e:  # a crash is an error verdict, never a pass
                    status, reason = Verdict.ERROR.value, f"{type(e).__name__}: {e}"
                finally:
                    self._rollback()
        finally:
            try:
                events_file.close()
            except OSError:
                pass
        self.echo(f"run: {Phase.DECIDE.value}")
        if self._sink.error is not None and status is None:
            status = Verdict.ERROR.value
            reason = (f"cannot write {self.staging / 'events.jsonl'}: "
                      f"{self._sink.error.strerror or self._sink.error}")
        # The verdict comes from the history in memory; events.jsonl mirrors it.
        events = sorted(self.history.events(), key=lambda e: e.t)
        summary = summarize(events, backend=self.s.backend, seed=self.s.seed, status=status,
                            reason=reason, faults=self.s.faults, expected=self.s.expect,
                            max_failed_ratio=self.s.max_failed_ratio, last_phase=LAST_PHASE,
                            steady_state_after=self.steady_after,
                            title=self.s.title, run_id=self.run_id,
                            experiment=self.experiment,
                            empty_answer=self.s.empty_answer, alias=self.s.alias,
                            mitigations=list(self.s.mitigations),
                            duration_s=self.s.duration_s,
                            record_ttl_s=self.s.record_ttl_s,
                            negative_ttl_s=self.s.effective_negative_ttl_s,
                            requested_negative_ttl_s=self.s.negative_ttl_s)
        results.write_run(self.staging, summary, events, echo=self.echo)
        results.publish(self.staging, self.out)
        return summary

    def _method(self) -> None:
        s = self.s
        self.phase(Phase.SETUP)
        client = self.stack.client
        services = SERVICES[s.backend]
        auth = self.stack.address(services.server)
        resolver = self.stack.address(services.resolver)
        store_address = self.stack.address("plan-store")
        zone_store = self.stack.address("zone-store")
        pdns = self.stack.address("pdns-auth")
        api_key = self.stack.secret("pdns-api-key")
        net_prefix = store_address.rsplit(".", 1)[0]
        etcd = EtcdGateway(store_address)
        # We hold the run lock: what other runs left is abandoned, and is cleared first.
        clear_leftovers(Workers(client, run_id=self.run_id, net_prefix=net_prefix,
                                scoped=False), EtcdFaults(etcd))
        self.workers = Workers(client, run_id=self.run_id, net_prefix=net_prefix)
        self.faults = EtcdFaults(etcd, self.run_id)
        self.store = EtcdPlanStore(store_address)
        self.backend = plans_backend(s.backend, config.ZONE, empty_answer=s.empty_answer,
                                     ttl=s.record_ttl_s, alias=s.alias, pdns_address=pdns,
                                     pdns_api_key=api_key, zone_store_address=zone_store)
        self.backend.reset(DEFAULT_ENDPOINTS, s.negative_ttl_s)
        self.store.reset()
        if s.effective_negative_ttl_s != s.negative_ttl_s:
            self.echo(f"run: {s.backend} fixes the negative TTL at {s.effective_negative_ttl_s} s"
                      f" (the experiment asks {s.negative_ttl_s} s)")
        self.stack.container(services.resolver).exec_run(
            ["rec_control", "--socket-dir=/var/run/pdns-recursor", "wipe-cache", f"{config.ZONE}$"])
        if "serve-stale" in s.mitigations:
            resolver = self._start_stale_resolver(auth)

        self.phase(Phase.START)
        bound = str(int(self._time_bound()))
        self.workers.start("planner", ["planner", "--store", store_address, "--seed", str(s.seed),
                                       "--period", str(s.planner_period_s), "--max-seconds", bound,
                                       "--metrics-port", str(METRICS_PORT)], PLANNER_HOST, {})
        self.workers.follow("planner", self._on_event)
        for i, name in enumerate(s.enactors):
            self.workers.start(name, [
                "enactor", "--name", name, "--store", store_address, "--backend", s.backend,
                "--auth", pdns, "--zone-store", zone_store,
                "--safeguards", ",".join(s.mitigations) or "none",
                "--interlock-max-removed", str(s.interlock_max_removed_fraction),
                "--keep", str(s.keep_generations), "--empty-answer", s.empty_answer,
                "--alias", s.alias,
                "--ttl", str(s.record_ttl_s), "--max-seconds", bound,
                "--metrics-port", str(METRICS_PORT)],
                FIRST_ENACTOR_HOST + i, {"PDNS_API_KEY_FILE": "/run/secrets/pdns-api-key"})
            self.workers.follow(name, self._on_event)
        endpoints = set(DEFAULT_ENDPOINTS)
        if not self._wait(60, lambda: endpoints <= {e.data["endpoint"] for e in self._structure
                                                   if e.kind is Kind.ENDPOINT_APPLIED}):
            raise Aborted("the enactors did not apply a first plan to every endpoint within 60 s;"
                          " see `docker logs dnslab-worker-enactor-a`")
        per = math.ceil(s.clients / s.prober_containers)
        for j in range(s.prober_containers):
            first, count = j * per, min(per, s.clients - j * per)
            if count <= 0:
                break
            name = f"clients-{j + 1}"
            self.workers.start(name, [
                "clients", "--first", str(first), "--count", str(count), "--source", name,
                "--resolver", resolver, "--auth", auth, "--interval", str(s.client_interval_s),
                "--max-seconds", bound, "--metrics-port", str(METRICS_PORT)],
                FIRST_PROBER_HOST + j, {})
            self.workers.follow(name, self._on_event)
        if not self._wait(30, lambda: len({e.data["client"] for e in
                                           self.history.events(Kind.PROBE)}) >= s.clients):
            raise Aborted(f"not all {s.clients} clients probed within 30 s")

        self.phase(Phase.STEADY)
        held, seen = self._steady_state()
        if not held:
            raise Aborted(f"steady state not met before injection: {seen['failed_probes']} of "
                          f"{seen['total_probes']} probes failed in {s.steady_state_s} s "
                          f"(tolerance {s.max_failed_ratio:.0%})")

        self.phase(Phase.INJECT)
        self._stopping = True
        start = time.monotonic()
        is_empty = self._emptied_yet
        self._timeline(start, start + s.duration_s)
        self._wait(max(0.0, start + s.duration_s - time.monotonic()), until=is_empty)

        self.phase(Phase.OBSERVE)
        if is_empty():
            self._wait(s.hold_stuck_s)
            if s.repair:
                self.phase(Phase.REPAIR)
                self._stopping = False
                generation = repair(self.store, self.backend, self.history)
                self.echo(f"run: operator repair pointed every endpoint at plan {generation}")
                self.phase(Phase.RECOVER)
                self._wait(s.recovery_window_s)
        else:
            self._wait(2 * s.client_interval_s + 1)
        while self.pending:
            self._wait(0.2)
        self.phase(Phase.STEADY_AFTER)
        held, seen = self._steady_state()
        self.steady_after = {"held": held, "failed_probes": seen["failed_probes"],
                             "total_probes": seen["total_probes"], "window_s": s.steady_state_s}

    def _start_stale_resolver(self, authoritative: str) -> str:
        """Client side: the resolver group asks a pdns-recursor with serve-stale on, started
        for this run (a worker from the recursor image) and forwarding to the backend."""
        self.workers.start("resolver-stale", None, STALE_RESOLVER_HOST, {
            "LAB_AUTH_ADDRESS": authoritative, "LAB_ZONE": config.ZONE,
            "LAB_RESOLVER_SERVE_STALE_EXTENSIONS": str(SERVE_STALE_EXTENSIONS)},
            image=RESOLVER_IMAGE)
        address = f"{self.workers.net_prefix}.{STALE_RESOLVER_HOST}"

        def answers() -> bool:
            try:
                dns.query.udp(dns.message.make_query(config.ZONE, "SOA"), address, timeout=0.5)
                return True
            except (OSError, dns.exception.DNSException):
                return False
        if not self._wait(30, answers):
            raise Aborted("the serve-stale resolver did not answer within 30 s; see "
                          "`docker logs dnslab-worker-resolver-stale`")
        self.echo(f"run: resolver clients ask a serve-stale resolver at {address}")
        return address

    def _steady_state(self) -> tuple[bool, dict]:
        """The hypothesis over one window: failed probes / probes <= max_failed_ratio."""
        began = time.time()
        self._wait(self.s.steady_state_s)
        seen = outage([e for e in self.history.events(Kind.PROBE) if e.t >= began])
        total = seen["total_probes"]
        held = total > 0 and seen["failed_probes"] <= self.s.max_failed_ratio * total
        return held, seen

    def _check_stop(self) -> None:
        """Stop conditions: abort the method when the blast radius passes its bound."""
        bound = self.s.stop_clients_affected_fraction
        if bound is not None and self._clients and \
                len(self._affected) / len(self._clients) > bound:
            raise Aborted(f"stop condition: {len(self._affected)} of {len(self._clients)} "
                          f"clients affected, beyond stop_clients_affected_fraction {bound}")

    def _on_event(self, event) -> None:
        """A worker's event: into the history (whose sink also indexes it)."""
        self.history.add(event)

    def _index(self, event) -> None:
        """Every event, the runner's own too: clients seen and affected (stop condition);
        structural ones into a short index the run loop polls (probes are most of a
        history and never matter to those polls)."""
        if event.kind is Kind.PROBE:
            self._clients.add(event.data.get("client"))
            if event.data.get("outcome") != "ok":
                self._affected.add(event.data.get("client"))
        elif event.kind in STRUCTURAL:
            with self._structure_lock:
                self._structure.append(event)
                if event.kind is Kind.PLAN_DELETED:
                    self._dirty = True

    def _emptied_yet(self) -> bool:
        """Has an endpoint lost its active plan? Re-checked only after a new deletion."""
        if self._dirty:
            with self._structure_lock:
                self._dirty = False
                events = sorted(self._structure, key=lambda e: e.t)
            self._empty = emptied(events) is not None
        return self._empty

    def _timeline(self, start: float, deadline: float) -> None:
        """Inject each fault at its time: ``at_s`` after injection starts, or after the
        fault it depends on (``after``) actually took effect (``lab.core.verdict``). A fault
        whose time does not come before ``deadline`` is not injected, and the verdict says
        so (not-fired): it never passes silently."""
        waiting = list(enumerate(self.s.faults))
        began: dict[int, float] = {}        # fault index -> monotonic time it took effect
        while waiting and time.monotonic() < deadline:
            for i, timed in list(waiting):
                base = start if timed.after is None else began.get(timed.after)
                if base is not None and time.monotonic() >= base + timed.at_s:
                    self._inject(i, timed.fault)
                    waiting.remove((i, timed))
            with self._structure_lock:
                fired = fault_firings(sorted(self._structure, key=lambda e: e.t), self.s.faults)
            for i in fired:
                began.setdefault(i, time.monotonic())
            self._wait(0.05)
        for i, timed in waiting:
            self.echo(f"run: fault [{i}] {timed.fault.kind.value} {timed.fault.target} not "
                      "injected: the method ended before its time")

    def _inject(self, index: int, fault) -> None:
        if fault.kind in CHANNEL_KINDS:
            armed = fault.to_json()
            armed["fault"] = armed.pop("kind")
            self.history.append("runner", Kind.FAULT_ARMED, index=index, **armed)
            self.faults.inject(fault, lease=self.lease.id)
            self.echo(f"run: armed {fault.kind.value} on {fault.target}"
                      + (f" at {fault.step}" if fault.step else ""))
            return
        # Restored on schedule, and by the rollback even if the injection itself fails.
        self.pending.append((time.monotonic() + fault.seconds, fault.kind, fault.target, index))
        if fault.kind is FaultKind.PAUSE and fault.target == AUTHORITATIVE:
            guard(self.stack.container(SERVICES[self.s.backend].server)).pause()
        elif fault.kind is FaultKind.PAUSE:
            self.workers.pause(fault.target)
        elif fault.kind is FaultKind.KILL:
            self.workers.kill(fault.target)
        self.history.append("faults", Kind.FAULT_STARTED, fault=fault.kind.value,
                            target=fault.target, seconds=fault.seconds, index=index)
        self.echo(f"run: {fault.kind.value} {fault.target} for {fault.seconds} s")

    def _time_bound(self) -> float:
        """Longest a run can last: workers and faults expire by themselves after it."""
        s = self.s
        faults = max((f.fault.seconds for f in s.faults), default=0)   # all start by duration_s
        return 180 + s.steady_state_s + s.duration_s + faults + s.hold_stuck_s + \
            s.recovery_window_s

    def _rollback(self) -> None:
        """Always reached: no fault, paused container or worker outlives the run."""
        try:
            self.phase(Phase.ROLLBACK)
        except Exception:
            pass
        with signals_ignored():
            self._rollback_steps()

    def _rollback_steps(self) -> None:
        """Only this run's faults, pauses and workers: another run's are never touched."""
        if not hasattr(self, "workers"):
            return
        steps = [("clear the run's faults", lambda: self.faults.clear()),
                 ("restore container faults", self._restore_all),
                 ("unpause the run's workers", lambda: self.workers.unpause_all()),
                 ("stop workers", lambda: self.workers.stop_all()),
                 ("collect worker events", lambda: self.workers.drain()),
                 ("remove workers", lambda: self.workers.remove_all())]
        for what, step in steps:
            try:
                step()
            except Exception as e:
                self.echo(f"run: rollback: could not {what}: {e}")

    def _restore_all(self) -> None:
        while self.pending:
            _, kind, target, index = self.pending.pop()
            self._restore(kind, target, index)


def clear_leftovers(workers: Workers, faults: EtcdFaults | None) -> list[str]:
    """Unpause the lab's containers, remove its workers, empty the fault channel; what was
    done, as phrases. Used by a run's set-up and by recovery after a killed run."""
    done = [f"unpaused {name}" for name in workers.unpause_everything()]
    done += [f"removed {name}" for name in workers.remove_all()]
    if faults is not None:
        try:
            if n := faults.clear():
                done.append(f"cleared {n} fault(s)")
        except (LabError, TransientError):
            pass
    return done


def recover_abandoned(stack, echo=print) -> list[str]:
    """Undo what a run killed outright (SIGKILL, power loss) left behind: paused lab
    containers, worker containers, faults in the channel. Does nothing while a live run holds
    the run lease. Called by every `dnslab` command that drives the lab."""
    from lab.errors import StackNotUp
    try:
        etcd = EtcdGateway(stack.address("plan-store"))
    except StackNotUp:
        etcd = None      # no plan store, so no live run: whatever is left is abandoned
    if etcd is not None:
        try:
            if active_run(etcd):
                return []
        except (LabError, TransientError) as e:
            echo(f"dnslab: the plan store does not answer ({e}); cannot tell whether a run is "
                 "live, so nothing of a run was recovered")
            return []
    done = clear_leftovers(Workers(stack.client, run_id="recovery", net_prefix="",
                                   scoped=False),
                           EtcdFaults(etcd) if etcd is not None else None)
    if done:
        echo(f"dnslab: recovered from an interrupted run: {'; '.join(done)}")
    return done
