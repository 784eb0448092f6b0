"""The prober loop and its metrics, on a fresh registry, against an in-process server."""

from prometheus_client import CollectorRegistry

from lab.prober import ProbeMetrics, Target, run
from tests.clock import VirtualClock
from tests.fakedns import FakeDNS


def test_loop_is_bounded_and_counts_by_outcome(monkeypatch):
    registry = CollectorRegistry()
    metrics = ProbeMetrics(registry)
    clock = VirtualClock()
    with FakeDNS("ok") as good, FakeDNS("nxdomain") as bad:
        import lab.prober as prober_mod
        real_probe = prober_mod.probe

        def probe_on_port(path, server, name, **kw):
            port = good.port if path == "resolver" else bad.port
            return real_probe(path, server, name, port=port, timeout_s=3.0,
                              recursion=kw.get("recursion", True))

        monkeypatch.setattr(prober_mod, "probe", probe_on_port)
        made = run([Target("resolver", "127.0.0.1", True),
                    Target("authoritative", "127.0.0.1", False)],
                   ["seed.lab.test"], interval_s=1.0, max_seconds=5.0, metrics=metrics,
                   clock=clock, sleep=clock.sleep, log=lambda *_: None)
    assert made == 10
    get = registry.get_sample_value
    assert get("dnslab_probes_total", {"path": "resolver", "name": "seed.lab.test",
                                       "outcome": "ok", "rcode": "NOERROR"}) == 5
    assert get("dnslab_probes_total", {"path": "authoritative", "name": "seed.lab.test",
                                       "outcome": "nxdomain", "rcode": "NXDOMAIN"}) == 5
    assert get("dnslab_probe_duration_seconds_count", {"path": "resolver"}) == 5
    assert get("dnslab_probe_addresses", {"path": "resolver", "name": "seed.lab.test"}) == 2
    assert get("dnslab_probe_addresses", {"path": "authoritative", "name": "seed.lab.test"}) == 0


def test_hostile_replies_are_counted_and_the_prober_goes_on(monkeypatch):
    registry = CollectorRegistry()
    metrics = ProbeMetrics(registry)
    clock = VirtualClock()
    logged = []
    with FakeDNS("tsig") as signed:
        import lab.prober as prober_mod
        real_probe = prober_mod.probe

        def probe(path, server, name, **kw):
            if path == "authoritative":
                raise RuntimeError("a bug met a reply")
            return real_probe(path, server, name, port=signed.port, timeout_s=3.0)

        monkeypatch.setattr(prober_mod, "probe", probe)
        made = run([Target("resolver", "127.0.0.1", True),
                    Target("authoritative", "127.0.0.1", False)],
                   ["seed.lab.test"], interval_s=1.0, max_seconds=3.0, metrics=metrics,
                   clock=clock, sleep=clock.sleep, log=logged.append)
    assert made == 6
    get = registry.get_sample_value
    assert get("dnslab_probes_total", {"path": "resolver", "name": "seed.lab.test",
                                       "outcome": "malformed", "rcode": "none"}) == 3
    assert get("dnslab_probes_total", {"path": "authoritative", "name": "seed.lab.test",
                                       "outcome": "error", "rcode": "none"}) == 3
    assert sum("RuntimeError: a bug met a reply" in line for line in logged) == 3
