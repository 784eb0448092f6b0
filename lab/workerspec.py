"""What a worker container runs: one spec the runner writes and the worker reads
(`dnslab worker --spec JSON`). The same dataclasses are built by the runner (lab/run.py) and
by the hand-run worker commands (`dnslab planner|enactor|clients`), so there is one list of
settings, not a command line on one side and a parser on the other."""

import dataclasses
import json
from dataclasses import dataclass, field

from lab.errors import LabError


@dataclass(frozen=True)
class PlannerSpec:
    store: str
    seed: int = 1
    period_s: float = 1.0
    max_seconds: float = 3600.0
    metrics_port: int | None = None
    # The regional endpoint's addresses (a cascade's lease service); empty: the default fleet.
    regional: tuple[str, ...] = ()
    role: str = field(default="planner", init=False)


@dataclass(frozen=True)
class EnactorSpec:
    name: str
    store: str
    backend: str = "powerdns"
    auth: str | None = None               # PowerDNS's address (powerdns backend)
    zone_store: str | None = None         # CoreDNS's etcd (coredns backend)
    api_key_file: str = "/run/secrets/pdns-api-key"
    mitigations: tuple[str, ...] = ()
    interlock_max_removed: float = 0.5
    keep: int = 5
    empty_answer: str = "nxdomain"
    alias: str = "flattened"
    ttl: int = 5
    poll_s: float = 0.2
    max_seconds: float = 3600.0
    metrics_port: int | None = None
    role: str = field(default="enactor", init=False)


@dataclass(frozen=True)
class ClientsSpec:
    first: int
    count: int
    resolver: str
    authoritative: str
    source: str = "prober"
    group: str | None = None              # every client in this group (default: alternate)
    interval_s: float = 0.5
    timeout_s: float = 1.0
    max_seconds: float = 3600.0
    metrics_port: int | None = None
    role: str = field(default="clients", init=False)


@dataclass(frozen=True)
class LeaseServiceSpec:
    """The cascade's lease service (lab/cascade/service.py): ``params`` are the cascade's
    model parameters (lab/core/cascade.py CascadeParams fields, as JSON)."""
    params: dict
    port: int = 7400
    max_seconds: float = 3600.0
    metrics_port: int | None = None
    role: str = field(default="lease-service", init=False)


@dataclass(frozen=True)
class FleetManagerSpec:
    """The cascade's fleet manager (lab/cascade/fleet.py): renews its hosts' leases at the
    service found by looking ``endpoint`` up at ``resolver``."""
    params: dict
    resolver: str
    endpoint: str
    port: int = 7400
    seed: int = 1
    max_seconds: float = 3600.0
    metrics_port: int | None = None
    role: str = field(default="fleet-manager", init=False)


SPECS = {cls.__dataclass_fields__["role"].default: cls
         for cls in (PlannerSpec, EnactorSpec, ClientsSpec, LeaseServiceSpec, FleetManagerSpec)}
Spec = PlannerSpec | EnactorSpec | ClientsSpec | LeaseServiceSpec | FleetManagerSpec


def to_json(spec: Spec) -> str:
    return json.dumps(dataclasses.asdict(spec), separators=(",", ":"), sort_keys=True)


def from_json(text: str) -> Spec:
    """The spec a runner wrote; LabError naming what is wrong otherwise."""
    try:
        raw = json.loads(text)
    except ValueError as e:
        raise LabError(f"worker spec is not JSON ({e}); the runner writes it") from None
    if not isinstance(raw, dict) or raw.get("role") not in SPECS:
        raise LabError(f"worker spec must name a role ({', '.join(SPECS)})")
    cls = SPECS[raw.pop("role")]
    names = {f.name for f in dataclasses.fields(cls) if f.init}
    if unknown := sorted(set(raw) - names):
        raise LabError(f"worker spec for {cls.__name__}: unknown setting {unknown[0]!r}")
    if "mitigations" in raw:
        raw["mitigations"] = tuple(raw["mitigations"])
    if "regional" in raw:
        raw["regional"] = tuple(raw["regional"])
    try:
        return cls(**raw)
    except TypeError as e:
        raise LabError(f"worker spec for {cls.__name__}: {e}") from None


def cascade_params_json(params) -> dict:
    """A CascadeParams as the JSON a spec carries."""
    raw = dataclasses.asdict(params)
    raw["remediations"] = sorted(params.remediations)
    raw["retry"] = str(params.retry)
    return raw


def cascade_params_from(raw: dict):
    """The CascadeParams a spec carries; LabError naming what is wrong otherwise."""
    from lab.core.cascade import CascadeParams
    names = {f.name for f in dataclasses.fields(CascadeParams)}
    if not isinstance(raw, dict) or (unknown := sorted(set(raw) - names)):
        raise LabError(f"worker spec: cascade params must be CascadeParams fields"
                       + (f", not {unknown[0]!r}" if isinstance(raw, dict) else ""))
    try:
        return CascadeParams(**{**raw, "remediations": frozenset(raw.get("remediations", ()))})
    except (TypeError, ValueError) as e:
        raise LabError(f"worker spec: cascade params: {e}") from None

