"""One run in any world, from staging to published results: the run loop (lab/core/runloop.py)
drives the world, the history streams to events.jsonl as it grows (a crash loses at most one
event), the summary is decided from the history in memory (lab/core/blast.py), and the
results replace ``out`` only when complete (lab/results.py). The real lab (lab/run.py) and
the simulation (lab/sim/world.py) both run through here, so their outputs are the same files
with the same fields; ``world`` ("lab" or "simulation") says which made them."""

from contextlib import nullcontext
from pathlib import Path

from lab import results
from lab.core.blast import Summary, summarize
from lab.core.runloop import LAST_PHASE, Phase, RunLoop
from lab.core.ports import TransientError
from lab.core.verdict import Verdict
from lab.errors import LabError
from lab.eventlog import JsonLines


class _Sink:
    """The run's events.jsonl, written as events arrive. A write error (full disk) is kept,
    not raised in a worker's log thread: the world turns it into an error (``check``) and
    the run still rolls back."""

    def __init__(self, stream, index=None):
        self.lines = JsonLines(stream)
        self.index = index
        self.error: OSError | None = None

    def __call__(self, event) -> None:
        if self.error is None:
            try:
                self.lines(event)
            except OSError as e:
                self.error = e
        if self.index is not None:
            self.index(event)

    def raise_if_failed(self, path: Path) -> None:
        if self.error is not None:
            raise LabError(f"cannot write {path}: {self.error.strerror or self.error}; "
                           "free space there")


def execute(scenario, world, clock, out: Path, *, run_id: str, world_name: str,
            echo=print, experiment: dict | None = None, shield=nullcontext,
            stream_events: bool = True) -> Summary:
    """Run ``scenario`` in ``world`` on ``clock``; write and publish its results in ``out``;
    return the summary. ``stream_events`` False (the simulation, which cannot crash half
    way through a process) writes events.jsonl once, at the end."""
    staging = results.stage(Path(out), run_id)
    events_path = staging / "events.jsonl"
    stream = None
    if stream_events:
        try:
            stream = open(events_path, "w")
        except OSError as e:
            raise LabError(f"cannot write {events_path}: {e.strerror}") from None
    sink = _Sink(stream) if stream is not None else None
    world.sink_error = (lambda: sink.raise_if_failed(events_path)) if sink else (lambda: None)
    loop = RunLoop(scenario, world, clock, sink=sink, echo=echo, shield=shield,
                   errors=(LabError, TransientError))
    try:
        result = loop.run()
    finally:
        if stream is not None:
            try:
                stream.close()
            except OSError:
                pass
    echo(f"run: {Phase.DECIDE.value}")
    status, reason = result.status, result.reason
    if sink is not None and sink.error is not None and status is None:
        status = Verdict.ERROR
        reason = f"cannot write {events_path}: {sink.error.strerror or sink.error}"
    # The verdict comes from the history in memory; events.jsonl mirrors it.
    events = sorted(loop.history.events(), key=lambda e: e.t)
    s = scenario
    summary = summarize(events, backend=s.backend, seed=s.seed,
                        status=status.value if status is not None else None,
                        reason=reason, faults=s.faults, expected=s.expect,
                        max_failed_ratio=s.max_failed_ratio, last_phase=LAST_PHASE,
                        steady_state_after=result.steady_after,
                        title=s.title, run_id=run_id, world=world_name,
                        experiment=experiment or {},
                        empty_answer=s.empty_answer, alias=s.alias,
                        mitigations=list(s.mitigations),
                        duration_s=s.duration_s,
                        record_ttl_s=s.record_ttl_s,
                        negative_ttl_s=s.effective_negative_ttl_s,
                        requested_negative_ttl_s=s.negative_ttl_s,
                        simulation_differs=dict(s.simulation_differs),
                        interrupted=result.interrupted)
    results.write_run(staging, summary, events, echo=echo)
    results.publish(staging, Path(out))
    return summary
