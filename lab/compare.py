"""`dnslab compare`: one scenario, same seed, once per safeguard variant; a comparison of
what each variant saved and cost (comparison.json, comparison.md, comparison.html).

Variants: ``none`` (the baseline, always first), then each requested one; ``a+b`` switches
several on together; ``all`` means every mitigation that applies to the file on its own:
the DNS safeguards, or for a file with a `cascade:` section the cascade's remediations.
"""

import dataclasses
import html
import json
import shutil
import sys
from typing import Callable
from pathlib import Path

from lab.core.compare import variant_row, with_baseline
from lab.core.plan import DEFAULT_ENDPOINTS
from lab.core.verdict import Verdict
from lab.core.fold import fold_sorted
from lab.core.history import Kind
from lab.eventlog import iter_events
from lab.scenario import (CASCADE_MITIGATIONS, DNS_MITIGATIONS, MITIGATIONS, ExperimentError,
                          Origin, Scenario)
from lab.core.experiment import check_cascade


def variants(spec: str, s: Scenario | None = None) -> list[tuple[str, tuple[str, ...]]]:
    """``all`` | ``none`` | comma-separated names or ``a+b`` combinations. ``all`` is the DNS
    safeguards, or the cascade's remediations when ``s`` has a cascade."""
    every = CASCADE_MITIGATIONS if s is not None and s.cascade is not None else DNS_MITIGATIONS
    names = list(every) if spec.strip() == "all" else \
        [v.strip() for v in spec.split(",") if v.strip()]
    out = [("none", ())]
    for v in names:
        if v == "none":
            continue
        parts = tuple(p.strip() for p in v.split("+"))
        if bad := [p for p in parts if p not in MITIGATIONS]:
            raise ExperimentError(f"--mitigations: unknown mitigation {bad[0]!r}; known: "
                                  f"{', '.join(MITIGATIONS)} (combine with +, or say all)")
        if (v, parts) not in out:
            out.append(("+".join(parts), parts))
    return out


def scenario_for(s: Scenario, parts: tuple[str, ...]) -> Scenario:
    """``s`` with the variant's mitigations, checked (a cascade remediation needs a cascade,
    restart-manager its restart time)."""
    v = dataclasses.replace(s, mitigations=parts)
    check_cascade(v, s.origin or Origin("<scenario>"))
    return v


def check_baseline(run_dir: Path, s: Scenario, identity: dict, world: str = "lab") -> None:
    """An earlier run may stand in for the ``none`` variant only if it ran the same file
    (same bytes), seed, backend and duration with no safeguard, in the same world (real lab
    or simulation), and was decided."""
    from lab.errors import LabError
    try:
        summary = json.loads((run_dir / "summary.json").read_text())
    except (OSError, ValueError) as e:
        raise LabError(f"--baseline {run_dir}: no readable summary.json there ({e})") from None
    want = {"experiment.sha256": identity.get("sha256"), "seed": s.seed, "backend": s.backend,
            "duration_s": s.duration_s, "mitigations": [], "world": world}
    have = {"experiment.sha256": (summary.get("experiment") or {}).get("sha256"),
            "seed": summary.get("seed"), "backend": summary.get("backend"),
            "duration_s": summary.get("duration_s"), "mitigations": summary.get("mitigations"),
            "world": summary.get("world", "lab")}
    if differ := [k for k in want if want[k] != have[k]]:
        raise LabError(f"--baseline {run_dir}: not a run of this comparison's baseline "
                       f"({', '.join(f'{k} {have[k]!r}, not {want[k]!r}' for k in differ)})")
    if summary.get("verdict") not in ("hypothesis-violated", "hypothesis-held"):
        raise LabError(f"--baseline {run_dir}: that run ended {summary.get('verdict')}; give "
                       "a decided run or leave --baseline out")


def row_for(name: str, run_dir: Path) -> dict:
    summary = json.loads((run_dir / "summary.json").read_text())
    # the probes are folded as they stream by, never held (lab/core/fold.py)
    path = run_dir / "events.jsonl"
    folded = fold_sorted(iter_events(path), rows=False)
    events = [e for e in iter_events(path) if e.kind is not Kind.PROBE]
    row = variant_row(name, summary, events, set(DEFAULT_ENDPOINTS),
                      {g: folded.longest_client_outage_s(g) for g in summary["groups"]})
    row["dir"] = run_dir.name
    row["report"] = f"{run_dir.name}/report.html"
    return row


