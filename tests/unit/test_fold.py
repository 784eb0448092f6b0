"""Bounded memory for long runs (issue 17, item 5): the runner folds its history as it
comes (lab/core/fold.py) and the summary it decides equals the one decided afterwards from
events.jsonl; the fold agrees with the list functions on random histories, reorders
interleaved streams, stays bounded over long runs; events.jsonl is sorted on disk."""

import dataclasses
import json
import random
from pathlib import Path

import pytest

from lab.core import blast
from lab.core.agreement import group_outage
from lab.core.compare import longest_client_outage_s
from lab.core.fold import (MAX_BUCKETS, MAX_POINTS, REORDER_S, Fold, Record, Reorder, fold,
                           fold_sorted)
from lab.core.history import Event, History, Kind
from lab.core.verdict import attribute
from lab.eventlog import iter_events, read_events, sort_file
from lab.execute import summary_from_events
from lab.report import render_html
from lab.scenario import load
from lab.sim.run import simulate

ROOT = Path(__file__).resolve().parents[2]


def quiet(message: str) -> None:
    pass


@pytest.mark.parametrize("name,backend,seed,duration", [
    ("dynamodb-race", "powerdns", 1, None),
    ("dynamodb-race", "coredns", 2, None),
    ("enactor-killed-mid-plan", "powerdns", 3, None),
    ("race-short-ttls", "coredns", 1, None),
    ("steady-state", "powerdns", 4, 20),
])
def test_the_runs_summary_equals_the_one_from_events_jsonl(tmp_path, name, backend, seed,
                                                           duration):
    s = load(ROOT / "experiments" / f"{name}.yaml")
    s = dataclasses.replace(s, backend=backend, seed=seed)
    if duration:
        s = s.with_duration(duration)
    summary = simulate(s, tmp_path / "run", echo=quiet, experiment={"file": name})
    path = tmp_path / "run" / "events.jsonl"
    again = summary_from_events(path, s, summary)
    assert json.dumps(summary, sort_keys=True) == json.dumps(again, sort_keys=True)
    assert json.loads((tmp_path / "run" / "summary.json").read_text()) == \
        json.loads(json.dumps(summary))
    events = read_events(path)
    assert [e.t for e in events] == sorted(e.t for e in events)
    # the report drawn from the runner's fold is the one drawn from the whole history
    assert (tmp_path / "run" / "report.html").read_text() == render_html(summary, events)
    assert summary["history"]["events"] == len(events)


def _random_history(rng: random.Random, clients: int = 12, probes: int = 120) -> list[Event]:
    """Plans applied and deleted (some while active), faults, and probes of clients in two
    groups that fail now and then; distinct times (ties are ordered by rule, not chance)."""
    events, t = [], 0.0
    endpoints = ["r", "v6", "s"]
    gen = 1
    for ep in endpoints:
        events.append(Event(t, "enactor-a", Kind.ENDPOINT_APPLIED,
                            {"endpoint": ep, "generation": gen, "previous": None}))
        t += 0.001
    for step in range(probes):
        for c in range(clients):
            t += 0.0013 + rng.random() * 0.001
            failed = rng.random() < (0.4 if 40 < step < 80 else 0.05)
            events.append(Event(t, f"prober-{c % 2}", Kind.PROBE, {
                "client": f"c{c:03d}", "group": "direct" if c % 2 else "resolver",
                "endpoint": endpoints[c % 3],
                "outcome": rng.choice(["nodata", "timeout", "servfail"]) if failed else "ok"}))
        if rng.random() < 0.15:
            t += 0.0007
            gen += 1
            ep = rng.choice(endpoints)
            events.append(Event(t, "enactor-b", Kind.ENDPOINT_APPLIED,
                                {"endpoint": ep, "generation": gen, "previous": gen - 1}))
        if rng.random() < 0.08:
            t += 0.0007
            events.append(Event(t, "enactor-c", Kind.PLAN_DELETED,
                                {"generation": rng.randint(1, gen), "newest": gen}))
        if rng.random() < 0.03:
            t += 0.0007
            events.append(Event(t, "faults", Kind.FAULT_STARTED,
                                {"fault": "pause", "target": "enactor-a", "index": 0}))
    return events


@pytest.mark.parametrize("seed", range(6))
def test_the_fold_agrees_with_the_list_functions(seed):
    """One pass, linear in the events, gives the figures the list functions (each a scan of
    the whole history) give."""
    events = _random_history(random.Random(seed))
    explained, unexplained = attribute(events)
    counted = {id(e) for e, _ in explained}
    f = fold(events)
    assert f.outage() == blast.outage(events, counted)
    for group in ("direct", "resolver"):
        assert f.group_view(group) == blast.group_view(events, group, counted=counted).__dict__
    assert f.unexplained == len(unexplained)
    by_cause: dict[str, int] = {}
    for _, cause in explained:
        by_cause[cause.what] = by_cause.get(cause.what, 0) + 1
    assert f.by_cause == by_cause
    summary = blast.summarize(events, backend="powerdns", seed=1)
    for group in ("direct", "resolver"):
        assert f.longest_client_outage_s(group) == longest_client_outage_s(events, group)
        assert group_outage(summary, f, group) == group_outage(summary, events, group)
    assert blast.detection_lag_ms(events) == (
        None if f.detection is None or f.structure.impact is None
        else round((f.detection.t - f.structure.impact[0].t) * 1000, 1))


