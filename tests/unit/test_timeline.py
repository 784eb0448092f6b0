"""The post-event summary (lab/core/timeline.py): milestones only when the history shows
them, times relative to the run's start, the time between them, time to page; and how it
lands in summary.json."""

import dataclasses
import json
from pathlib import Path

import pytest

from lab.core import timeline
from lab.core.blast import summarize
from lab.core.checkers import check_all
from lab.core.history import Event, Kind
from lab.scenario import load
from lab.sim.run import simulate
from tests.unit.test_run_model import probe, race_history

RACE = Path(__file__).resolve().parents[2] / "experiments" / "dynamodb-race.yaml"
EPOCH = 1_761_000_000.0     # a real run's history is on the host clock


def page(t, status="firing", alert="EndpointHasNoAddresses", **labels):
    return Event(t, "alertmanager", Kind.PAGED, {
        "alert": alert, "status": status, "severity": "page",
        "labels": {"alertname": alert, "severity": "page", **labels},
        "starts_at": t - 1.0, "ends_at": -62135596800.0})


def paged_race(shift: float = 0.0) -> list[Event]:
    """race_history (impact at 2.0: enactor-b deletes plan 3 that r points at; repair at 4.0)
    with a page at 2.5, its resolution at 5.0, all moved by ``shift`` seconds."""
    events = race_history() + [page(2.5, endpoint="r"), page(5.0, "resolved", endpoint="r")]
    return sorted((dataclasses.replace(e, t=e.t + shift) for e in events), key=lambda e: e.t)


def by_name(items):
    return {m["name"]: m for m in items}


def test_the_race_milestones_in_order_with_sentences():
    events = paged_race()
    ms = timeline.milestones(events)
    assert [(m.name, m.t) for m in ms] == [
        ("stale-plan-applied", 1.0), ("impact", 2.0), ("first-failed-probe-direct", 2.05),
        ("first-page", 2.5), ("first-failed-probe-resolver", 3.6), ("automation-stuck", 3.7),
        ("operator-repair", 4.0), ("dns-answering", 4.05),
        ("last-client-recovered-direct", 4.05), ("last-client-recovered-resolver", 5.6)]
    text = {m.name: m.text for m in ms}
    assert text["impact"] == ("enactor-b deleted plan 3 while r pointed at it; the endpoint "
                              "answered with no addresses.")
    assert text["stale-plan-applied"].startswith("enactor-a applied plan 3 to r after plan 10")
    assert text["first-failed-probe-direct"] == ("first failed probe (direct): c1 got NXDOMAIN "
                                                 "for r (50 ms after impact).")
    assert text["first-page"] == "paged: EndpointHasNoAddresses (r) (500 ms after impact)."
    assert "enactor-b cannot apply plan 11 because r points at deleted plan 3" in \
        text["automation-stuck"]
    assert text["operator-repair"] == "operator repair: pointed r at plan 12 (2.0 s after impact)."
    assert "1.5 s after DNS answered again" in text["last-client-recovered-resolver"]


def test_time_to_page_and_the_durations_between_milestones():
    events = paged_race()
    assert timeline.time_to_page_s(events) == 0.5
    spans = {d.name: round(d.seconds, 3) for d in timeline.durations(timeline.milestones(events))}
    assert spans == {"time to page": 0.5, "impact to first failed direct probe": 0.05,
                     "impact to first failed resolver probe": 1.6,
                     "impact to automation stuck": 1.7, "impact to repair": 2.0,
                     "repair to DNS answering again": 0.05, "endpoint without addresses": 2.05,
                     "DNS answering again to last direct client recovered": 0.0,
                     "DNS answering again to last resolver client recovered": 1.55,
                     "impact to last resolver client recovered": 3.6}


def test_times_are_relative_to_the_run_start_on_any_clock():
    """A real history is on the host clock: summary.json says +2.0 s, not an epoch time."""
    for shift in (0.0, EPOCH):
        events = paged_race(shift)
        s = summarize(events, backend="powerdns", seed=1)
        assert s["time_to_page_s"] == 0.5
        items = by_name(s["timeline"])
        assert items["impact"]["t_s"] == 2.0 and items["impact"]["after_impact_s"] == 0.0
        assert items["first-page"]["t_s"] == 2.5 and items["first-page"]["after_impact_s"] == 0.5
        assert items["stale-plan-applied"]["after_impact_s"] == -1.0
        assert {d["name"]: d["s"] for d in s["timeline_durations"]}["time to page"] == 0.5
        json.dumps(s)   # JSON as it is
    assert timeline.run_start(paged_race(EPOCH)) == EPOCH


