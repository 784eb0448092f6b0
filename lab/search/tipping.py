"""`dnslab search FILE --find tipping-point`: the smallest DNS outage that tips the file's
fleet into collapse, per remediation variant, and how far the file's own race is past it.

Two questions, both answered in the simulation world:

1. **The tipping point.** With the file's `cascade:` parameters and a variant's
   remediations, the fleet (lab/core/cascade.py, stepped on a virtual clock) loses DNS for L
   seconds after a steady start; L is bisected until the smallest L that leaves the fleet
   metastable is known to within ``--tolerance`` (the outcome is checked to be monotone at
   every point tried: a longer outage that heals where a shorter one collapsed is reported,
   not hidden). A variant that does not collapse even at ``--max-outage`` says so.
2. **The file's race.** The whole experiment is run once in the simulation (race, resolver
   caches, fleet), and the DNS outage its fleet really saw -- from its first failed lookup
   to the lookup that found addresses again, caches included -- is set against the tipping
   point: the margin by which the race tips the fleet, or stays short of it.

Writes tipping.json and tipping.md under --out; pure simulation, seconds per variant.
"""

import dataclasses
import json
import tempfile
from pathlib import Path

from lab.errors import LabError
from lab.sim.cascade import OUTAGE_START_S, bisect, collapses

TIPPING = "tipping-point"
GRID_S = (0.0, 5.0, 10.0, 15.0, 20.0, 30.0, 45.0, 60.0, 90.0, 120.0, 180.0, 240.0, 300.0,
          450.0, 600.0)


def tipping_point(params_at, *, seed: int, max_outage_s: float, tolerance_s: float,
                  renew_period_s: float, lease_ttl_s: float, window_s: float) -> dict:
    """The smallest outage (seconds) in [0, max_outage_s] that leaves the fleet metastable:
    a coarse grid first (so a collapse that longer outages heal is seen, not bisected past),
    then bisection between the last grid point that held and the first that tipped.
    ``params_at(outage_s)`` gives the model's parameters for an outage of that length (an
    operator's restart is timed from its end)."""
    observe_s = max(120.0, lease_ttl_s + 6 * renew_period_s + 4 * window_s)
    tried: dict[float, bool] = {}

    def tips(x: float) -> bool:
        x = round(x, 3)
        if x not in tried:
            verdict = collapses(params_at(x), x, seed=seed, observe_s=observe_s)
            if verdict is None:
                raise LabError(f"search: an outage of {x:g} s leaves the fleet undecided over "
                               f"{observe_s:g} s of observation; nothing can be concluded")
            tried[x] = verdict
        return tried[x]

    grid = [x for x in GRID_S if x < max_outage_s] + [float(max_outage_s)]
    result, lo = None, 0.0
    for x in grid:
        if tips(x):
            result = round(bisect(tips, lo, x, tolerance_s), 2) if x > 0 else 0.0
            break
        lo = x
    if result is not None:
        for x in grid:          # past the tipping point every grid outage must tip too
            tips(x)
    points = sorted(tried.items())
    monotone = all(not a or b for (_, a), (_, b) in zip(points, points[1:]))
    return {"tipping_outage_s": result, "tolerance_s": tolerance_s, "monotone": monotone,
            "tried": [{"outage_s": x, "metastable": v} for x, v in points],
            "observe_s": observe_s}


def fleet_outage_s(events) -> float | None:
    """The DNS outage the fleet saw in a run: its first failed lookup to the lookup that
    found addresses again (None: it never failed, or never came back)."""
    from lab.core.history import Kind
    lookups = sorted((e for e in events if e.kind is Kind.CASCADE_DNS), key=lambda e: e.t)
    first = next((e.t for e in lookups if not e.data.get("ok")), None)
    if first is None:
        return None
    back = next((e.t for e in lookups if e.t > first and e.data.get("ok")), None)
    return None if back is None else round(back - first, 2)


def the_files_race(s, parts: tuple[str, ...]) -> dict:
    """The whole file run once in the simulation with the variant's mitigations."""
    from lab.eventlog import read_events
    from lab.sim.run import simulate
    with tempfile.TemporaryDirectory(prefix="dnslab-tipping-") as tmp:
        out = Path(tmp) / "run"
        summary = simulate(dataclasses.replace(s, mitigations=parts), out, echo=lambda m: None)
        events = read_events(out / "events.jsonl")
    cascade = summary.get("cascade") or {}
    return {"verdict": summary["verdict"], "metastable": cascade.get("metastable"),
            "fleet_dns_outage_s": fleet_outage_s(events)}


