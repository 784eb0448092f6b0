"""The live view: the fold (lab/core/live.py) over a scripted history, both renderers
(lab/live.py: a rich display recorded on a Console, plain lines with their rate limit on an
injected clock), its hook in lab/execute.py (it sees a simulated run's events and can never
break one), and the --view flag."""

import dataclasses
import io
import re
from pathlib import Path

import pytest
from rich.console import Console

from lab import live
from lab.cli import main, parser
from lab.core.history import Event, Kind
from lab.core.live import SERIES_S, EnactorState, LiveState, planned_seconds
from lab.execute import observed
from lab.scenario import load
from lab.sim.run import simulate

ROOT = Path(__file__).resolve().parents[2]
RACE = ROOT / "experiments" / "dynamodb-race.yaml"
REGIONAL = "dynamodb.us-east-1"
ENDPOINTS = ("dynamodb.us-east-1", "dynamodb.us-east-1.api", "dynamodb-streams.us-east-1")


def ev(t, source, kind, **data) -> Event:
    return Event(t, source, kind, data)


def probe(t, group, outcome, addresses, endpoint=REGIONAL, client="c1") -> Event:
    return ev(t, "clients-1", Kind.PROBE, client=client, group=group, endpoint=endpoint,
              outcome=outcome, rcode="NOERROR", addresses=addresses, latency_ms=1.0)


def race_history() -> list[Event]:
    """The race in miniature: plan 5 everywhere, A stalled after its check, B deletes plan 5
    while every endpoint points at it, direct clients see empty answers, C stuck, a page."""
    h = [ev(0.0, "runner", Kind.PHASE, phase="setup"),
         ev(2.0, "runner", Kind.PHASE, phase="start")]
    h += [ev(3.0, "enactor-b", Kind.ENDPOINT_APPLIED, endpoint=e, generation=5, previous=None)
          for e in ENDPOINTS]
    h += [ev(10.0, "runner", Kind.PHASE, phase="inject"),
          ev(10.5, "enactor-a", Kind.FRESHNESS_CHECKED, generation=5, applied=4, fresh=True),
          ev(11.0, "faults", Kind.FAULT_STARTED, fault="delay", target="enactor-a",
             step="after-freshness-check", endpoint=None, seconds=12.0)]
    for s in range(10, 20):              # healthy probes in both groups
        h += [probe(s + 0.1, "direct", "ok", 3, client="d1"),
              probe(s + 0.2, "resolver", "ok", 3, client="r1")]
    h += [ev(19.0, "enactor-b", Kind.PLAN_DELETED, generation=5, newest=11)]
    for s in range(19, 22):              # the emptied endpoint, seen directly
        h += [probe(s + 0.3, "direct", "nodata", 0, client="d1"),
              probe(s + 0.4, "direct", "nodata", 0, client="d2"),
              probe(s + 0.5, "resolver", "ok", 3, client="r1")]
    h += [ev(20.0, "enactor-c", Kind.ENACTOR_STUCK, endpoint=REGIONAL, generation=11,
             missing=5),
          ev(20.5, "enactor-b", Kind.WRITE_REFUSED, endpoint=REGIONAL, generation=12,
             reason="dynamodb.us-east-1: fencing token 40 is stale (fence 41)",
             safeguard="fencing"),
          ev(21.0, "runner", Kind.PHASE, phase="observe"),
          ev(21.5, "alertmanager", Kind.PAGED, alert="DnsEndpointEmpty", status="firing",
             labels={"endpoint": REGIONAL}, starts_at=20.0)]
    return h


def folded(events, scenario=None, label="") -> LiveState:
    state = LiveState(scenario if scenario is not None else load(RACE), label)
    for e in events:
        state.add(e)
    return state


