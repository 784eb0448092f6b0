"""An in-process DNS server on loopback whose handler can answer, go empty, fail, stay
silent or send hostile bytes (after dnspython's tests/nanonameserver.py)."""

import socket
import threading

import dns.message
import dns.rcode
import dns.rrset


class FakeDNS:
    """Answers every query according to ``mode``; change ``mode`` between queries."""

    def __init__(self, mode: str = "ok"):
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
            reply = self._reply(wire)
            if reply is not None:
                self.sock.sendto(reply, peer)

    def _reply(self, wire: bytes) -> bytes | None:
        q = dns.message.from_wire(wire)
        r = dns.message.make_response(q)
        name = q.question[0].name
        if self.mode == "drop":
            return None
        if self.mode == "garbage":
            return b"\x00\x01garbage"
        if self.mode == "wrong-id":
            r.id = (q.id + 1) % 65536
        if self.mode in ("ok", "wrong-id"):
            r.answer.append(dns.rrset.from_text(name, 30, "IN", "A", "198.51.100.1", "198.51.100.2"))
        elif self.mode == "nxdomain":
            r.set_rcode(dns.rcode.NXDOMAIN)
        elif self.mode == "servfail":
            r.set_rcode(dns.rcode.SERVFAIL)
        elif self.mode == "cname-only":
            r.answer.append(dns.rrset.from_text(name, 30, "IN", "CNAME", "gone.lab.test."))
        return r.to_wire()