def test_interleaved_streams_are_folded_in_time_order_and_a_late_event_is_noticed():
    events = _random_history(random.Random(7))
    rng = random.Random(1)
    # each event arrives up to 2 s after it happened (streams interleave)
    arrival = sorted(events, key=lambda e: e.t + rng.random() * 2.0 * 0.01)
    record = Record(window_s=0.05)
    for e in arrival:
        record.add(e)
    folded = record.close()
    assert record.late == 0
    a = blast.summarize_fold(folded, backend="powerdns", seed=1)
    b = blast.summarize(events, backend="powerdns", seed=1)
    assert a == b
    late = Record(window_s=0.05)
    for e in sorted(events, key=lambda e: e.t)[10:]:
        late.add(e)
    late.add(events[0])
    late.close()
    assert late.late == 1


def test_reorder_is_stable_for_equal_times():
    r = Reorder()
    a, b, c = (Event(1.0, s, Kind.PHASE, {"phase": s}) for s in "abc")
    for e in (a, Event(0.5, "x", Kind.PHASE, {}), b, c):
        r.push(e)
    assert [e.source for e in r.drain()] == ["x", "a", "b", "c"]


@pytest.mark.parametrize("chunk", [3, 50_000])
def test_events_jsonl_is_sorted_on_disk_stably_in_bounded_memory(tmp_path, chunk):
    rng = random.Random(3)
    events = [Event(round(i * 0.01 + rng.random() * (9.0 if i == 50 else 0.03), 3), f"s{i}",
                    Kind.PHASE, {"phase": str(i)}) for i in range(200)]
    src, dst = tmp_path / "arrived.jsonl", tmp_path / "events.jsonl"
    src.write_text("".join(json.dumps(e.to_json(), separators=(",", ":")) + "\n"
                           for e in events))
    assert sort_file(src, dst, chunk=chunk) == 200      # event 50 is 9 s late: on disk
    assert [e.source for e in read_events(dst)] == \
        [e.source for e in sorted(events, key=lambda e: e.t)]
    assert not list(tmp_path.glob(".sort-*"))


def test_a_long_run_folds_into_bounded_aggregates():
    f = Fold(rows=False)
    t, gen = 0.0, 0
    for i in range(40_000):          # 5.5 hours of two clients probing every half second
        t = i * 0.5
        if i % 2 == 0:
            gen += 1
            f.add(Event(t, "planner", Kind.PLAN_PUBLISHED, {"generation": gen}))
            f.add(Event(t, "enactor-a", Kind.ENDPOINT_APPLIED,
                        {"endpoint": "r", "generation": gen, "previous": gen - 1}))
        for c in ("c1", "c2"):
            f.add(Event(t + 0.01, "prober-1", Kind.PROBE, {
                "client": c, "group": "direct", "endpoint": "r", "outcome": "ok"}))
    f.close()
    assert len(f.published) <= MAX_POINTS and len(f.applied["r"]) <= MAX_POINTS
    assert all(len(a) <= MAX_BUCKETS for pair in f.buckets.values() for a in pair)
    assert f.bucket_s > 1
    assert all(c.gaps is None and len(c.hist) < 10 for c in f.clients.values())
    assert f.retained == [] and f.rows is None and f.events == 20_000 * 2 + 80_000
    shares = f.share_points()["direct"]
    assert shares[0] == (0.0, 0.0) and len(shares) <= MAX_BUCKETS


def test_the_runners_history_keeps_only_what_it_reads_back():
    h = History(lambda: 1.0, keep=lambda e: e.kind is not Kind.PROBE)
    h.append("runner", Kind.PHASE, phase="setup")
    h.add(Event(1.0, "prober-1", Kind.PROBE, {"client": "c1", "outcome": "ok"}))
    assert [e.kind for e in h.events()] == [Kind.PHASE]


def test_a_streamed_events_file_folds_to_the_same_fold(tmp_path):
    events = sorted(_random_history(random.Random(11)), key=lambda e: e.t)
    path = tmp_path / "events.jsonl"
    path.write_text("".join(json.dumps(e.to_json(), separators=(",", ":")) + "\n"
                            for e in events))
    a = blast.summarize_fold(fold_sorted(iter_events(path)), backend="coredns", seed=2)
    assert a == blast.summarize(events, backend="coredns", seed=2)
    assert REORDER_S > 0


def test_a_late_event_makes_the_runner_decide_from_events_jsonl(tmp_path, monkeypatch):
    import lab.execute

    class Late(Record):
        late = 1        # an event came after later ones were folded: the fold is not trusted

    monkeypatch.setattr(lab.execute, "Record", Late)
    s = load(ROOT / "experiments" / "dynamodb-race.yaml")
    summary = simulate(s, tmp_path / "run", echo=quiet)
    assert summary["verdict"] == "hypothesis-violated"
    assert summary == summary_from_events(tmp_path / "run" / "events.jsonl", s, summary)
    assert "failed probes of" in (tmp_path / "run" / "report.html").read_text()
