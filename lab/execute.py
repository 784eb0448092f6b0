"""One run in any world, from staging to published results: the run loop (lab/core/runloop.py)
drives the world, the history streams to events.jsonl as it grows (a crash loses at most one
event), the summary is decided from the history in memory (lab/core/blast.py), and the
results replace ``out`` only when complete (lab/results.py). The real lab (lab/run.py) and
the simulation (lab/sim/world.py) both run through here, so their outputs are the same files
with the same fields; ``world`` ("lab" or "simulation") says which made them.

A command that wants to watch its runs (the live view, lab/live.py) says so with
``observed(views)``: each run then asks ``views(scenario, clock=, experiment=)`` for an
observer, which sees every event as it arrives and can never break or stop the run."""

from contextlib import contextmanager, nullcontext
from contextvars import ContextVar
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
        self.lines = JsonLines(stream) if stream is not None else None
        self.index = index
        self.error: OSError | None = None

    def __call__(self, event) -> None:
        if self.error is None and self.lines is not None:
            try:
                self.lines(event)
            except OSError as e:
                self.error = e
        if self.index is not None:
            try:
                self.index(event)
            except Exception:     # an observer (the live view) never reaches the run
                self.index = None

    def raise_if_failed(self, path: Path) -> None:
        if self.error is not None:
            raise LabError(f"cannot write {path}: {self.error.strerror or self.error}; "
                           "free space there")


_views: ContextVar = ContextVar("dnslab_run_views", default=None)


@contextmanager
def observed(views):
    """While inside, every run made by ``execute`` is shown by ``views`` (lab/live.py:
    ``RunViews``; None shows nothing)."""
    token = _views.set(views)
    try:
        yield views
    finally:
        _views.reset(token)


def _observer(scenario, clock, experiment):
    """The observer of this run, started; None when nobody watches or it cannot start."""
    views = _views.get()
    if views is None:
        return None
    try:
        observer = views(scenario, clock=clock, experiment=experiment)
        return observer.start() if observer is not None else None
    except Exception:
        return None


def _close(observer) -> None:
    if observer is not None:
        try:
            observer.close()
        except Exception:
            pass


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
    observer = _observer(scenario, clock, experiment)
    sink = _Sink(stream, observer) if stream is not None or observer is not None else None
    world.sink_error = (lambda: sink.raise_if_failed(events_path)) if stream is not None \
        else (lambda: None)
    loop = RunLoop(scenario, world, clock, sink=sink, echo=echo, shield=shield,
                   errors=(LabError, TransientError))
    try:
        result = loop.run()
    finally:
        _close(observer)
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
