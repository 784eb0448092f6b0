"""What a found schedule becomes: a short story in plain words, and an experiment file that
replays it (``dnslab run FOUND.yaml --sim`` in simulation, ``dnslab run FOUND.yaml`` on the
real lab).

The file keeps the searched file's set-up; its faults are the shrunk schedule, chained with
``after: 0`` to the first fault that takes effect (on real containers a fault takes effect
when the worker reaches its step, which the simulation cannot time to the millisecond; the
rest of the schedule follows it, as in the scripted race). Real containers add jitter the
simulation's latencies only approximate, so before the file is written its delays and
pauses are widened by the least margin that reproduces the violation across simulated
seeds and both backends (``widen``); the story says by how much.
"""

import dataclasses
import json
from dataclasses import replace

from lab.core.experiment import Backend, Scenario
from lab.core.faultspace import FaultSpace, Schedule
from lab.core.faults import FaultKind
from lab.core.history import Event, Kind
from lab.core.verdict import fault_firings
from lab.search.trial import BACKWARDS, EMPTY, inject_start, judge, trial_scenario
from lab.sim.run import control_plane

MARGINS_S = (0.0, 0.5, 1.0, 2.0, 3.0)    # candidate widenings of delays and pauses
ROBUST_SEEDS = 10                        # simulated seeds per backend a margin is tried on
STEP_WORDS = {"after-freshness-check": "after its freshness check",
              "before-endpoint": "before writing {endpoint}",
              "before-cleanup": "before its clean-up"}
EXPECT_FOR = {EMPTY: "outage", BACKWARDS: "violation"}


def chained(schedule: Schedule, events: list[Event]) -> Schedule:
    """``schedule`` with every fault that took effect after the first one did timed from it
    (``after: 0``): one armed earlier is armed when the first takes effect (its worker had
    not reached its step before then, or it would have fired), so on real containers it
    cannot strike early; the others stay timed from injection."""
    firings = fault_firings(events, schedule)
    if not firings:
        return schedule
    start = inject_start(events)
    first = min(firings, key=lambda i: (firings[i], i))
    t0 = firings[first] - start
    order = [first] + [i for i in range(len(schedule)) if i != first]
    out = []
    for i in order:
        t = schedule[i]
        if i != first and i in firings and firings[i] >= firings[first]:
            out.append(replace(t, at_s=round(max(0.0, t.at_s - t0), 2), after=0))
        else:
            out.append(replace(t, after=None))
    return tuple(out)


def widened(schedule: Schedule, margin: float) -> Schedule:
    if not margin:
        return schedule
    return tuple(replace(t, fault=replace(t.fault, seconds=round(t.fault.seconds + margin, 2)))
                 if t.fault.kind in (FaultKind.DELAY, FaultKind.PAUSE) else t for t in schedule)


def reproduces(base: Scenario, schedule: Schedule, space: FaultSpace, violation: str,
               mitigations, backends=tuple(Backend)) -> tuple[int, int]:
    """In how many of ROBUST_SEEDS seeds on each backend the violation shows (a seed draws
    the simulated latencies and container start times)."""
    hits = total = 0
    for backend in backends:
        for k in range(ROBUST_SEEDS):
            s = trial_scenario(replace(base, seed=base.seed + k, backend=backend), schedule,
                               space, mitigations)
            _, events = control_plane(s, method_only=True)
            hits += violation in judge(events, schedule).violations
            total += 1
    return hits, total


def widen(base, schedule: Schedule, space: FaultSpace, violation: str, mitigations
          ) -> tuple[float, Schedule, tuple[int, int]]:
    """The least margin (MARGINS_S) whose widened schedule reproduces in the most simulated
    seeds and backends; the first that reproduces in all of them ends the search."""
    best = None
    for m in MARGINS_S:
        candidate = widened(schedule, m)
        hits, total = reproduces(base, candidate, space, violation, mitigations)
        if best is None or hits > best[2][0]:
            best = (m, candidate, (hits, total))
        if hits == total:
            break
    return best