def run(args, s, path, plan, out: Path, command: str) -> int:
    from lab import results
    if s.cascade is None:
        raise LabError(f"{path}: --find {TIPPING} needs a cascade: section (a fleet behind "
                       "the endpoint)")
    if args.max_outage <= 0 or args.tolerance <= 0:
        raise LabError("--max-outage and --tolerance must be more than 0 seconds")
    rows = []
    for name, parts in plan:
        params = s.cascade.params_for(parts)

        def params_at(outage_s: float, params=params):
            # The operator's restart and late remediations are timed from the repair in a
            # run; here from the outage's end, by the same delays.
            changes = {}
            if params.restart_at_s is not None:
                changes["restart_at_s"] = OUTAGE_START_S + outage_s + \
                    (s.cascade.restart_after_repair_s or 0.0)
            if s.cascade.remediations_after_repair_s is not None:
                changes["remediations_at_s"] = OUTAGE_START_S + outage_s + \
                    s.cascade.remediations_after_repair_s
            return params.replace(**changes) if changes else params
        p = params
        tip = tipping_point(params_at, seed=s.seed, max_outage_s=args.max_outage,
                            tolerance_s=args.tolerance, renew_period_s=p.renew_period_s,
                            lease_ttl_s=p.lease_ttl_s, window_s=p.window_s)
        race = the_files_race(s, parts)
        seen, at = race["fleet_dns_outage_s"], tip["tipping_outage_s"]
        margin = None if seen is None or at is None else round(seen - at, 2)
        rows.append({"variant": name, "mitigations": list(parts), **tip, "race": race,
                     "margin_s": margin})
        if not args.quiet:
            print(f"search [{name}]: " + (f"tips at {at:g} s" if at is not None else
                                         f"no collapse up to {args.max_outage:g} s")
                  + (f"; the file's race keeps DNS from the fleet {seen:g} s" if seen else ""),
                  flush=True)
    doc = {"file": str(path), "command": command, "find": TIPPING, "seed": s.seed,
           "max_outage_s": args.max_outage, "variants": rows}
    staging = results.stage(out, "tipping")
    (staging / "tipping.json").write_text(json.dumps(doc, indent=2) + "\n")
    (staging / "tipping.md").write_text(markdown(doc))
    results.publish(staging, out)
    print((out / "tipping.md").read_text(), end="")
    print(f"search: {out / 'tipping.json'}, tipping.md")
    return 0 if all(r["monotone"] for r in rows) else 1


def markdown(doc: dict) -> str:
    lines = [f"# The smallest DNS outage that tips the fleet: {doc['file']}", "",
             f"`{doc['command']}` (simulation, seed {doc['seed']})", "",
             "Tipping point: the shortest outage after which the fleet's goodput stays below "
             "half for three renew periods once DNS is back (bisected; monotone: every point "
             "tried agreed that longer is worse). The race: the DNS outage the file's own run "
             "gave its fleet (first failed lookup to addresses again, caches included).", "",
             "| variant | tipping outage (s) | monotone | points tried | the race's outage for "
             "the fleet (s) | past the tipping point by (s) | the race's run |",
             "|---|---|---|---|---|---|---|"]
    for r in doc["variants"]:
        at = r["tipping_outage_s"]
        race = r["race"]
        lines.append(
            f"| {r['variant']} | "
            + (f"none up to {doc['max_outage_s']:g}" if at is None else f"{at:g}")
            + f" | {'yes' if r['monotone'] else 'NO'} | {len(r['tried'])} | "
            + ("-" if race["fleet_dns_outage_s"] is None else f"{race['fleet_dns_outage_s']:g}")
            + " | " + ("-" if r["margin_s"] is None else f"{r['margin_s']:+g}") + " | "
            + f"{race['verdict']}, metastable "
            + {True: "yes", False: "no", None: "undecided"}[race["metastable"]] + " |")
    return "\n".join(lines) + "\n"
