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


SPECS = {cls.__dataclass_fields__["role"].default: cls
         for cls in (PlannerSpec, EnactorSpec, ClientsSpec)}
Spec = PlannerSpec | EnactorSpec | ClientsSpec


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
    try:
        return cls(**raw)
    except TypeError as e:
        raise LabError(f"worker spec for {cls.__name__}: {e}") from None
