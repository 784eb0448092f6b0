"""The scenario a run executes, read from an experiment file. (This is the race issue's
hard-coded shape; the experiment-file issue generalises the format.) Loading validates every
field before any container is touched; errors name the file and the field."""

import re
from dataclasses import dataclass, field, fields
from pathlib import Path

import yaml

from lab.backends import BACKENDS, FIXED_NEGATIVE_TTL_S
from lab.core.enactor import STEPS
from lab.core.faults import Fault, FaultKind
from lab.core.plan import DEFAULT_ENDPOINTS
from lab.errors import LabError


class ExperimentError(LabError):
    """The experiment file is malformed; the message names the file and field."""

    def __init__(self, message: str):
        super().__init__(" ".join(message.split()))   # always one line


@dataclass(frozen=True)
class TimedFault:
    at_s: float       # seconds after injection starts, or after fault `after` took effect
    fault: Fault
    after: int | None = None   # index of an earlier fault (like AWS FIS `startAfter`)


@dataclass(frozen=True)
class Scenario:
    title: str
    expect: str          # "outage" | "violation" | "no-outage" | "hold" (see run._as_expected)
    seed: int = 1
    backend: str = "powerdns"
    empty_answer: str = "nxdomain"
    alias: str = "flattened"             # "flattened" (Route 53 style) | "cname"
    record_ttl_s: int = 5
    negative_ttl_s: int = 30
    planner_period_s: float = 1.0
    keep_generations: int = 5
    enactors: tuple[str, ...] = ("enactor-a", "enactor-b", "enactor-c")
    clients: int = 52
    prober_containers: int = 2
    client_interval_s: float = 0.5
    steady_state_s: float = 5.0          # the steady-state window, before and after
    max_failed_ratio: float = 0.0        # hypothesis: failed probes / probes in the window
    stop_clients_affected_fraction: float | None = None   # stop condition: abort beyond it
    duration_s: float = 30.0             # how long the method runs when no outage ends it
    hold_stuck_s: float = 8.0            # after the endpoint empties: show automation stuck
    repair: bool = True                  # operator repair after the outage
    recover_s: float | None = None       # after repair (default: both TTLs + 5 s)
    faults: tuple[TimedFault, ...] = field(default_factory=tuple)
    # Safeguards switched on (MITIGATIONS); the interlock's velocity bound.
    mitigations: tuple[str, ...] = ()
    interlock_max_removed_fraction: float = 0.5

    @property
    def effective_negative_ttl_s(self) -> int:
        """The negative TTL resolvers will see: the file's, unless the backend fixes it."""
        return FIXED_NEGATIVE_TTL_S.get(self.backend, self.negative_ttl_s)

    @property
    def recovery_window_s(self) -> float:
        if self.recover_s is not None:
            return self.recover_s
        return max(self.record_ttl_s, self.effective_negative_ttl_s) + self.record_ttl_s + 5


# The safeguards a file (or `dnslab compare`) can switch on: four in the enactor, the
# interlock at the DNS layer, serve-stale in the clients' resolver.
MITIGATIONS = ("freshness-cas", "cleanup-skips-active", "interlock", "self-repair", "fencing",
               "serve-stale")

# Pause target meaning the run's authoritative server (pdns-auth or coredns): it stops
# answering, as an unreachable authoritative does.
AUTHORITATIVE = "authoritative"

CHOICES = {"expect": ("outage", "violation", "no-outage", "hold"), "backend": BACKENDS,
           "empty_answer": ("nxdomain", "nodata"), "alias": ("flattened", "cname")}
MAXIMUMS_EXTRA = {"max_failed_ratio": 1, "stop_clients_affected_fraction": 1,
                  "interlock_max_removed_fraction": 1}
MINIMUMS = {"clients": 1, "prober_containers": 1, "keep_generations": 1, "record_ttl_s": 1,
            "negative_ttl_s": 0, "planner_period_s": 0.05, "client_interval_s": 0.01,
            "seed": 0}
MAXIMUMS = {"clients": 500, "prober_containers": 9, "keep_generations": 1000,
            "record_ttl_s": 86400, "negative_ttl_s": 86400, "planner_period_s": 60,
            "client_interval_s": 60, "steady_state_s": 600, "duration_s": 86400,
            "hold_stuck_s": 3600, "recover_s": 86400, "seed": 2**31, **MAXIMUMS_EXTRA}
_SIMPLE = {f.name: f for f in fields(Scenario)
           if f.name not in ("faults", "enactors", "mitigations")}
_TYPES = {"int": int, "float": (int, float), "str": str, "bool": bool,
          "float | None": (int, float, type(None))}


def _key_lines(text: str) -> dict[tuple, int]:
    """1-based line of every mapping key and sequence item, by path: ("faults", 0, "step")."""
    lines: dict[tuple, int] = {}

    def walk(node, path: tuple) -> None:
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                k = (*path, key.value)
                lines[k] = key.start_mark.line + 1
                walk(value, k)
        elif isinstance(node, yaml.SequenceNode):
            for i, item in enumerate(node.value):
                lines[(*path, i)] = item.start_mark.line + 1
                walk(item, (*path, i))

    try:
        walk(yaml.compose(text), ())
    except yaml.YAMLError:
        pass
    return lines


