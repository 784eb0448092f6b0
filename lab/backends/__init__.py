"""DNS backends: the authoritative servers enactors write plans to. Both implement the
DnsBackend port (lab/core/ports.py); ``plans_backend`` builds the one an experiment names."""

from dataclasses import dataclass

from lab.core.experiment import BACKENDS, FIXED_NEGATIVE_TTL_S  # noqa: F401  (named from here)


@dataclass(frozen=True)
class Services:
    """The compose services one backend runs on."""

    server: str      # the authoritative server direct clients ask
    resolver: str    # the caching resolver forwarding the lab zone to it


SERVICES = {"powerdns": Services("pdns-auth", "recursor"),
            "coredns": Services("coredns", "recursor-coredns")}


def plans_backend(kind: str, zone: str, *, empty_answer: str, ttl: int, alias: str = "flattened",
                  pdns_address: str | None = None, pdns_api_key: str | None = None,
                  zone_store_address: str | None = None):
    """PowerDNS through its HTTP API, or CoreDNS through its zone store (etcd)."""
    if kind == "powerdns":
        from lab.backends.pdns_plans import PowerDNSPlans
        from lab.backends.powerdns import PowerDNS
        if not (pdns_address and pdns_api_key):
            raise ValueError("the powerdns backend needs the PowerDNS address and API key")
        return PowerDNSPlans(PowerDNS(pdns_address, pdns_api_key), zone,
                             empty_answer=empty_answer, ttl=ttl, alias=alias)
    if kind == "coredns":
        from lab.backends.coredns_plans import CoreDNSPlans
        from lab.etcd import EtcdGateway
        if not zone_store_address:
            raise ValueError("the coredns backend needs the zone store (etcd) address")
        return CoreDNSPlans(EtcdGateway(zone_store_address), zone, empty_answer=empty_answer,
                            ttl=ttl, alias=alias)
    raise ValueError(f"backend must be one of {BACKENDS}, not {kind!r}")
