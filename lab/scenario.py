"""The loader: an experiment file into the typed model of lab/core/experiment.py. Loading
checks every field, and the fields against each other (faults within the run, clients within
the address plan), before any container is touched; each refusal is one ExperimentError
line naming the file, line and field. The YAML itself is read without trusting it by
lab/experiment_yaml.py."""

import difflib
import math
import re
from dataclasses import fields
from enum import Enum
from pathlib import Path
from typing import NoReturn

from lab import experiment_yaml
from lab.core.enactor import STEP_BEFORE_ENDPOINT, STEPS
from lab.core.cascade import CascadeParams, Retry
from lab.core.experiment import (  # noqa: F401  (the model, named from here by callers)
    AUTHORITATIVE, BACKENDS, CASCADE_MITIGATIONS, DNS_MITIGATIONS, MAX_DURATION_S,
    MITIGATIONS, AliasStyle, Backend, CascadeSetup, EmptyAnswer, Mitigation, Origin,
    Scenario, TimedFault, check_together)
from lab.core.faults import CHANNEL_KINDS, Fault, FaultKind
from lab.core.faultspace import FaultSpace
from lab.core.plan import DEFAULT_ENDPOINTS
from lab.core.verdict import Expect
from lab.experiment_yaml import ExperimentError

ScenarioError = ExperimentError   # the name the run's callers use; one class


# The address plan (lab/run.py): prober container j sits at .31 + j, the serve-stale
# resolver at .39, the planner at .40: at most 8 prober containers.
MAX_PROBER_CONTAINERS = 8
# The runner waits 30 s for every client's first probe, and clients are phase-spread over
# one interval: an interval near 30 s aborts every run.
MAX_CLIENT_INTERVAL_S = 20
MAX_TITLE_CHARS = 200
MAX_FAULT_SECONDS = 86400

# The closed choices: the model's enums, in the file's words.
ENUMS = {"expect": Expect, "backend": Backend, "empty_answer": EmptyAnswer, "alias": AliasStyle}
CHOICES = {key: tuple(m.value for m in enum) for key, enum in ENUMS.items()}
MAXIMUMS_EXTRA = {"max_failed_ratio": 1, "stop_clients_affected_fraction": 1,
                  "interlock_max_removed_fraction": 1}
MINIMUMS = {"clients": 1, "prober_containers": 1, "keep_generations": 1, "record_ttl_s": 1,
            "negative_ttl_s": 0, "planner_period_s": 0.05, "client_interval_s": 0.01,
            "seed": 0}
POSITIVE = ("steady_state_s", "duration_s")   # more than 0: a 0 s window sees no probe
MAXIMUMS = {"clients": 500, "prober_containers": MAX_PROBER_CONTAINERS,
            "keep_generations": 1000, "record_ttl_s": 86400, "negative_ttl_s": 86400,
            "planner_period_s": 60, "client_interval_s": MAX_CLIENT_INTERVAL_S,
            "steady_state_s": 600, "duration_s": MAX_DURATION_S, "hold_stuck_s": 3600,
            "recover_s": 86400, "seed": 2**31, **MAXIMUMS_EXTRA}
_LISTS = ("faults", "enactors", "mitigations", "simulation_differs", "backends")
DIFFERS_QUANTITIES = ("verdict", "as-expected", "emptied", "resolver outage", "direct outage",
                      "cascade metastable", "cascade recovery",
                      *(f"invariant {n}" for n in ("never-delete-active-plan",
                                                    "applied-generation-monotonic",
                                                    "endpoint-never-empty")))
MAX_WHY_CHARS = 400
_SECTIONS = ("search", "cascade")
_SIMPLE = {f.name: f for f in fields(Scenario) if f.name not in (*_LISTS, "origin", *_SECTIONS)}
_TYPES = {"int": int, "float": (int, float), "str": str, "bool": bool,
          "float | None": (int, float, type(None))}