def test_a_milestone_that_did_not_happen_is_absent():
    # No page: no page milestone, no time to page.
    events = race_history()
    names = {m.name for m in timeline.milestones(events)}
    assert "first-page" not in names and timeline.time_to_page_s(events) is None
    # No endpoint emptied: a page is still told, but there is no time to page, no impact,
    # no repair and nothing "answering again".
    quiet = [Event(0.0, "enactor-b", Kind.ENDPOINT_APPLIED, {"endpoint": "r", "generation": 1}),
             probe(0.5, "c1", "ok"), probe(1.0, "c1", "timeout"), probe(1.5, "c1", "ok"),
             page(1.2, alert="ProbeFailureRatioHigh", group="direct")]
    ms = timeline.milestones(quiet)
    assert [m.name for m in ms] == ["first-failed-probe-direct", "first-page",
                                    "last-client-recovered-direct"]
    assert ms[0].text == "first failed probe (direct): c1 got no answer (timeout) for r."
    assert timeline.time_to_page_s(quiet) is None
    s = summarize(quiet, backend="powerdns", seed=1)
    assert s["time_to_page_s"] is None and "impact" not in by_name(s["timeline"])
    # Nothing at all happened: an empty timeline.
    assert timeline.milestones([quiet[0], quiet[1]]) == []


def test_only_firing_pages_count_and_a_page_before_impact_is_negative():
    events = race_history() + [page(1.5, "resolved"), page(1.8, alert="ProbeFailureRatioHigh")]
    events.sort(key=lambda e: e.t)
    assert timeline.first_page(events).t == 1.8
    assert timeline.time_to_page_s(events) == pytest.approx(-0.2)
    [m] = [m for m in timeline.milestones(events) if m.name == "first-page"]
    assert m.text == "paged: ProbeFailureRatioHigh (200 ms before impact)."


def test_clients_still_failing_when_the_history_ends():
    events = race_history()[:-1]     # c2's last probe (ok at 5.6) never came
    ms = {m.name: m for m in timeline.milestones(events)}
    late = ms["last-client-recovered-resolver"]
    assert late.t is None and late.text == ("1 resolver client(s) still failing when the "
                                            "history ends.")
    assert timeline.milestones(events)[-1] == late        # not-happened ones come last
    assert by_name(timeline.to_json(list(ms.values()), 0.0))[
        "last-client-recovered-resolver"]["t_s"] is None


def test_self_repair_instead_of_an_operator():
    events = [e for e in race_history() if e.kind is not Kind.REPAIRED]
    events.append(Event(3.9, "enactor-c", Kind.ENDPOINT_APPLIED,
                        {"endpoint": "r", "generation": 12, "previous": 3}))
    events.sort(key=lambda e: e.t)
    ms = {m.name: m for m in timeline.milestones(events)}
    assert "operator-repair" not in ms
    assert ms["self-repair"].text == ("self-repair: enactor-c applied plan 12 to r (1.9 s after "
                                      "impact).")
    assert ms["dns-answering"].t == 4.05 and "after the self-repair" in ms["dns-answering"].text


def test_counted_failures_only():
    """summarize passes the failures the run explains: one before any cause is not the first."""
    events = race_history()
    early = probe(0.7, "c1", "servfail")
    events = sorted(events + [early], key=lambda e: e.t)
    every = {m.name: m.t for m in timeline.milestones(events)}
    counted = {id(e) for e in events if e.kind is Kind.PROBE and e.t > 2.0
               and e.data["outcome"] != "ok"}
    explained = {m.name: m.t for m in timeline.milestones(events, counted)}
    assert every["first-failed-probe-direct"] == 0.7
    assert explained["first-failed-probe-direct"] == 2.05


def test_violations_as_sentences():
    events = race_history()
    said = {v.name: timeline.describe_violation(v.name, v.first_violation, 0.0)
            for v in check_all(events)}
    assert said == {
        "never-delete-active-plan": "at +2.0 s: enactor-b deleted plan 3 while r pointed at it",
        "applied-generation-monotonic": "at +1.0 s: enactor-a applied plan 3 to r after plan 10",
        "endpoint-never-empty": "at +2.0 s: plan 3 was deleted while r pointed at it: no "
                                "addresses left"}
    seen = {"t": EPOCH + 3, "endpoint": "r", "outcome": "nodata", "seen_by": "clients-1"}
    assert timeline.describe_violation("endpoint-never-empty", seen, EPOCH) == \
        "at +3.0 s: clients-1 got no addresses (NODATA) for r from the authoritative server"
    assert timeline.describe_violation("x", {"error": "no endpoint was ever applied"}, 0) == \
        "could not decide: no endpoint was ever applied"
    assert timeline.describe_violation("x", None, 0) == ""


def test_the_simulated_race_tells_the_incident(tmp_path):
    summary = simulate(load(RACE), tmp_path / "race", echo=lambda m: None)
    items = summary["timeline"]
    names = [m["name"] for m in items]
    order = ["stale-plan-applied", "impact", "first-failed-probe-direct", "automation-stuck",
             "operator-repair", "dns-answering", "last-client-recovered-resolver"]
    assert [n for n in names if n in order] == order
    assert "first-page" not in names and summary["time_to_page_s"] is None   # no Alertmanager
    m = by_name(items)
    assert m["impact"]["t_s"] == pytest.approx(summary["emptied"]["t"], abs=1e-3)  # sim t0 = 0
    assert "answered with no addresses" in m["impact"]["text"]
    # Resolver clients recover long after the repair: the negative TTL at work.
    assert m["last-client-recovered-resolver"]["t_s"] > m["dns-answering"]["t_s"] + 10
    assert json.loads((tmp_path / "race" / "summary.json").read_text())["timeline"] == items
