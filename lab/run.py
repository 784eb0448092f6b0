"""The real lab as a world of the run loop (lab/core/runloop.py): worker containers, the
etcd fault channel, docker pause and kill, the real DNS backends and resolver. The loop
decides every phase and every time; this module only carries it out. Ctrl-C and SIGTERM
abort the method and the rollback is shielded from a second signal.
"""

import signal
import time
import uuid
from contextlib import contextmanager
from pathlib import Path

import dns.exception
import dns.message
import dns.query

from lab import config
from lab.backends import SERVICES, plans_backend
from lab.core.enactor import repair
from lab.core.experiment import (DNS_MITIGATIONS, ENACTOR_POLL_S, MAX_DURATION_S,
                                 PROBE_TIMEOUT_S, SERVE_STALE_EXTENSIONS)
from lab.core.faults import FaultKind
from lab.core.plan import DEFAULT_ENDPOINTS
from lab.core.ports import TransientError
from lab.core.clients import client_blocks
from lab.core import components
from lab.core.history import Kind
from lab.core.runloop import Aborted, time_bound
from lab.errors import LabError
from lab.etcd import EtcdGateway
from lab.execute import execute
from lab.faults import EtcdFaults, RunLease, active_run
from lab.planstore.etcd import EtcdPlanStore
from lab.runtime import LogFollower, ScrapeTargets, Workers, guard
from lab.scenario import AUTHORITATIVE, Scenario
from lab import workerspec
from lab.workerspec import (ClientsSpec, EnactorSpec, FleetManagerSpec, LeaseServiceSpec,
                            PlannerSpec)

PLANNER_HOST, FIRST_ENACTOR_HOST, FIRST_PROBER_HOST, STALE_RESOLVER_HOST = 40, 41, 31, 39
LEASE_SERVICE_HOST, FLEET_MANAGER_HOST, LEASE_PORT = 45, 46, 7400   # the cascade's
CASCADE_ENDPOINT = "dynamodb.us-east-1"   # the regional endpoint the fleet renews through
RESOLVER_IMAGE = "dnslab/recursor:dev"
METRICS_PORT = 9100
RESOLVER_METRICS_PORT = 8082


@contextmanager
def signals_as_interrupt():
    """SIGTERM and SIGINT abort the run the same way (KeyboardInterrupt naming the signal),
    whatever this process inherited: a runner started in the background of a script
    inherits SIGINT ignored, and a `kill -INT` must still roll its faults back."""
    saved = {}

    def handler(signum, frame):
        raise KeyboardInterrupt(signal.Signals(signum).name)

    for sig in (signal.SIGTERM, signal.SIGINT):
        try:
            saved[sig] = signal.signal(sig, handler)
        except ValueError:  # not the main thread
            pass
    try:
        yield
    finally:
        for sig, previous in saved.items():
            signal.signal(sig, previous)


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


def enactor_mitigations(s) -> tuple[str, ...]:
    """What an enactor worker is told to switch on: the DNS safeguards only (the cascade's
    remediations act on the fleet manager and the lease service; an enactor refuses a name
    it does not know)."""
    return tuple(m for m in s.mitigations if m in DNS_MITIGATIONS)


class RealClock:
    """Wall time (event times are compared with the workers' own time.time stamps)."""

    now = staticmethod(time.time)
    sleep = staticmethod(time.sleep)