_SAID = {"int": "a whole number", "float": "a number", "str": "text", "bool": "true or false",
         "float | None": "a number or null"}
_FAULT_FIELDS = ("at_s", "after", "kind", "target", "seconds", "step", "endpoint", "times",
                 "count")
_MULTI_LINE = re.compile("[\t\n\u2028\u2029]")


def _type_name(f) -> str:
    if isinstance(f.type, type) and issubclass(f.type, Enum):
        return "str"                  # a closed choice, checked against CHOICES
    return str(f.type) if not isinstance(f.type, type) else f.type.__name__


def _shown(value) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def load(path: str | Path) -> Scenario:
    """Read, check and return the experiment at ``path``; ExperimentError otherwise."""
    path = Path(path)
    doc = experiment_yaml.read(path)
    at = Origin(path, doc.lines)
    raw = doc.value
    if not isinstance(raw, dict):
        what = "empty" if raw is None else f"a {type(raw).__name__}"
        raise ExperimentError(f"{at()}: the file is {what}; an experiment is a mapping of "
                              "fields (title:, expect:, ...)")
    values = {key: _simple(at, key, value) for key, value in raw.items()
              if key not in (*_LISTS, *_SECTIONS)}
    values = {k: v for k, v in values.items() if k in _SIMPLE}
    for required in ("title", "expect"):
        if required not in values:
            raise ExperimentError(f"{at()}: field {required!r} is missing; add it")
    enactors = _enactors(at, raw.get("enactors", list(Scenario.enactors)))
    mitigations = _mitigations(at, raw.get("mitigations"))
    faults_raw = [] if raw.get("faults") is None else raw["faults"]
    if not isinstance(faults_raw, list):
        raise ExperimentError(f"{at('faults')}: field 'faults' must be a list, not "
                              f"{_shown(faults_raw)}")
    faults = tuple(_fault(at, i, f, enactors) for i, f in enumerate(faults_raw))
    differs = _differs(at, raw.get("simulation_differs"))
    space = _search(at, raw.get("search"), enactors)
    cascade = _cascade(at, raw.get("cascade"))
    backends = _backends(at, raw.get("backends"))
    s = Scenario(**values, enactors=tuple(enactors), faults=faults,
                 mitigations=tuple(Mitigation(m) for m in mitigations),
                 simulation_differs=differs, search=space, cascade=cascade,
                 backends=backends, origin=at)
    check_together(s, at, duration_from="duration_s")
    return s


def _simple(at: Origin, key, value):
    """One top-level field that is not a list: its type, range and text checked."""
    if key in ("description", "$schema"):
        if not isinstance(value, str):
            raise ExperimentError(f"{at(key)}: field {key!r} must be text")
        if key == "$schema":
            _single_line(at, key, value)
        return value
    f = _SIMPLE.get(key) if isinstance(key, str) else None
    if f is None:
        near = difflib.get_close_matches(key.lower(), [*_SIMPLE, *_LISTS, "description",
                                                       *_SECTIONS], 1) \
            if isinstance(key, str) else []
        raise ExperimentError(f"{at(key)}: unknown field {_shown(key)}"
                              + (f"; did you mean {near[0]!r}?" if near else ""))
    type_name = _type_name(f)
    if isinstance(value, bool) and type_name != "bool" or \
            not isinstance(value, _TYPES[type_name]):
        raise ExperimentError(f"{at(key)}: field {key!r} must be {_SAID[type_name]}, not "
                              f"{_shown(value)}")
    if isinstance(value, float) and not math.isfinite(value):
        raise ExperimentError(f"{at(key)}: field {key!r} must be a finite number, not {value}")
    if isinstance(value, str):
        return _text(at, key, value)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        _in_range(at, key, value)
    return value