# -- the fold ---------------------------------------------------------------------------------
def test_the_fold_shows_the_race_as_it_happens():
    s = load(RACE)
    v = folded(race_history(), s).view(now=22.0)
    assert v.phase == "observe" and v.title == s.title
    assert v.phase_left_s == pytest.approx(21.0 + s.hold_stuck_s - 22.0)  # emptied: the hold
    assert v.elapsed_s == 22.0 and v.events == len(race_history())

    eps = {e.name: e for e in v.endpoints}
    assert set(eps) == set(ENDPOINTS)
    assert eps[REGIONAL].generation == 5 and eps[REGIONAL].addresses == 0
    assert eps[REGIONAL].plan_deleted and eps[REGIONAL].empty
    assert eps["dynamodb-streams.us-east-1"].empty          # its plan is gone too

    groups = {g.name: g for g in v.groups}
    assert groups["direct"].failing == 1.0 and groups["resolver"].failing == 0.0
    series = groups["direct"].series          # one share a second, up to now (22)
    assert len(series) == SERIES_S and series[-1] is None
    assert series[-4:-1] == (2 / 3, 1.0, 1.0) and series[-5] == 0.0 and series[0] is None

    en = {e.name: e for e in v.enactors}
    assert en["enactor-a"].state is EnactorState.STALLED
    assert en["enactor-a"].detail == "after-freshness-check"
    assert en["enactor-a"].left_s == pytest.approx(11.0 + 12.0 - 22.0)
    assert en["enactor-c"].state is EnactorState.STUCK and en["enactor-c"].detail == REGIONAL
    assert en["enactor-b"].state is EnactorState.REFUSED and en["enactor-b"].detail == "fencing"

    [fault] = v.faults
    assert (fault.kind, fault.target, fault.step) == ("delay", "enactor-a",
                                                      "after-freshness-check")
    assert fault.left_s == pytest.approx(1.0) and "1s left" in fault.text()

    names = [x.name for x in v.violations]
    assert "never-delete-active-plan" in names and "endpoint-never-empty" in names
    first = next(x for x in v.violations if x.name == "never-delete-active-plan")
    assert first.t == 19.0 and "plan 5" in first.detail and "enactor-b" in first.detail

    [alert] = v.alerts
    assert (alert.alert, alert.status, alert.about) == ("DnsEndpointEmpty", "firing", REGIONAL)
    assert alert.name == f"DnsEndpointEmpty {REGIONAL}"


def test_a_stall_ends_back_in_its_pass_and_a_pass_makes_an_enactor_idle():
    h = race_history()[:8] + [
        ev(23.0, "faults", Kind.FAULT_ENDED, fault="delay", target="enactor-a",
           step="after-freshness-check", endpoint=None)]
    v = folded(h).view(now=23.5)
    a = next(e for e in v.enactors if e.name == "enactor-a")
    assert (a.state, a.generation, a.left_s) == (EnactorState.APPLYING, 5, None)
    assert v.faults == ()
    v = folded(h + [ev(24.0, "enactor-a", Kind.PASS, result="applied", seconds=13.5)]).view()
    assert next(e for e in v.enactors if e.name == "enactor-a").state is EnactorState.IDLE


def test_armed_faults_wait_until_a_worker_says_they_fired():
    h = [ev(10.0, "runner", Kind.FAULT_ARMED, index=0, fault="delay", target="enactor-a",
            step="after-freshness-check", seconds=12.0)]
    [f] = folded(h).view(now=10.5).faults
    assert f.armed and f.text() == "delay enactor-a@after-freshness-check armed"
    h.append(ev(14.0, "faults", Kind.FAULT_STARTED, fault="delay", target="enactor-a",
                step="after-freshness-check", seconds=12.0))
    [f] = folded(h).view(now=15.0).faults
    assert not f.armed and f.left_s == pytest.approx(11.0)


def test_a_paused_enactor_and_its_countdown():
    h = [ev(5.0, "faults", Kind.FAULT_STARTED, fault="pause", target="enactor-b",
            seconds=30.0, index=0)]
    b = next(e for e in folded(h).view(now=15.0).enactors if e.name == "enactor-b")
    assert b.state is EnactorState.PAUSED and b.left_s == pytest.approx(20.0)
    h.append(ev(35.0, "faults", Kind.FAULT_ENDED, fault="pause", target="enactor-b", index=0))
    b = next(e for e in folded(h).view(now=36.0).enactors if e.name == "enactor-b")
    assert b.state is EnactorState.STARTING and b.left_s is None


