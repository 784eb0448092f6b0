"""The event-loop prober against in-process DNS servers: every outcome, many clients at
once, a silent server only delays its own clients, and hostile bytes are 'malformed'."""

import dns.message
import pytest

from lab.probeloop import Malformed, parse_answer, run_loop
from lab.workers import Client
from tests.fakedns import FakeDNS


def probe_all(mode, *, clients=4, seconds=0.6, interval=0.1, timeout=0.2):
    got = []
    with FakeDNS(mode) as server:
        cs = [Client(f"c{i}", "direct", "seed", "A") for i in range(clients)]
        n = run_loop(cs, zone="lab.test", servers={"direct": ("127.0.0.1", server.port, False)},
                     interval_s=interval, timeout_s=timeout, max_seconds=seconds,
                     emit=lambda *a: got.append(a))
    assert n == len(got)
    return got


@pytest.mark.parametrize("mode,outcome,addresses,rcode", [
    ("ok", "ok", 2, "NOERROR"),
    ("nodata", "nodata", 0, "NOERROR"),
    ("cname-only", "nodata", 0, "NOERROR"),
    ("nxdomain", "nxdomain", 0, "NXDOMAIN"),
    ("servfail", "servfail", 0, "SERVFAIL"),
    ("drop", "timeout", 0, "none"),
    ("wrong-id", "timeout", 0, "none"),    # ignored like a stub resolver would, then timed out
])
def test_outcomes(mode, outcome, addresses, rcode):
    got = probe_all(mode)
    assert got and {(g[3], g[5], g[4]) for g in got} == {(outcome, addresses, rcode)}
    assert {g[0] for g in got} == {"c0", "c1", "c2", "c3"}
    assert all(g[6] >= 0 for g in got)


def test_each_client_keeps_its_interval():
    got = probe_all("ok", clients=5, seconds=1.0, interval=0.1)
    per_client = {c: sum(1 for g in got if g[0] == c) for c in ("c0", "c4")}
    assert all(8 <= n <= 11 for n in per_client.values()), per_client


def test_hostile_answers():
    q = dns.message.make_query("seed.lab.test", "A")
    question = q.to_wire()[12:].lower()
    r = dns.message.make_response(q)
    wire = r.to_wire()
    assert parse_answer(wire, question)[1:] == ("NOERROR", 0)
    for bad in (wire[:5], wire[:-3] + b"\xff\xff\xff", b"\x00\x01garbage",
                q.to_wire(),                                  # QR bit not set
                wire[:12] + b"\x05other\x04test\x00\x00\x01\x00\x01"):   # another question
        with pytest.raises(Malformed):
            parse_answer(bad, question)