class DockerWorld:
    """The run loop's world on the real lab: worker containers from the lab image, faults
    through the etcd fault channel or docker pause/kill, the real backends and resolver.
    Everything here does; nothing decides (lab/core/runloop.py decides)."""

    def __init__(self, scenario: Scenario, stack, *, run_id: str, lease: RunLease, echo=print):
        self.s = scenario
        self.stack = stack
        self.run_id = run_id
        self.lease = lease
        self.echo = echo
        self.workers = None
        self.pages = None
        self.targets = ScrapeTargets(stack, echo=echo)
        self.sink_error = lambda: None    # set by lab.execute: raises when events.jsonl fails
        self._components: dict[str, str] = {}        # service -> container name
        self._looks: dict[str, components.Look] = {}

    # -- set-up ----------------------------------------------------------------------------
    def set_up(self, history) -> list:
        s = self.s
        self.history = history
        client = self.stack.client
        services = SERVICES[s.backend]
        self.auth = self.stack.address(services.server)
        self.resolver = self.stack.address(services.resolver)
        self.store_address = self.stack.address("plan-store")
        self.zone_store = self.stack.address("zone-store")
        self.pdns = self.stack.address("pdns-auth")
        api_key = self.stack.secret("pdns-api-key")
        net_prefix = self.store_address.rsplit(".", 1)[0]
        etcd = EtcdGateway(self.store_address)
        # We hold the run lock: what other runs left is abandoned, and is cleared first.
        clear_leftovers(Workers(client, run_id=self.run_id, net_prefix=net_prefix,
                                scoped=False), EtcdFaults(etcd))
        self.targets.clear()
        self.workers = Workers(client, run_id=self.run_id, net_prefix=net_prefix)
        self._follow_pages()
        self.faults = EtcdFaults(etcd, self.run_id)
        self.store = EtcdPlanStore(self.store_address)
        self._watch_components()
        self.backend = plans_backend(s.backend, config.ZONE, empty_answer=s.empty_answer,
                                     ttl=s.record_ttl_s, alias=s.alias, pdns_address=self.pdns,
                                     pdns_api_key=api_key, zone_store_address=self.zone_store)
        self.backend.reset(DEFAULT_ENDPOINTS, s.negative_ttl_s)
        self.store.reset()
        if s.effective_negative_ttl_s != s.negative_ttl_s:
            self.echo(f"run: {s.backend} fixes the negative TTL at {s.effective_negative_ttl_s} s"
                      f" (the experiment asks {s.negative_ttl_s} s)")
        self.stack.container(services.resolver).exec_run(
            ["rec_control", "--socket-dir=/var/run/pdns-recursor", "wipe-cache", f"{config.ZONE}$"])
        if "serve-stale" in s.mitigations:
            return [self._start_stale_resolver(self.auth)]
        return []

    # -- the lab's own components --------------------------------------------------------
    def _watch_components(self) -> None:
        """The lab's services as they are when the run begins; ``check`` looks again."""
        ours = [c for c in self.stack.containers()
                if c.labels.get(config.SERVICE_LABEL) in config.CORE_SERVICES]
        self._components = {c.labels[config.SERVICE_LABEL]: c.name for c in ours}
        self._needed = components.depends_on(SERVICES[self.s.backend].server,
                                             SERVICES[self.s.backend].resolver, self.s.backend)
        self._looks = self._look()

    def _look(self) -> dict[str, components.Look]:
        import docker.errors
        api, out = self.stack.client.api, {}
        for service, name in self._components.items():
            try:
                a = api.inspect_container(name)
            except docker.errors.NotFound:
                out[service] = components.GONE
                continue
            except docker.errors.APIError as e:
                if e.status_code == 403:        # the Docker proxy keeps it out of reach
                    continue
                raise
            if (a.get("Config", {}).get("Labels") or {}).get(config.PROJECT_LABEL) != \
                    config.PROJECT:
                out[service] = components.GONE  # a stranger took the name: not ours
                continue
            state = a.get("State") or {}
            out[service] = components.Look(a.get("Id"), state.get("StartedAt"),
                                           state.get("Status"))
        return out

    def _check_components(self) -> None:
        """Each change of a lab service is an event; one the run depends on ends it."""
        if not self._components:
            return
        now = self._look()
        fatal = None
        for service, what in components.changes(self._looks, now):
            needed = service in self._needed
            self.history.append("runner", Kind.COMPONENT, component=service, change=what,
                                fatal=needed)
            self.echo(f"run: lab component {service} {what}")
            if needed and fatal is None:
                fatal = components.why_fatal(service, what)
        self._looks = now
        if fatal:
            raise LabError(fatal)

    def _follow_pages(self) -> None:
        """Pages (Alertmanager → the lab's pager) join the history as they arrive. A page
        received before this run, or about an alert that began before it (Alertmanager
        repeats a group's still-firing alerts when a new one joins), belongs to an earlier
        run and is left out."""
        began = time.time()

        def page(event) -> None:
            started = event.data.get("starts_at")
            if event.t >= began and (started is None or started >= began - 1):
                self.history.add(event)
        self.pages = LogFollower(guard(self.stack.container("pager")), page, since=began - 1)

    def _start_stale_resolver(self, authoritative: str):
        """Client side: the resolver group asks a pdns-recursor with serve-stale on, started
        for this run (a worker from the recursor image) and forwarding to the backend. The
        loop waits until it answers."""
        self.workers.start("resolver-stale", None, STALE_RESOLVER_HOST, {
            "LAB_AUTH_ADDRESS": authoritative, "LAB_ZONE": config.ZONE,
            "LAB_RESOLVER_SERVE_STALE_EXTENSIONS": str(SERVE_STALE_EXTENSIONS)},
            image=RESOLVER_IMAGE)
        self.resolver = address = f"{self.workers.net_prefix}.{STALE_RESOLVER_HOST}"
        self.targets.add("resolver-stale", f"{address}:{RESOLVER_METRICS_PORT}", "recursor")
        self.echo(f"run: resolver clients ask a serve-stale resolver at {address}")

        def answers() -> bool:
            try:
                dns.query.udp(dns.message.make_query(config.ZONE, "SOA"), address, timeout=0.5)
                return True
            except (OSError, dns.exception.DNSException):
                return False
        return ("the serve-stale resolver (see `docker logs dnslab-worker-resolver-stale`)",
                answers)

    # -- workers ---------------------------------------------------------------------------
    def start_control_plane(self) -> None:
        s, bound = self.s, time_bound(self.s)
        regional: tuple[str, ...] = ()
        if s.cascade is not None:
            # The lease service first: the planner publishes its lab address for the
            # regional endpoint, so the endpoint leads somewhere real.
            self._start("lease-service", LeaseServiceSpec(
                params=self._cascade_params(), port=LEASE_PORT, max_seconds=bound,
                metrics_port=METRICS_PORT), LEASE_SERVICE_HOST)
            regional = (f"{self.workers.net_prefix}.{LEASE_SERVICE_HOST}",)
        self._start("planner", PlannerSpec(
            store=self.store_address, seed=s.seed, period_s=s.planner_period_s,
            max_seconds=bound, metrics_port=METRICS_PORT, regional=regional), PLANNER_HOST)
        for i, name in enumerate(s.enactors):
            self._start(name, EnactorSpec(
                name=name, store=self.store_address, backend=s.backend, auth=self.pdns,
                zone_store=self.zone_store,
                mitigations=enactor_mitigations(s),
                interlock_max_removed=s.interlock_max_removed_fraction,
                keep=s.keep_generations, empty_answer=s.empty_answer, alias=s.alias,
                ttl=s.record_ttl_s, poll_s=ENACTOR_POLL_S, max_seconds=bound,
                metrics_port=METRICS_PORT), FIRST_ENACTOR_HOST + i)

    def start_clients(self) -> None:
        s = self.s
        for j, (first, count) in enumerate(client_blocks(s.clients, s.prober_containers)):
            name = f"clients-{j + 1}"
            self._start(name, ClientsSpec(
                first=first, count=count, resolver=self.resolver, authoritative=self.auth,
                source=name, interval_s=s.client_interval_s, timeout_s=PROBE_TIMEOUT_S,
                max_seconds=time_bound(s), metrics_port=METRICS_PORT), FIRST_PROBER_HOST + j)

    # -- the cascade -------------------------------------------------------------------
    def _cascade_params(self) -> dict:
        c = self.s.cascade
        params = c.params_for(self.s.mitigations)
        if c.remediations_after_repair_s is not None:
            # off until the operator switches them on (SIGUSR1, cascade_act)
            params = params.replace(remediations_at_s=float(MAX_DURATION_S))
        return workerspec.cascade_params_json(params)

    def start_cascade(self) -> None:
        """The fleet manager, looking the regional endpoint up at the clients' resolver."""
        s = self.s
        self._start("fleet-manager", FleetManagerSpec(
            params=self._cascade_params(), resolver=self.resolver,
            endpoint=f"{CASCADE_ENDPOINT}.{config.ZONE}", port=LEASE_PORT, seed=s.seed,
            max_seconds=time_bound(s), metrics_port=METRICS_PORT), FLEET_MANAGER_HOST)

    def cascade_act(self, action: str) -> None:
        """The operator's levers, as signals the workers handle: SIGHUP restarts the fleet
        manager (its queue, retries and connections dropped); SIGUSR1 switches the
        remediations on in the manager and the service."""
        if action == "restart-manager":
            self.workers.signal("fleet-manager", "SIGHUP")
        else:
            for name in ("lease-service", "fleet-manager"):
                self.workers.signal(name, "SIGUSR1")

    def _start(self, name: str, spec, host: int) -> None:
        """A worker container running ``spec``; its events into the history."""
        self.workers.start(name, ["worker", "--spec", workerspec.to_json(spec)], host, {})
        self.workers.follow(name, self.history.add)
        self.targets.add(name, f"{self.workers.net_prefix}.{host}:{METRICS_PORT}",
                         name.split("-")[0])

    # -- faults ----------------------------------------------------------------------------
    def arm(self, index: int, fault) -> None:
        self.faults.inject(fault, lease=self.lease.id)

    def _server(self):
        return guard(self.stack.container(SERVICES[self.s.backend].server))

    def inject(self, index: int, fault) -> None:
        if fault.kind is FaultKind.PAUSE and fault.target == AUTHORITATIVE:
            self._server().pause()
        elif fault.kind is FaultKind.PAUSE:
            self.workers.pause(fault.target)
        elif fault.kind is FaultKind.KILL:
            self.workers.kill(fault.target)

    def restore(self, index: int, fault) -> None:
        if fault.kind is FaultKind.PAUSE and fault.target == AUTHORITATIVE:
            server = self._server()
            server.reload()
            if server.status == "paused":
                server.unpause()
        elif fault.kind is FaultKind.PAUSE:
            self.workers.unpause(fault.target)
        elif fault.kind is FaultKind.KILL:
            self.workers.restart(fault.target, self.history.add)

    def repair(self) -> int | None:
        return repair(self.store, self.backend, self.history)

    def check(self, killed: set[str]) -> None:
        self._check_components()      # first: a restarted plan store also loses the lock
        if self.lease.lost:
            raise Aborted(f"the run lock was lost: {self.lease.lost}")
        self.sink_error()
        if self.workers is not None:
            for name, why in self.workers.dead(exclude=killed):
                raise Aborted(f"worker {name} exited: {why}")

    # -- rollback ----------------------------------------------------------------------------
    def disarm(self) -> None:
        if self.workers is not None:
            self.faults.clear()

    def roll_back(self) -> None:
        """Only this run's pauses and workers: another run's are never touched."""
        if self.workers is None:
            return
        steps = [("unpause the run's workers", lambda: self.workers.unpause_all()),
                 ("stop workers", lambda: self.workers.stop_all()),
                 ("collect worker events", lambda: self.workers.drain()),
                 ("remove workers", lambda: self.workers.remove_all()),
                 ("stop scraping the workers", lambda: self.targets.clear()),
                 ("stop following the pager", lambda: self.pages and self.pages.close())]
        for what, step in steps:
            try:
                step()
            except Exception as e:
                self.echo(f"run: rollback: could not {what}: {e}")


