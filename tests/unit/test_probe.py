"""The core's decision: an outcome from an rcode and addresses, and the judgement of a parsed
reply that both transports share (the wrong-id and CNAME policies)."""

import pytest

from lab.core.probe import (A, AAAA, CNAME, IN, Asked, Outcome, Record, Reply, Seen, classify,
                            is_reply_to, judge)


@pytest.mark.parametrize("rcode,addresses,expected", [
    ("NOERROR", 2, Outcome.OK),
    ("NOERROR", 0, Outcome.NODATA),
    ("NXDOMAIN", 0, Outcome.NXDOMAIN),
    ("SERVFAIL", 0, Outcome.SERVFAIL),
    ("REFUSED", 0, Outcome.REFUSED),
    ("NOTIMP", 0, Outcome.ERROR),
    (None, 0, Outcome.ERROR),
])
def test_classify_by_rcode_and_addresses(rcode, addresses, expected):
    assert classify(rcode, addresses) is expected


def test_timeout_and_malformed_win_over_rcode():
    assert classify(None, 0, timed_out=True) is Outcome.TIMEOUT
    assert classify("NOERROR", 3, malformed=True) is Outcome.MALFORMED


def test_only_ok_counts_as_success():
    assert [o for o in Outcome if not o.failed] == [Outcome.OK]


# -- the decision both transports share: judge a parsed reply -----------------------------

def wire_name(text: str) -> bytes:
    return b"".join(bytes([len(label)]) + label.encode() for label in text.split(".")) + b"\0"


SEED = wire_name("seed.lab.test")
TREE = wire_name("g7.tree.plans.lab.test")
OTHER = wire_name("other.lab.test")
ASKED = Asked(7, SEED, A)
ONE, TWO, V6 = b"\xc6\x33\x64\x01", b"\xc6\x33\x64\x02", bytes(15) + b"\x01"


def reply(*answer, rcode=0, qr=True, opcode=0, question=((SEED, A, IN),)):
    return Reply(qr, opcode, rcode, question, tuple(Record(*r) for r in answer))


@pytest.mark.parametrize("answer,addresses", [
    ([(SEED, A, IN, ONE), (SEED, A, IN, TWO)], 2),
    ([(SEED, A, IN, ONE), (SEED, A, IN, ONE)], 1),                       # identical: once
    ([(OTHER, A, IN, ONE)], 0),                                          # another name
    ([(SEED, AAAA, IN, V6)], 0),                                         # another type
    ([(SEED, A, 3, ONE)], 0),                                            # another class
    ([(SEED, CNAME, IN, TREE), (TREE, A, IN, ONE), (TREE, A, IN, TWO)], 2),   # alias: cname
    ([(TREE, A, IN, ONE), (SEED, CNAME, IN, TREE)], 1),                  # order does not matter
    ([(SEED, CNAME, IN, TREE)], 0),                                      # dangling CNAME
    ([(SEED, CNAME, IN, TREE), (OTHER, A, IN, ONE)], 0),                 # not on the chain
    ([(SEED, CNAME, 3, TREE), (TREE, A, IN, ONE)], 0),                   # CNAME of another class
    ([(SEED, CNAME, IN, TREE), (TREE, CNAME, IN, SEED), (TREE, A, IN, ONE)], 1),  # a loop ends
    ([(SEED, CNAME, IN, OTHER), (SEED, CNAME, IN, TREE), (TREE, A, IN, ONE),
      (OTHER, A, IN, TWO)], 1),                                          # the last CNAME wins
])
def test_addresses_follow_the_cname_chain_from_the_asked_name(answer, addresses):
    seen = judge(ASKED, reply(*answer))
    assert seen == Seen(Outcome.OK if addresses else Outcome.NODATA, "NOERROR", addresses)


@pytest.mark.parametrize("bad", [
    None,                                                     # did not parse
    reply((SEED, A, IN, ONE), qr=False),                      # not a response
    reply((SEED, A, IN, ONE), opcode=5),                      # not a standard query
    reply((SEED, A, IN, ONE), question=((OTHER, A, IN),)),    # another question
    reply((SEED, A, IN, ONE), question=((SEED, AAAA, IN),)),
    reply((SEED, A, IN, ONE), question=((SEED, A, 3),)),
    reply((SEED, A, IN, ONE), question=()),
    reply((SEED, A, IN, ONE), question=((SEED, A, IN),) * 2),
])
def test_a_reply_that_does_not_match_the_query_is_malformed(bad):
    assert judge(ASKED, bad) == Seen(Outcome.MALFORMED, "none", 0)


@pytest.mark.parametrize("rcode,seen", [
    (3, Seen(Outcome.NXDOMAIN, "NXDOMAIN", 0)),
    (2, Seen(Outcome.SERVFAIL, "SERVFAIL", 0)),
    (5, Seen(Outcome.REFUSED, "REFUSED", 0)),
    (4, Seen(Outcome.ERROR, "NOTIMP", 0)),
    (16, Seen(Outcome.ERROR, "BADVERS", 0)),
    (13, Seen(Outcome.ERROR, "RCODE13", 0)),
])
def test_rcodes(rcode, seen):
    assert judge(ASKED, reply(rcode=rcode)) == seen


def test_addresses_are_counted_whatever_the_rcode():
    assert judge(ASKED, reply((SEED, A, IN, ONE), rcode=3)) == Seen(Outcome.NXDOMAIN, "NXDOMAIN", 1)


def test_only_the_asked_id_is_the_reply():
    assert is_reply_to(ASKED, 7)
    assert not is_reply_to(ASKED, 8)