def test_a_stale_write_that_recreates_a_deleted_plan_is_not_empty():
    h = [ev(1.0, "enactor-b", Kind.ENDPOINT_APPLIED, endpoint=REGIONAL, generation=5),
         ev(2.0, "enactor-b", Kind.PLAN_DELETED, generation=3, newest=9),
         ev(3.0, "enactor-a", Kind.ENDPOINT_APPLIED, endpoint=REGIONAL, generation=3)]
    ep = next(e for e in folded(h).view().endpoints if e.name == REGIONAL)
    assert ep.generation == 3 and not ep.plan_deleted
    h.append(ev(4.0, "enactor-c", Kind.PLAN_DELETED, generation=3, newest=10))
    ep = next(e for e in folded(h).view().endpoints if e.name == REGIONAL)
    assert ep.plan_deleted and ep.empty


def test_events_out_of_order_give_the_same_violations():
    h = race_history()
    ordered = folded(h).view(now=22.0).violations
    shuffled = folded(list(reversed(h))).view(now=22.0).violations
    assert ordered == shuffled and ordered


def test_violations_are_recomputed_only_after_a_structural_event(monkeypatch):
    state = folded(race_history())
    state.view()
    calls = []
    import lab.core.live as core_live
    monkeypatch.setattr(core_live, "check_all", lambda events: calls.append(1) or [])
    for s in range(30, 40):
        state.add(probe(s, "resolver", "ok", 3))
        state.view()
    assert calls == []
    state.add(ev(41.0, "enactor-a", Kind.ENDPOINT_APPLIED, endpoint=REGIONAL, generation=20))
    state.view()
    state.view()
    assert calls == [1]


def test_phase_lengths_come_from_the_scenario():
    s = load(RACE)
    assert planned_seconds(s, "inject", False) == s.duration_s
    assert planned_seconds(s, "observe", True) == s.hold_stuck_s
    assert planned_seconds(s, "observe", False) == 2 * s.client_interval_s + 1
    assert planned_seconds(s, "recover", False) == s.recovery_window_s
    assert planned_seconds(s, "setup", False) is None and planned_seconds(None, "inject", 0) is None
    v = folded([ev(100.0, "runner", Kind.PHASE, phase="inject")], s).view(now=100.0 + 500)
    assert v.phase_left_s == 0.0            # never negative


def test_an_unknown_event_shape_does_not_crash_the_fold():
    state = LiveState()
    for kind in Kind:
        state.add(Event(1.0, "enactor-z", kind, {}))
    state.view(now=2.0)


# -- the renderers ---------------------------------------------------------------------------
def test_the_rich_display_shows_the_emptied_endpoint_and_everything_else():
    v = folded(race_history(), label="dynamodb-race (2/9)").view(now=22.0)
    console = Console(record=True, width=200, file=io.StringIO(), color_system="truecolor")
    console.print(live.render(v))
    text = console.export_text(clear=False)
    assert "dynamodb-race (2/9)" in text and "observe" in text
    line = next(ln for ln in text.splitlines() if "dynamodb.us-east-1 " in ln)
    assert "0 EMPTY" in line
    direct = next(ln for ln in text.splitlines() if ln.strip().startswith("direct"))
    assert "100%" in direct and "█" in direct
    assert "stalled" in text and "after-freshness-check" in text and "stuck" in text
    assert "refused" in text and "fencing" in text
    assert "never-delete-active-plan" in text and "DnsEndpointEmpty" in text
    # Red where empty: the emptied endpoint's addresses are bold red (SGR 1;31).
    assert re.search(r"\x1b\[1;31m *0 EMPTY", console.export_text(styles=True))


