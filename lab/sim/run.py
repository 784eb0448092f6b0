"""`dnslab run FILE --sim`: one experiment in the simulation world, with the same outputs as a
real run (summary.json, events.jsonl, report.html, junit.xml), marked ``"world":
"simulation"``. The same file and seed give byte-identical events.jsonl."""

from operator import attrgetter
from pathlib import Path

from lab.core.runloop import RunLoop, RunResult
from lab.execute import execute
from lab.sim.sched import Scheduler
from lab.sim.world import SimClock, SimWorld

WORLD = "simulation"
_time = attrgetter("t")


def simulate(scenario, out: Path, *, echo=print, experiment: dict | None = None) -> dict:
    sched = Scheduler()
    world = SimWorld(scenario, sched)
    try:
        return execute(scenario, world, SimClock(sched), out, run_id=f"sim-seed{scenario.seed}",
                       world_name=WORLD, echo=echo, experiment=experiment,
                       stream_events=False)
    finally:
        sched.close()


def control_plane(scenario, *, sink=None, method_only: bool = False
                  ) -> tuple[RunResult, list]:
    """The control plane only (planner, enactors, faults, the run loop; no clients): the
    fast path for schedule search. Returns how the run ended and its history (check it with
    lab.core.checkers.check_all). No files are written. ``method_only``: stop after the
    method (lab.core.runloop.RunLoop)."""
    sched = Scheduler()
    loop = RunLoop(scenario, SimWorld(scenario, sched, probes=False), SimClock(sched),
                   sink=sink, echo=lambda m: None, probes=False, method_only=method_only,
                   threads=False)
    try:
        result = loop.run()
        return result, sorted(loop.history.events(), key=_time)
    finally:
        sched.close()
