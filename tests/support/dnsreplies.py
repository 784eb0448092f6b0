"""Random DNS replies for the tests that make both probe transports agree: replies built with
dnspython, replies written by hand with chains of compression pointers, byte mutations of
either, and an oracle that classifies a reply with dnspython alone (no lab code).

Every generator takes a ``random.Random``, so a seed reproduces a case and hypothesis can
drive it (``st.randoms()``)."""

import random
import struct

import dns.edns
import dns.flags
import dns.message
import dns.name
import dns.opcode
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.rrset
import dns.tsigkeyring

ZONE = "lab.test."
ENDPOINTS = ["seed", "dynamodb.us-east-1", "dynamodb-streams.us-east-1"]
TARGETS = ["g7.tree.plans.lab.test.", "g8.tree.plans.lab.test.", "gone.lab.test."]
OTHERS = ["other.lab.test.", "lab.test.", "seed.lab.test.evil.", "us-east-1.lab.test."]
KEYRING = dns.tsigkeyring.from_text({"lab-key.": "c2VjcmV0IGtleSBmb3IgdGhlIGxhYg=="})
RCODES = [0] * 8 + [1, 2, 2, 3, 3, 3, 4, 5, 5, 6, 9, 11, 15]


def random_case(rng: random.Random, text: str) -> str:
    return "".join(c.upper() if rng.random() < 0.5 else c for c in text)


def random_query(rng: random.Random) -> dns.message.Message:
    q = dns.message.make_query(f"{rng.choice(ENDPOINTS)}.{ZONE}", rng.choice(["A", "AAAA"]))
    q.id = rng.randrange(65536)
    if rng.random() < 0.5:
        q.flags &= ~dns.flags.RD
    return q


def _address(rng: random.Random, rdtype: str) -> str:
    # a small range, so that duplicates happen
    return f"198.51.100.{rng.randrange(4)}" if rdtype == "A" else f"2001:db8::{rng.randrange(4)}"


def _other(rdtype: str) -> str:
    return "AAAA" if rdtype == "A" else "A"


def _answer(rng: random.Random, qname: str, qtype: str) -> list[tuple[str, str, str, str]]:
    """(owner, class, type, rdata text) records: addresses along a CNAME chain from the asked
    name, plus records that must not count."""
    owner, out = qname, []
    for _ in range(rng.randrange(6)):
        kind = rng.choice(["addr", "addr", "addr", "cname", "cname", "other-type", "other-name",
                           "txt", "other-class", "unknown", "mx", "loop", "asked-addr"])
        name = random_case(rng, owner) if rng.random() < 0.2 else owner
        if kind == "addr":
            out.append((name, "IN", qtype, _address(rng, qtype)))
        elif kind == "asked-addr":
            out.append((qname, "IN", qtype, _address(rng, qtype)))
        elif kind == "cname":
            target = rng.choice(TARGETS + OTHERS)
            out.append((name, "IN", "CNAME", random_case(rng, target)))
            owner = target
        elif kind == "loop":
            out.append((name, "IN", "CNAME", qname))
        elif kind == "other-type":
            out.append((name, "IN", _other(qtype), _address(rng, _other(qtype))))
        elif kind == "other-name":
            out.append((rng.choice(OTHERS), "IN", qtype, _address(rng, qtype)))
        elif kind == "txt":
            out.append((name, "IN", "TXT", '"198.51.100.1"'))
        elif kind == "other-class":
            out.append(rng.choice([(name, "CH", "TXT", '"x"'),
                                   (name, "HS", qtype, r"\# 4 c6336401"),
                                   (name, "CH", "A", "lab.test. 1234"),
                                   (name, "CH", "CNAME", rng.choice(TARGETS))]))
        elif kind == "unknown":
            out.append((name, "IN", "TYPE65280", r"\# 3 abcdef"))
        else:
            out.append((name, "IN", "MX", f"10 mail.{ZONE}"))
    if rng.random() < 0.3:
        rng.shuffle(out)
    return out


