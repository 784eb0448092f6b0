"""The probe adapter against an in-process DNS server: every outcome a client can see, and
hostile replies that must neither count as addresses nor crash it."""

import dns.message
import dns.rrset
import pytest

from lab.core.probe import Outcome
from lab.dnsclient import asked_by, classify_reply, count_addresses, probe
from tests.fakedns import FakeDNS


@pytest.mark.parametrize("mode,outcome,addresses,rcode", [
    ("ok", Outcome.OK, 2, "NOERROR"),
    ("nodata", Outcome.NODATA, 0, "NOERROR"),
    ("cname-only", Outcome.NODATA, 0, "NOERROR"),
    ("cname", Outcome.OK, 2, "NOERROR"),                  # alias: cname, target's addresses
    ("other-name", Outcome.NODATA, 0, "NOERROR"),         # an address, but for another name
    ("nxdomain", Outcome.NXDOMAIN, 0, "NXDOMAIN"),
    ("servfail", Outcome.SERVFAIL, 0, "SERVFAIL"),
    ("drop", Outcome.TIMEOUT, 0, "none"),
    ("garbage", Outcome.MALFORMED, 0, "none"),            # the right id, then junk
    ("truncated", Outcome.MALFORMED, 0, "none"),
    ("tsig", Outcome.MALFORMED, 0, "none"),               # dnspython raises on it: no crash
    ("wrong-id", Outcome.TIMEOUT, 0, "none"),             # ignored, as a stub resolver would
    ("stray-garbage", Outcome.TIMEOUT, 0, "none"),
    ("wrong-id-then-right", Outcome.OK, 2, "NOERROR"),    # the right reply still counts
])
def test_probe_outcomes(mode, outcome, addresses, rcode):
    # A reply the server sends gets a generous deadline (a loaded CI machine must not
    # turn it into a timeout); a reply that never comes is waited for 0.3 s.
    wait = 0.3 if outcome is Outcome.TIMEOUT else 3.0
    with FakeDNS(mode) as server:
        r = probe("authoritative", "127.0.0.1", "seed.lab.test", port=server.port, timeout_s=wait)
    assert (r.outcome, r.addresses, r.rcode) == (outcome, addresses, rcode)
    assert server.queries == 1
    assert r.latency_s >= 0
    if outcome is Outcome.TIMEOUT:
        assert r.latency_s >= 0.29


def test_a_reply_of_two_bytes_with_the_right_id_is_malformed():
    sent = []

    def handler(wire):   # FakeDNS answers with whatever bytes a handler returns
        sent.append(wire)
        return wire[:2]

    with FakeDNS(handler) as server:
        r = probe("resolver", "127.0.0.1", "seed.lab.test", rdtype="AAAA", port=server.port,
                  timeout_s=3.0)
    assert (r.outcome, r.rcode, r.addresses) == (Outcome.MALFORMED, "none", 0)
    assert dns.message.from_wire(sent[0]).question[0].rdtype == 28


def test_classify_reply_is_what_the_socket_path_uses():
    q = dns.message.make_query("Seed.Lab.Test", "A")
    asked = asked_by(q)
    r = dns.message.make_response(q)
    r.answer.append(dns.rrset.from_text("SEED.lab.test.", 30, "IN", "A", "198.51.100.1"))
    assert classify_reply(asked, r.to_wire()) == (Outcome.OK, "NOERROR", 1)
    r.id ^= 1
    assert classify_reply(asked, r.to_wire()) is None       # not the reply: keep waiting
    assert classify_reply(asked, b"\x00") is None
    assert classify_reply(asked, q.to_wire()) == (Outcome.MALFORMED, "none", 0)   # QR clear


def test_count_addresses_follows_the_policy():
    q = dns.message.make_query("seed.lab.test", "A")
    r = dns.message.make_response(q)
    r.answer.append(dns.rrset.from_text("seed.lab.test.", 30, "IN", "CNAME", "t.lab.test."))
    r.answer.append(dns.rrset.from_text("t.lab.test.", 30, "IN", "A", "198.51.100.1"))
    r.answer.append(dns.rrset.from_text("other.lab.test.", 30, "IN", "A", "198.51.100.2"))
    r.answer.append(dns.rrset.from_text("t.lab.test.", 30, "IN", "AAAA", "2001:db8::1"))
    assert count_addresses(r) == 1


def test_unreachable_server_is_an_error_not_a_crash():
    r = probe("resolver", "127.0.0.1", "seed.lab.test", port=9, timeout_s=0.3)
    assert r.outcome in (Outcome.ERROR, Outcome.TIMEOUT)
