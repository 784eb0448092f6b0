"""End-to-end check of the stack: a record written through the PowerDNS API must resolve
through the caching resolver, then be removed again."""

import secrets
import time
from dataclasses import dataclass

from lab.backends.powerdns import PowerDNS, RRset
from lab.core.probe import Outcome
from lab.dnsclient import probe
from lab.errors import LabError


@dataclass(frozen=True)
class SmokeResult:
    name: str
    address: str
    seconds_to_resolve: float


def run(api: PowerDNS, resolver: str, zone: str, *, timeout_s: float = 15.0,
        clock=time.monotonic, sleep=time.sleep) -> SmokeResult:
    label = "smoke-" + secrets.token_hex(4)
    name = f"{label}.{zone}"
    address = f"203.0.113.{secrets.randbelow(254) + 1}"
    api.replace(zone, RRset(name, "A", 5, (address,)))
    start = clock()
    try:
        last = None
        while clock() - start < timeout_s:
            last = probe("resolver", resolver, name, timeout_s=1.0)
            if last.outcome is Outcome.OK:
                return SmokeResult(name, address, clock() - start)
            sleep(0.2)
        raise LabError(f"{name} written through the PowerDNS API did not resolve through the "
                       f"resolver at {resolver} within {timeout_s:.0f} s (last: "
                       f"{last.outcome.value if last else 'no probe'}); check the recursor's "
                       "forward-zones")
    finally:
        api.delete(zone, name, "A")