def test_the_plain_line_carries_the_same_facts():
    v = folded(race_history(), label="dynamodb-race").view(now=22.0)
    line = live.plain_line(v, wall=0.0)
    assert line.startswith("live ") and "+22.0s dynamodb-race observe 7s left" in line
    assert "direct 100% fail" in line and "resolver 0% fail" in line
    assert "dynamodb.us-east-1 gen 5 EMPTY" in line
    assert "enactor-a stalled@after-freshness-check 1s" in line
    assert "enactor-c stuck@dynamodb.us-east-1" in line
    assert "faults: delay enactor-a@after-freshness-check 1s left" in line
    assert "never-delete-active-plan" in line and f"DnsEndpointEmpty {REGIONAL} firing" in line
    assert "\n" not in line and "\x1b" not in line


@pytest.mark.parametrize("data, expected", [
    ({"safeguard": "interlock", "reason": "whatever"}, "interlock"),
    ({"reason": "interlock: plan 9 would leave x with no address"}, "interlock"),
    ({"reason": "x: fencing token 3 is stale (fence 4)"}, "fencing"),
    ({"reason": "x already at plan 9"}, "freshness")])
def test_which_safeguard_refused(data, expected):
    from lab.core.live import refusal
    assert refusal(data) == expected


def test_sparkline_blocks():
    assert live.sparkline([None, 0.0, 0.5, 1.0]) == " ▁▄█"


class Tick:
    def __init__(self):
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


def test_plain_lines_come_every_few_seconds_and_at_once_on_a_notable_change():
    clock, lines = Tick(), []
    plain = live.PlainLines(lines.append, clock, every_s=5.0, min_gap_s=1.0)
    quiet = folded(race_history()[:5]).view(now=10.0)
    assert plain.offer(quiet)                # the first look always shows
    for t in (0.25, 1.0, 2.5, 4.75):
        clock.t = t
        assert not plain.offer(quiet)
    clock.t = 5.0
    assert plain.offer(quiet)
    emptied = folded(race_history()).view(now=22.0)
    clock.t = 5.5
    assert not plain.offer(emptied)          # notable, but too soon after the last line
    clock.t = 6.0
    assert plain.offer(emptied)              # at once, once the gap allows
    clock.t = 7.5
    assert not plain.offer(emptied)          # nothing new
    assert len(lines) == 3 and "EMPTY" in lines[-1]


def test_a_flood_of_changes_gives_at_most_one_line_a_gap():
    clock, lines = Tick(), []
    plain = live.PlainLines(lines.append, clock, every_s=5.0, min_gap_s=1.0)
    h = race_history()
    for i in range(400):                     # a phase change every 25 ms for 10 s
        clock.t = i * 0.025
        h.append(ev(30.0 + i, "runner", Kind.PHASE, phase=f"p{i}"))
        plain.offer(folded(h[-60:]).view())
    assert 9 <= len(lines) <= 11


def test_the_live_display_falls_back_to_plain_lines_when_drawing_fails(monkeypatch):
    out = io.StringIO()
    console = Console(file=io.StringIO(), force_terminal=True, width=120)
    view = live.RunView(LiveState(load(RACE)), "live", stream=out, console=console,
                        refresh_s=3600).start()
    for e in race_history():
        view(e)
    view.draw()
    assert view.mode == "live" and out.getvalue() == ""

    def broken(v):
        raise RuntimeError("terminal gone")
    monkeypatch.setattr(live, "render", broken)
    view.draw()
    assert view.mode == "plain" and "terminal gone" in out.getvalue()
    assert "EMPTY" in out.getvalue().splitlines()[-1]
    view.close()


def test_a_fold_that_fails_never_reaches_the_caller():
    class Broken(LiveState):
        def add(self, e):
            raise KeyError("boom")
    view = live.RunView(Broken(), "plain", stream=io.StringIO())
    view(race_history()[0])
    assert view.errors == ["KeyError: 'boom'"]


# -- the hook in a run, and the flag ---------------------------------------------------------
def small_race():
    return dataclasses.replace(load(RACE), clients=4, prober_containers=1)


