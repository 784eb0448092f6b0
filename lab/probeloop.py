"""Many virtual clients in one process, without a thread per client: one event loop over
non-blocking UDP sockets, one query in flight per client. Each client's query is built once
with dnspython. A datagram whose id is no query in flight on that socket is ignored, as a stub
resolver would, and the query it may have been meant for times out (``is_reply_to`` in
``lab/core/probe.py``). A reply is read by a small hand parser (``read_reply``) that only
accepts plain replies, the ones real servers send, and checks them in full; anything else
goes to dnspython (``lab.dnsclient.parse_reply``). The core judges either result
(``lab.core.probe.judge``), so this loop and the one-query client classify every reply alike,
while a probe costs a few microseconds of Python rather than a full message parse."""

import heapq
import select
import socket
import struct
import time
from collections import deque
from dataclasses import dataclass
from typing import Callable

import dns.flags
import dns.message

from lab.core.probe import (A, AAAA, CNAME, IN, MALFORMED, QUERY, SOCKET_ERROR, TIMED_OUT, Asked,
                            Record, Reply, Seen, judge)
from lab.dnsclient import asked_by, parse_reply

_HEADER = struct.Struct("!HHHHHH")
_RR = struct.Struct("!HHIH")
_NS, _SOA = 2, 6
_MAX_HOPS = 16        # compression pointers per name (dnspython's limit)


class Unusual(Exception):
    """The reply is not one the hand parser reads; dnspython decides."""


def _read_name(wire: bytes, i: int, end: int, names: dict) -> tuple[int, bytes]:
    """(offset after the name at ``i``, the name in lower-case wire form). The name may not
    reach ``end``. As dnspython reads names, or stricter: labels of at most 63 bytes;
    compression pointers only backwards, each before the run of labels that jumps to it, whose
    target is read without reaching that run; at most _MAX_HOPS pointers; at most 255 bytes.
    ``names``: offset -> (name, pointers followed, end of its first run of labels) of the
    names already read in this reply, which a pointer to them need not read again."""
    start, labels, tail, after, run, hops = i, [], b"\x00", 0, i, 0
    while True:
        if i >= end:
            raise Unusual("name runs past its end")
        n = wire[i]
        if n == 0:
            break
        if n < 64:
            if i + 1 + n >= end:
                raise Unusual("label runs past its end")
            labels.append(wire[i:i + 1 + n])
            i += 1 + n
        elif n >= 0xC0 and i + 2 <= end:
            target = (n & 0x3F) << 8 | wire[i + 1]
            hops += 1
            if target >= run or hops > _MAX_HOPS:
                raise Unusual("compression pointer")
            after = after or i + 2
            known = names.get(target)
            if known and known[2] <= run:     # read before by these rules, and within bounds
                tail, more, _ = known
                hops += more
                if hops > _MAX_HOPS:
                    raise Unusual("compression pointer")
                break
            end, run, i = run, target, target
        else:
            raise Unusual("label type")
    name = b"".join(labels).lower() + tail
    if len(name) > 255:
        raise Unusual("name too long")
    names[start] = (name, hops, after or i + 1)
    return after or i + 1, name


def _read_rdata(wire: bytes, rdtype: int, i: int, end: int, names: dict) -> bytes:
    """The rdata of an IN record at ``wire[i:end]`` other than a well-formed address: the
    target of a CNAME, empty for NS and SOA (checked all the same). Unusual for anything
    else, an A or AAAA of the wrong length included."""
    if rdtype == CNAME or rdtype == _NS:
        i, name = _read_name(wire, i, end, names)
    elif rdtype == _SOA:
        i = _read_name(wire, _read_name(wire, i, end, names)[0], end, names)[0] + 20
        name = b""
    else:
        raise Unusual("record type")
    if i != end:
        raise Unusual("rdata length")
    return name if rdtype == CNAME else b""


def read_reply(wire: bytes, question: bytes) -> Reply:
    """A plain reply to the query whose question section is ``question`` (lower case), read
    by hand: a response to a standard query echoing that question, then records of class IN
    and type A, AAAA, CNAME, NS or SOA only, each checked in full, and no byte left over.
    Raises Unusual for anything else (EDNS, TSIG, other types, anything malformed)."""
    if len(wire) < 12:
        raise Unusual("no header")
    _, flags, qd, an, ns, ar = _HEADER.unpack_from(wire)
    i = 12 + len(question)
    if ((flags & 0xF800) != 0x8000 or qd != 1     # a response (QR) with opcode QUERY
            or wire[12:i].lower() != question):
        raise Unusual("header or question")
    qname = question[:-4]
    names = {12: (qname, 0, 12 + len(qname))}
    answer = []
    for k in range(an + ns + ar):
        if wire[i:i + 2] == b"\xc0\x0c":     # the usual owner: a pointer to the asked name
            i, name = i + 2, qname
        else:
            i, name = _read_name(wire, i, len(wire), names)
        if i + 10 > len(wire):
            raise Unusual("truncated record")
        rdtype, rdclass, _, rdlength = _RR.unpack_from(wire, i)
        i += 10
        end = i + rdlength
        if rdclass != IN or end > len(wire):
            raise Unusual("record class or length")
        if (rdtype == A and rdlength == 4) or (rdtype == AAAA and rdlength == 16):
            data = wire[i:end]
        else:
            data = _read_rdata(wire, rdtype, i, end, names)
        i = end
        if k < an:
            answer.append(Record(name, rdtype, IN, data))
    if i != len(wire):
        raise Unusual("trailing bytes")
    asked = (qname, question[-4] << 8 | question[-3], IN)
    return Reply(True, QUERY, flags & 0xF, (asked,), tuple(answer))