def random_reply(rng: random.Random, query: dns.message.Message) -> bytes:
    """A valid reply to ``query`` built with dnspython (names compressed as dnspython does)."""
    r = dns.message.make_response(query)
    question = query.question[0]
    qname, qtype = question.name.to_text(), dns.rdatatype.to_text(question.rdtype)
    if rng.random() < 0.2:
        r.question = [dns.rrset.RRset(dns.name.from_text(random_case(rng, qname)),
                                      dns.rdataclass.IN, question.rdtype)]
    r.set_rcode(rng.choice(RCODES))
    for owner, rdclass, rdtype, text in _answer(rng, qname, qtype):
        r.answer.append(dns.rrset.from_text(owner, rng.choice([0, 30, 2**31]), rdclass, rdtype,
                                            text))
    if rng.random() < 0.5:
        r.authority.append(dns.rrset.from_text(
            ZONE, 5, "IN", "SOA", f"ns1.{ZONE} hostmaster.{ZONE} 1 2 3 4 5"))
    if rng.random() < 0.2:
        r.authority.append(dns.rrset.from_text(ZONE, 5, "IN", "NS", f"ns1.{ZONE}"))
        if rng.random() < 0.5:
            r.additional.append(dns.rrset.from_text(f"ns1.{ZONE}", 5, "IN", "A", "192.0.2.53"))
    if rng.random() < 0.15:
        options = [dns.edns.GenericOption(10, bytes(8))] if rng.random() < 0.5 else []
        r.use_edns(0, payload=rng.choice([512, 1232]), options=options)
        if rng.random() < 0.3:
            r.set_rcode(rng.choice([16, 23, 3]))   # an extended rcode, or NXDOMAIN
    if rng.random() < 0.08:
        r.use_tsig(KEYRING)
    return r.to_wire()


# -- replies written by hand: compression pointers dnspython itself would not write -------

_TYPES = {"A": 1, "NS": 2, "CNAME": 5, "SOA": 6, "AAAA": 28}


class _Writer:
    """A reply written byte by byte; a name may be plain, a pointer to an earlier copy of
    itself or of a suffix (possibly a pointer to a pointer), or labels then a pointer."""

    def __init__(self, rng: random.Random):
        self.rng, self.wire, self.seen = rng, bytearray(), {}

    def name(self, text: str) -> None:
        labels = [lab for lab in text.lower().rstrip(".").split(".") if lab]
        for k in range(len(labels)):
            suffix = ".".join(labels[k:])
            if suffix in self.seen and self.rng.random() < 0.8:
                self.wire += struct.pack("!H", 0xC000 | self.rng.choice(self.seen[suffix]))
                return
            if len(self.wire) < 0x3FFF:
                self.seen.setdefault(suffix, []).append(len(self.wire))
            label = random_case(self.rng, labels[k]) if self.rng.random() < 0.2 else labels[k]
            self.wire += bytes([len(label)]) + label.encode()
        self.wire += b"\x00"

    def record(self, owner: str, rdtype: str, data: str) -> None:
        at = len(self.wire)
        self.name(owner)
        if self.wire[at] >= 0xC0 and len(self.wire) - at == 2:   # an owner that is a pointer
            self.seen.setdefault(owner.lower().rstrip("."), []).append(at)
        self.wire += struct.pack("!HHI", _TYPES[rdtype], 1, 30)
        length_at = len(self.wire)
        self.wire += b"\x00\x00"
        if rdtype == "A":
            self.wire += bytes([198, 51, 100, int(data)])
        elif rdtype == "AAAA":
            self.wire += bytes(15) + bytes([int(data)])
        elif rdtype == "SOA":
            self.name(f"ns1.{ZONE}")
            self.name(f"hostmaster.{ZONE}")
            self.wire += struct.pack("!IIIII", 1, 2, 3, 4, 5)
        else:
            self.name(data)
        struct.pack_into("!H", self.wire, length_at, len(self.wire) - length_at - 2)


def raw_reply(rng: random.Random, query: dns.message.Message) -> bytes:
    """A valid, plain reply to ``query`` with hand-made compression."""
    question = query.question[0]
    qname, qtype = question.name.to_text(), dns.rdatatype.to_text(question.rdtype)
    w = _Writer(rng)
    answer = []
    owner = qname
    for _ in range(rng.randrange(5)):
        if rng.random() < 0.3:
            target = rng.choice(TARGETS)
            answer.append((owner, "CNAME", target))
            owner = target
        else:
            answer.append((rng.choice([owner, owner, rng.choice(OTHERS)]),
                           rng.choice([qtype, qtype, qtype, _other(qtype)]), str(rng.randrange(4))))
    authority = [(ZONE, "SOA", "")] if rng.random() < 0.5 else []
    rcode = rng.choice(RCODES)
    w.wire += struct.pack("!HHHHHH", query.id, 0x8000 | 0x0400 | rcode, 1, len(answer),
                          len(authority), 0)
    w.name(qname)
    w.wire += struct.pack("!HH", question.rdtype, 1)
    for owner, rdtype, data in answer + authority:
        w.record(owner, rdtype, data)
    return bytes(w.wire)


