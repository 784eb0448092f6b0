"""Many virtual clients in one process, without a thread per client: one event loop over
non-blocking UDP sockets, one query in flight per client. Each client's query is built once
with dnspython; answers are checked (query id, QR bit, echoed question) and their answer
section walked by a small parser that only counts A/AAAA records, so a probe costs a few
microseconds of Python rather than a full message parse. Anything that does not parse is a
``malformed`` outcome; an answer with an unknown id is ignored (as a stub resolver would)
and its query times out."""

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

from lab.core.probe import classify

RCODES = {0: "NOERROR", 1: "FORMERR", 2: "SERVFAIL", 3: "NXDOMAIN", 4: "NOTIMP", 5: "REFUSED"}
_HEADER = struct.Struct("!HHHHHH")
_RR = struct.Struct("!HHIH")


class Malformed(Exception):
    pass


def _skip_name(wire: bytes, i: int) -> int:
    while True:
        length = wire[i]
        if length == 0:
            return i + 1
        if length & 0xC0 == 0xC0:
            return i + 2
        if length & 0xC0:
            raise Malformed("bad label")
        i += length + 1


def parse_answer(wire: bytes, question: bytes) -> tuple[int, str, int]:
    """(id, rcode mnemonic, number of A/AAAA records) of an answer to ``question`` (the
    query's question section, as sent). Raises Malformed for anything else."""
    try:
        qid, flags, qd, an, _, _ = _HEADER.unpack_from(wire, 0)
        if not flags & 0x8000 or qd != 1 or wire[12:12 + len(question)].lower() != question:
            raise Malformed("not an answer to this question")
        i = 12 + len(question)
        addresses = 0
        for _ in range(an):
            i = _skip_name(wire, i)
            rtype, _, _, rdlength = _RR.unpack_from(wire, i)
            i += 10 + rdlength
            if i > len(wire):
                raise Malformed("truncated record")
            if rtype in (1, 28):
                addresses += 1
        return qid, RCODES.get(flags & 0xF, f"RCODE{flags & 0xF}"), addresses
    except (IndexError, struct.error):
        raise Malformed("truncated") from None


@dataclass
class _Client:
    index: int
    id: str
    group: str
    endpoint: str
    sock: socket.socket
    query: bytes          # wire without the id
    question: bytes       # the question section, lower-cased


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
        wire = q.to_wire()
        state.append(_Client(i, c.id, c.group, c.endpoint, socks[c.group], wire[2:],
                             wire[12:].lower()))
    by_sock = {s.fileno(): s for s in socks.values()}
    inflight: dict[int, tuple[_Client, float]] = {}
    sent_order: deque = deque()
    start = clock()
    deadline = start + max_seconds
    due = [(start + interval_s * i / max(1, len(state)), i) for i in range(len(state))]
    heapq.heapify(due)
    next_id, probes = 0, 0

    def finish(c: _Client, sent: float, rcode, addresses, *, timed_out=False, malformed=False):
        nonlocal probes
        now = clock()
        outcome = classify(rcode, addresses, timed_out=timed_out, malformed=malformed)
        emit(c.id, c.group, c.endpoint, outcome.value, rcode or "none", addresses,
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
                    finish(c, now, None, 0)
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
                    finish(entry[0], sent, None, 0, timed_out=True)
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
                        wire = sock.recv(4096)
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
                    try:
                        _, rcode, addresses = parse_answer(wire, c.question)
                    except Malformed:
                        del inflight[qid]
                        finish(c, sent, None, 0, malformed=True)
                        continue
                    del inflight[qid]
                    finish(c, sent, rcode, addresses)
    finally:
        for s in socks.values():
            s.close()
    return probes
