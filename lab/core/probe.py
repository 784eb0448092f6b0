"""What a client saw when it resolved an endpoint: the outcome of one probe."""

from dataclasses import dataclass
from enum import Enum


class Outcome(str, Enum):
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


@dataclass(frozen=True)
class ProbeResult:
    """One probe: which path and name, what came back, how long it took."""

    path: str          # "resolver" (through the caching resolver) or "authoritative"
    name: str
    outcome: Outcome
    rcode: str         # mnemonic, or "none" when no answer arrived
    addresses: int
    latency_s: float
