"""The lab's pager: the webhook receiver Alertmanager notifies (compose service `pager`).

Each alert of a notification becomes one `paged` event on stdout, a JSON line like every
worker's event; the runner follows this container's log stream during a run, so pages join
the run's one history (and time_to_page_s is derived from it, lab/core/blast.py). The event
is stamped when the notification arrives: that is when an on-call engineer's phone rang.

Hostile or malformed bodies get HTTP 400 and one line on stderr; the pager never dies on a
request. It also serves its own counters on /metrics (Prometheus scrapes it) and /health.

Run as `python3 -m lab.pager --port 9095` (the lab image; compose's `pager` service).
"""

import argparse
import json
import sys
import threading
import time
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from lab.core.history import Event, Kind

SOURCE = "alertmanager"
MAX_BODY = 1 << 20          # an Alertmanager notification is a few kB
MAX_ALERTS = 1000
MAX_LABELS = 64
MAX_TEXT = 256


class BadNotification(ValueError):
    pass


def _text(value, what: str) -> str:
    if not isinstance(value, str) or len(value) > MAX_TEXT:
        raise BadNotification(f"{what} is not a string of at most {MAX_TEXT} characters")
    return value


def rfc3339(value: str) -> float | None:
    """Alertmanager's times (nanoseconds, 'Z' or an offset) as epoch seconds; its zero time
    ("0001-01-01T00:00:00Z", an alert not yet ended) as None."""
    value = _text(value, "a time")
    if value.startswith("0001-01-01"):
        return None
    main, _, rest = value.partition(".")
    frac, zone = "", rest
    if rest:
        digits = len(rest) - len(rest.lstrip("0123456789"))
        frac, zone = rest[:digits], rest[digits:]
    else:
        for sign in ("Z", "z", "+", "-"):
            idx = main.rfind(sign, 10)
            if idx > 0:
                main, zone = main[:idx], main[idx:]
                break
    zone = "+00:00" if zone in ("Z", "z") else zone
    try:
        stamp = datetime.fromisoformat(main + zone).timestamp()
    except ValueError:
        raise BadNotification(f"{value!r} is not an RFC 3339 time") from None
    return stamp + (float("0." + frac) if frac else 0.0)


def events_of(body: bytes, now: float) -> list[Event]:
    """The `paged` events of one webhook notification (Alertmanager's version 4 payload)."""
    try:
        doc = json.loads(body)
    except (ValueError, UnicodeDecodeError) as e:
        raise BadNotification(f"body is not JSON: {str(e)[:80]}") from None
    if not isinstance(doc, dict) or doc.get("version") != "4":
        raise BadNotification("not an Alertmanager webhook notification (version 4)")
    alerts = doc.get("alerts")
    if not isinstance(alerts, list) or not alerts or len(alerts) > MAX_ALERTS:
        raise BadNotification(f"`alerts` must be a list of 1 to {MAX_ALERTS} alerts")
    out = []
    for alert in alerts:
        if not isinstance(alert, dict):
            raise BadNotification("an alert is not an object")
        labels = alert.get("labels")
        if (not isinstance(labels, dict) or len(labels) > MAX_LABELS
                or "alertname" not in labels):
            raise BadNotification("an alert has no labels or no alertname")
        labels = {_text(k, "a label name"): _text(v, "a label value") for k, v in labels.items()}
        status = _text(alert.get("status"), "status")
        if status not in ("firing", "resolved"):
            raise BadNotification(f"status {status!r} is neither firing nor resolved")
        out.append(Event(now, SOURCE, Kind.PAGED, {
            "alert": labels["alertname"], "status": status,
            "severity": labels.get("severity", ""), "labels": labels,
            "starts_at": rfc3339(alert.get("startsAt", "0001-01-01T00:00:00Z")),
            "ends_at": rfc3339(alert.get("endsAt", "0001-01-01T00:00:00Z"))}))
    return out


class Pager:
    """What the HTTP handler calls: turns notifications into events for ``sink`` and counts
    them for /metrics."""

    def __init__(self, sink, clock=time.time):
        self.sink = sink
        self.clock = clock
        self.counts: dict[tuple[str, str], int] = {}
        self.rejected = 0
        self._lock = threading.Lock()

    def notify(self, body: bytes) -> int:
        try:
            events = events_of(body, self.clock())
        except BadNotification:
            with self._lock:
                self.rejected += 1
            raise
        with self._lock:
            for e in events:
                key = (e.data["alert"], e.data["status"])
                self.counts[key] = self.counts.get(key, 0) + 1
                self.sink(e)
        return len(events)

    def exposition(self) -> str:
        lines = ["# HELP dnslab_pages_total Alert notifications received from Alertmanager.",
                 "# TYPE dnslab_pages_total counter"]
        with self._lock:
            for (alert, status), n in sorted(self.counts.items()):
                lines.append(f'dnslab_pages_total{{alert="{_escape(alert)}",status="{status}"}} {n}')
            lines += ["# HELP dnslab_pager_rejected_total Requests refused as not a notification.",
                      "# TYPE dnslab_pager_rejected_total counter",
                      f"dnslab_pager_rejected_total {self.rejected}"]
        return "\n".join(lines) + "\n"


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def handler_for(pager: Pager, log=lambda m: print(m, file=sys.stderr, flush=True)):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        timeout = 10

        def _reply(self, code: int, text: str, ctype: str = "text/plain") -> None:
            body = text.encode()
            self.send_response(code)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self):
            if self.path == "/metrics":
                self._reply(200, pager.exposition(), "text/plain; version=0.0.4")
            elif self.path == "/health":
                self._reply(200, "ok\n")
            else:
                self._reply(404, "not found\n")

        def do_POST(self):
            try:
                length = int(self.headers.get("Content-Length", ""))
            except ValueError:
                length = -1
            if not 0 < length <= MAX_BODY:
                self.close_connection = True
                return self._reply(400, f"a body of 1 to {MAX_BODY} bytes is required\n")
            body = self.rfile.read(length)
            try:
                n = pager.notify(body)
            except BadNotification as e:
                log(f"pager: refused a request from {self.client_address[0]}: {e}")
                return self._reply(400, f"{e}\n")
            self._reply(200, f"{n} alert(s) recorded\n")

        def log_message(self, format, *args):
            pass

    return Handler


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python3 -m lab.pager",
                                description="Alertmanager webhook receiver: pages as events")
    p.add_argument("--port", type=int, default=9095)
    p.add_argument("--listen", default="0.0.0.0")
    args = p.parse_args(argv)
    from lab.eventlog import stdout_sink
    server = ThreadingHTTPServer((args.listen, args.port), handler_for(Pager(stdout_sink())))
    server.daemon_threads = True
    print(f"pager: listening on {args.listen}:{args.port}", file=sys.stderr, flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    import signal
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    sys.exit(main())