def _text(at: Origin, key: str, value: str) -> str:
    if key in CHOICES and value not in CHOICES[key]:
        raise ExperimentError(f"{at(key)}: field {key!r} must be one of "
                              f"{', '.join(CHOICES[key])}, not {_shown(value)}")
    _single_line(at, key, value)
    if key == "title" and not (0 < len(value.strip()) and len(value) <= MAX_TITLE_CHARS):
        raise ExperimentError(f"{at(key)}: field 'title' must be one line of 1 to "
                              f"{MAX_TITLE_CHARS} characters (it has {len(value)})")
    return ENUMS[key](value) if key in ENUMS else value


def _single_line(at: Origin, key: str, value: str) -> None:
    if found := _MULTI_LINE.search(value):
        raise ExperimentError(f"{at(key)}: field {key!r} must be one line: it holds "
                              f"U+{ord(found.group()):04X} (a tab or line break)")


def _in_range(at: Origin, key: str, value) -> None:
    low = MINIMUMS.get(key, 0)
    if key in POSITIVE and value <= 0:
        raise ExperimentError(f"{at(key)}: field {key!r} must be more than 0, not {value}")
    if value < low:
        raise ExperimentError(f"{at(key)}: field {key!r} must be at least {low}, not {value}")
    if key in MAXIMUMS and value > MAXIMUMS[key]:
        raise ExperimentError(f"{at(key)}: field {key!r} must be at most {MAXIMUMS[key]}, not "
                              f"{value}")


def _enactors(at: Origin, enactors) -> list[str]:
    if not (isinstance(enactors, list) and 1 <= len(enactors) <= 3
            and all(isinstance(e, str) and re.fullmatch(r"enactor-[a-z]", e) for e in enactors)
            and len(set(enactors)) == len(enactors)):
        raise ExperimentError(f"{at('enactors')}: field 'enactors' must list 1-3 distinct "
                              "names like 'enactor-a'")
    return enactors


def _mitigations(at: Origin, mitigations) -> list[str]:
    mitigations = [] if mitigations is None else mitigations
    if not (isinstance(mitigations, list) and all(m in MITIGATIONS for m in mitigations)
            and len(set(mitigations)) == len(mitigations)):
        raise ExperimentError(f"{at('mitigations')}: field 'mitigations' must list distinct "
                              f"names from {', '.join(MITIGATIONS)}")
    return mitigations


def _differs(at: Origin, raw) -> tuple[tuple[str, str], ...]:
    """``simulation_differs``: a mapping from a quantity `dnslab diff` compares to one line
    saying why the simulation cannot agree on it."""
    if raw is None:
        return ()
    if not isinstance(raw, dict):
        raise ExperimentError(f"{at('simulation_differs')}: field 'simulation_differs' must "
                              f"be a mapping of quantity: why, not {_shown(raw)}")
    out = []
    for key, why in raw.items():
        if key not in DIFFERS_QUANTITIES:
            raise ExperimentError(f"{at('simulation_differs', key)}: simulation_differs: "
                                  f"{_shown(key)} is not a quantity `dnslab diff` compares; "
                                  f"use one of {', '.join(DIFFERS_QUANTITIES)}")
        if not isinstance(why, str) or not why.strip() or len(why) > MAX_WHY_CHARS:
            raise ExperimentError(f"{at('simulation_differs', key)}: simulation_differs."
                                  f"{key}: must say why in one line of 1 to {MAX_WHY_CHARS} "
                                  "characters")
        _single_line(at, f"simulation_differs.{key}", why)
        out.append((key, why))
    return tuple(out)


def _section_key(at: Origin, section: str, key, known: tuple) -> str:
    """``file:line`` of a key of a mapping section; a key the section does not have is
    refused by name, with the nearest one it has."""
    if key not in known:
        near = difflib.get_close_matches(str(key).lower(), known, 1)
        raise ExperimentError(f"{at(section, key)}: {section}: unknown field {_shown(key)}"
                              + (f"; did you mean {near[0]!r}?" if near else ""))
    return at(section, key)


