"""`dnslab compare` as pure logic: variant parsing, and the rows derived from a history."""

import pytest

from lab import compare
from lab.core.compare import (longest_client_outage_s, plan_latencies_s, time_to_converge_s,
                              with_baseline)
from lab.core.history import Event, Kind
from lab.scenario import ExperimentError


def test_variants():
    assert compare.variants("fencing,freshness-cas+cleanup-skips-active") == [
        ("none", ()), ("fencing", ("fencing",)),
        ("freshness-cas+cleanup-skips-active", ("freshness-cas", "cleanup-skips-active"))]
    names = [n for n, _ in compare.variants("all")]
    assert names[0] == "none" and "serve-stale" in names and len(names) == 7
    with pytest.raises(ExperimentError, match="unknown mitigation 'magic'"):
        compare.variants("fencing+magic")


def probe(t, client, group, ok):
    return Event(t, "p", Kind.PROBE, {"client": client, "group": group,
                                      "outcome": "ok" if ok else "nxdomain"})


def test_longest_client_outage():
    events = [probe(0, "c1", "direct", True), probe(1, "c1", "direct", False),
              probe(2, "c1", "direct", False), probe(3.5, "c1", "direct", True),
              probe(4, "c1", "direct", False), probe(4.5, "c1", "direct", True),
              probe(1, "c2", "resolver", False)]
    assert longest_client_outage_s(events, "direct") == 2.5
    assert longest_client_outage_s(events, "resolver") == 0.0


def test_latency_and_convergence():
    eps = {"a", "b"}
    ev = [Event(0, "planner", Kind.PLAN_PUBLISHED, {"generation": 1}),
          Event(0.1, "x", Kind.ENDPOINT_APPLIED, {"endpoint": "a", "generation": 1}),
          Event(0.3, "x", Kind.ENDPOINT_APPLIED, {"endpoint": "b", "generation": 1}),
          Event(1, "planner", Kind.PLAN_PUBLISHED, {"generation": 2}),
          Event(1.5, "faults", Kind.FAULT_ENDED, {"fault": "delay"}),
          Event(1.6, "x", Kind.ENDPOINT_APPLIED, {"endpoint": "a", "generation": 2}),
          Event(2.0, "x", Kind.ENDPOINT_APPLIED, {"endpoint": "b", "generation": 2})]
    assert [round(x, 3) for x in plan_latencies_s(ev, eps)] == [0.3, 1.0]
    assert time_to_converge_s(ev, eps) == 0.5
    assert time_to_converge_s(ev[:-1], eps) is None


def test_baseline_difference():
    rows = [{"cost": {"plan_latency_ms_median": 10.0}}, {"cost": {"plan_latency_ms_median": 14.5}},
            {"cost": {"plan_latency_ms_median": None}}]
    assert [r["cost"]["added_latency_ms_per_plan"] for r in with_baseline(rows)] == [0, 4.5, None]


def test_a_baseline_must_be_a_decided_run_of_the_same_file_seed_backend_and_duration(tmp_path):
    import json

    import pytest

    from lab import compare, suite
    from lab.errors import LabError
    from lab.scenario import load
    path = "experiments/dynamodb-race.yaml"
    s, ident = load(path), suite.identity(path)
    good = {"experiment": ident, "seed": s.seed, "backend": s.backend,
            "duration_s": s.duration_s, "mitigations": [], "verdict": "hypothesis-violated"}
    (tmp_path / "summary.json").write_text(json.dumps(good))
    compare.check_baseline(tmp_path, s, ident)
    for change, words in [({"seed": 2}, "seed 2, not 1"),
                          ({"mitigations": ["fencing"]}, "mitigations"),
                          ({"experiment": {"sha256": "0" * 64}}, "experiment.sha256"),
                          ({"verdict": "aborted"}, "ended aborted"),
                          ({"world": "simulation"}, "world 'simulation', not 'lab'")]:
        (tmp_path / "summary.json").write_text(json.dumps({**good, **change}))
        with pytest.raises(LabError, match=words):
            compare.check_baseline(tmp_path, s, ident)
    with pytest.raises(LabError, match="no readable summary.json"):
        compare.check_baseline(tmp_path / "absent", s, ident)
    (tmp_path / "summary.json").write_text(json.dumps({**good, "world": "simulation"}))
    compare.check_baseline(tmp_path, s, ident, world="simulation")


def _row(name, **kw):
    from lab.core.blast import summarize
    from lab.core.compare import variant_row
    from tests.unit.test_run_model import race_history
    events = race_history()
    summary = summarize(events, backend="powerdns", seed=1, expected="outage", **kw)
    row = variant_row(name, summary, events, {"r"})
    row["dir"], row["report"] = name, f"{name}/report.html"
    return row


def test_every_row_shows_its_verdict_expectation_and_report():
    rows = [_row("none"), _row("fencing", status="error",
                               reason="fault [0] delay enactor-a did not fire | never armed")]
    doc = {"title": "race", "backend": "powerdns", "seed": 1, "expected": "outage",
           "command": "dnslab compare", "variants": with_baseline(rows)}
    page = compare.page(doc)
    assert '<a href="none/report.html">none</a>' in page
    assert '<a href="fencing/report.html">fencing</a>' in page
    assert "hypothesis-violated" in page and ">error<" in page
    md = compare.markdown(doc)
    [none, fencing] = [line for line in md.splitlines() if line.startswith("| [")]
    assert none.startswith("| [none](none/report.html) | hypothesis-violated | yes | yes |")
    assert fencing.startswith("| [fencing](fencing/report.html) | error | NO | — (error: fault "
                              "[0] delay enactor-a did not fire \\| never armed) | — | — |")


def test_an_undecided_variant_never_reads_as_no_outage():
    for status in ("error", "aborted"):
        row = _row("fencing", status=status, reason="interrupted")
        assert row["decided"] is False and row["verdict"] == status
        # Its history had an outage, but an undecided run's figures are not an outcome.
        assert row["outage"] is None and row["outage_s"] is None
        assert row["clients_affected_fraction"] is None and row["failed_probes"] is None
        cells = compare._cells(with_baseline([row])[0])
        assert cells[3] == f"— ({status}: interrupted)"
        assert "no" not in cells[3:8] and "0" not in cells[3:8]
    decided = _row("none")
    assert decided["decided"] is True and decided["outage"] is True
    assert compare.outage_cell(decided) == "yes"
    assert decided["time_to_page_s"] is None