def judge_wire(asked: Asked, question: bytes, wire: bytes) -> Seen:
    """The outcome of a probe whose reply is ``wire`` (it carries the asked id): read by hand
    when plain, by dnspython otherwise; any failure to read it is ``malformed``."""
    try:
        reply = read_reply(wire, question)
    except Exception:             # Unusual (or a bug in the hand parser: dnspython decides)
        reply = parse_reply(wire)
    return judge(asked, reply)


@dataclass
class _Client:
    index: int
    id: str
    group: str
    endpoint: str
    sock: socket.socket
    query: bytes          # wire without the id
    question: bytes       # the question section, lower-cased
    name: bytes           # the asked name, lower-case wire form
    rdtype: int


def run_loop(clients, *, zone: str, servers: dict[str, tuple[str, int, bool]], interval_s: float,
             timeout_s: float, max_seconds: float,
             emit: Callable[..., None], clock=time.monotonic,
             idle: Callable[[], None] | None = None) -> int:
    """Probe until ``max_seconds`` have passed; ``servers``: group -> (address, port,
    recursion desired).
    ``emit(client, group, endpoint, outcome, rcode, addresses, latency_ms)`` per probe;
    ``idle()`` each time the loop is about to wait.
    Returns the number of probes. Bounded in time; stops by itself."""
    socks = {}
    for group, (address, port, _) in servers.items():
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.connect((address, port))
        s.setblocking(False)
        socks[group] = s
    state = []
    for i, c in enumerate(clients):
        q = dns.message.make_query(f"{c.endpoint}.{zone}", c.rdtype)
        if not servers[c.group][2]:
            q.flags &= ~dns.flags.RD
        wire, asked = q.to_wire(), asked_by(q)
        state.append(_Client(i, c.id, c.group, c.endpoint, socks[c.group], wire[2:],
                             wire[12:].lower(), asked.name, asked.rdtype))
    by_sock = {s.fileno(): s for s in socks.values()}
    inflight: dict[int, tuple[_Client, float]] = {}
    sent_order: deque = deque()
    start = clock()
    deadline = start + max_seconds
    due = [(start + interval_s * i / max(1, len(state)), i) for i in range(len(state))]
    heapq.heapify(due)
    next_id, probes = 0, 0

    def finish(c: _Client, sent: float, seen: Seen):
        nonlocal probes
        now = clock()
        emit(c.id, c.group, c.endpoint, seen.outcome.value, seen.rcode, seen.addresses,
             round((now - sent) * 1000, 2))
        probes += 1
        heapq.heappush(due, (max(sent + interval_s, now), c.index))

    try:
        while True:
            now = clock()
            if now >= deadline and not inflight:
                break
            while due and due[0][0] <= now and now < deadline:
                _, i = heapq.heappop(due)
                c = state[i]
                for _ in range(65536):
                    next_id = (next_id + 1) & 0xFFFF
                    if next_id not in inflight:
                        break
                try:
                    c.sock.send(struct.pack("!H", next_id) + c.query)
                except OSError:
                    finish(c, now, SOCKET_ERROR)
                    continue
                inflight[next_id] = (c, now)
                sent_order.append((now, next_id))
            # expire queries nobody answered
            while sent_order and (sent_order[0][1] not in inflight
                                  or sent_order[0][0] + timeout_s <= now):
                sent, qid = sent_order.popleft()
                entry = inflight.get(qid)
                if entry is not None and entry[1] == sent:
                    del inflight[qid]
                    finish(entry[0], sent, TIMED_OUT)
            wake = min([deadline if not inflight else now + timeout_s]
                       + ([due[0][0]] if due and now < deadline else [])
                       + ([sent_order[0][0] + timeout_s] if sent_order else []))
            if idle is not None:
                idle()   # e.g. flush the events written since the last wait
            ready, _, _ = select.select(list(by_sock), [], [], max(0.0, wake - clock()))
            for fd in ready:
                sock = by_sock[fd]
                while True:
                    try:
                        wire = sock.recv(65535)   # whole, as the one-query client reads it
                    except (BlockingIOError, InterruptedError):
                        break
                    except OSError:   # e.g. ICMP port unreachable surfaced on the socket
                        break
                    if len(wire) < 2:
                        continue
                    qid = struct.unpack_from("!H", wire)[0]
                    entry = inflight.get(qid)
                    if entry is None or entry[0].sock is not sock:
                        continue   # late, stray or spoofed: ignored, as a stub resolver would
                    c, sent = entry
                    del inflight[qid]
                    try:
                        seen = judge_wire(Asked(qid, c.name, c.rdtype), c.question, wire)
                    except Exception:   # a reply never stops the loop
                        seen = MALFORMED
                    finish(c, sent, seen)
    finally:
        for s in socks.values():
            s.close()
    return probes
