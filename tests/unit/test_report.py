"""report.html and junit.xml are derived from the history and summary alone."""

import html
import re
import xml.etree.ElementTree as ET

from lab.core.blast import summarize
from lab.core.history import Event, Kind
from lab.report import render_html, render_junit
from tests.unit.test_run_model import probe, race_history
from tests.unit.test_timeline import EPOCH, paged_race

NS = "{http://www.w3.org/2000/svg}"


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


def visible_text(page: str) -> str:
    """The page's text as a reader sees it: no style, no tags (the SVG's own coordinates
    are drawing, not text)."""
    import re
    body = re.sub(r"<style>.*?</style>", " ", page, flags=re.S)
    body = re.sub(r"<svg.*?</svg>", lambda m: " ".join(re.findall(r">([^<]+)</text>", m[0])),
                  body, flags=re.S)
    return html.unescape(re.sub(r"<[^>]+>", " ", body))


def test_the_post_event_summary_leads_with_relative_times_and_time_to_page():
    events = paged_race(EPOCH)
    summary = summarize(events, backend="powerdns", seed=1, title="race", world="lab",
                        expected="outage")
    page = render_html(summary, events)
    text = " ".join(visible_text(page).split())
    # The summary comes before the facts and the panels.
    assert page.index("What happened") < page.index("<svg")
    assert "+2.0 s enactor-b deleted plan 3 while r pointed at it; the endpoint answered with " \
           "no addresses." in text
    assert "+2.5 s paged: EndpointHasNoAddresses (r) (500 ms after impact)." in text
    assert "Time to page: 500 ms after the endpoint emptied (first page at +2.5 s)." in text
    assert "time to page: 500 ms" in text and "impact to repair: 2.0 s" in text
    # Violations as sentences, no raw mappings; no clock time anywhere.
    assert "at +1.0 s: enactor-a applied plan 3 to r after plan 10" in text
    assert "{'" not in text and '{"' not in text and "first_violation" not in text
    assert not re.search(r"\d{10}", text), re.search(r".{40}\d{10}.{40}", text)
    # The first page is marked on both panels.
    svg = ET.fromstring(page[page.index("<svg"):page.index("</svg>") + 6])
    assert sum(1 for x in svg.iter(NS + "line") if x.get("class") == "page") == 2


def test_no_page_reads_as_none_never_as_zero():
    events = race_history()
    sim = render_html(summarize(events, backend="powerdns", seed=1, world="simulation"), events)
    assert "a simulation has no Alertmanager" in sim
    lab = render_html(summarize(events, backend="powerdns", seed=1, world="lab"), events)
    assert "no page after the endpoint emptied" in lab
    assert 'class="page"' not in lab


def test_the_events_table_filters_by_source_with_css_and_stays_bounded(monkeypatch):
    from lab import report
    events = paged_race()
    # Many failed probes in a row are one stretch; ok probes are not rows.
    events += [probe(6 + 0.5 * i, f"c{i % 3}", "nodata", endpoint="r") for i in range(100)]
    events += [probe(60 + 0.5 * i, "c1", "ok") for i in range(100)]
    events.sort(key=lambda e: e.t)
    page = render_html(summarize(events, backend="powerdns", seed=1), events)
    assert "<script" not in page.lower()
    sources = sorted({e.source for e in events})
    radios = re.findall(r'<input type="radio" name="src" id="(src-[^"]+)"', page)
    assert radios == ["src-all"] + [f"src-{i}" for i in range(len(sources))]
    for i in range(len(sources)):
        assert f"#src-{i}:checked ~ table tr.ev:not(.s-{i}) {{ display: none; }}" in page
    text = " ".join(visible_text(page).split())
    assert "100 failed probes of direct clients (3 clients): no addresses (NODATA) for r, " \
           "until +55.5 s" in text
    assert "probes that got addresses are not listed" in text
    # Beyond the bound, the table says how many it left out.
    monkeypatch.setattr(report, "MAX_EVENT_ROWS", 5)
    page = render_html(summarize(events, backend="powerdns", seed=1), events)
    assert "the first 5 of 7; the rest are in events.jsonl" in " ".join(visible_text(page).split())