def write(out: Path, *, experiment: str, s: Scenario, command: str, rows: list[dict]) -> None:
    rows = with_baseline(rows)
    doc = {"experiment": experiment, "title": s.title, "backend": s.backend, "seed": s.seed,
           "expected": s.expect, "command": command, "variants": rows}
    (out / "comparison.json").write_text(json.dumps(doc, indent=2) + "\n")
    (out / "comparison.md").write_text(markdown(doc))
    (out / "comparison.html").write_text(page(doc))


COLUMNS = ("variant", "verdict", "as expected", "outage", "outage (s)", "clients affected",
           "client-s lost", "longest client outage resolver / direct (s)", "time to page (s)",
           "invariants violated", "converge (s)", "DNS writes / plan", "lock waits / plan",
           "refused / skipped", "added latency / plan (ms)")
UNDECIDED = "—"
# A cascade's comparison: what each remediation did to the fleet after DNS came back, and
# what it cost.
CASCADE_COLUMNS = ("variant", "verdict", "as expected", "metastable",
                   "leases back after DNS (s)", "fleet recovered after DNS (s)",
                   "goodput < 0.5 after DNS (s)", "leases lapsed (max)",
                   "re-establishments / lapse", "wasted units", "shed units")


def _cascade_cells(r: dict) -> list[str]:
    c = r.get("cascade") or {}
    expected = r.get("as_expected")
    decided = r.get("decided", True)
    head = [r["variant"], r["verdict"], "-" if expected is None else "yes" if expected else "NO"]
    if not decided or not c:
        return head + [outage_cell(r) if not decided else UNDECIDED] + [UNDECIDED] * 7
    meta = c["metastable"]
    per = c["reestablish_per_lapse"]

    def after_dns(value) -> str:
        return f"not within {c['observed_after_dns_s']:g}" if value is None else f"{value:g}"
    return head + [
        "undecided" if meta is None else "yes" if meta else "no",
        after_dns(c.get("leases_back_after_dns_s")), after_dns(c["recovered_after_dns_s"]),
        f"{c['low_goodput_s']:g}", f"{c['leases_lapsed_max']}",
        "-" if per is None else f"{per:g}",
        f"{c['wasted_units']}", f"{c['shed_units']}"]


def _columns(doc: dict) -> tuple[tuple[str, ...], Callable[[dict], list[str]]]:
    if any(r.get("cascade") for r in doc["variants"]):
        return CASCADE_COLUMNS, _cascade_cells
    return COLUMNS, _cells


def outage_cell(r: dict) -> str:
    """yes / no for a decided run; an aborted or failed run never reads as "no outage"."""
    if not r.get("decided", True):
        reason = " ".join(str(r.get("reason") or "no reason recorded").split())
        if len(reason) > 160:
            reason = reason[:157] + "..."
        return f"{UNDECIDED} ({r['verdict']}: {reason})"
    return "yes" if r["outage"] else "no"


def _cells(r: dict) -> list[str]:
    c = r["cost"]
    decided = r.get("decided", True)
    longest = r["longest_client_outage_s"]
    ttp = r.get("time_to_page_s")
    expected = r.get("as_expected")
    cells = [r["variant"], r["verdict"],
             "-" if expected is None else "yes" if expected else "NO", outage_cell(r)]
    if decided:
        cells += [f"{r['outage_s']:g}", f"{r['clients_affected_fraction']:.0%}",
                  f"{r['client_seconds_lost']:g}",
                  f"{longest.get('resolver', 0):g} / {longest.get('direct', 0):g}"]
    else:
        cells += [UNDECIDED] * 4
    return cells + [
        "-" if ttp is None else f"{ttp:g}",
        ", ".join(r["violations"]) or ("none" if decided else UNDECIDED),
        "-" if r["time_to_converge_s"] is None else f"{r['time_to_converge_s']:g}",
        f"{c['dns_writes_per_plan']:g}", f"{c['lock_waits_per_plan']:g}",
        f"{c['writes_refused']} / {c['cleanups_skipped']}",
        "-" if c["added_latency_ms_per_plan"] is None else f"{c['added_latency_ms_per_plan']:+g}"]


