"""Both probe transports classify every reply alike, and as dnspython reads it.

The same random and mutated replies go to the event loop's classification (its hand parser,
falling back to dnspython: ``lab.probeloop.judge_wire``), to the one-query client's
(``lab.dnsclient.classify_reply``) and to an oracle written with dnspython alone
(``tests/support/dnsreplies.py``); all three must agree on whether the datagram is the reply,
the outcome, the rcode and the address count. A reply dnspython rejects is ``malformed`` for
all three, and whenever the hand parser accepts a reply, dnspython accepts it too and reads
the same facts from it."""

import collections
import random
import struct

import dns.message
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lab.core.probe import CNAME, IN, is_reply_to
from lab.dnsclient import asked_by, classify_reply, parse_reply
from lab.probeloop import Unusual, judge_wire, read_reply
from tests.support.dnsreplies import case, mutate, oracle, random_query, raw_reply

FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def loop_sees(query: dns.message.Message, wire: bytes):
    """What the event loop makes of ``wire``: it looks the id up among the queries in flight
    (here the one query), then judges the reply."""
    asked = asked_by(query)
    if len(wire) < 2 or not is_reply_to(asked, int.from_bytes(wire[:2], "big")):
        return None
    return tuple(judge_wire(asked, query.to_wire()[12:].lower(), wire))


def client_sees(query: dns.message.Message, wire: bytes):
    seen = classify_reply(asked_by(query), wire)
    return None if seen is None else tuple(seen)


def agreed(query: dns.message.Message, wire: bytes):
    """The one classification all three make of ``wire``, or an AssertionError."""
    expected = oracle(query, wire)
    fast, slow = loop_sees(query, wire), client_sees(query, wire)
    fast = fast and (fast[0].value, *fast[1:])
    slow = slow and (slow[0].value, *slow[1:])
    assert fast == slow == expected, f"loop {fast}, client {slow}, dnspython {expected}: " \
                                     f"{wire.hex()}"
    return expected


def facts(reply):
    """A parsed reply up to what dnspython's rrsets do not keep: the order of records,
    duplicates, and all but the last CNAME of a name."""
    cnames = {r.name: r.data for r in reply.answer if r.rdtype == CNAME and r.rdclass == IN}
    others = frozenset(r for r in reply.answer if r.rdtype != CNAME)
    return reply.is_response, reply.opcode, reply.rcode, reply.question, others, cnames


def hand_read_is_sound(query: dns.message.Message, wire: bytes) -> bool:
    """True when the hand parser read ``wire``; then dnspython must have read the same."""
    try:
        mine = read_reply(wire, query.to_wire()[12:].lower())
    except Unusual:
        return False
    theirs = parse_reply(wire)
    assert theirs is not None, f"the hand parser accepts what dnspython rejects: {wire.hex()}"
    assert facts(mine) == facts(theirs), wire.hex()
    return True


@FUZZ
@given(st.randoms(use_true_random=False))
def test_random_and_mutated_replies_agree(rng):
    query, wire = case(rng)
    agreed(query, wire)
    hand_read_is_sound(query, wire)


@FUZZ
@given(st.randoms(use_true_random=False), st.integers(1, 4))
def test_the_hand_parser_accepts_only_what_dnspython_reads_alike(rng, mutations):
    query = random_query(rng)
    wire = raw_reply(rng, query)          # plain: hand-made compression, pointer chains
    assert hand_read_is_sound(query, wire)
    for _ in range(mutations):
        wire = mutate(rng, wire, raw_reply(rng, random_query(rng)))[1]
        hand_read_is_sound(query, wire)
        agreed(query, wire)


def test_ten_thousand_replies(capsys):
    rng = random.Random(20251020)
    outcomes, readers = collections.Counter(), collections.Counter()
    for _ in range(10_000):
        query, wire = case(rng)
        seen = agreed(query, wire)
        outcomes[seen[0] if seen else "ignored (wrong id)"] += 1
        readers["hand parser" if hand_read_is_sound(query, wire) else "dnspython"] += 1
    with capsys.disabled():
        print(f"\n10,000 replies: {dict(outcomes.most_common())}; read by {dict(readers)}")
    assert set(outcomes) == {"ok", "nodata", "nxdomain", "servfail", "refused", "error",
                             "malformed", "ignored (wrong id)"}
    assert readers["hand parser"] > 2000


