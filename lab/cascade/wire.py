"""The lease protocol between the fleet manager and the lease service: newline-delimited
JSON over TCP, one line per message, small enough to read in one sitting.

Manager -> service, one line per *batch* (the hosts one kind of work sent in one step,
sharing a deadline -- one request per batch, not one per host, so 2000 hosts cost a few
lines a step):

    {"id": 17, "kind": "renew" | "reestablish", "n": 120, "units": 1, "deadline": 1.7e9}

``n`` hosts of ``units`` units each; ``deadline`` is the client's, in epoch seconds (the
service uses it only to count useful vs wasted work, and to shed under deadline-shedding).
Host ids never cross the wire: a reply names the sub-range of the batch that completed.

Service -> manager, as work completes (in time or late: the manager judges):

    {"id": 17, "a": 0, "b": 35}          hosts [a, b) of batch 17 are done
    {"id": 17, "error": "queue full"}    batch 17 refused (the connection's bound)
    {"stats": [useful, wasted, shed, queued]}   the service's counters (units, since its
                                         start; queued now), once a step while connected

A connection that closes has its queued batches cancelled: that is how a manager restart
drops the service's backlog of its work. The bounds below are the service's defence
against a hostile or broken client; a line that breaks them ends that connection only.
"""

import json
import math
from dataclasses import dataclass

KINDS = ("renew", "reestablish")
MAX_LINE = 4096                 # bytes: a request is ~90
MAX_HOSTS = 100_000             # hosts in one batch
MAX_UNITS = 100                 # units of work per host (CascadeParams allows 1..100)
MAX_QUEUED_BATCHES = 100_000    # per connection, queued at the service (then: refused)
MAX_WRITE_BUFFER = 1 << 20      # bytes of replies a client has not read: then dropped


class WireError(ValueError):
    """A line that is not a lease request or reply: the connection that sent it is dropped."""


@dataclass(frozen=True)
class Request:
    id: int
    kind: str
    n: int
    units: int
    deadline: float             # epoch seconds


@dataclass(frozen=True)
class Done:
    id: int
    a: int
    b: int


@dataclass(frozen=True)
class Refused:
    id: int
    error: str


@dataclass(frozen=True)
class Stats:
    useful: int
    wasted: int
    shed: int
    queued: int


def encode(message: dict) -> bytes:
    return json.dumps(message, separators=(",", ":")).encode() + b"\n"


def request_line(r: Request) -> bytes:
    return encode({"id": r.id, "kind": r.kind, "n": r.n, "units": r.units,
                   "deadline": round(r.deadline, 3)})


def _object(line: bytes) -> dict:
    if len(line) > MAX_LINE:
        raise WireError(f"line of {len(line)} bytes (at most {MAX_LINE})")
    try:
        value = json.loads(line)
    except (UnicodeDecodeError, ValueError) as e:
        raise WireError(f"not JSON: {e}") from None
    if not isinstance(value, dict):
        raise WireError(f"not a JSON object: {type(value).__name__}")
    return value


def _int(value, name: str, lo: int, hi: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
        raise WireError(f"{name} must be a whole number from {lo} to {hi}, not {value!r:.40}")
    return value


def parse_request(line: bytes) -> Request:
    m = _object(line)
    kind = m.get("kind")
    if kind not in KINDS:
        raise WireError(f"kind must be one of {', '.join(KINDS)}, not {kind!r:.40}")
    deadline = m.get("deadline")
    if isinstance(deadline, bool) or not isinstance(deadline, (int, float)) \
            or not math.isfinite(deadline):
        raise WireError(f"deadline must be epoch seconds, not {deadline!r:.40}")
    return Request(id=_int(m.get("id"), "id", 0, 2**53), kind=kind,
                   n=_int(m.get("n"), "n", 1, MAX_HOSTS),
                   units=_int(m.get("units"), "units", 1, MAX_UNITS), deadline=float(deadline))


def parse_reply(line: bytes) -> Done | Refused | Stats:
    m = _object(line)
    if "stats" in m:
        s = m["stats"]
        if not isinstance(s, list) or len(s) != 4:
            raise WireError(f"stats must be [useful, wasted, shed, queued], not {s!r:.40}")
        return Stats(*(_int(v, "stats", 0, 2**62) for v in s))
    rid = _int(m.get("id"), "id", 0, 2**53)
    if "error" in m:
        return Refused(rid, str(m["error"])[:200])
    a = _int(m.get("a"), "a", 0, MAX_HOSTS)
    b = _int(m.get("b"), "b", 0, MAX_HOSTS)
    if a >= b:
        raise WireError(f"empty range [{a}, {b})")
    return Done(rid, a, b)
