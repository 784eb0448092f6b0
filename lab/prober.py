"""The prober service: resolves a name at a fixed interval through the caching resolver and
directly at the authoritative server, and exports what it saw to Prometheus."""

import time
from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server

from lab.core.probe import Outcome, ProbeResult
from lab.dnsclient import probe

LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)


class ProbeMetrics:
    """The prober's metrics, on an explicit registry."""

    def __init__(self, registry: CollectorRegistry):
        self.probes = Counter(
            "dnslab_probes", "DNS probes by path, name, outcome and response code.",
            ["path", "name", "outcome", "rcode"], registry=registry)
        self.latency = Histogram(
            "dnslab_probe_duration_seconds", "Time from query sent to answer or timeout.",
            ["path"], buckets=LATENCY_BUCKETS, registry=registry)
        self.addresses = Gauge(
            "dnslab_probe_addresses", "Addresses in the last answer for a name.",
            ["path", "name"], registry=registry)

    def record(self, r: ProbeResult) -> None:
        self.probes.labels(r.path, r.name, r.outcome.value, r.rcode).inc()
        self.latency.labels(r.path).observe(r.latency_s)
        self.addresses.labels(r.path, r.name).set(r.addresses)


@dataclass(frozen=True)
class Target:
    path: str
    server: str
    recursion: bool


def _probe_once(t: Target, name: str, timeout_s: float, clock, log) -> ProbeResult:
    """One probe that never raises: the client classifies every reply itself (a reply it
    cannot read is ``malformed``), so an exception here is a bug; it is logged and counted
    as an ``error`` probe, and the prober goes on."""
    start = clock()
    try:
        return probe(t.path, t.server, name, timeout_s=timeout_s, recursion=t.recursion)
    except Exception as e:
        log(f"prober: probe of {name} via {t.path} failed: {type(e).__name__}: {e}")
        return ProbeResult(path=t.path, name=name, outcome=Outcome.ERROR, rcode="none",
                           addresses=0, latency_s=clock() - start)


def run(targets: list[Target], names: list[str], *, interval_s: float, max_seconds: float,
        metrics: ProbeMetrics, timeout_s: float = 1.0, clock=time.monotonic,
        sleep=time.sleep, log=print) -> int:
    """Probe every name on every target each interval until ``max_seconds`` have passed.

    Returns the number of probes made. The loop is bounded in time and stops by itself.
    """
    start = clock()
    made = 0
    next_round = start
    while clock() - start < max_seconds:
        for name in names:
            for t in targets:
                metrics.record(_probe_once(t, name, timeout_s, clock, log))
                made += 1
        next_round += interval_s
        delay = next_round - clock()
        if delay > 0:
            sleep(delay)
        else:
            next_round = clock()
    log(f"prober: stopping after {made} probes ({max_seconds:.0f} s bound reached)")
    return made


def serve(*, resolver: str, authoritative: str, names: list[str], interval_s: float,
          port: int, max_seconds: float, timeout_s: float) -> int:
    registry = CollectorRegistry()
    metrics = ProbeMetrics(registry)
    start_http_server(port, registry=registry)
    targets = [Target("resolver", resolver, True), Target("authoritative", authoritative, False)]
    print(f"prober: probing {', '.join(names)} every {interval_s} s via resolver {resolver} "
          f"and authoritative {authoritative}; metrics on :{port}", flush=True)
    run(targets, names, interval_s=interval_s, max_seconds=max_seconds, metrics=metrics,
        timeout_s=timeout_s)
    return 0
