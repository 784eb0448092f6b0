"""The event-loop prober against in-process DNS servers: every outcome, many clients at
once, a silent server only delays its own clients, hostile bytes are 'malformed', and plain
replies are read by the hand parser (the fast path), not by dnspython."""

import dns.message
import dns.rrset
import pytest

from lab.core.probe import Outcome, Seen
from lab.dnsclient import asked_by
from lab.probeloop import Unusual, judge_wire, read_reply, run_loop
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
    ("cname", "ok", 2, "NOERROR"),                    # alias: cname, target's addresses
    ("other-name", "nodata", 0, "NOERROR"),           # an address, but for another name
    ("nxdomain", "nxdomain", 0, "NXDOMAIN"),
    ("servfail", "servfail", 0, "SERVFAIL"),
    ("drop", "timeout", 0, "none"),
    ("garbage", "malformed", 0, "none"),
    ("truncated", "malformed", 0, "none"),
    ("tsig", "malformed", 0, "none"),                 # dnspython raises on it: the loop goes on
    ("wrong-id", "timeout", 0, "none"),               # ignored as a stub resolver would
    ("stray-garbage", "timeout", 0, "none"),
    ("wrong-id-then-right", "ok", 2, "NOERROR"),
])
def test_outcomes(mode, outcome, addresses, rcode):
    # A reply the server does send gets a generous deadline: CI runs this tier beside
    # the Docker tier, and a loaded machine must not turn an answer into a timeout.
    got = probe_all(mode, timeout=0.2 if outcome == "timeout" else 2.0)
    assert got and {(g[3], g[5], g[4]) for g in got} == {(outcome, addresses, rcode)}
    assert {g[0] for g in got} == {"c0", "c1", "c2", "c3"}
    assert all(g[6] >= 0 for g in got)


def test_each_client_keeps_its_interval():
    got = probe_all("ok", clients=5, seconds=1.0, interval=0.1, timeout=2.0)
    per_client = {c: sum(1 for g in got if g[0] == c) for c in ("c0", "c4")}
    # Never more than its interval allows; a loaded machine may make it a little late.
    assert all(6 <= n <= 11 for n in per_client.values()), per_client


def test_a_reply_that_breaks_the_judgement_is_malformed_and_the_loop_goes_on(monkeypatch):
    import lab.probeloop as probeloop

    def broken(*_):
        raise RuntimeError("a bug met a reply")

    monkeypatch.setattr(probeloop, "judge_wire", broken)
    got = probe_all("ok", clients=2, seconds=0.3, timeout=2.0)
    assert got and {g[3] for g in got} == {"malformed"}


QUERY = dns.message.make_query("dynamodb.us-east-1.lab.test", "A")
QUESTION = QUERY.to_wire()[12:].lower()
ASKED = asked_by(QUERY)


def response(*records, rcode=0):
    r = dns.message.make_response(QUERY)
    r.set_rcode(rcode)
    for section, *rr in records:
        getattr(r, section).append(dns.rrset.from_text(*rr))
    return r


NAME = "dynamodb.us-east-1.lab.test."
SOA = ("authority", "lab.test.", 5, "IN", "SOA", "ns1.lab.test. hostmaster.lab.test. 1 2 3 4 5")
PLAIN = {
    "addresses": (response(("answer", NAME, 30, "IN", "A", "198.51.100.1", "198.51.100.2")),
                  Seen(Outcome.OK, "NOERROR", 2)),
    "cname chain": (response(("answer", NAME, 30, "IN", "CNAME", "g7.tree.plans.lab.test."),
                             ("answer", "g7.tree.plans.lab.test.", 30, "IN", "A", "198.51.100.1")),
                    Seen(Outcome.OK, "NOERROR", 1)),
    "nxdomain": (response(SOA, rcode=3), Seen(Outcome.NXDOMAIN, "NXDOMAIN", 0)),
    "nodata": (response(SOA), Seen(Outcome.NODATA, "NOERROR", 0)),
    "glue": (response(("answer", NAME, 30, "IN", "A", "198.51.100.1"),
                      ("authority", "lab.test.", 30, "IN", "NS", "ns1.lab.test."),
                      ("additional", "ns1.lab.test.", 30, "IN", "A", "192.0.2.53")),
             Seen(Outcome.OK, "NOERROR", 1)),
}


@pytest.mark.parametrize("case", PLAIN)
def test_plain_replies_take_the_fast_path(case):
    r, seen = PLAIN[case]
    wire = r.to_wire()
    read_reply(wire, QUESTION)                 # no Unusual: dnspython is not needed
    assert judge_wire(ASKED, QUESTION, wire) == seen


def test_hostile_answers():
    ok = PLAIN["addresses"][0].to_wire()
    malformed = Seen(Outcome.MALFORMED, "none", 0)
    for bad in (ok[:5], ok[:-3], ok + b"\x00",                  # short, long
                ok[:-6] + b"\x00\x05" + ok[-4:],                  # an A of 5 bytes
                ok[:2] + b"garbage",
                QUERY.to_wire(),                                            # QR bit not set
                ok[:12] + b"\x05other\x04test\x00\x00\x01\x00\x01"):       # another question
        with pytest.raises(Unusual):
            read_reply(bad, QUESTION)
        assert judge_wire(ASKED, QUESTION, bad) == malformed, bad


def test_unusual_but_valid_replies_go_to_dnspython():
    r = response(("answer", NAME, 30, "IN", "A", "198.51.100.1"),
                 ("answer", NAME, 30, "IN", "TXT", '"198.51.100.9"'))
    r.use_edns(0)
    with pytest.raises(Unusual):
        read_reply(r.to_wire(), QUESTION)
    assert judge_wire(ASKED, QUESTION, r.to_wire()) == Seen(Outcome.OK, "NOERROR", 1)