class Runner:
    """One run of ``scenario`` on the real lab: ``run()`` returns its summary. ``lease`` is
    the run lock, which the caller takes before anything is set up and may hold for several
    runs (a suite, a comparison): a refused run never reaches a Runner."""

    def __init__(self, scenario: Scenario, out_dir: Path, stack, *, lease: RunLease,
                 echo=print, experiment: dict | None = None):
        self.s = scenario
        self.out = Path(out_dir)
        self.stack = stack
        self.echo = echo
        self.lease = lease
        self.experiment = experiment or {}
        self.run_id = time.strftime("%Y%m%dT%H%M%S") + "-" + uuid.uuid4().hex[:6]

    def run(self) -> dict:
        world = DockerWorld(self.s, self.stack, run_id=self.run_id, lease=self.lease,
                            echo=self.echo)
        with signals_as_interrupt():
            return execute(self.s, world, RealClock(), self.out, run_id=self.run_id,
                           world_name="lab", echo=self.echo, experiment=self.experiment,
                           shield=signals_ignored)


def clear_leftovers(workers: Workers, faults: EtcdFaults | None,
                    targets: ScrapeTargets | None = None) -> list[str]:
    """Unpause the lab's containers, remove its workers, empty the fault channel and the
    workers' scrape targets; what was done, as phrases. Used by a run's set-up and by
    recovery after a killed run."""
    done = [f"unpaused {name}" for name in workers.unpause_everything()]
    done += [f"removed {name}" for name in workers.remove_all()]
    if done and targets is not None:
        targets.clear()
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
                           EtcdFaults(etcd) if etcd is not None else None,
                           ScrapeTargets(stack, echo=echo))
    if done:
        echo(f"dnslab: recovered from an interrupted run: {'; '.join(done)}")
    return done