# -- mutations ----------------------------------------------------------------------------

MUTATIONS = ["flip", "byte", "truncate", "extend", "splice", "id", "counts", "flags",
             "pointer", "drop-bytes"]


def mutate(rng: random.Random, wire: bytes, donor: bytes) -> tuple[str, bytes]:
    """One random change to ``wire`` (``donor``: another reply to splice from)."""
    how = rng.choice(MUTATIONS)
    b = bytearray(wire)
    if not b:
        return how, bytes(rng.randbytes(rng.randrange(1, 16)))
    k = rng.randrange(len(b))
    if how == "flip":
        b[k] ^= 1 << rng.randrange(8)
    elif how == "byte":
        b[k] = rng.randrange(256)
    elif how == "truncate":
        del b[k:]
    elif how == "extend":
        b += rng.randbytes(rng.randrange(1, 8))
    elif how == "splice":
        d0 = rng.randrange(len(donor) + 1)
        d1 = rng.randrange(d0, min(len(donor), d0 + 40) + 1)
        b[k:rng.randrange(k, len(b) + 1)] = donor[d0:d1]
    elif how == "id":
        b[0:2] = struct.pack("!H", rng.randrange(65536))
    elif how == "counts" and len(b) >= 12:
        field = rng.randrange(4)
        b[4 + 2 * field:6 + 2 * field] = struct.pack("!H", rng.choice([0, 1, 2, 3, 9, 65535]))
    elif how == "flags" and len(b) >= 4:
        b[2] ^= rng.choice([0x80, 0x78, 0x08, 0x02, 0x01])   # QR, opcode, opcode bit, TC, RD
        if rng.random() < 0.5:
            b[3] = (b[3] & 0xF0) | rng.randrange(16)           # rcode
    elif how == "pointer" and k >= 13:
        b[k - 1:k + 1] = struct.pack("!H", 0xC000 | rng.randrange(k + 2))
    elif how == "drop-bytes":
        del b[k:k + rng.randrange(1, 5)]
    return how, bytes(b)


def case(rng: random.Random) -> tuple[dns.message.Message, bytes]:
    """A query and a reply to it, valid or mutated (one to three times)."""
    q = random_query(rng)
    make = random_reply if rng.random() < 0.7 else raw_reply
    wire = make(rng, q)
    if rng.random() < 0.6:
        donor = random_reply(rng, random_query(rng))
        for _ in range(rng.randrange(1, 4)):
            wire = mutate(rng, wire, donor)[1]
    return q, wire


# -- the oracle ---------------------------------------------------------------------------

def oracle(query: dns.message.Message, wire: bytes) -> tuple[str, str, int] | None:
    """(outcome, rcode, addresses) as dnspython alone reads ``wire`` as the reply to
    ``query``; None when the datagram is not the reply (another id). The policies are the
    documented ones (lab/core/probe.py), written again here with dnspython's objects."""
    if len(wire) < 2 or int.from_bytes(wire[:2], "big") != query.id:
        return None
    malformed = ("malformed", "none", 0)
    try:
        m = dns.message.from_wire(wire)
    except Exception:
        return malformed
    q = query.question[0]
    if (not m.flags & dns.flags.QR or m.opcode() != dns.opcode.QUERY or len(m.question) != 1
            or (m.question[0].name, m.question[0].rdtype, m.question[0].rdclass)
            != (q.name, q.rdtype, dns.rdataclass.IN)):
        return malformed
    name, chain = q.name, {q.name}
    while True:
        cname = m.get_rrset(m.answer, name, dns.rdataclass.IN, dns.rdatatype.CNAME)
        if cname is None or cname[0].target in chain:
            break
        name = cname[0].target
        chain.add(name)
    addresses = sum(len(rrset) for rrset in m.answer
                    if rrset.rdtype == q.rdtype and rrset.rdclass == dns.rdataclass.IN
                    and rrset.name in chain)
    rcode = dns.rcode.to_text(m.rcode())
    rcode = f"RCODE{rcode}" if rcode.isdigit() else rcode
    outcome = {"NOERROR": "ok" if addresses else "nodata", "NXDOMAIN": "nxdomain",
               "SERVFAIL": "servfail", "REFUSED": "refused"}.get(rcode, "error")
    return outcome, rcode, addresses