# -- names the hand parser must follow exactly as dnspython does --------------------------

QUERY = dns.message.make_query("seed.lab.test", "A")
QUERY.id = 0x1234
HEAD = struct.pack("!HHHHHH", 0x1234, 0x8400, 1, 1, 0, 0) + QUERY.to_wire()[12:]
A_RDATA = struct.pack("!HHIH", 1, 1, 30, 4) + bytes([198, 51, 100, 1])
Q = 12   # offset of the asked name


def ptr(offset: int) -> bytes:
    return struct.pack("!H", 0xC000 | offset)


def with_owner(owner: bytes, *, before: bytes = b"", extra_records: int = 0) -> bytes:
    """A reply whose one answer record (plus ``extra_records`` written in ``before``) is an A
    owned by ``owner``."""
    head = bytearray(HEAD)
    struct.pack_into("!H", head, 6, 1 + extra_records)
    return bytes(head) + before + owner + A_RDATA


END = len(HEAD)
LONG = (b"\x3f" + b"x" * 63) * 3                                    # 192 bytes of labels


@pytest.mark.parametrize("wire,outcome", [
    (with_owner(ptr(Q)), "ok"),
    (with_owner(b"\x04SEED" + ptr(Q + 5)), "ok"),                  # labels, then a suffix
    (with_owner(ptr(END)), "malformed"),                           # points at itself
    (with_owner(ptr(END + 2)), "malformed"),                       # points forward
    (with_owner(ptr(Q + 5)), "nodata"),                            # a suffix: lab.test.
    (with_owner(ptr(Q + 1)), "malformed"),                         # into a label: "s" = 0x73
    (with_owner(ptr(1)), "malformed"),                             # into the header
    (with_owner(b"\x40" + bytes(64)), "malformed"),                # label type 0x40
    (with_owner(LONG + b"\x3d" + b"x" * 61 + b"\x00"), "nodata"),     # 255 bytes: a name
    (with_owner(LONG + b"\x3e" + b"x" * 62 + b"\x00"), "malformed"),  # 256 bytes: too long
    (with_owner(b"\x3e" + b"x" * 62 + LONG + ptr(Q)), "malformed"),    # too long via a pointer
])
def test_names(wire, outcome):
    assert agreed(QUERY, wire)[0] == outcome


def pointer_chain(hops: int) -> bytes:
    """Records whose owners point each at the previous one, the first at the asked name:
    the last owner is the asked name after ``hops`` pointers."""
    records, at = b"", END
    for k in range(hops):
        owner = ptr(Q) if k == 0 else ptr(at - len(A_RDATA) - 2)
        records += owner + A_RDATA
        at += len(owner) + len(A_RDATA)
    head = bytearray(HEAD)
    struct.pack_into("!H", head, 6, hops)
    return bytes(head) + records


def test_pointer_chains_up_to_dnspythons_limit():
    for hops in (2, 16):
        assert hand_read_is_sound(QUERY, pointer_chain(hops))
        assert agreed(QUERY, pointer_chain(hops)) == ("ok", "NOERROR", 1)
    # 17 deep: dnspython 2.9 refuses it (PointerChainTooLong), 2.3 does not; the hand parser
    # leaves it to dnspython, so the transports agree with the dnspython installed
    assert not hand_read_is_sound(QUERY, pointer_chain(17))
    agreed(QUERY, pointer_chain(17))


def test_a_pointer_into_a_label_that_points_back_before_it():
    # owner 1 is the label "A\xc0<its own offset>"; owner 2 points at the \xc0 inside it,
    # which points back at owner 1, whose label runs past that pointer: dnspython 2.9
    # rejects it (2.3, Debian's, reads another name); the hand parser leaves it to dnspython
    first = END
    owner1 = bytes([3, 0x41, 0xC0, first]) + b"\x00"
    wire = with_owner(ptr(first + 2), before=owner1 + A_RDATA, extra_records=1)
    assert not hand_read_is_sound(QUERY, wire)
    assert agreed(QUERY, wire)[0] in ("malformed", "nodata")
