"""`dnslab diff REAL SIM`: a real run and its simulation side by side (lab/core/agreement.py
decides). Both may be run directories (summary.json) or suites (suite.json; runs matched by
directory name). The runs must be of the same experiment: same file content, seed, backend,
mitigations and duration; otherwise the diff refuses, naming what differs."""

import json
from pathlib import Path

from lab.core.agreement import Row, agree, compare_runs
from lab.errors import LabError
from lab.core.fold import fold_sorted
from lab.eventlog import iter_events

SAME = ("seed", "backend", "mitigations", "duration_s", "empty_answer", "alias")


def _summary(run: Path) -> dict:
    try:
        return json.loads((run / "summary.json").read_text())
    except (OSError, ValueError) as e:
        raise LabError(f"{run}: no readable summary.json ({getattr(e, 'strerror', None) or e});"
                       " name a run's results directory") from None


def pairs(real: Path, sim: Path) -> list[tuple[str, Path, Path]]:
    """(name, real run, simulated run) for two runs or two suites."""
    if (real / "summary.json").exists() and (sim / "summary.json").exists():
        return [(real.name, real, sim)]
    if (real / "suite.json").exists() and (sim / "suite.json").exists():
        dirs = [[r["dir"] for r in json.loads((d / "suite.json").read_text())["runs"]]
                for d in (real, sim)]
        if missing := [d for d in dirs[0] if d not in dirs[1]]:
            raise LabError(f"{sim}: the simulated suite has no run {missing[0]!r} that {real} "
                           "has; simulate the same experiment files")
        return [(d, real / d, sim / d) for d in dirs[0]]
    raise LabError(f"{real} and {sim} must both be run directories (summary.json) or both "
                   "suites (suite.json)")


def diff_run(real: Path, sim: Path) -> list[Row]:
    a, b = _summary(real), _summary(sim)
    if (a.get("world", "lab"), b.get("world")) != ("lab", "simulation"):
        raise LabError(f"{real} must be a real run and {sim} a simulated one (their "
                       f"summary.json say world {a.get('world')!r} and {b.get('world')!r})")
    ea, eb = a.get("experiment") or {}, b.get("experiment") or {}
    if ea.get("sha256") != eb.get("sha256"):
        raise LabError(f"{sim}: simulated from another experiment file than {real} "
                       f"({eb.get('file')} vs {ea.get('file')}, contents differ)")
    for key in SAME:
        if a.get(key) != b.get(key):
            raise LabError(f"{sim}: {key} {b.get(key)!r} differs from the real run's "
                           f"{a.get(key)!r}; simulate with the same settings")
    declared = a.get("simulation_differs") or {}
    # each history streamed and folded: no run's probes are held in memory
    return compare_runs(a, fold_sorted(iter_events(real / "events.jsonl")), b,
                        fold_sorted(iter_events(sim / "events.jsonl")), declared)


def diff(real: Path, sim: Path) -> list[tuple[str, list[Row]]]:
    return [(name, diff_run(r, s)) for name, r, s in pairs(Path(real), Path(sim))]


def render(results: list[tuple[str, list[Row]]]) -> str:
    lines = []
    for name, rows in results:
        lines.append(f"{name}: {'agrees' if agree(rows) else 'DISAGREES'}")
        width = max(len(r.quantity) for r in rows)
        real_w = max(4, *(len(r.real) for r in rows))
        sim_w = max(10, *(len(r.sim) for r in rows))
        lines.append(f"  {'':{width}}  {'real':{real_w}}  {'simulation':{sim_w}}")
        for r in rows:
            why = f"  ({r.declared})" if r.declared else ""
            lines.append(f"  {r.quantity:{width}}  {r.real:{real_w}}  {r.sim:{sim_w}}  "
                         f"{r.status}{why}")
    return "\n".join(lines)
