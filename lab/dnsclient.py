"""One DNS query over UDP, turned into a ProbeResult. No retries: a probe reports exactly
what one client saw.

The query is built with dnspython and sent on a socket connected to the server (so only the
server's datagrams arrive). Each datagram is classified by ``classify_reply``: one whose id
is not the query's is ignored and the client keeps waiting (``lab.core.probe.is_reply_to``);
the first with the right id is parsed with dnspython (``parse_reply``) and judged by the
core (``lab.core.probe.judge``), the same decision the event loop's clients make
(``lab/probeloop.py``)."""

import socket
import time

import dns.flags
import dns.message

from lab.core.probe import (A, AAAA, CNAME, IN, SOCKET_ERROR, TIMED_OUT, Asked, Outcome,
                            ProbeResult, Record, Reply, Seen, is_reply_to, judge)
from lab.core.probe import count_addresses as count_in_answer


def asked_by(query: dns.message.Message) -> Asked:
    """What ``query`` asks, in the core's terms."""
    q = query.question[0]
    return Asked(query.id, q.name.canonicalize().to_wire(), int(q.rdtype))


def _data(rdtype: int, rdclass: int, rd) -> bytes:
    if rdclass != IN:
        return b""
    if rdtype in (A, AAAA):
        return rd.to_wire()
    if rdtype == CNAME:
        return rd.target.canonicalize().to_wire()
    return b""


def _records(section) -> tuple[Record, ...]:
    return tuple(Record(r.name.canonicalize().to_wire(), int(r.rdtype), int(r.rdclass),
                        _data(r.rdtype, r.rdclass, rd))
                 for r in section for rd in r)


def parse_reply(wire: bytes) -> Reply | None:
    """The facts of ``wire`` as dnspython reads it; None when dnspython rejects it. Any
    exception counts as a rejection (a TSIG record without a keyring raises, for one): a
    reply must never stop a prober."""
    try:
        m = dns.message.from_wire(wire)
        return Reply(
            is_response=bool(m.flags & dns.flags.QR), opcode=int(m.opcode()),
            rcode=int(m.rcode()),
            question=tuple((r.name.canonicalize().to_wire(), int(r.rdtype), int(r.rdclass))
                           for r in m.question),
            answer=_records(m.answer))
    except Exception:
        return None


def classify_reply(asked: Asked, wire: bytes) -> Seen | None:
    """What a client that asked ``asked`` makes of the datagram ``wire``; None when it is not
    the reply (wrong id, or too short to carry one): ignore it and keep waiting."""
    if len(wire) < 2 or not is_reply_to(asked, int.from_bytes(wire[:2], "big")):
        return None
    return judge(asked, parse_reply(wire))


def count_addresses(response: dns.message.Message) -> int:
    """The addresses ``response`` gives for its own question (the core's CNAME policy)."""
    q = response.question[0]
    return count_in_answer(q.name.canonicalize().to_wire(), int(q.rdtype),
                           _records(response.answer))


def exchange(wire: bytes, asked: Asked, server: str, port: int, timeout_s: float) -> Seen:
    """Send one query and wait for its reply, at most ``timeout_s``. Raises OSError."""
    family = socket.AF_INET6 if ":" in server else socket.AF_INET
    deadline = time.monotonic() + timeout_s
    with socket.socket(family, socket.SOCK_DGRAM) as sock:
        sock.connect((server, port))
        sock.send(wire)
        while (left := deadline - time.monotonic()) > 0:
            sock.settimeout(left)
            try:
                datagram = sock.recv(65535)
            except TimeoutError:
                break
            seen = classify_reply(asked, datagram)
            if seen is not None:
                return seen
    return TIMED_OUT


def probe(path: str, server: str, name: str, *, rdtype: str = "A", timeout_s: float = 1.0,
          recursion: bool = True, port: int = 53, clock=time.monotonic) -> ProbeResult:
    query = dns.message.make_query(name, rdtype)
    if not recursion:
        query.flags &= ~dns.flags.RD
    start = clock()
    try:
        seen = exchange(query.to_wire(), asked_by(query), server, port, timeout_s)
    except OSError:          # e.g. ICMP port unreachable, no route
        seen = SOCKET_ERROR
    return ProbeResult(path=path, name=name, outcome=seen.outcome, rcode=seen.rcode,
                       addresses=seen.addresses, latency_s=clock() - start)


__all__ = ["probe", "classify_reply", "parse_reply", "asked_by", "exchange",
           "count_addresses", "Outcome"]
