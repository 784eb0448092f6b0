"""One DNS query over UDP with dnspython, turned into a ProbeResult. No retries: a probe
reports exactly what one client saw."""

import time

import dns.exception
import dns.flags
import dns.message
import dns.query
import dns.rcode
import dns.rdatatype

from lab.core.probe import Outcome, ProbeResult, classify

ADDRESS_TYPES = (dns.rdatatype.A, dns.rdatatype.AAAA)


def count_addresses(response: dns.message.Message) -> int:
    return sum(len(rrset) for rrset in response.answer if rrset.rdtype in ADDRESS_TYPES)


def probe(path: str, server: str, name: str, *, rdtype: str = "A", timeout_s: float = 1.0,
          recursion: bool = True, port: int = 53, clock=time.monotonic) -> ProbeResult:
    query = dns.message.make_query(name, rdtype)
    if not recursion:
        query.flags &= ~dns.flags.RD
    start = clock()
    rcode, addresses, timed_out, malformed = None, 0, False, False
    try:
        response = dns.query.udp(query, server, timeout=timeout_s, port=port)
        rcode = dns.rcode.to_text(response.rcode())
        addresses = count_addresses(response)
    except dns.exception.Timeout:
        timed_out = True
    except (dns.exception.FormError, dns.query.BadResponse, dns.query.UnexpectedSource,
            dns.exception.SyntaxError, ValueError):
        malformed = True
    except OSError:
        pass
    latency = clock() - start
    outcome = classify(rcode, addresses, timed_out=timed_out, malformed=malformed)
    return ProbeResult(path=path, name=name, outcome=outcome, rcode=rcode or "none",
                       addresses=addresses, latency_s=latency)


__all__ = ["probe", "count_addresses", "Outcome"]