def _backends(at: Origin, raw) -> tuple[Backend, ...]:
    if raw is None:
        return tuple(Backend)
    if not (isinstance(raw, list) and raw and all(b in BACKENDS for b in raw)
            and len(set(raw)) == len(raw)):
        raise ExperimentError(f"{at('backends')}: field 'backends' must list distinct names "
                              f"from {', '.join(BACKENDS)} (the backends a suite runs the "
                              f"file on), not {_shown(raw)}")
    return tuple(Backend(b) for b in raw)


# The `cascade:` section (lab/core/cascade.py CascadeParams): field -> (type, low, high).
CASCADE_FIELDS = {
    "hosts": (int, 1, 20000), "renew_period_s": (float, 0.5, 600.0),
    "lease_ttl_s": (float, 0.5, 3600.0), "renew_timeout_s": (float, 0.1, 600.0),
    "renew_retry_s": (float, 0.1, 600.0), "capacity": (int, 1, 10000),
    "base_s": (float, 0.0001, 10.0), "slowdown_max": (float, 1.0, 100.0),
    "slowdown_queue_per_slot": (float, 0.1, 1e6), "reestablish_units": (int, 1, 100),
    "reestablish_timeout_s": (float, 0.1, 3600.0), "sweep_s": (float, 0.5, 3600.0),
    "retry_fixed_s": (float, 0.1, 3600.0), "backoff_base_s": (float, 0.01, 3600.0),
    "backoff_cap_s": (float, 0.01, 3600.0), "budget_ratio": (float, 0.0, 10.0),
    "budget_floor_per_s": (float, 0.0, 1e6), "admission_limit": (int, 0, 1000000),
    "velocity_per_s": (float, 0.1, 1e6), "restart_down_s": (float, 0.0, 3600.0),
    "window_s": (float, 1.0, 600.0),
    "propagate_per_s": (float, 0.01, 1e6), "health_check_s": (float, 0.5, 600.0),
    "healthy_threshold": (int, 1, 10), "unhealthy_threshold": (int, 1, 10),
}
CASCADE_TIMES = ("remediations_after_repair_s", "restart_after_repair_s")
CASCADE_RETRIES = tuple(r.value for r in Retry)


def _cascade(at: Origin, raw) -> CascadeSetup | None:
    if raw is None:
        return None
    if not isinstance(raw, dict):
        raise ExperimentError(f"{at('cascade')}: field 'cascade' must be a mapping (hosts:, "
                              f"renew_period_s:, capacity:, ...), not {_shown(raw)}")
    params: dict = {}
    times: dict = {}
    for key, value in raw.items():
        where = _section_key(at, "cascade", key, (*CASCADE_FIELDS, "retry", *CASCADE_TIMES))
        if key == "retry":
            if value not in CASCADE_RETRIES:
                raise ExperimentError(f"{where}: cascade.retry: must be one of "
                                      f"{', '.join(CASCADE_RETRIES)}, not {_shown(value)}")
            params[key] = Retry(value)
            continue
        kind, lo, hi = CASCADE_FIELDS.get(key, (float, 0.0, float(MAX_DURATION_S)))
        whole = kind is int
        if isinstance(value, bool) or not isinstance(value, int if whole else (int, float)) \
                or not math.isfinite(value) or not lo <= value <= hi:
            raise ExperimentError(f"{where}: cascade.{key}: must be "
                                  f"{'a whole number' if whole else 'a number'} from {lo:g} "
                                  f"to {hi:g}, not {_shown(value)}")
        (times if key in CASCADE_TIMES else params)[key] = value if whole else float(value)
    try:
        model = CascadeParams(**params)
    except ValueError as e:
        raise ExperimentError(f"{at('cascade')}: {e}") from None
    return CascadeSetup(model, **times)


# The `search:` section: the fault space of `dnslab search` (lab/core/faultspace.py).
SEARCH_NUMBERS = {"window_s": (0.1, 3600.0), "max_seconds": (0.1, 3600.0),
                  "duration_s": (0.1, float(MAX_DURATION_S))}