def test_a_simulated_run_feeds_the_view_and_its_last_line_shows_the_race(tmp_path):
    out = io.StringIO()
    views = live.RunViews("plain", stream=out)
    views.label = "race (1/1)"
    with observed(views):
        summary = simulate(small_race(), tmp_path / "r", echo=lambda m: None)
    assert summary["verdict"] == "hypothesis-violated"
    last = out.getvalue().splitlines()[-1]
    assert last.startswith("live ") and "race (1/1) rollback" in last
    assert "never-delete-active-plan" in last


def test_an_observer_that_breaks_does_not_change_the_run(tmp_path):
    class Breaks:
        def start(self):
            return self

        def __call__(self, event):
            raise RuntimeError("view broke")

        def close(self):
            raise RuntimeError("view broke again")

    with observed(lambda s, **kw: Breaks()):
        watched = simulate(small_race(), tmp_path / "a", echo=lambda m: None)
    plain = simulate(small_race(), tmp_path / "b", echo=lambda m: None)
    assert (tmp_path / "a" / "events.jsonl").read_bytes() == \
        (tmp_path / "b" / "events.jsonl").read_bytes()
    assert watched["verdict"] == plain["verdict"]


@pytest.mark.parametrize("mode, sim, quiet, tty, expected", [
    (None, False, False, True, "live"), (None, False, False, False, "plain"),
    (None, True, False, False, "none"), (None, True, False, True, "live"),
    (None, False, True, True, "none"), ("plain", False, True, True, "plain"),
    ("auto", False, False, False, "plain"), ("none", False, False, True, "none")])
def test_choose(mode, sim, quiet, tty, expected):
    class Stream(io.StringIO):
        def isatty(self):
            return tty
    assert live.choose(mode, sim=sim, quiet=quiet, stream=Stream()) == expected


@pytest.mark.parametrize("command", ["run", "compare", "search"])
def test_the_view_flag(command):
    args = parser().parse_args([command, "x.yaml", "--view", "plain"])
    assert args.view == "plain"
    with pytest.raises(SystemExit):
        parser().parse_args([command, "x.yaml", "--view", "fancy"])


def test_cli_run_sim_with_plain_lines(tmp_path, capsys):
    path = tmp_path / "race.yaml"
    path.write_text(RACE.read_text().replace("clients: 52", "clients: 4"))
    assert main(["run", str(path), "--sim", "--view", "plain", "--out",
                 str(tmp_path / "o")]) == 0
    err = capsys.readouterr().err
    assert any(ln.startswith("live ") and " race rollback" in ln for ln in err.splitlines())


def test_cli_compare_labels_each_variant(tmp_path, capsys):
    assert main(["compare", str(RACE), "--sim", "--view", "plain", "--mitigations",
                 "fencing", "--out", str(tmp_path / "c")]) in (0, 1)
    lines = [ln for ln in capsys.readouterr().err.splitlines() if ln.startswith("live ")]
    assert any("dynamodb-race variant none (1/2)" in ln for ln in lines)
    assert any("dynamodb-race variant fencing (2/2)" in ln for ln in lines)


def test_search_view_plain_lines(capsys):
    from lab.search.engine import SearchResult
    clock = Tick()
    out = io.StringIO()
    view = live.SearchView("plain", budget=1000, variants=2, stream=out, clock=clock)
    view.variant(1)
    r = SearchResult("fencing", ("fencing",), "random", 1, explored=64, elapsed_s=2.0)
    view(r)
    clock.t = 1.0
    r.explored = 128
    view(r)                                  # too soon, nothing new
    r.counts["empty-endpoint"] = 3
    r.found["empty-endpoint"] = object()
    clock.t = 1.5
    view(r)                                  # a find: at once
    lines = out.getvalue().splitlines()
    assert len(lines) == 2
    assert lines[0].startswith("search [fencing] (2/2): 64/1000 schedules, 32/s")
    assert "~29s left" in lines[0] and "violations: none" in lines[0]
    assert "empty-endpoint 3" in lines[1]
