"""What a client saw when it resolved an endpoint: the outcome of one probe.

Both transports (the one-query client in ``lab/dnsclient.py`` and the event loop of virtual
clients in ``lab/probeloop.py``) parse a reply's bytes into a small ``Reply`` and let
``judge`` decide; neither decides on its own. Names are compared in lower-case wire form
(length-prefixed labels ending in the root label, no compression), so the core needs no
DNS library.

Which datagram is the reply (the wrong-id policy, ``is_reply_to``): only a datagram from the
server (both transports use connected sockets) whose first two bytes are the query's id. Any
other datagram, shorter than two bytes or with another id, is ignored and the client keeps
waiting, as a stub resolver does; if no datagram with the right id arrives before the probe's
timeout, the probe is a ``timeout``. A late, stray or spoofed answer therefore never ends a
probe. The first datagram with the right id is the reply, whatever else it holds: if
dnspython cannot parse it (``dns.message.from_wire`` raises anything, a TSIG record without
the key included), it is not a response (QR bit clear), has another opcode than QUERY or
does not echo exactly the question asked (one question, same name ignoring ASCII case, same
type, class IN), the probe is ``malformed``. The TC bit is not looked at: a probe is one UDP
exchange, and what the reply holds is judged as it is.

Which records are addresses (the CNAME policy, ``count_addresses``): an answer record counts
when its class is IN, its type is the type asked (A for an A query, AAAA for an AAAA query)
and its owner is the asked name or a name reached from it by following CNAME records (class
IN) in the same answer section, in any order, each name at most once. With the lab's
flattened alias the addresses sit under the endpoint's own name; with ``alias: cname`` they
sit under the CNAME's target, and both count. Addresses for any other name, of another type
or class, and a CNAME whose target has no address in the answer, do not count (a dangling
CNAME is ``nodata`` under NOERROR). Identical records count once. A name with several CNAME
records (invalid) follows the last one in the reply, which is the one dnspython keeps.
DNAME records are not followed (a server sends the synthesized CNAME too)."""

from dataclasses import dataclass
from enum import StrEnum
from typing import NamedTuple


class Outcome(StrEnum):
    """How one DNS probe ended, from the client's point of view."""

    OK = "ok"                # NOERROR with at least one address
    NODATA = "nodata"        # NOERROR with no address: the emptied-endpoint answer
    NXDOMAIN = "nxdomain"    # the name does not exist
    SERVFAIL = "servfail"
    REFUSED = "refused"
    TIMEOUT = "timeout"      # no answer within the probe's timeout
    MALFORMED = "malformed"  # an answer that does not parse, or does not match the query
    ERROR = "error"          # anything else (other rcodes, socket errors)

    @property
    def failed(self) -> bool:
        """True when the client could not get an address."""
        return self is not Outcome.OK


_RCODE_OUTCOMES = {
    "NXDOMAIN": Outcome.NXDOMAIN,
    "SERVFAIL": Outcome.SERVFAIL,
    "REFUSED": Outcome.REFUSED,
}


def classify(rcode: str | None, addresses: int, *, timed_out: bool = False,
             malformed: bool = False) -> Outcome:
    """Decide the outcome of a probe from what came back.

    ``rcode`` is the response code's mnemonic (``"NOERROR"``), or None when no answer came.
    """
    if timed_out:
        return Outcome.TIMEOUT
    if malformed:
        return Outcome.MALFORMED
    if rcode is None:
        return Outcome.ERROR
    if rcode == "NOERROR":
        return Outcome.OK if addresses > 0 else Outcome.NODATA
    return _RCODE_OUTCOMES.get(rcode, Outcome.ERROR)


# Record types and the class the decision looks at (RFC 1035, RFC 3596).
A, CNAME, AAAA = 1, 5, 28
IN = 1
QUERY = 0   # the opcode of every lab query