SEARCH_COUNTS = {"max_faults": (1, 20), "max_burst": (1, 1000), "max_lock_losses": (1, 100)}
SEARCH_LISTS = ("kinds", "targets", "steps")


def _search(at: Origin, raw, enactors: list[str]) -> FaultSpace | None:
    if raw is None:
        return None
    if not isinstance(raw, dict):
        raise ExperimentError(f"{at('search')}: field 'search' must be a mapping (window_s:, "
                              f"max_seconds:, kinds:, ...), not {_shown(raw)}")
    values: dict = {}
    for key, value in raw.items():
        where = _section_key(at, "search", key, (*SEARCH_NUMBERS, *SEARCH_COUNTS, *SEARCH_LISTS))
        if key in SEARCH_NUMBERS:
            lo, hi = SEARCH_NUMBERS[key]
            if isinstance(value, bool) or not isinstance(value, (int, float)) or \
                    not lo <= value <= hi:
                raise ExperimentError(f"{where}: search.{key}: must be a number of seconds "
                                      f"from {lo:g} to {hi:g}, not {_shown(value)}")
            values[key] = float(value)
        elif key in SEARCH_COUNTS:
            lo, hi = SEARCH_COUNTS[key]
            if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
                raise ExperimentError(f"{where}: search.{key}: must be a whole number from "
                                      f"{lo} to {hi}, not {_shown(value)}")
            values[key] = value
        else:
            allowed = {"kinds": [k.value for k in FaultKind],
                       "targets": [*enactors, "planner"], "steps": list(STEPS)}[key]
            if not isinstance(value, list) or not value or \
                    any(not isinstance(v, str) or v not in allowed for v in value):
                raise ExperimentError(f"{where}: search.{key}: must be a non-empty list of "
                                      f"{', '.join(allowed)}, not {_shown(value)}")
            unique = tuple(dict.fromkeys(value))
            values[key] = tuple(FaultKind(v) for v in unique) if key == "kinds" else unique
    space = FaultSpace(**values)
    if space.duration_s is not None and space.duration_s <= space.window_s:
        raise ExperimentError(f"{at('search', 'duration_s')}: search.duration_s "
                              f"({space.duration_s:g} s) must be longer than search.window_s "
                              f"({space.window_s:g} s): faults start within the window")
    if not space.atoms(tuple(enactors)):
        raise ExperimentError(f"{at('search')}: search: kinds {', '.join(space.kinds)} and "
                              f"targets {', '.join(space.targets)} leave no fault to draw; "
                              "widen one of them")
    return space


def _fault(origin: Origin, i: int, raw, enactors: list[str]) -> TimedFault:
    """Fault ``i``: each field's type and range, and which fields its kind takes."""
    def refuse(key: str | None, problem: str) -> NoReturn:
        where = origin("faults", i, key) if key else origin("faults", i)
        name = f"faults[{i}]" + (f".{key}" if key else "")
        raise ExperimentError(f"{where}: {name}: {problem}")

    if not isinstance(raw, dict):
        refuse(None, f"must be a mapping (kind:, target:, ...), not {_shown(raw)}")
    if unknown := [k for k in raw if k not in _FAULT_FIELDS]:
        near = difflib.get_close_matches(str(unknown[0]).lower(), _FAULT_FIELDS, 1)
        raise ExperimentError(f"{origin('faults', i, unknown[0])}: faults[{i}]: unknown field "
                              f"{_shown(unknown[0])}" + (f"; did you mean {near[0]!r}?" if near
                                                         else ""))
    try:
        kind = FaultKind(raw.get("kind"))
    except (ValueError, TypeError):
        refuse("kind", f"must be one of {', '.join(k.value for k in FaultKind)}")
    for key in ("at_s", "seconds"):
        v = raw.get(key, 0)
        if isinstance(v, bool) or not isinstance(v, (int, float)) or \
                not 0 <= v < MAX_FAULT_SECONDS:
            refuse(key, f"must be a number of seconds from 0 to under {MAX_FAULT_SECONDS}, "
                        f"not {_shown(v)}")
    for key in ("times", "count"):
        v = raw.get(key, 1 if key == "times" else 0)
        if isinstance(v, bool) or not isinstance(v, int) or not 0 <= v <= 10000:
            refuse(key, f"must be a whole number from 0 to 10000, not {_shown(v)}")
    after = raw.get("after")
    if after is not None and (isinstance(after, bool) or not isinstance(after, int)
                              or not 0 <= after < i):
        refuse("after", "must be the index of an earlier fault"
               + (f" (0..{i - 1})" if i else " (fault 0 has none)") + f", not {_shown(after)}")
    target = _target(refuse, kind, raw.get("target"), enactors)
    _fields_of_kind(refuse, kind, raw)
    return TimedFault(float(raw.get("at_s", 0)), Fault(
        kind, target, float(raw.get("seconds", 0)), raw.get("step"), raw.get("endpoint"),
        int(raw.get("times", 1)), int(raw.get("count", 0))), after)


