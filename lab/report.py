"""report.html and junit.xml for one run, derived from its history and summary alone.

The HTML is self-contained (inline SVG and CSS, no script, no network): readable offline.
At the top, the post-event summary (``lab.core.timeline``): milestones as sentences, the time
between them and the time to page. Panels share one time axis (seconds since the run
started): failed-probe ratio per client group, plan generation applied per endpoint next to
the newest published, fault windows shaded across every panel, invariant violations, the
operator's repair and the first page marked. Then invariants and faults as sentences, and
the events table, filtered by source with radio buttons and CSS. Every time is relative to
the run's start (its first event): no clock time appears.
"""

import html
from xml.sax.saxutils import quoteattr

from lab.core import cascade_judge, timeline
from lab.core.fold import MAX_ROWS, PROBE_GAP_S, Fold, fold
from lab.core.history import Event, Kind

W, LEFT, RIGHT, PANEL_H, GAP = 960, 70, 20, 150, 40
COLORS = {"resolver": "#1f77b4", "direct": "#d62728"}
ENDPOINT_COLORS = ["#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#17becf"]


def _fault_windows(events: list[Event], end: float) -> list[tuple[float, float, str]]:
    open_, windows = {}, []
    for e in events:
        key = (e.data.get("fault"), e.data.get("target"), e.data.get("step"))
        if e.kind is Kind.FAULT_STARTED:
            open_[key] = e.t
        elif e.kind is Kind.FAULT_ENDED and key in open_:
            label = f"{key[0]} {key[1]}" + (f" @{key[2]}" if key[2] else "")
            windows.append((open_.pop(key), e.t, label))
    windows += [(t, end, f"{k[0]} {k[1]} (not ended)") for k, t in open_.items()]
    return windows


class _Axis:
    def __init__(self, t_max: float):
        self.t_max = max(t_max, 1.0)

    def x(self, t: float) -> float:
        return LEFT + (W - LEFT - RIGHT) * max(0.0, t) / self.t_max


