"""One run in any world, from staging to published results: the run loop (lab/core/runloop.py)
drives the world, the history streams to events.jsonl as it grows (a crash loses at most one
event) and is folded as it comes (lab/core/fold.py: the runner keeps the few events it reads
back and running aggregates of the rest, so memory does not grow with the run's length),
the summary is decided from that fold (lab/core/blast.py), and the results replace ``out``
only when complete (lab/results.py). events.jsonl is put in time order at the end, on disk;
when an event came too late for the fold's reordering, the summary is decided from the sorted
file instead, so it is always the summary of events.jsonl. The real lab (lab/run.py) and
the simulation (lab/sim/world.py) both run through here, so their outputs are the same files
with the same fields; ``world`` ("lab" or "simulation") says which made them.

A command that wants to watch its runs (the live view, lab/live.py) says so with
``observed(views)``: each run then asks ``views(scenario, clock=, experiment=)`` for an
observer, which sees every event as it arrives and can never break or stop the run."""

from contextlib import contextmanager, nullcontext
from contextvars import ContextVar
from pathlib import Path

from lab import results
from lab.core.blast import Summary, summarize_fold
from lab.core.fold import RETAINED, Record, fold_sorted
from lab.core.runloop import LAST_PHASE, Phase, RunLoop
from lab.core.ports import TransientError
from lab.core.verdict import Verdict
from lab.errors import LabError
from lab.eventlog import JsonLines, iter_events, sort_file


class _Sink:
    """The run's events.jsonl, written as events arrive. A write error (full disk) is kept,
    not raised in a worker's log thread: the world turns it into an error (``check``) and
    the run still rolls back."""

    def __init__(self, stream, index=None, record=None, *, flush_each: bool = True):
        self.lines = JsonLines(stream, flush_each=flush_each) if stream is not None else None
        self.index = index
        self.record = record
        self.error: OSError | None = None

    def __call__(self, event) -> None:
        if self.error is None and self.lines is not None:
            try:
                self.lines(event)
            except OSError as e:
                self.error = e
        if self.record is not None:
            try:
                self.record.add(event)
            except Exception:     # never in a worker's log thread: decided from the file
                self.record = None
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
    way through a process) does not flush events.jsonl per event."""
    staging = results.stage(Path(out), run_id)
    events_path = staging / "events.jsonl"
    try:
        stream = open(events_path, "w")      # in arrival order; sorted at the end
    except OSError as e:
        raise LabError(f"cannot write {events_path}: {e.strerror}") from None
    observer = _observer(scenario, clock, experiment)
    record = Record(rows=False)     # the report reads its table back from events.jsonl
    sink = _Sink(stream, observer, record, flush_each=stream_events)
    world.sink_error = lambda: sink.raise_if_failed(events_path)
    loop = RunLoop(scenario, world, clock, sink=sink, echo=echo, shield=shield,
                   errors=(LabError, TransientError), keep=lambda e: e.kind in RETAINED)
    try:
        result = loop.run()
    finally:
        with shield():
            _close(observer)
            try:
                stream.close()
            except OSError as e:
                sink.error = sink.error or e
    # Deciding and publishing are shielded like the rollback: a Ctrl-C or SIGTERM now would
    # leave a finished run unpublished (its results half-staged), so it is not taken.
    with shield():
        return _decide(scenario, result, sink, record, events_path, staging, out,
                       run_id=run_id, world_name=world_name, experiment=experiment, echo=echo)


def _decide(scenario, result, sink, record, events_path: Path, staging: Path, out, *, run_id,
            world_name, experiment, echo) -> Summary:
    echo(f"run: {Phase.DECIDE.value}")
    status, reason = result.status, result.reason
    if sink.error is not None and status is None:
        status = Verdict.ERROR
        reason = f"cannot write {events_path}: {sink.error.strerror or sink.error}"
    try:
        sort_file(events_path, events_path)
    except OSError as e:
        raise LabError(f"cannot write {events_path}: {e.strerror or e}; free space there") \
            from None
    # The verdict comes from the history folded as it came; events.jsonl holds it all, and
    # folding it gives the same summary (when an event came too late to be folded in order,
    # it is what the summary is decided from).
    if sink.record is not None and not record.late:
        folded = record.close()
    else:
        folded = fold_sorted(iter_events(events_path), rows=False)
    summary = _summary(folded, scenario, status=status.value if status is not None else None,
                       reason=reason, steady_after=result.steady_after, run_id=run_id,
                       world_name=world_name, experiment=experiment,
                       interrupted=result.interrupted)
    results.write_run(staging, summary, None, echo=echo, fold=folded)
    results.publish(staging, Path(out))
    return summary


def _summary(folded, s, *, status, reason, steady_after, run_id, world_name, experiment,
             interrupted) -> Summary:
    return summarize_fold(folded, backend=s.backend, seed=s.seed,
                          status=status, reason=reason, faults=s.faults, expected=s.expect,
                          max_failed_ratio=s.max_failed_ratio, last_phase=LAST_PHASE,
                          steady_state_after=steady_after,
                          title=s.title, run_id=run_id, world=world_name,
                          experiment=experiment or {},
                          empty_answer=s.empty_answer, alias=s.alias,
                          mitigations=list(s.mitigations),
                          duration_s=s.duration_s,
                          record_ttl_s=s.record_ttl_s,
                          negative_ttl_s=s.effective_negative_ttl_s,
                          requested_negative_ttl_s=s.negative_ttl_s,
                          simulation_differs=dict(s.simulation_differs),
                          cascade=cascade_judging(s),
                          interrupted=interrupted)


def cascade_judging(s) -> dict | None:
    """How the summary judges the scenario's cascade (None: it has none)."""
    if s.cascade is None:
        return None
    return {"renew_period_s": s.cascade.params.renew_period_s,
            "lease_ttl_s": s.cascade.params.lease_ttl_s}


def summary_from_events(path: Path, scenario, summary: dict) -> Summary:
    """The summary of ``scenario``'s run decided again from its events.jsonl at ``path``
    (streamed: constant memory), with what the history cannot tell (the runner's own status
    and reason, the steady state after, the run's id, world and file) taken from the run's
    ``summary``. A run's summary always equals it (tests/unit/test_fold.py)."""
    status = summary["verdict"] if summary["verdict"] == Verdict.ABORTED.value else None
    return _summary(fold_sorted(iter_events(path)), scenario, status=status,
                    reason=summary.get("reason") if status else None,
                    steady_after=summary.get("steady_state_after"),
                    run_id=summary.get("run_id"), world_name=summary.get("world"),
                    experiment=summary.get("experiment"),
                    interrupted=summary.get("interrupted", False))
