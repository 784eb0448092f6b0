"""`dnslab run FILE --sim`: one experiment in the simulation world, with the same outputs as a
real run (summary.json, events.jsonl, report.html, junit.xml), marked ``"world":
"simulation"``. The same file and seed give byte-identical events.jsonl."""

from pathlib import Path

from lab.execute import execute
from lab.sim.sched import Scheduler
from lab.sim.world import SimClock, SimWorld

WORLD = "simulation"


def simulate(scenario, out: Path, *, echo=print, experiment: dict | None = None) -> dict:
    sched = Scheduler()
    world = SimWorld(scenario, sched)
    return execute(scenario, world, SimClock(sched), out, run_id=f"sim-seed{scenario.seed}",
                   world_name=WORLD, echo=echo, experiment=experiment, stream_events=False)
