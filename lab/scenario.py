"""The scenario a run executes, read from an experiment file. (This is the race issue's
hard-coded shape; the experiment-file issue generalises the format.) Loading validates every
field before any container is touched; errors name the file and the field."""

from dataclasses import dataclass, field, fields
from pathlib import Path

import yaml

from lab.core.enactor import STEPS
from lab.core.faults import Fault, FaultKind
from lab.errors import LabError


class ExperimentError(LabError):
    """The experiment file is malformed; the message names the file and field."""


@dataclass(frozen=True)
class TimedFault:
    at_s: float       # seconds after injection starts, or after fault `after` took effect
    fault: Fault
    after: int | None = None   # index of an earlier fault (like AWS FIS `startAfter`)


@dataclass(frozen=True)
class Scenario:
    title: str
    expect: str                          # "outage" | "hold"
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
    steady_state_s: float = 5.0
    duration_s: float = 30.0             # how long the method runs when no outage ends it
    hold_stuck_s: float = 8.0            # after the endpoint empties: show automation stuck
    repair: bool = True                  # operator repair after the outage
    recover_s: float | None = None       # after repair (default: both TTLs + 5 s)
    faults: tuple[TimedFault, ...] = field(default_factory=tuple)

    @property
    def recovery_window_s(self) -> float:
        if self.recover_s is not None:
            return self.recover_s
        return max(self.record_ttl_s, self.negative_ttl_s) + self.record_ttl_s + 5


_SIMPLE = {f.name: f for f in fields(Scenario) if f.name not in ("faults", "enactors")}
_TYPES = {"int": int, "float": (int, float), "str": str, "bool": bool,
          "float | None": (int, float, type(None))}


def load(path: str | Path) -> Scenario:
    path = Path(path)
    where = str(path)
    try:
        raw = yaml.safe_load(path.read_text())
    except OSError as e:
        raise ExperimentError(f"{where}: cannot read ({e.strerror})") from None
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        line = f":{mark.line + 1}" if mark else ""
        raise ExperimentError(f"{where}{line}: not valid YAML ({getattr(e, 'problem', e)})") from None
    if not isinstance(raw, dict):
        raise ExperimentError(f"{where}: the file must be a mapping of fields")
    values = {}
    for key, value in raw.items():
        if key in ("faults", "enactors", "description", "$schema"):
            continue
        f = _SIMPLE.get(key)
        if f is None:
            raise ExperimentError(f"{where}: unknown field {key!r}")
        want = _TYPES[str(f.type) if not isinstance(f.type, type) else f.type.__name__]
        if isinstance(value, bool) and want is not bool or not isinstance(value, want):
            raise ExperimentError(f"{where}: field {key!r} must be {f.type if isinstance(f.type, str) else f.type.__name__}, not {value!r}")
        values[key] = value
    for required in ("title", "expect"):
        if required not in values:
            raise ExperimentError(f"{where}: missing field {required!r}")
    if values["expect"] not in ("outage", "hold"):
        raise ExperimentError(f"{where}: field 'expect' must be 'outage' or 'hold'")
    if values.get("backend", "powerdns") != "powerdns":
        raise ExperimentError(f"{where}: field 'backend': only 'powerdns' is available")
    if values.get("empty_answer", "nxdomain") not in ("nxdomain", "nodata"):
        raise ExperimentError(f"{where}: field 'empty_answer' must be 'nxdomain' or 'nodata'")
    if values.get("alias", "flattened") not in ("flattened", "cname"):
        raise ExperimentError(f"{where}: field 'alias' must be 'flattened' or 'cname'")
    for key in ("clients", "prober_containers", "keep_generations", "record_ttl_s"):
        if key in values and values[key] < 1:
            raise ExperimentError(f"{where}: field {key!r} must be at least 1")
    enactors = raw.get("enactors", list(Scenario.enactors))
    if not (isinstance(enactors, list) and enactors and len(enactors) <= 9
            and all(isinstance(e, str) and e.startswith("enactor-") for e in enactors)):
        raise ExperimentError(f"{where}: field 'enactors' must be a list of 1-9 names "
                              "starting with 'enactor-'")
    faults = tuple(_fault(where, i, f, enactors) for i, f in enumerate(raw.get("faults") or []))
    return Scenario(**values, enactors=tuple(enactors), faults=faults)


def _fault(where: str, i: int, raw, enactors: list[str]) -> TimedFault:
    at = f"{where}: faults[{i}]"
    if not isinstance(raw, dict):
        raise ExperimentError(f"{at} must be a mapping")
    allowed = {"at_s", "after", "kind", "target", "seconds", "step", "endpoint", "times", "count"}
    if unknown := set(raw) - allowed:
        raise ExperimentError(f"{at}: unknown field {sorted(unknown)[0]!r}")
    try:
        kind = FaultKind(raw.get("kind"))
    except ValueError:
        raise ExperimentError(f"{at}.kind must be one of "
                              f"{', '.join(k.value for k in FaultKind)}") from None
    target = raw.get("target")
    if kind is FaultKind.BURST:
        if target not in (None, "planner"):
            raise ExperimentError(f"{at}.target must be 'planner' for a planner burst")
        target = "planner"
    elif target not in enactors and not (kind in (FaultKind.PAUSE, FaultKind.KILL)
                                         and target == "planner"):
        raise ExperimentError(f"{at}.target must name one of {', '.join(enactors)}")
    step = raw.get("step")
    if kind is FaultKind.DELAY and step not in STEPS:
        raise ExperimentError(f"{at}.step must be one of {', '.join(STEPS)}")
    for key in ("at_s", "seconds"):
        v = raw.get(key, 0)
        if isinstance(v, bool) or not isinstance(v, (int, float)) or v < 0:
            raise ExperimentError(f"{at}.{key} must be a number of seconds >= 0")
    for key in ("times", "count"):
        v = raw.get(key, 1 if key == "times" else 0)
        if isinstance(v, bool) or not isinstance(v, int) or v < 0:
            raise ExperimentError(f"{at}.{key} must be a whole number >= 0")
    after = raw.get("after")
    if after is not None and (isinstance(after, bool) or not isinstance(after, int)
                              or not 0 <= after < i):
        raise ExperimentError(f"{at}.after must be the index of an earlier fault (0..{i - 1})")
    if kind is FaultKind.BURST and raw.get("count", 0) < 1:
        raise ExperimentError(f"{at}.count must be at least 1 for a planner burst")
    return TimedFault(float(raw.get("at_s", 0)), Fault(
        kind, target, float(raw.get("seconds", 0)), step, raw.get("endpoint"),
        int(raw.get("times", 1)), int(raw.get("count", 0))), after)
