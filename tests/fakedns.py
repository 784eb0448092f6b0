"""An in-process DNS server on loopback whose handler can answer, go empty, fail, stay
silent or send hostile bytes (after dnspython's tests/nanonameserver.py).

``mode`` names a canned behaviour (see ``_reply``), or is a function from the query's wire
bytes to the datagrams to send back (bytes, a list of bytes, or None for silence)."""

import socket
import threading
from typing import Callable

import dns.message
import dns.rcode
import dns.rrset
import dns.tsigkeyring

Handler = Callable[[bytes], "bytes | list[bytes] | None"]
TSIG_KEYRING = dns.tsigkeyring.from_text({"lab-key.": "c2VjcmV0IGtleSBmb3IgdGhlIGxhYg=="})


class FakeDNS:
    """Answers every query according to ``mode``; change ``mode`` between queries."""

    def __init__(self, mode: "str | Handler" = "ok"):
        self.mode = mode
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.1)
        self.port = self.sock.getsockname()[1]
        self.queries = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join(timeout=2)
        self.sock.close()

    def _serve(self):
        while not self._stop.is_set():
            try:
                wire, peer = self.sock.recvfrom(4096)
            except (socket.timeout, OSError):
                continue
            self.queries += 1
            replies = self.mode(wire) if callable(self.mode) else self._reply(wire)
            for reply in [replies] if isinstance(replies, bytes) else replies or []:
                self.sock.sendto(reply, peer)

    def _reply(self, wire: bytes) -> bytes | list[bytes] | None:
        q = dns.message.from_wire(wire)
        r = dns.message.make_response(q)
        name = q.question[0].name
        if self.mode == "drop":
            return None
        if self.mode == "garbage":                # the query's id, then bytes that do not parse
            return wire[:2] + b"garbage"
        if self.mode == "stray-garbage":          # another id: not the reply, ignored
            return bytes([wire[0] ^ 0xFF, wire[1]]) + b"garbage"
        if self.mode in ("wrong-id", "wrong-id-then-right"):
            r.id = q.id ^ 0x8000     # far from the ids of other queries in flight
        if self.mode in ("ok", "wrong-id", "wrong-id-then-right", "truncated", "tsig"):
            r.answer.append(dns.rrset.from_text(name, 30, "IN", "A", "198.51.100.1", "198.51.100.2"))
        elif self.mode == "nxdomain":
            r.set_rcode(dns.rcode.NXDOMAIN)
        elif self.mode == "servfail":
            r.set_rcode(dns.rcode.SERVFAIL)
        elif self.mode == "cname-only":
            r.answer.append(dns.rrset.from_text(name, 30, "IN", "CNAME", "gone.lab.test."))
        elif self.mode == "cname":                # alias: cname with its target's addresses
            r.answer.append(dns.rrset.from_text(name, 30, "IN", "CNAME", "g7.tree.plans.lab.test."))
            r.answer.append(dns.rrset.from_text("g7.tree.plans.lab.test.", 30, "IN", "A",
                                                "198.51.100.1", "198.51.100.2"))
        elif self.mode == "other-name":           # addresses, but for a name not asked
            r.answer.append(dns.rrset.from_text("other.lab.test.", 30, "IN", "A", "198.51.100.1"))
        if self.mode == "tsig":                   # signed: a client without the key rejects it
            r.use_tsig(TSIG_KEYRING)
        out = r.to_wire()
        if self.mode == "truncated":
            return out[:-3]
        if self.mode == "wrong-id-then-right":
            r.id = q.id
            return [out, r.to_wire()]
        return out