def _panel(y0: float, title: str, axis: _Axis, windows, marks, body: str, ylabels) -> str:
    parts = [f'<g transform="translate(0,{y0})">',
             f'<text x="{LEFT}" y="-8" class="title">{html.escape(title)}</text>',
             f'<rect x="{LEFT}" y="0" width="{W - LEFT - RIGHT}" height="{PANEL_H}" class="frame"/>']
    for a, b, label, *kind in windows:       # a fault window, or (..., "nodns")
        x0, x1 = axis.x(a), axis.x(b)
        parts.append(f'<rect class="{kind[0] if kind else "fault"}" x="{x0:.1f}" y="0" width="{max(1.0, x1 - x0):.1f}" '
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


MAX_EVENT_ROWS = MAX_ROWS  # the events table's bound; events.jsonl has them all

CASCADE_COLLAPSED = 0.5    # the detector's collapse threshold (lab/core/cascade.py), drawn
FLEET_COLORS = {"goodput": "#222222", "capacity": "#00897b", "out": "#e91e63",
                "backlog": "#ff9800"}


def _panel_y(k: int) -> float:
    """The top of the k-th panel (0-based) of the run's timeline."""
    return 30 + k * (PANEL_H + GAP + 10)


def _lookup_gaps(events: list[Event], t0: float, t_end: float) -> list[tuple]:
    """Stretches during which the fleet manager's lookup of the endpoint got no address
    (``cascade-dns``), relative to ``t0``; one still open ends at ``t_end``."""
    gaps, since = [], None
    for e in sorted((e for e in events if e.kind is Kind.CASCADE_DNS), key=lambda e: e.t):
        if not e.data.get("ok") and since is None:
            since = e.t
        elif e.data.get("ok") and since is not None:
            gaps.append((since - t0, e.t - t0, "the fleet manager's lookup got no address",
                         "nodns"))
            since = None
    if since is not None:
        gaps.append((since - t0, t_end - t0, "the fleet manager's lookup got no address "
                     "(until the end)", "nodns"))
    return gaps


def _cascade_verdict(c: dict, t0: float) -> str:
    """One line: metastable or not, when DNS came back for the fleet, when it recovered."""
    metastable = c.get("metastable")
    restored, recovered = c.get("dns_restored_at_s"), c.get("recovered_at_s")
    head = {True: "the fleet stayed collapsed after DNS came back (metastable)",
            False: "the fleet did not stay collapsed (not metastable)"}.get(
        metastable, "undecided whether the fleet stayed collapsed")
    parts = [f"Fleet: {head}"]
    if isinstance(restored, (int, float)):
        parts.append(f"DNS answered the fleet manager again at {timeline.relative(restored, t0)}")
    elif c.get("dns_failed"):
        parts.append("DNS never answered the fleet manager again")
    if isinstance(recovered, (int, float)):
        after = (f", {timeline.span(max(0.0, recovered - restored))} after DNS"
                 if isinstance(restored, (int, float)) else "")
        parts.append(f"it recovered at {timeline.relative(recovered, t0)}{after}")
    else:
        parts.append("it did not recover by the end of the run")
    low = c.get("healthy_capacity_min")
    if isinstance(low, (int, float)):
        parts.append(f"lowest healthy capacity {low:.0%}, at most "
                     f"{c.get('leases_lapsed_max', 0)} leases lapsed in a window")
    text = "; ".join(parts) + "."
    if metastable is None and c.get("reason"):     # why undecided (the detector's words
        text += f" ({c['reason']})"                # print run-clock times: only then)
    cls = "bad" if metastable else "ok" if metastable is False else ""
    return f'<p class="cascade {cls}">{_esc(text)}</p>'


def _cascade_panels(summary: dict, f: Fold, t0: float, axis: "_Axis", windows,
                    marks) -> tuple[list[str], str, str]:
    """(panels, legend, verdict line) of the cascade: fleet goodput and healthy capacity,
    and hosts out of service, per window on the run's time axis, with the stretches the
    fleet's lookup got no address shaded, DNS's return for the fleet and the recovery
    marked. Nothing for a run without a cascade or without a window."""
    c = summary.get("cascade")
    fleet = cascade_judge.windows_of(f.retained) if isinstance(c, dict) else []
    if not fleet:
        return [], "", ""
    # The summary's cascade times count from the history's first event (as its timeline
    # does); the panels draw on the history's own clock.
    origin = f.t_first if f.t_first is not None else 0.0
    c = {**c, **{k: c[k] + origin for k in ("dns_restored_at_s", "recovered_at_s")
                 if isinstance(c.get(k), (int, float))}}
    t_end = f.t_last if f.t_last is not None else fleet[-1].t1
    shaded = windows + _lookup_gaps(f.retained, t0, t_end)
    marks = list(marks)
    restored, recovered = c.get("dns_restored_at_s"), c.get("recovered_at_s")
    if isinstance(restored, (int, float)) and c.get("dns_failed", True):
        marks.append((restored - t0, "DNS answered the fleet manager again", "dns-back"))
    if isinstance(recovered, (int, float)):
        marks.append((recovered - t0, "the fleet recovered", "recovered"))

    def steps(values, y) -> str:
        coords = []
        for w, v in zip(fleet, values):
            coords += [f"{axis.x(w.t0 - t0):.1f},{y(v):.1f}", f"{axis.x(w.t1 - t0):.1f},{y(v):.1f}"]
        return " ".join(coords)

    top = max([1.0] + [w.fleet_goodput for w in fleet])
    ratio = lambda v: PANEL_H * (1 - max(0.0, v) / top)  # noqa: E731
    threshold = ratio(CASCADE_COLLAPSED)
    body = (f'<line class="threshold" x1="{LEFT}" x2="{W - RIGHT}" y1="{threshold:.1f}" '
            f'y2="{threshold:.1f}"><title>collapsed below {CASCADE_COLLAPSED:.0%}</title></line>'
            f'<polyline class="series fleet" stroke="{FLEET_COLORS["goodput"]}" points="'
            f'{steps([w.fleet_goodput for w in fleet], ratio)}"><title>fleet goodput</title>'
            f'</polyline><polyline class="series fleet" stroke="{FLEET_COLORS["capacity"]}" '
            f'points="{steps([w.healthy_capacity for w in fleet], ratio)}"><title>healthy '
            "capacity</title></polyline>")
    p3 = _panel(_panel_y(2), "Fleet goodput (share of its steady renewal work) and healthy "
                "capacity, per window", axis, shaded, marks, body,
                [(0, f"{top:.0%}"), (threshold, f"{CASCADE_COLLAPSED:.0%}"), (PANEL_H, "0%")])
    hosts = max([1] + [w.out_of_service + w.leases_held for w in fleet]
                + [w.out_of_service for w in fleet])
    count = lambda v: PANEL_H * (1 - max(0, v) / hosts)  # noqa: E731
    body = (f'<polyline class="series fleet" stroke="{FLEET_COLORS["out"]}" points="'
            f'{steps([w.out_of_service for w in fleet], count)}"><title>hosts out of service'
            f'</title></polyline><polyline class="series fleet" stroke="'
            f'{FLEET_COLORS["backlog"]}" points="'
            f'{steps([w.propagation_backlog for w in fleet], count)}"><title>hosts back, '
            "network state not propagated</title></polyline>")
    p4 = _panel(_panel_y(3), "Hosts out of service (lease lapsed, not re-established) and "
                "back but not yet propagated (failing health checks), per window", axis,
                shaded, marks, body, [(0, str(hosts)), (PANEL_H, "0")])
    legend = (f' <span style="color:{FLEET_COLORS["goodput"]}">■ fleet goodput</span>'
              f' <span style="color:{FLEET_COLORS["capacity"]}">■ healthy capacity</span>'
              f' <span style="color:{FLEET_COLORS["out"]}">■ hosts out of service</span>'
              f' <span style="color:{FLEET_COLORS["backlog"]}">■ hosts waiting for network '
              'state</span>'
              ' <span style="color:#b0b0b0">■ fleet lookup without addresses</span>'
              ' <span style="color:#1565c0">| DNS back for the fleet</span>'
              ' <span style="color:#080">| fleet recovered</span>')
    return [p3, p4], legend, _cascade_verdict(c, t0)


def _esc(x) -> str:
    return html.escape(str(x))


def _value(key: str, v, t0: float) -> str:
    """One event field for a reader: lists and mappings as words, times on the run's clock
    (anything that looks like one: above 10^8 s) relative to the run start."""
    if isinstance(v, bool) or v is None:
        return str(v).lower() if v is not None else "none"
    if isinstance(v, (int, float)):
        return timeline.relative(v, t0) if v > 1e8 else f"{v:g}"
    if isinstance(v, dict):
        return ", ".join(f"{k}={_value(k, x, t0)}" for k, x in v.items())
    if isinstance(v, (list, tuple)):
        return ", ".join(_value(key, x, t0) for x in v)
    return str(v)


def _details(e: Event, t0: float, t_end: float) -> str:
    d = dict(e.data)
    if e.kind is Kind.PAGED:
        out = f"{d.pop('alert', 'alert')} {d.pop('status', '')}"
        for key in ("starts_at", "ends_at"):
            at = d.pop(key, None)
            # Alertmanager's zero time (year 1) or a time outside the run says nothing here.
            if isinstance(at, (int, float)) and t0 - 3600 <= at <= t_end + 3600:
                out += f"; {key.replace('_', ' ')} {timeline.relative(at, t0)}"
        labels = {k: v for k, v in (d.pop("labels", None) or {}).items() if k != "alertname"}
        rest = [f"{k} {_value(k, v, t0)}" for k, v in d.items() if v not in (None, "")]
        if labels:
            rest.append("labels " + _value("labels", labels, t0))
        return "; ".join([out] + rest)
    return "; ".join(f"{k.replace('_', ' ')} {_value(k, v, t0)}" for k, v in d.items()
                     if v is not None)


def _probe_stretches(f: Fold) -> list[tuple[float, str, str, str]]:
    """Failed probes as stretches: one row per prober, group, endpoint and outcome while they
    keep failing less than PROBE_GAP_S apart (folded: ``Fold.stretches``)."""
    return [(first, key[0], f"{n} failed probe{'s' if n > 1 else ''} of {key[1]} clients "
             f"({len(clients)} client{'s' if len(clients) > 1 else ''}): "
             f"{timeline.outcome_words(key[3])} for {key[2]}", last)
            for key, (first, last, n, clients) in f.stretches()]


def _events_section(f: Fold, t0: float, table: list[Event]) -> str:
    """The events table, filtered by source with radio buttons and CSS alone."""
    t_end = f.t_last if f.t_last is not None else t0
    rows = [(e.t, e.source, e.kind.value, _details(e, t0, t_end))
            for e in table[:MAX_EVENT_ROWS]]
    shown_rows = f.row_count
    cut = max(0, shown_rows - MAX_EVENT_ROWS)
    rows += [(first, source, "probes failed", f"{text}, until {timeline.relative(last, t0)}")
             for first, source, text, last in _probe_stretches(f)]
    rows.sort(key=lambda r: r[0])
    sources = sorted({r[1] for r in rows})
    index = {src: i for i, src in enumerate(sources)}
    counts = {src: sum(1 for r in rows if r[1] == src) for src in sources}
    dropped = (f" ({f.stretches_dropped} more stretches are in events.jsonl)"
               if f.stretches_dropped else "")
    note = (f"{f.events} events in the history. Every event is listed but the probes and "
            f"the {f.idle_checks} freshness checks that found no newer plan"
            + (f" (the first {MAX_EVENT_ROWS} of {shown_rows}; the rest are in events.jsonl)"
               if cut else "")
            + f". Probes: {f.probes}, {f.failed_all} failed; probes that got addresses are not "
            "listed, and failed probes are listed as stretches (one row per prober, client "
            "group, endpoint and outcome while they keep failing less than "
            f"{PROBE_GAP_S:g} s apart){dropped}. Show one source:")
    radios = ['<input type="radio" name="src" id="src-all" checked>'
              f'<label for="src-all">all ({len(rows)})</label>']
    css = []
    for src, i in index.items():
        radios.append(f'<input type="radio" name="src" id="src-{i}">'
                      f'<label for="src-{i}">{_esc(src)} ({counts[src]})</label>')
        css.append(f"#src-{i}:checked ~ table tr.ev:not(.s-{i}) {{ display: none; }}")
    body = "".join(f'<tr class="ev s-{index[src]}"><td class="t">{timeline.relative(t, t0)}</td>'
                   f"<td>{_esc(src)}</td><td>{_esc(kind)}</td><td>{_esc(text)}</td></tr>"
                   for t, src, kind, text in rows)
    return (f"<h2>Events</h2><p>{_esc(note)}</p><style>{' '.join(css)}</style>"
            f'<div class="events">{"".join(radios)}'
            "<table><tr><th>time</th><th>source</th><th>event</th><th>what</th></tr>"
            f"{body}</table></div>")


def _timeline_section(summary: dict, f: Fold, t0: float) -> str:
    """The post-event summary: milestones as sentences, the time between them, time to page."""
    if "timeline" in summary:
        items = summary["timeline"]
        durations = [timeline.Duration(d["name"], d["from"], d["to"], d["s"])
                     for d in summary.get("timeline_durations", [])]
    else:   # a summary written before the timeline existed: derive it from the history
        ms = timeline.milestones_of(f)
        items = timeline.to_json(ms, t0)
        durations = timeline.durations(ms)
    lines = "".join(
        f'<tr class="{_esc(m["name"])}"><td class="t">'
        + ("—" if m["t_s"] is None else f"{m['t_s']:+.1f} s")
        + f"</td><td>{_esc(m['text'])}</td></tr>" for m in items)
    if not items:
        lines = ("<tr><td></td><td>Nothing to tell: no fault took effect, no endpoint emptied "
                 "and no probe failed.</td></tr>")
    page = timeline.first_page(f.retained)
    ttp = summary.get("time_to_page_s")
    if ttp is not None:
        when = f"{timeline.span(abs(ttp))} {'after' if ttp >= 0 else 'before'}"
        paged = (f'<p class="ttp">Time to page: <b>{_esc(when)} the endpoint emptied</b>'
                 + (f" (first page at {timeline.relative(page.t, t0)})." if page else ".")
                 + "</p>")
    elif summary.get("emptied") is None:
        paged = ('<p class="ttp">Time to page: none, since no endpoint emptied'
                 + (f"; the first page came at {timeline.relative(page.t, t0)}." if page else ".")
                 + "</p>")
    elif summary.get("world") == "simulation":
        paged = ('<p class="ttp">Time to page: none; a simulation has no Alertmanager, so '
                 "nothing pages.</p>")
    else:
        paged = ('<p class="ttp bad">Time to page: no page after the endpoint emptied, by the '
                 "end of the run.</p>")
    spans = "".join(f"<li>{_esc(d.text)}</li>" for d in durations)
    return (f"<h2>What happened</h2>{paged}"
            f'<table class="timeline">{lines}</table>'
            + (f"<p>Time between milestones:</p><ul>{spans}</ul>" if spans else "")
            + "<p class=note>Every time in this report is seconds since the run started (its "
            "first event).</p>")


def _faults_section(summary: dict, events: list[Event], t0: float) -> str:
    inject = next((e.t for e in events if e.kind is Kind.PHASE
                   and e.data.get("phase") == "inject"), None)
    items = []
    for f in summary.get("faults", []):
        what = f"[{f.get('index')}] {f.get('kind')} {f.get('target')}" + \
            (f" at {f['step']}" if f.get("step") else "")
        if f.get("status") == "fired":
            at = f.get("fired_at_s")
            when = (timeline.relative(inject + at, t0) if at is not None and inject is not None
                    else "an unknown time")
            items.append(f"{what}: took effect at {when}")
        else:
            items.append(f"{what}: did not fire ({f.get('why')})")
    return ("<h2>Faults</h2><ul>" + "".join(f"<li>{_esc(i)}</li>" for i in items) + "</ul>"
            if items else "")


def _unexplained(summary: dict, t0: float) -> str:
    u = summary.get("unexplained_failures") or {}
    first = u.get("first")
    if not u.get("count") or not first:
        return ""
    when = timeline.relative(first["t"], t0) if isinstance(first.get("t"), (int, float)) else "?"
    return (f'<p class="bad">{u["count"]} failed probe(s) that nothing in the history explains; '
            f"the first at {when}: {_esc(first.get('client'))} ({_esc(first.get('group'))}) got "
            f"{_esc(timeline.outcome_words(first.get('outcome')))} for "
            f"{_esc(first.get('endpoint'))}.</p>")


def render_html(summary: dict, events: list[Event], f: Fold | None = None,
                table: list[Event] | None = None) -> str:
    """The report of a run: from its history (``events``), or from the history already
    folded (``f``, lab/core/fold.py: the runner's, so no run holds every probe) with the
    events table's first rows read back from events.jsonl (``table``)."""
    if f is None:
        f = fold(events)
    events = f.retained       # phases, faults, repairs, pages: the few read one by one
    t0 = f.t_first if f.t_first is not None else 0.0
    axis = _Axis((f.t_last - t0) if f.t_first is not None else 1.0)
    windows = [(a - t0, b - t0, label)
               for a, b, label in _fault_windows(events, f.t_last or 0)]
    marks = [(v["first_violation"]["t"] - t0, f"{v['name']} violated", "violation")
             for v in summary.get("invariants", []) if v.get("held") is False
             and v.get("first_violation") and "t" in v["first_violation"]]
    marks += [(e.t - t0, f"operator repair -> plan {e.data['generation']}", "repair")
              for e in events if e.kind is Kind.REPAIRED][:1]
    page = timeline.first_page(events)
    if page is not None:
        marks.append((page.t - t0, f"first page: {page.data.get('alert')}", "page"))

    # Panel 1: failed-probe ratio per client group (1 s buckets).
    ratio = f.share_points()
    lines = []
    for group, points in sorted(ratio.items()):
        path = " ".join(f"{axis.x(t):.1f},{PANEL_H * (1 - r):.1f}" for t, r in points)
        lines.append(f'<polyline class="series" stroke="{COLORS.get(group, "#555")}" '
                     f'points="{path}"><title>{html.escape(group)} clients</title></polyline>')
    each = "second" if f.bucket_s == 1 else f"{f.bucket_s:g} s"
    p1 = _panel(30, f"Failed probes per client group (share of probes in each {each})", axis,
                windows, marks, "\n".join(lines), [(0, "100%"), (PANEL_H / 2, "50%"),
                                                   (PANEL_H, "0%")])

    # Panel 2: plan generation applied per endpoint, and the newest published.
    applied, published = f.applied, f.published
    g_max = f.g_max
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

    # Panels 3 and 4, for a run with a fleet behind the endpoint: the cascade.
    fleet_panels, fleet_legend, fleet_verdict = _cascade_panels(summary, f, t0, axis, windows,
                                                                marks)
    ticks = []
    step = max(1, int(axis.t_max // 10) or 1)
    tick_y = _panel_y(1 + len(fleet_panels)) + PANEL_H + 20
    for s in range(0, int(axis.t_max) + 1, step):
        ticks.append(f'<text x="{axis.x(s):.1f}" y="{tick_y:g}" class="tick">+{s} s</text>')
    height = tick_y + 20
    legend = " ".join(f'<span style="color:{c}">■ {g}</span>' for g, c in COLORS.items())
    legend += " " + " ".join(f'<span style="color:{ENDPOINT_COLORS[i % 5]}">■ {html.escape(e)}</span>'
                             for i, e in enumerate(sorted(applied)))
    legend += fleet_legend
    o = summary.get("outage", {})
    rows = "".join(
        f"<tr><td>{_esc(v['name'])}</td><td class={'bad' if v['held'] is False else 'ok'}>"
        f"{'violated' if v['held'] is False else 'held' if v['held'] else 'unknown'}</td>"
        f"<td>{_esc(timeline.describe_violation(v['name'], v.get('first_violation'), t0))}"
        "</td></tr>"
        for v in summary.get("invariants", []))
    verdict = str(summary.get("verdict"))
    decided = verdict in ("hypothesis-violated", "hypothesis-held")
    ttp = summary.get("time_to_page_s")
    facts = [("expected", summary.get("expected")),
             ("backend", summary.get("backend")), ("world", summary.get("world", "lab")),
             ("seed", summary.get("seed")),
             ("safeguards", ", ".join(summary.get("mitigations") or []) or "none"),
             ("failed probes", f"{o.get('failed_probes')} / {o.get('total_probes')}"),
             ("clients affected", f"{o.get('clients_affected_fraction', 0):.0%}"),
             ("client-seconds lost", o.get("client_seconds_lost")),
             ("outage duration (s)", o.get("duration_s")),
             ("detection lag (ms)", summary.get("detection_lag_ms")),
             ("time to page (s)", "none" if ttp is None else f"{ttp:g}"),
             ("automation stuck", summary.get("automation_stuck")),
             ("recovered by", summary.get("recovered_by"))]
    facts_html = "".join(f"<tr><th>{_esc(k)}</th><td>{_esc(v)}</td></tr>" for k, v in facts)
    expectation = ("" if summary.get("as_expected") is None else
                   " — as expected" if summary.get("as_expected") else " — NOT as expected")
    headline = (f'<p class="verdict {"ok" if summary.get("as_expected") else "bad"}">'
                f"{_esc(verdict)}{_esc(expectation)}"
                + (f": {_esc(summary['reason'])}" if summary.get("reason") else "")
                + ("" if decided else " (the run was not decided: its numbers are not an "
                   "outcome)") + "</p>")
    title = html.escape(str(summary.get("title", "DNS Chaos Lab run")))
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<style>
body {{ font-family: sans-serif; margin: 24px; color: #222; max-width: 1100px; }}
table {{ border-collapse: collapse; margin: 12px 0; }} td, th {{ padding: 3px 10px; text-align: left; border-bottom: 1px solid #ddd; vertical-align: top; }}
.bad {{ color: #c00; font-weight: bold; }} .ok {{ color: #080; }} .verdict {{ font-size: 1.2em; }}
td.t {{ white-space: nowrap; font-variant-numeric: tabular-nums; text-align: right; }}
table.timeline tr.impact td {{ color: #c00; font-weight: bold; }} table.timeline tr.first-page td, .ttp b {{ color: #8e24aa; }}
.note {{ color: #666; font-size: 0.9em; }}
.events input {{ margin-left: 10px; }} .events table {{ font-size: 0.9em; }}
svg .frame {{ fill: none; stroke: #999; }} svg .fault {{ fill: #f4b400; fill-opacity: 0.25; }}
svg .series {{ fill: none; stroke-width: 2; }} svg .published {{ fill: none; stroke: #777; stroke-dasharray: 4 3; }}
svg .violation {{ stroke: #c00; stroke-width: 2; }} svg .repair {{ stroke: #080; stroke-width: 2; stroke-dasharray: 6 3; }}
svg .page {{ stroke: #8e24aa; stroke-width: 2; stroke-dasharray: 2 2; }}
svg .title {{ font-size: 13px; font-weight: bold; }} svg .ylab {{ font-size: 11px; text-anchor: end; }}
svg .tick {{ font-size: 11px; text-anchor: middle; }}
svg .nodns {{ fill: #b0b0b0; fill-opacity: 0.3; }} svg .threshold {{ stroke: #999; stroke-dasharray: 3 3; }}
svg .dns-back {{ stroke: #1565c0; stroke-width: 2; }} svg .recovered {{ stroke: #080; stroke-width: 2; }}
</style></head><body>
<h1>{title} <small>on {_esc(summary.get("backend"))}</small></h1>
{headline}
{_timeline_section(summary, f, t0)}
{_unexplained(summary, t0)}
<table>{facts_html}</table>{fleet_verdict}
<p>{legend} <span style="color:#c99a00">■ fault window</span> <span style="color:#c00">| invariant violated</span> <span style="color:#080">| operator repair</span> <span style="color:#8e24aa">| first page</span></p>
<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{height}" role="img" aria-label="run timeline">
{p1}
{p2}{"".join(fleet_panels)}
{"".join(ticks)}
</svg>
<h2>Invariants</h2>
<table><tr><th>invariant</th><th>result</th><th>first violation</th></tr>{rows}</table>
{_faults_section(summary, events, t0)}
{_events_section(f, t0, f.rows if table is None else table)}
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