def _target(refuse, kind: FaultKind, target, enactors: list[str]) -> str:
    if kind is FaultKind.BURST:
        if target not in (None, "planner"):
            refuse("target", "must be 'planner' for a planner burst")
        return "planner"
    others = ["planner"] if kind in (FaultKind.PAUSE, FaultKind.KILL) else []
    others += [AUTHORITATIVE] if kind is FaultKind.PAUSE else []
    if not isinstance(target, str) or target not in (*enactors, *others):
        refuse("target", f"must name one of the run's enactors ({', '.join(enactors)})"
                         + "".join(f" or {o}" for o in others) + f", not {_shown(target)}")
    return target


def _fields_of_kind(refuse, kind: FaultKind, raw: dict) -> None:
    """Which fields a kind takes: a field the kind ignores would print in the plan and
    never happen, and a delay of 0 s never shows as fired (faults `after` it never start)."""
    step, endpoint = raw.get("step"), raw.get("endpoint")
    if kind is FaultKind.DELAY and step not in STEPS:
        refuse("step", f"must be one of {', '.join(STEPS)}")
    if kind is not FaultKind.DELAY and step is not None:
        refuse("step", "applies only to delay faults")
    if endpoint is not None:
        if not isinstance(endpoint, str) or endpoint not in DEFAULT_ENDPOINTS:
            refuse("endpoint", f"must be one of {', '.join(DEFAULT_ENDPOINTS)}")
        if not (kind is FaultKind.LOSE_LOCK or step == STEP_BEFORE_ENDPOINT):
            refuse("endpoint", f"applies only to lose-lock and to a delay at "
                               f"{STEP_BEFORE_ENDPOINT}; elsewhere it would be ignored")
    seconds = raw.get("seconds", 0)
    if kind in (FaultKind.DELAY, FaultKind.PAUSE) and seconds <= 0:
        refuse("seconds", f"a {kind.value} needs more than 0 seconds (a 0 s {kind.value} "
                          "never happens)")
    if kind in (FaultKind.LOSE_LOCK, FaultKind.BURST) and seconds:
        refuse("seconds", f"applies only to delay, pause and kill faults, not {kind.value}")
    if kind in CHANNEL_KINDS and raw.get("times", 1) < 1:
        refuse("times", "must be at least 1 (a fault with no firing never happens)")
    if kind not in CHANNEL_KINDS and "times" in raw:
        refuse("times", f"applies only to delay, lose-lock and planner-burst faults, not "
                        f"{kind.value}")
    if kind is FaultKind.BURST and raw.get("count", 0) < 1:
        refuse("count", "must be at least 1 for a planner burst")
    if kind is not FaultKind.BURST and raw.get("count", 0):
        refuse("count", "applies only to planner-burst faults")


