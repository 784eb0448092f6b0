"""report.html and junit.xml are derived from the history and summary alone."""

import xml.etree.ElementTree as ET

from lab.core.blast import summarize
from lab.core.history import Event, Kind
from lab.report import render_html, render_junit
from tests.unit.test_run_model import race_history


def history_with_fault():
    events = race_history()
    events += [Event(0.8, "faults", Kind.FAULT_STARTED, {"fault": "delay", "target": "enactor-a",
                                                          "step": "after-freshness-check"}),
               Event(0.95, "faults", Kind.FAULT_ENDED, {"fault": "delay", "target": "enactor-a",
                                                        "step": "after-freshness-check"}),
               Event(0.1, "planner", Kind.PLAN_PUBLISHED, {"generation": 12})]
    return sorted(events, key=lambda e: e.t)


def test_report_plots_groups_faults_generations_and_violations():
    events = history_with_fault()
    summary = summarize(events, backend="powerdns", seed=1, title="race <&>")
    page = render_html(summary, events)
    svg = page[page.index("<svg"):page.index("</svg>") + 6]
    root = ET.fromstring(svg)   # well-formed SVG
    ns = "{http://www.w3.org/2000/svg}"
    series = [p for p in root.iter(ns + "polyline") if p.get("class") == "series"]
    titles = {p.find(ns + "title").text for p in series}
    assert {"resolver clients", "direct clients", "r"} <= titles
    assert any(r.get("class") == "fault" for r in root.iter(ns + "rect"))
    assert sum(1 for x in root.iter(ns + "line") if x.get("class") == "violation") == 3 * 2  # both panels
    assert sum(1 for x in root.iter(ns + "line") if x.get("class") == "repair") == 2
    assert "race &lt;&amp;&gt;" in page and "<script" not in page and "http://" not in \
        page.replace("http://www.w3.org/2000/svg", "")


def test_junit_fails_only_unexpected_outcomes():
    ok = {"title": "race", "as_expected": True, "expected": "outage",
          "verdict": "hypothesis-violated"}
    bad = {"title": "steady", "as_expected": False, "expected": "hold",
           "verdict": "hypothesis-violated", "reason": None}
    suite = ET.fromstring(render_junit([ok, bad]))
    assert suite.get("tests") == "2" and suite.get("failures") == "1"
    failed = [c for c in suite if c.find("failure") is not None]
    assert [c.get("name") for c in failed] == ["steady"]
    assert "expected hold" in failed[0].find("failure").get("message")