class _Where:
    """Formats ``file:line: field`` for an error at a path in the file."""

    def __init__(self, path: Path, lines: dict[tuple, int]):
        self.path, self.lines = path, lines

    def __call__(self, *field) -> str:
        for n in range(len(field), 0, -1):
            if field[:n] in self.lines:
                return f"{self.path}:{self.lines[field[:n]]}"
        return str(self.path)


def load(path: str | Path) -> Scenario:
    path = Path(path)
    where = str(path)
    try:
        text = path.read_text()
        raw = yaml.safe_load(text)
    except OSError as e:
        raise ExperimentError(f"{where}: cannot read ({e.strerror})") from None
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        line = f":{mark.line + 1}" if mark else ""
        raise ExperimentError(f"{where}{line}: not valid YAML ({getattr(e, 'problem', e)})") from None
    except UnicodeDecodeError:
        raise ExperimentError(f"{where}: not UTF-8 text") from None
    if not isinstance(raw, dict):
        raise ExperimentError(f"{where}: the file must be a mapping of fields")
    at = _Where(path, _key_lines(text))
    values = {}
    for key, value in raw.items():
        if key in ("faults", "enactors", "mitigations"):
            continue
        if key in ("description", "$schema"):
            if not isinstance(value, str):
                raise ExperimentError(f"{at(key)}: field {key!r} must be text")
            continue
        f = _SIMPLE.get(key) if isinstance(key, str) else None
        if f is None:
            raise ExperimentError(f"{at(key)}: unknown field {str(key)[:40]!r}")
        type_name = str(f.type) if not isinstance(f.type, type) else f.type.__name__
        want = _TYPES[type_name]
        if isinstance(value, bool) and want is not bool or not isinstance(value, want):
            raise ExperimentError(f"{at(key)}: field {key!r} must be {type_name}, not "
                                  f"{str(value)[:40]!r}")
        if isinstance(value, float) and value != value or value in (float("inf"), float("-inf")):
            raise ExperimentError(f"{at(key)}: field {key!r} must be a finite number")
        if type_name in ("float", "float | None") and isinstance(value, (int, float)) and \
                not isinstance(value, bool) and value < 0:
            raise ExperimentError(f"{at(key)}: field {key!r} must not be negative")
        values[key] = value
    for required in ("title", "expect"):
        if required not in values:
            raise ExperimentError(f"{where}: missing field {required!r}")
    for key, choices in CHOICES.items():
        if key in values and values[key] not in choices:
            raise ExperimentError(f"{at(key)}: field {key!r} must be one of "
                                  f"{', '.join(choices)}")
    for key, low in MINIMUMS.items():
        if key in values and values[key] < low:
            raise ExperimentError(f"{at(key)}: field {key!r} must be at least {low}")
    for key, high in MAXIMUMS.items():
        if key in values and values[key] > high:
            raise ExperimentError(f"{at(key)}: field {key!r} must be at most {high}")
    if values.get("clients", 52) < values.get("prober_containers", 2):
        raise ExperimentError(f"{at('clients')}: field 'clients' must be at least "
                              "'prober_containers'")
    enactors = raw.get("enactors", list(Scenario.enactors))
    if not (isinstance(enactors, list) and enactors and len(enactors) <= 3
            and all(isinstance(e, str) and re.fullmatch(r"enactor-[a-z]", e) for e in enactors)
            and len(set(enactors)) == len(enactors)):
        raise ExperimentError(f"{at('enactors')}: field 'enactors' must list 1-3 distinct "
                              "names like 'enactor-a'")
    mitigations = raw.get("mitigations") or []
    if not (isinstance(mitigations, list) and all(m in MITIGATIONS for m in mitigations)
            and len(set(mitigations)) == len(mitigations)):
        raise ExperimentError(f"{at('mitigations')}: field 'mitigations' must list distinct "
                              f"names from {', '.join(MITIGATIONS)}")
    faults_raw = raw.get("faults", [])
    faults_raw = [] if faults_raw is None else faults_raw
    if not isinstance(faults_raw, list):
        raise ExperimentError(f"{at('faults')}: field 'faults' must be a list")
    faults = tuple(_fault(at, i, f, enactors) for i, f in enumerate(faults_raw))
    return Scenario(**values, enactors=tuple(enactors), faults=faults,
                    mitigations=tuple(mitigations))


