"""report.html and junit.xml for one run, derived from its history and summary alone.

The HTML is self-contained (inline SVG and CSS, no script, no network): readable offline.
Panels share one time axis (seconds since the run started): failed-probe ratio per client
group, plan generation applied per endpoint next to the newest published, fault windows
shaded across every panel, invariant violations and the operator's repair marked.
"""

import html
from collections import defaultdict
from xml.sax.saxutils import quoteattr

from lab.core.history import Event, Kind

W, LEFT, RIGHT, PANEL_H, GAP = 960, 70, 20, 150, 40
COLORS = {"resolver": "#1f77b4", "direct": "#d62728"}
ENDPOINT_COLORS = ["#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#17becf"]


def _fault_windows(events: list[Event]) -> list[tuple[float, float, str]]:
    open_, windows = {}, []
    for e in events:
        key = (e.data.get("fault"), e.data.get("target"), e.data.get("step"))
        if e.kind is Kind.FAULT_STARTED:
            open_[key] = e.t
        elif e.kind is Kind.FAULT_ENDED and key in open_:
            label = f"{key[0]} {key[1]}" + (f" @{key[2]}" if key[2] else "")
            windows.append((open_.pop(key), e.t, label))
    end = events[-1].t if events else 0
    windows += [(t, end, f"{k[0]} {k[1]} (not ended)") for k, t in open_.items()]
    return windows


