"""The probe adapter against an in-process DNS server: every outcome a client can see."""

import pytest

from lab.core.probe import Outcome
from lab.dnsclient import probe
from tests.fakedns import FakeDNS


@pytest.mark.parametrize("mode,outcome,addresses,rcode", [
    ("ok", Outcome.OK, 2, "NOERROR"),
    ("nodata", Outcome.NODATA, 0, "NOERROR"),
    ("cname-only", Outcome.NODATA, 0, "NOERROR"),
    ("nxdomain", Outcome.NXDOMAIN, 0, "NXDOMAIN"),
    ("servfail", Outcome.SERVFAIL, 0, "SERVFAIL"),
    ("drop", Outcome.TIMEOUT, 0, "none"),
    ("garbage", Outcome.MALFORMED, 0, "none"),
    ("wrong-id", Outcome.MALFORMED, 0, "none"),
])
def test_probe_outcomes(mode, outcome, addresses, rcode):
    with FakeDNS(mode) as server:
        r = probe("authoritative", "127.0.0.1", "seed.lab.test", port=server.port, timeout_s=0.3)
    assert (r.outcome, r.addresses, r.rcode) == (outcome, addresses, rcode)
    assert server.queries == 1
    assert r.latency_s >= 0


def test_unreachable_server_is_an_error_not_a_crash():
    r = probe("resolver", "127.0.0.1", "seed.lab.test", port=9, timeout_s=0.3)
    assert r.outcome in (Outcome.ERROR, Outcome.TIMEOUT)
