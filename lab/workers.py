"""The lab's worker processes, one per container, same image: the planner, the enactors
and the virtual clients. Each wires the pure core to the real outside things (etcd,
PowerDNS, UDP) and emits its events as JSON lines on stdout plus Prometheus metrics.
Every loop is bounded by ``max_seconds`` and stops by itself."""

import random
import sys
import time

from prometheus_client import CollectorRegistry, start_http_server


from lab.core.clients import Client
from lab.core.enactor import Safeguards
from lab.core.loops import enactor_for, enactor_loop, planner_loop
from lab.core.history import History, Kind
from lab.core.planner import Planner, cascade_fleet
from lab.core.ports import DnsBackend, TransientError
from lab.errors import LabError
from lab.eventlog import stdout_sink
from lab.faults import EtcdFaults
from lab.metrics import WorkerMetrics
from lab.planstore.etcd import EtcdPlanStore


class _Wall:
    """The workers' clock: monotonic time, real sleep."""

    now = staticmethod(time.monotonic)
    sleep = staticmethod(time.sleep)


WALL = _Wall()


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def _history(metrics_port: int | None, *, flush_each: bool = True) -> tuple[History, WorkerMetrics]:
    registry = CollectorRegistry()
    metrics = WorkerMetrics(registry)
    if metrics_port:
        start_http_server(metrics_port, registry=registry)
    # Workers keep no events in memory: the runner's history is the record.
    return History(time.time, stdout_sink(also=metrics, flush_each=flush_each), keep=False), metrics


def _connect(*gateways) -> None:
    """Every etcd gateway authenticated before the worker's loop starts (EtcdGateway.connect);
    a store that does not answer yet is left to the loop's own retries."""
    for gateway in gateways:
        if gateway is None:
            continue
        try:
            gateway.connect()
        except TransientError:
            pass


# -- planner -------------------------------------------------------------------------------
def run_planner(*, store_address: str, seed: int, period_s: float, max_seconds: float,
                metrics_port: int | None = None, name: str = "planner",
                regional: tuple[str, ...] = ()) -> int:
    history, _ = _history(metrics_port)
    store = EtcdPlanStore(store_address)
    faults = EtcdFaults(store.etcd)      # one gateway, one login, for plans and faults
    _connect(store.etcd)
    planner = Planner(store, history, random.Random(seed),
                      fleet=cascade_fleet(regional) if regional else None)
    if regional:
        log(f"{name}: the regional endpoint leads to {', '.join(regional)}")
    log(f"{name}: publishing a plan every {period_s} s (seed {seed})")
    planner_loop(planner, history, WALL, period_s=period_s, max_seconds=max_seconds,
                 burst=faults.burst, name=name, errors=(LabError,), log=log)
    return 0


# -- enactor -------------------------------------------------------------------------------
def run_enactor(*, name: str, store_address: str, backend: DnsBackend, keep: int,
                poll_s: float, max_seconds: float, metrics_port: int | None = None,
                safeguards: list[str] = (), interlock_max_removed: float = 0.5) -> int:
    history, metrics = _history(metrics_port)
    metrics.enactor(name)
    store = EtcdPlanStore(store_address)
    faults = EtcdFaults(store.etcd)      # one gateway, one login, for plans and faults
    if unknown := set(safeguards) - set(Safeguards.NAMES) - {"interlock", "serve-stale"}:
        raise LabError(f"unknown safeguard {sorted(unknown)[0]!r}; known: "
                       f"{', '.join(Safeguards.NAMES)}, interlock")
    enactor = enactor_for(name, store, backend, history, sleep=time.sleep,
                          random=random.Random().random, faults=faults, keep=keep,
                          mitigations=safeguards, interlock_max_removed=interlock_max_removed)
    _connect(store.etcd, getattr(backend, "etcd", None))
    log(f"{name}: applying plans (clean-up keeps {keep} generations; safeguards: "
        f"{', '.join(safeguards) or 'none'})")
    enactor_loop(enactor, history, WALL, poll_s=poll_s, max_seconds=max_seconds,
                 errors=(LabError,), log=log)
    return 0


# -- virtual clients -------------------------------------------------------------------------
def run_clients(*, clients: list[Client], zone: str, resolver: str, authoritative: str,
                interval_s: float, timeout_s: float, max_seconds: float,
                metrics_port: int | None = None, source: str = "prober") -> int:
    """Run the virtual clients in one event loop (lab/probeloop.py); every probe becomes a
    timestamped event on stdout and a metrics update."""
    from lab.probeloop import run_loop

    # Probe events are flushed each time the loop is about to wait (not per event): at most
    # one loop iteration of events sits in the buffer.
    history, metrics = _history(metrics_port, flush_each=False)
    for c in clients:
        metrics.client(c.group, c.endpoint)
    log(f"{source}: {len(clients)} clients probing every {interval_s} s")

    def emit(client, group, endpoint, outcome, rcode, addresses, latency_ms):
        history.append(source, Kind.PROBE, client=client, group=group, endpoint=endpoint,
                       outcome=outcome, rcode=rcode, addresses=addresses, latency_ms=latency_ms)

    made = run_loop(clients, zone=zone,
                    servers={"resolver": (resolver, 53, True), "direct": (authoritative, 53, False)},
                    interval_s=interval_s, timeout_s=timeout_s, max_seconds=max_seconds, emit=emit,
                    idle=history.sink.flush)
    log(f"{source}: stopping after {made} probes ({max_seconds:.0f} s bound reached)")
    return 0