def _note(doc: dict) -> str:
    if any(r.get("cascade") for r in doc["variants"]):
        return ("Metastable: the fleet's goodput, averaged over three renew periods, stayed "
                "below half of its steady renewal work after DNS answered it again. Leases back: goodput "
                "above 0.8 and 95 % of the hosts holding a lease for three renew periods (the "
                "manager's recovery); recovered: the same with 95 % passing the front's health "
                "checks (the capacity users see, once network state has propagated). Cost: "
                "re-establishments started per lease that lapsed (work amplification), and the "
                "lease service's work that finished after its client gave up (wasted) or was "
                f"dropped unserved (shed). A run that failed reads {UNDECIDED} with the reason.")
    return (f"As expected: whether a run matched the file's expectation "
            f"({doc.get('expected', '?')}); a safeguard that prevents the outage reads NO there. "
            "A run that was aborted or failed (error) is not an outcome: its outage columns "
            f"read {UNDECIDED} with the reason.")


def markdown(doc: dict) -> str:
    def md(x: str) -> str:
        return x.replace("|", "\\|")
    columns, cells_of = _columns(doc)
    lines = [f"# {doc['title']}: safeguards compared",
             "", f"Backend {doc['backend']}, seed {doc['seed']}; `{doc['command']}`", "",
             _note(doc), "",
             "| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    for r in doc["variants"]:
        cells = [md(x) for x in cells_of(r)]
        cells[0] = f"[{cells[0]}]({r.get('report', r['dir'] + '/report.html')})"
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def page(doc: dict) -> str:
    columns, cells_of = _columns(doc)
    head = "".join(f"<th>{html.escape(c)}</th>" for c in columns)
    rows = []
    for r in doc["variants"]:
        cells = [html.escape(x) for x in cells_of(r)]
        href = html.escape(r.get("report", r["dir"] + "/report.html"))
        cells[0] = f'<a href="{href}">{cells[0]}</a>'
        good = r.get("decided", True)
        cells[1] = f'<span class="{"ok" if good else "bad"}">{cells[1]}</span>'
        cells[3] = cells[3] if good else f'<span class="bad">{cells[3]}</span>'
        rows.append("<tr>" + "".join(f"<td>{x}</td>" for x in cells) + "</tr>")
    return ("<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>"
            f"{html.escape(doc['title'])}: safeguards compared</title><style>body{{font-family:"
            "sans-serif;margin:24px}td,th{padding:3px 8px;border-bottom:1px solid #ddd;"
            "text-align:left;vertical-align:top}.bad{color:#c00;font-weight:bold}.ok{color:#080}"
            "</style></head><body>"
            f"<h1>{html.escape(doc['title'])}: safeguards compared</h1>"
            f"<p>Backend {html.escape(doc['backend'])}, seed {doc['seed']}; "
            f"<code>{html.escape(doc['command'])}</code></p><p>{html.escape(_note(doc))} "
            "Each variant's name links its report.</p>"
            f"<table><tr>{head}</tr>{''.join(rows)}</table></body></html>\n")


def run_variants(plan, s: Scenario, path: Path, out: Path, run, baseline: Path | None = None,
                 *, echo=print) -> list[dict]:
    """Run each variant of ``plan`` into ``out``/<variant> with ``run(scenario, where,
    experiment)``; the rows of the comparison. The checked ``baseline`` run stands in for
    the variant without mitigations. A variant that aborts or errs ends the comparison."""
    from lab import suite
    rows = []
    for name, parts in plan:
        where = out / name.replace("+", "_and_")
        if name == "none" and baseline is not None:   # checked: the same run, already made
            shutil.copytree(baseline, where)
            summary = json.loads((where / "summary.json").read_text())
            print(f"none: the baseline is the earlier run in {baseline}", file=sys.stderr)
        else:
            summary = run(scenario_for(s, parts), where, suite.identity(path))
        row = row_for(name, where)
        rows.append(row)
        if row["decided"]:
            echo(f"{name}: {summary['verdict']}; outage {outage_cell(row)} "
                 f"({row['outage_s']} s), clients affected "
                 f"{row['clients_affected_fraction']:.0%}, "
                 f"violated: {', '.join(row['violations']) or 'none'}; results in {where}")
        else:
            echo(f"{name}: outage {outage_cell(row)}; results in {where}")
        if Verdict(summary["verdict"]) not in (Verdict.VIOLATED, Verdict.HELD):
            break
    return rows