def json_schema() -> dict:
    """The JSON Schema of experiment files (experiments/experiment.schema.json is this,
    written out; a unit test keeps them equal). Editors use it for completion and checks;
    the checks across fields (faults within duration_s, ...) are the loader's alone."""
    one_line = "^[^\\u0000-\\u001f\\u007f-\\u009f\\u2028\\u2029]*$"
    props: dict = {"$schema": {"type": "string", "pattern": one_line},
                   "description": {"type": "string", "description": "what the experiment shows"}}
    for name, f in _SIMPLE.items():
        kind = {"int": "integer", "float": "number", "str": "string", "bool": "boolean",
                "float | None": ["number", "null"]}[_type_name(f)]
        prop: dict = {"type": kind}
        if name in CHOICES:
            prop["enum"] = list(CHOICES[name])
        if name == "title":
            prop.update(minLength=1, maxLength=MAX_TITLE_CHARS, pattern=one_line)
        if name in POSITIVE:
            prop["exclusiveMinimum"] = 0
        elif name in MINIMUMS:
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
            "at_s": {"type": "number", "minimum": 0, "exclusiveMaximum": MAX_FAULT_SECONDS,
                     "description": "must start before the run's duration_s"},
            "after": {"type": "integer", "minimum": 0,
                      "description": "index of an earlier fault: at_s counts from when it took effect"},
            "seconds": {"type": "number", "minimum": 0, "exclusiveMaximum": MAX_FAULT_SECONDS,
                        "description": "more than 0 for delay and pause; only delay, pause, kill"},
            "step": {"enum": list(STEPS)},
            "endpoint": {"enum": list(DEFAULT_ENDPOINTS)},
            "times": {"type": "integer", "minimum": 0, "maximum": 10000},
            "count": {"type": "integer", "minimum": 0, "maximum": 10000},
        }}
    props["faults"] = {"type": ["array", "null"], "items": fault}
    props["search"] = {
        "type": ["object", "null"], "additionalProperties": False,
        "description": "the fault space of `dnslab search` (default: every fault kind, "
                       "target and step)",
        "properties": {
            **{k: {"type": "number", "minimum": lo, "maximum": hi}
               for k, (lo, hi) in SEARCH_NUMBERS.items()},
            **{k: {"type": "integer", "minimum": lo, "maximum": hi}
               for k, (lo, hi) in SEARCH_COUNTS.items()},
            "kinds": {"type": "array", "minItems": 1,
                      "items": {"enum": [k.value for k in FaultKind]}},
            "targets": {"type": "array", "minItems": 1, "items": {"type": "string"}},
            "steps": {"type": "array", "minItems": 1, "items": {"enum": list(STEPS)}}}}
    props["backends"] = {"type": ["array", "null"], "minItems": 1, "uniqueItems": True,
                         "description": "the backends a suite runs this file on (default: all)",
                         "items": {"enum": list(BACKENDS)}}
    props["cascade"] = {
        "type": ["object", "null"], "additionalProperties": False,
        "description": "a lease service behind the regional endpoint and a fleet manager "
                       "renewing its hosts' leases through it (the outage's second act)",
        "properties": {
            **{k: {"type": "integer" if t is int else "number", "minimum": lo, "maximum": hi}
               for k, (t, lo, hi) in CASCADE_FIELDS.items()},
            "retry": {"enum": list(CASCADE_RETRIES)},
            **{k: {"type": "number", "minimum": 0, "maximum": MAX_DURATION_S,
                   "description": "seconds after the operator's repair"}
               for k in CASCADE_TIMES}}}
    props["simulation_differs"] = {
        "type": ["object", "null"], "additionalProperties": False,
        "description": "what the simulation cannot reproduce of the real run, and why",
        "properties": {q: {"type": "string", "minLength": 1, "maxLength": MAX_WHY_CHARS,
                           "pattern": one_line} for q in DIFFERS_QUANTITIES}}
    return {"$schema": "https://json-schema.org/draft/2020-12/schema",
            "title": "DNS Chaos Lab experiment", "type": "object",
            "additionalProperties": False, "required": ["title", "expect"],
            "properties": props}