# dnspython's mnemonics (RFC 6895's registry); a code without one is ``RCODE<n>``.
RCODE_NAMES = {0: "NOERROR", 1: "FORMERR", 2: "SERVFAIL", 3: "NXDOMAIN", 4: "NOTIMP",
               5: "REFUSED", 6: "YXDOMAIN", 7: "YXRRSET", 8: "NXRRSET", 9: "NOTAUTH",
               10: "NOTZONE", 11: "DSOTYPENI", 16: "BADVERS", 17: "BADKEY", 18: "BADTIME",
               19: "BADMODE", 20: "BADNAME", 21: "BADALG", 22: "BADTRUNC", 23: "BADCOOKIE"}


def rcode_text(rcode: int) -> str:
    """The mnemonic of a (possibly EDNS-extended) response code; ``RCODE<n>`` if unnamed."""
    return RCODE_NAMES.get(rcode) or f"RCODE{rcode}"


class Asked(NamedTuple):
    """What the client asked: the query's id, name (lower-case wire form) and type."""

    id: int
    name: bytes
    rdtype: int


class Record(NamedTuple):
    """One answer-section record. ``data``: the raw rdata of an A/AAAA record, the target
    (lower-case wire form) of a CNAME, empty for any other type."""

    name: bytes
    rdtype: int
    rdclass: int
    data: bytes


class Reply(NamedTuple):
    """The facts of a reply that parsed which the outcome depends on."""

    is_response: bool                             # the QR bit
    opcode: int
    rcode: int                                    # including EDNS extended bits
    question: tuple[tuple[bytes, int, int], ...]  # (name, type, class) per question
    answer: tuple[Record, ...]


class Seen(NamedTuple):
    """What one probe saw: the outcome, the rcode mnemonic (``"none"`` when no usable
    reply came) and the number of addresses."""

    outcome: Outcome
    rcode: str
    addresses: int


TIMED_OUT = Seen(Outcome.TIMEOUT, "none", 0)
MALFORMED = Seen(Outcome.MALFORMED, "none", 0)
SOCKET_ERROR = Seen(Outcome.ERROR, "none", 0)   # the query could not be sent or was refused


def is_reply_to(asked: Asked, reply_id: int) -> bool:
    """Whether a datagram carrying ``reply_id`` is the reply to ``asked`` (see the module
    docstring: any other datagram is ignored and the client keeps waiting)."""
    return reply_id == asked.id


def count_addresses(name: bytes, rdtype: int, answer: tuple[Record, ...]) -> int:
    """Distinct ``rdtype`` IN records owned by ``name`` or a name its CNAME chain reaches."""
    targets = {r.name: r.data for r in answer if r.rdtype == CNAME and r.rdclass == IN}
    if not targets:   # the usual answer: no alias to follow
        return len({r.data for r in answer
                    if r.rdtype == rdtype and r.rdclass == IN and r.name == name})
    chain = {name}
    while name in targets and targets[name] not in chain:   # ends: each name once
        name = targets[name]
        chain.add(name)
    return len({(r.name, r.data) for r in answer
                if r.rdtype == rdtype and r.rdclass == IN and r.name in chain})


def judge(asked: Asked, reply: Reply | None) -> Seen:
    """The outcome of a probe whose reply (a datagram with the asked id) arrived.

    ``reply`` is None when its bytes do not parse as a DNS message (dnspython's rules)."""
    if (reply is None or not reply.is_response or reply.opcode != QUERY
            or reply.question != ((asked.name, asked.rdtype, IN),)):
        return MALFORMED
    rcode = rcode_text(reply.rcode)
    addresses = count_addresses(asked.name, asked.rdtype, reply.answer)
    return Seen(classify(rcode, addresses), rcode, addresses)


@dataclass(frozen=True)
class ProbeResult:
    """One probe: which path and name, what came back, how long it took."""

    path: str          # "resolver" (through the caching resolver) or "authoritative"
    name: str
    outcome: Outcome
    rcode: str         # mnemonic, or "none" when no answer arrived
    addresses: int
    latency_s: float