def _fault(where: _Where, i: int, raw, enactors: list[str]) -> TimedFault:
    at = f"{where('faults', i)}: faults[{i}]"
    if not isinstance(raw, dict):
        raise ExperimentError(f"{at} must be a mapping")
    allowed = {"at_s", "after", "kind", "target", "seconds", "step", "endpoint", "times", "count"}
    if unknown := {str(k) for k in raw} - allowed:
        raise ExperimentError(f"{at}: unknown field {sorted(unknown)[0][:40]!r}")
    try:
        kind = FaultKind(raw.get("kind"))
    except (ValueError, TypeError):
        raise ExperimentError(f"{at}.kind must be one of "
                              f"{', '.join(k.value for k in FaultKind)}") from None
    target = raw.get("target")
    if kind is FaultKind.BURST:
        if target not in (None, "planner"):
            raise ExperimentError(f"{at}.target must be 'planner' for a planner burst")
        target = "planner"
    elif target not in enactors and not (kind in (FaultKind.PAUSE, FaultKind.KILL)
                                         and target == "planner") \
            and not (kind is FaultKind.PAUSE and target == AUTHORITATIVE):
        raise ExperimentError(f"{at}.target must name one of {', '.join(enactors)}"
                              + (f" (or {AUTHORITATIVE})" if kind is FaultKind.PAUSE else ""))
    step = raw.get("step")
    if kind is FaultKind.DELAY and step not in STEPS:
        raise ExperimentError(f"{at}.step must be one of {', '.join(STEPS)}")
    if kind is not FaultKind.DELAY and step is not None:
        raise ExperimentError(f"{at}.step applies only to delay faults")
    endpoint = raw.get("endpoint")
    if endpoint is not None and (not isinstance(endpoint, str) or
                                 endpoint not in DEFAULT_ENDPOINTS):
        raise ExperimentError(f"{at}.endpoint must be one of {', '.join(DEFAULT_ENDPOINTS)}")
    for key in ("at_s", "seconds"):
        v = raw.get(key, 0)
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not 0 <= v < 86400:
            raise ExperimentError(f"{at}.{key} must be a number of seconds >= 0")
    for key in ("times", "count"):
        v = raw.get(key, 1 if key == "times" else 0)
        if isinstance(v, bool) or not isinstance(v, int) or not 0 <= v <= 10000:
            raise ExperimentError(f"{at}.{key} must be a whole number from 0 to 10000")
    after = raw.get("after")
    if after is not None and (isinstance(after, bool) or not isinstance(after, int)
                              or not 0 <= after < i):
        raise ExperimentError(f"{at}.after must be the index of an earlier fault (0..{i - 1})")
    if kind is FaultKind.BURST and raw.get("count", 0) < 1:
        raise ExperimentError(f"{at}.count must be at least 1 for a planner burst")
    return TimedFault(float(raw.get("at_s", 0)), Fault(
        kind, target, float(raw.get("seconds", 0)), step, endpoint,
        int(raw.get("times", 1)), int(raw.get("count", 0))), after)


def json_schema() -> dict:
    """The JSON Schema of experiment files (experiments/experiment.schema.json is this,
    written out; a unit test keeps them equal). Editors use it for completion and checks."""
    props: dict = {"$schema": {"type": "string"},
                   "description": {"type": "string", "description": "what the experiment shows"}}
    for name, f in _SIMPLE.items():
        type_name = str(f.type) if not isinstance(f.type, type) else f.type.__name__
        kind = {"int": "integer", "float": "number", "str": "string", "bool": "boolean",
                "float | None": ["number", "null"]}[type_name]
        prop: dict = {"type": kind}
        if name in CHOICES:
            prop["enum"] = list(CHOICES[name])
        if name in MINIMUMS:
            prop["minimum"] = MINIMUMS[name]
        elif kind in ("number", "integer") or kind == ["number", "null"]:
            prop["minimum"] = 0
        if name in MAXIMUMS:
            prop["maximum"] = MAXIMUMS[name]
        props[name] = prop
    props["mitigations"] = {"type": ["array", "null"], "uniqueItems": True,
                            "items": {"enum": list(MITIGATIONS)}}
    props["enactors"] = {"type": "array", "minItems": 1, "maxItems": 3, "uniqueItems": True,
                         "items": {"type": "string", "pattern": "^enactor-[a-z]$"}}
    fault = {
        "type": "object", "additionalProperties": False, "required": ["kind"],
        "properties": {
            "kind": {"enum": [k.value for k in FaultKind]},
            "target": {"type": "string"},
            "at_s": {"type": "number", "minimum": 0, "maximum": 86399},
            "after": {"type": "integer", "minimum": 0,
                      "description": "index of an earlier fault: at_s counts from when it took effect"},
            "seconds": {"type": "number", "minimum": 0, "maximum": 86399},
            "step": {"enum": list(STEPS)},
            "endpoint": {"enum": list(DEFAULT_ENDPOINTS)},
            "times": {"type": "integer", "minimum": 0, "maximum": 10000},
            "count": {"type": "integer", "minimum": 0, "maximum": 10000},
        }}
    props["faults"] = {"type": ["array", "null"], "items": fault}
    return {"$schema": "https://json-schema.org/draft/2020-12/schema",
            "title": "DNS Chaos Lab experiment", "type": "object",
            "additionalProperties": False, "required": ["title", "expect"],
            "properties": props}