def story(events: list[Event], violation: str, limit: int = 9) -> list[str]:
    """The schedule's run in plain words: the faults as they struck, the stale writes, the
    deletion that emptied an endpoint, the enactors that got stuck or repaired it."""
    start = inject_start(events)
    lines: list[str] = []
    last: dict[str, Event] = {}
    told_stale: set[str] = set()
    active: dict[str, int] = {}
    told_empty = told_recovery = False
    stuck: set[str] = set()

    def at(e: Event) -> str:
        return f"+{e.t - start:.2f} s"

    for e in events:
        d = e.data
        if e.kind is Kind.FAULT_STARTED and e.t >= start:
            lines.append(f"{at(e)}: {_fault_words(d, last.get(d.get('target')))}")
        elif e.kind is Kind.ENDPOINT_APPLIED:
            before = active.get(d["endpoint"])
            active[d["endpoint"]] = d["generation"]
            if d.get("self_repair") and told_empty and not told_recovery:
                told_recovery = True
                lines.append(f"{at(e)}: {e.source} self-repairs {d['endpoint']} with plan "
                             f"{d['generation']}.")
            elif before is not None and d["generation"] < before and e.source not in told_stale:
                told_stale.add(e.source)
                lines.append(f"{at(e)}: {e.source} writes its stale plan {d['generation']} to "
                             f"{d['endpoint']}, which pointed at the newer plan {before}.")
        elif e.kind is Kind.PLAN_DELETED and not told_empty:
            users = sorted(ep for ep, g in active.items() if g == d["generation"])
            if users:
                told_empty = True
                lines.append(f"{at(e)}: {e.source}'s clean-up deletes plan {d['generation']} "
                             f"(more than keep_generations older than plan {d['newest']}), "
                             f"still the active plan of {', '.join(users)}: "
                             f"{'they answer' if len(users) > 1 else 'it answers'} with no "
                             "addresses.")
        elif e.kind is Kind.ENACTOR_STUCK and e.source not in stuck:
            stuck.add(e.source)
            lines.append(f"{at(e)}: {e.source} is stuck: {d['endpoint']} points at plan "
                         f"{d['missing']}, which no longer exists.")
        if e.kind in (Kind.FRESHNESS_CHECKED, Kind.ENDPOINT_APPLIED, Kind.PLAN_APPLIED):
            last[e.source] = e
    if violation == BACKWARDS and not told_stale:
        lines.append("An endpoint was moved back to an older plan.")
    return lines[:limit]


def _fault_words(d: dict, last: Event | None) -> str:
    kind, target = d.get("fault"), d.get("target")
    if kind == FaultKind.DELAY:
        where = STEP_WORDS.get(d.get("step"), d.get("step")).format(endpoint=d.get("endpoint"))
        if d.get("step") == "after-freshness-check" and last is not None and \
                last.kind is Kind.FRESHNESS_CHECKED:
            where += f" (plan {last.data['generation']} newer than the applied " \
                     f"{last.data['applied']})"
        return f"{target} stalls {d.get('seconds'):g} s {where}."
    if kind == FaultKind.LOSE_LOCK:
        return f"{target} loses its lock on {d.get('endpoint')}."
    if kind == FaultKind.BURST:
        return f"the planner publishes {d.get('count')} plans back to back."
    doing = _doing_words(last)
    if kind == FaultKind.PAUSE:
        return f"{target} is frozen (docker pause) for {d.get('seconds'):g} s{doing}."
    return f"{target} is killed{doing}; it is restarted {d.get('seconds'):g} s later."


def _doing_words(last: Event | None) -> str:
    if last is None:
        return ""
    if last.kind is Kind.FRESHNESS_CHECKED and last.data.get("fresh"):
        return f" right after checking that plan {last.data['generation']} is newer"
    if last.kind is Kind.ENDPOINT_APPLIED:
        return f" while writing plan {last.data['generation']}"
    if last.kind is Kind.PLAN_APPLIED:
        return f" before the clean-up after plan {last.data['generation']}"
    return ""


# -- the experiment file -------------------------------------------------------------------
_SKIP = ("title", "expect", "faults", "origin", "simulation_differs", "duration_s", "search")


def experiment_yaml(base: Scenario, schedule: Schedule, *, duration_s: float, violation: str,
                    title: str, description: str, expect: str | None = None) -> str:
    """An experiment file (lab/scenario.py reads it back) with the file's set-up, the
    schedule as its faults and what it must show as its expectation."""
    out = ["# yaml-language-server: $schema=experiment.schema.json",
           f"title: {json.dumps(title)}",
           f"description: {json.dumps(description)}",
           f"expect: {expect or EXPECT_FOR[violation]}"]
    defaults = {f.name: f.default for f in dataclasses.fields(Scenario)
                if f.default is not dataclasses.MISSING}
    for f in dataclasses.fields(Scenario):
        if f.name in _SKIP:
            continue
        value = getattr(base, f.name)
        if f.name in defaults and value == defaults[f.name] and f.name not in ("seed",):
            continue
        if isinstance(value, tuple):
            value = [str(v) for v in value]
        elif hasattr(value, "value"):
            value = value.value
        out.append(f"{f.name}: {json.dumps(value)}")
    out.append(f"duration_s: {duration_s:g}")
    out.append("faults:")
    for t in schedule:
        fault = {"at_s": t.at_s, **({"after": t.after} if t.after is not None else {}),
                 **{k: v for k, v in t.fault.to_json().items()
                    if not (k in ("times",) and v == 1) and not (k == "count" and v == 0)
                    and not (k == "seconds" and v == 0)}}
        out.append(f"  - {json.dumps(fault)}")
    return "\n".join(out) + "\n"
