"""The cascade's two worker containers (the same lab image as every worker): the lease
service and the fleet manager (lab/cascade/), wired to the run's history (JSON lines on
stdout, Prometheus metrics from the same events) and to the operator's levers, which arrive
as signals through the container's init:

- SIGHUP: restart the fleet manager (its queue, retries and connections dropped);
- SIGUSR1: switch the remediations on (both workers);
- SIGTERM / SIGINT: stop.

The fleet manager looks the regional endpoint up at the lab's resolver with dnspython, as
the probers do: an answer without addresses, an error or a timeout is "no address"."""

import signal
import threading

import dns.exception
import dns.message
import dns.query
import dns.rdatatype

from lab.core.history import Kind
from lab.workers import _history, log
from lab.workerspec import FleetManagerSpec, LeaseServiceSpec, cascade_params_from

LOOKUP_TIMEOUT_S = 0.5


def lookup(resolver: str, name: str, timeout_s: float = LOOKUP_TIMEOUT_S):
    """A function answering the IPv4 addresses ``resolver`` gives for ``name`` (CNAMEs
    followed by the resolver); [] for anything else."""
    qname = name if name.endswith(".") else name + "."

    def resolve() -> list[str]:
        try:
            reply = dns.query.udp(dns.message.make_query(qname, "A"), resolver,
                                  timeout=timeout_s)
        except (OSError, dns.exception.DNSException):
            return []
        return [rr.address for rrset in reply.answer if rrset.rdtype == dns.rdatatype.A
                for rr in rrset]
    return resolve


def _emitter(history, source: str):
    def emit(kind: str, **data) -> None:
        history.append(source, Kind(kind), **data)
    return emit


def _on(signals, action) -> None:
    for sig in signals:
        signal.signal(sig, lambda *_: action())


def run(spec) -> int:
    params = cascade_params_from(spec.params)
    history, _ = _history(spec.metrics_port)
    stop = threading.Event()
    _on((signal.SIGTERM, signal.SIGINT), stop.set)
    if isinstance(spec, LeaseServiceSpec):
        from lab.cascade.service import run_lease_service
        remediate = threading.Event()
        _on((signal.SIGUSR1,), remediate.set)
        log(f"lease-service: {params.capacity} slots x {params.base_s} s a unit on port "
            f"{spec.port}")
        done = run_lease_service(params, host="0.0.0.0", port=spec.port,
                                 emit=_emitter(history, "lease-service"),
                                 max_seconds=spec.max_seconds, stop_event=stop,
                                 remediate_event=remediate)
        log(f"lease-service: done {done}")
        return 0
    assert isinstance(spec, FleetManagerSpec)
    import asyncio

    from lab.cascade.fleet import manage_fleet
    restart = threading.Event()
    runner: list = []
    _on((signal.SIGHUP,), restart.set)
    _on((signal.SIGUSR1,), lambda: runner and runner[0].remediate())
    log(f"fleet-manager: {params.hosts} hosts renewing every {params.renew_period_s} s "
        f"through {spec.endpoint} (resolver {spec.resolver})")
    done = asyncio.run(manage_fleet(params, resolve=lookup(spec.resolver, spec.endpoint),
                                    port=spec.port, emit=_emitter(history, "fleet-manager"),
                                    seed=spec.seed, max_seconds=spec.max_seconds,
                                    restart_event=restart, stop_event=stop, runner=runner))
    log(f"fleet-manager: done {done}")
    return 0