def _failed_ratio(events: list[Event], t0: float, bucket: float = 1.0) -> dict[str, list]:
    counts: dict[str, dict[int, list[int]]] = defaultdict(lambda: defaultdict(lambda: [0, 0]))
    for e in events:
        if e.kind is Kind.PROBE:
            c = counts[e.data.get("group", "?")][int((e.t - t0) // bucket)]
            c[0] += e.data.get("outcome") != "ok"
            c[1] += 1
    return {g: sorted((b * bucket, f / n) for b, (f, n) in by.items()) for g, by in counts.items()}


def _generations(events: list[Event], t0: float):
    applied: dict[str, list[tuple[float, int]]] = defaultdict(list)
    published = []
    for e in events:
        if e.kind in (Kind.ENDPOINT_APPLIED, Kind.REPAIRED):
            applied[e.data["endpoint"]].append((e.t - t0, e.data["generation"]))
        elif e.kind is Kind.PLAN_PUBLISHED:
            published.append((e.t - t0, e.data["generation"]))
    return applied, published


class _Axis:
    def __init__(self, t_max: float):
        self.t_max = max(t_max, 1.0)

    def x(self, t: float) -> float:
        return LEFT + (W - LEFT - RIGHT) * max(0.0, t) / self.t_max


def _panel(y0: float, title: str, axis: _Axis, windows, marks, body: str, ylabels) -> str:
    parts = [f'<g transform="translate(0,{y0})">',
             f'<text x="{LEFT}" y="-8" class="title">{html.escape(title)}</text>',
             f'<rect x="{LEFT}" y="0" width="{W - LEFT - RIGHT}" height="{PANEL_H}" class="frame"/>']
    for a, b, label in windows:
        x0, x1 = axis.x(a), axis.x(b)
        parts.append(f'<rect class="fault" x="{x0:.1f}" y="0" width="{max(1.0, x1 - x0):.1f}" '
                     f'height="{PANEL_H}"><title>{html.escape(label)}</title></rect>')
    for t, label, cls in marks:
        x = axis.x(t)
        parts.append(f'<line class="{cls}" x1="{x:.1f}" x2="{x:.1f}" y1="0" y2="{PANEL_H}">'
                     f'<title>{html.escape(label)}</title></line>')
    for y, text in ylabels:
        parts.append(f'<text x="{LEFT - 6}" y="{y + 4:.1f}" class="ylab">{html.escape(text)}</text>')
    parts.append(body)
    parts.append("</g>")
    return "\n".join(parts)


def render_html(summary: dict, events: list[Event]) -> str:
    events = sorted(events, key=lambda e: e.t)
    t0 = events[0].t if events else 0.0
    axis = _Axis((events[-1].t - t0) if events else 1.0)
    windows = [(a - t0, b - t0, label) for a, b, label in _fault_windows(events)]
    marks = [(v["first_violation"]["t"] - t0, f"{v['name']} violated", "violation")
             for v in summary.get("invariants", []) if v.get("held") is False
             and v.get("first_violation") and "t" in v["first_violation"]]
    marks += [(e.t - t0, f"operator repair -> plan {e.data['generation']}", "repair")
              for e in events if e.kind is Kind.REPAIRED][:1]

    # Panel 1: failed-probe ratio per client group (1 s buckets).
    ratio = _failed_ratio(events, t0)
    lines = []
    for group, points in sorted(ratio.items()):
        path = " ".join(f"{axis.x(t):.1f},{PANEL_H * (1 - r):.1f}" for t, r in points)
        lines.append(f'<polyline class="series" stroke="{COLORS.get(group, "#555")}" '
                     f'points="{path}"><title>{html.escape(group)} clients</title></polyline>')
    p1 = _panel(30, "Failed probes per client group (share of probes in each second)", axis,
                windows, marks, "\n".join(lines), [(0, "100%"), (PANEL_H / 2, "50%"),
                                                   (PANEL_H, "0%")])

    # Panel 2: plan generation applied per endpoint, and the newest published.
    applied, published = _generations(events, t0)
    g_max = max([g for _, g in published] + [g for pts in applied.values() for _, g in pts] + [1])
    ys = lambda g: PANEL_H * (1 - g / g_max)  # noqa: E731
    steps = []
    if published:
        steps.append('<polyline class="published" points="'
                     + " ".join(f"{axis.x(t):.1f},{ys(g):.1f}" for t, g in published) + '"/>')
    for i, (endpoint, pts) in enumerate(sorted(applied.items())):
        coords, last = [], None
        for t, g in pts:
            if last is not None:
                coords.append(f"{axis.x(t):.1f},{ys(last):.1f}")
            coords.append(f"{axis.x(t):.1f},{ys(g):.1f}")
            last = g
        color = ENDPOINT_COLORS[i % len(ENDPOINT_COLORS)]
        steps.append(f'<polyline class="series" stroke="{color}" points="{" ".join(coords)}">'
                     f'<title>{html.escape(endpoint)}</title></polyline>')
    p2 = _panel(30 + PANEL_H + GAP + 10, "Plan generation applied per endpoint (dashed: newest "
                "published)", axis, windows, marks, "\n".join(steps),
                [(0, str(g_max)), (PANEL_H, "0")])

    ticks = []
    step = max(1, int(axis.t_max // 10) or 1)
    for s in range(0, int(axis.t_max) + 1, step):
        ticks.append(f'<text x="{axis.x(s):.1f}" y="{2 * PANEL_H + GAP + 60}" class="tick">{s}s</text>')
    height = 2 * PANEL_H + GAP + 80
    legend = " ".join(f'<span style="color:{c}">■ {g}</span>' for g, c in COLORS.items())
    legend += " " + " ".join(f'<span style="color:{ENDPOINT_COLORS[i % 5]}">■ {html.escape(e)}</span>'
                             for i, e in enumerate(sorted(applied)))
    o = summary.get("outage", {})
    rows = "".join(
        f"<tr><td>{html.escape(v['name'])}</td><td class={'bad' if v['held'] is False else 'ok'}>"
        f"{'violated' if v['held'] is False else 'held' if v['held'] else 'unknown'}</td>"
        f"<td>{html.escape(str(v.get('first_violation') or ''))}</td></tr>"
        for v in summary.get("invariants", []))
    facts = [("verdict", summary.get("verdict")), ("expected", summary.get("expected")),
             ("backend", summary.get("backend")), ("seed", summary.get("seed")),
             ("failed probes", f"{o.get('failed_probes')} / {o.get('total_probes')}"),
             ("clients affected", f"{o.get('clients_affected_fraction', 0):.0%}"),
             ("client-seconds lost", o.get("client_seconds_lost")),
             ("outage duration (s)", o.get("duration_s")),
             ("detection lag (ms)", summary.get("detection_lag_ms")),
             ("automation stuck", summary.get("automation_stuck")),
             ("recovered by", summary.get("recovered_by"))]
    facts_html = "".join(f"<tr><th>{html.escape(k)}</th><td>{html.escape(str(v))}</td></tr>"
                         for k, v in facts)
    title = html.escape(str(summary.get("title", "DNS Chaos Lab run")))
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<style>
body {{ font-family: sans-serif; margin: 24px; color: #222; }}
table {{ border-collapse: collapse; margin: 12px 0; }} td, th {{ padding: 3px 10px; text-align: left; border-bottom: 1px solid #ddd; }}
.bad {{ color: #c00; font-weight: bold; }} .ok {{ color: #080; }}
svg .frame {{ fill: none; stroke: #999; }} svg .fault {{ fill: #f4b400; fill-opacity: 0.25; }}
svg .series {{ fill: none; stroke-width: 2; }} svg .published {{ fill: none; stroke: #777; stroke-dasharray: 4 3; }}
svg .violation {{ stroke: #c00; stroke-width: 2; }} svg .repair {{ stroke: #080; stroke-width: 2; stroke-dasharray: 6 3; }}
svg .title {{ font-size: 13px; font-weight: bold; }} svg .ylab {{ font-size: 11px; text-anchor: end; }}
svg .tick {{ font-size: 11px; text-anchor: middle; }}
</style></head><body>
<h1>{title} <small>on {html.escape(str(summary.get("backend")))}</small></h1>
<table>{facts_html}</table>
<p>{legend} <span style="color:#c99a00">■ fault window</span> <span style="color:#c00">| invariant violated</span> <span style="color:#080">| operator repair</span></p>
<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{height}" role="img" aria-label="run timeline">
{p1}
{p2}
{"".join(ticks)}
</svg>
<h2>Invariants</h2>
<table><tr><th>invariant</th><th>result</th><th>first violation</th></tr>{rows}</table>
</body></html>
"""


def _classname(summary: dict) -> str:
    """dnslab.<backend>: the same experiment on both backends is two distinct test cases."""
    return quoteattr(f"dnslab.{summary.get('backend', 'unknown')}")


def render_junit(summaries: list[dict]) -> str:
    """One testcase per run: it fails when the outcome differs from the file's expectation."""
    cases, failures = [], 0
    for s in summaries:
        name = quoteattr(str(s.get("title", "run")))
        if s.get("as_expected"):
            cases.append(f"  <testcase classname={_classname(s)} name={name}/>")
        else:
            failures += 1
            msg = quoteattr(f"expected {s.get('expected')}, got {s.get('verdict')}"
                            + (f": {s['reason']}" if s.get("reason") else ""))
            cases.append(f"  <testcase classname={_classname(s)} name={name}>"
                         f"<failure message={msg}/></testcase>")
    return (f'<?xml version="1.0" encoding="utf-8"?>\n<testsuite name="dnslab" '
            f'tests="{len(summaries)}" failures="{failures}">\n' + "\n".join(cases)
            + "\n</testsuite>\n")
