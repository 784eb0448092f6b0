"""The virtual clients: who asks what, through which path. The real prober containers and
the simulation lay clients out the same way."""

import math
from dataclasses import dataclass

# Endpoints clients ask for AAAA records (the dual-stack endpoint).
IPV6_ENDPOINTS = {"dynamodb.us-east-1.api"}


@dataclass(frozen=True)
class Client:
    id: str
    group: str          # "resolver" (through the caching resolver) | "direct" (authoritative)
    endpoint: str       # endpoint name relative to the zone
    rdtype: str


def clients_for(first: int, count: int, endpoints: list[str], ipv6_endpoints: set[str],
                direct_every: int = 2) -> list[Client]:
    """Clients first..first+count-1: alternate groups, then spread over the endpoints."""
    out = []
    for i in range(first, first + count):
        group = "direct" if i % direct_every == 1 else "resolver"
        endpoint = endpoints[(i // direct_every) % len(endpoints)]
        out.append(Client(f"c{i:03d}", group, endpoint,
                          "AAAA" if endpoint in ipv6_endpoints else "A"))
    return out


def client_blocks(clients: int, containers: int) -> list[tuple[int, int]]:
    """(first, count) of each prober container's clients."""
    per = math.ceil(clients / containers)
    return [(j * per, min(per, clients - j * per)) for j in range(containers)
            if clients - j * per > 0]
