"""Several experiments in one go: collect and validate every file before anything starts,
print the plan (`--dry`), run them one after another, and write an index of the runs."""

import dataclasses
import hashlib
import html
import json
import time
import uuid
from pathlib import Path
from typing import Callable, NamedTuple

from lab.errors import LabError
from lab.report import render_junit
from lab.core.experiment import CASCADE_MITIGATIONS
from lab.scenario import Scenario, load


def collect(paths: list[str]) -> list[tuple[Path, Scenario]]:
    """Experiment files named or found (``*.yaml``) in the directories named; all loaded and
    validated here, so a malformed file stops the suite before any container starts."""
    files: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            found = sorted(p.glob("*.yaml"))
            if not found:
                raise LabError(f"{p}: no experiment files (*.yaml) in this directory")
            files += found
        else:
            files.append(p)
    return [(f, load(f)) for f in files]


def identity(path: Path) -> dict:
    """Which file a run ran: its path and the SHA-256 of its bytes (in summary.json)."""
    try:
        digest = hashlib.sha256(Path(path).read_bytes()).hexdigest()
    except OSError:
        digest = None
    return {"file": str(path), "sha256": digest}


def with_overrides(s: Scenario, *, seed: int | None = None, duration: float | None = None,
                   backend: str | None = None) -> Scenario:
    if backend:
        s = dataclasses.replace(s, backend=backend)
    if seed is not None:
        if not 0 <= seed < 2**31:
            raise LabError(f"--seed {seed}: give a seed from 0 to {2**31 - 1}")
        s = dataclasses.replace(s, seed=seed)
    if duration is not None:
        s = s.with_duration(duration)   # re-checked: every fault must still fit
    return s


def _fixed_note(s: Scenario) -> str:
    if s.effective_negative_ttl_s == s.negative_ttl_s:
        return ""
    return f" (fixed by {s.backend}; the file asks {s.negative_ttl_s} s)"


def plan_text(path: Path, s: Scenario) -> str:
    """What a run of ``s`` would do, phase by phase, without touching anything."""
    lines = [f"{path}: {s.title} (expects {s.expect}; backend {s.backend}, seed {s.seed})",
             f"  setup: empty plan store and zone lab.test, SOA negative TTL "
             f"{s.effective_negative_ttl_s} s{_fixed_note(s)}, "
             f"alias {s.alias}, emptied answer {s.empty_answer}, record TTL {s.record_ttl_s} s",
             f"  start: planner (one plan every {s.planner_period_s} s), "
             f"{', '.join(s.enactors)} (clean-up keeps {s.keep_generations} generations), "
             f"{s.clients} clients in {s.prober_containers} prober containers every "
             f"{s.client_interval_s} s",
             f"  safeguards: {', '.join(s.mitigations) or 'none'}"
             + (f" (interlock limit {s.interlock_max_removed_fraction:.0%} of an endpoint's "
                "capacity per change)" if "interlock" in s.mitigations else ""),
             f"  steady-state-before: {s.steady_state_s} s with no failed probe"]
    lines.append(f"  inject: up to {s.duration_s} s, or until an endpoint is emptied:")
    for i, tf in enumerate(s.faults):
        f = tf.fault
        when = f"+{tf.at_s:g} s" + (f" after fault {tf.after} took effect" if tf.after is not None
                                    else "")
        what = f"{f.kind.value} {f.target}"
        if f.step:
            what += f" at {f.step}" + (f" ({f.endpoint})" if f.endpoint else "")
        if f.seconds:
            what += f" for {f.seconds:g} s"
        if f.count:
            what += f", {f.count} plans"
        if f.kind.value == "lose-lock":
            what += f", {f.times} lock attempt(s)"
        lines.append(f"    [{i}] {when}: {what}")
    if not s.faults:
        lines.append("    (no faults)")
    if s.cascade is not None:
        p = s.cascade.params
        on = [m for m in s.mitigations if m in CASCADE_MITIGATIONS]
        lines.append(f"  cascade: a lease service ({p.capacity} slots x {p.base_s:g} s a unit) "
                     f"behind the regional endpoints and a fleet manager renewing {p.hosts} "
                     f"leases every {p.renew_period_s:g} s (TTL {p.lease_ttl_s:g} s) through "
                     f"them; remediations: {', '.join(on) or 'none'}"
                     + ("" if s.cascade.remediations_after_repair_s is None or not on else
                        f" (on {s.cascade.remediations_after_repair_s:g} s after the repair)")
                     + (f"; the operator restarts the manager "
                        f"{s.cascade.restart_after_repair_s:g} s after the repair"
                        if "restart-manager" in on else ""))
    lines.append(f"  observe: {s.hold_stuck_s} s after an endpoint is emptied"
                 + (f"; repair: operator repair; recover: {s.recovery_window_s} s"
                    if s.repair else "; no repair"))
    lines.append("  rollback: clear the fault channel, restore paused/killed workers, remove "
                 "workers (always)")
    return "\n".join(lines)


def _decided(s: dict) -> bool:
    return s["verdict"] in ("hypothesis-violated", "hypothesis-held")


def _outage_cells(s: dict) -> str:
    """A decided run's outage figures; an aborted or failed run's reason instead, across the
    outage columns, so it can never read as "no outage"."""
    o = s["outage"]
    if not _decided(s):
        reason = " ".join(str(s.get("reason") or "no reason recorded").split())
        return (f'<td colspan="5" class="bad">— ({html.escape(s["verdict"])}: '
                f"{html.escape(reason)})</td>")
    ttp = s.get("time_to_page_s")
    return (f"<td>{o['failed_probes']} / {o['total_probes']}</td>"
            f"<td>{o['clients_affected_fraction']:.0%}</td>"
            f"<td>{o['client_seconds_lost']}</td><td>{o['duration_s']}</td>"
            f"<td>{'none' if ttp is None else f'{ttp:g}'}</td>")


def write_index(out: Path, rows: list[tuple[Path, dict, str]]) -> None:
    """index.html, suite.json and junit.xml of a suite; ``rows``: (file, summary, the
    run's directory name in ``out``). A run that was not decided has no outage figures
    (``outage`` null in suite.json, its reason in the index)."""
    summaries = [s for _, s, _ in rows]
    (out / "junit.xml").write_text(render_junit(summaries))
    (out / "suite.json").write_text(json.dumps(
        {"runs": [{"file": str(p), "dir": d, "report": f"{d}/report.html",
                   "backend": s.get("backend"), "verdict": s["verdict"],
                   "expected": s.get("expected"), "as_expected": s.get("as_expected"),
                   "reason": s.get("reason"),
                   "outage": s["outage"] if _decided(s) else None,
                   "time_to_page_s": s.get("time_to_page_s"),
                   "record_ttl_s": s.get("record_ttl_s"),
                   "negative_ttl_s": s.get("negative_ttl_s")}
                  for p, s, d in rows]}, indent=2) + "\n")
    items = "".join(
        f"<tr><td><a href=\"{html.escape(d)}/report.html\">{html.escape(s.get('title', d))}</a>"
        f"</td><td>{html.escape(str(s.get('backend')))}</td>"
        f"<td>{html.escape(str(s.get('expected')))}</td>"
        f"<td class={'ok' if _decided(s) else 'bad'}>{html.escape(s['verdict'])}</td>"
        f"<td class={'ok' if s.get('as_expected') else 'bad'}>"
        f"{'as expected' if s.get('as_expected') else 'NOT as expected'}</td>"
        f"{_outage_cells(s)}"
        f"<td>{s.get('record_ttl_s')} / {s.get('negative_ttl_s')}</td>"
        f"<td><a href=\"{html.escape(d)}/report.html\">report</a></td></tr>"
        for p, s, d in rows)
    (out / "index.html").write_text(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>DNS Chaos Lab "
        "suite</title><style>body{font-family:sans-serif;margin:24px}td,th{padding:3px 10px;"
        "border-bottom:1px solid #ddd;text-align:left}.bad{color:#c00;font-weight:bold}"
        ".ok{color:#080}</style></head><body>"
        f"<h1>DNS Chaos Lab suite, {time.strftime('%Y-%m-%d %H:%M:%S')}</h1>"
        "<p>A run that was aborted or failed (error) is not an outcome: its outage columns "
        "give the reason instead.</p><table><tr>"
        "<th>experiment</th><th>backend</th><th>expected</th><th>verdict</th><th></th>"
        "<th>failed probes</th><th>clients affected</th><th>client-seconds lost</th>"
        "<th>outage (s)</th><th>time to page (s)</th><th>TTL / negative TTL (s)</th><th></th>"
        f"</tr>{items}</table></body></html>\n")


# A world's run: (scenario, results directory, experiment identity) -> summary.
RunIn = Callable[[Scenario, Path, dict], dict]


class Row(NamedTuple):
    """One experiment file's run in a suite."""

    path: Path
    summary: dict
    dir: str = ""


def run_one(path: Path, s: Scenario, where: Path, run: RunIn, *, echo=print) -> Row:
    """Run one file into ``where``; one line on what happened."""
    summary = run(s, where, identity(path))
    o = summary["outage"]
    echo(f"{path}: {summary['verdict']} (expected {s.expect}: "
         f"{'as expected' if summary['as_expected'] else 'NOT as expected'}); "
         f"failed probes {o['failed_probes']}/{o['total_probes']}, clients affected "
         f"{o['clients_affected_fraction']:.0%}, detection lag "
         f"{summary['detection_lag_ms']} ms, automation stuck "
         f"{summary['automation_stuck']}, recovered by {summary['recovered_by']}"
         + (f"; {summary['reason']}" if summary.get("reason") else "")
         + f"; results in {where}")
    return Row(path, summary, where.name)


def run_suite(items: list[tuple[Path, Scenario]], out: Path, run: RunIn, *,
              echo=print) -> list[Row]:
    """Every file into its own directory (sanitised stem, unique in the suite) of a staging
    directory that replaces ``out`` whole at the end: no stale run of an earlier suite. An
    interrupted run ends the suite."""
    from lab import results
    staging = results.stage(out, uuid.uuid4().hex[:6])
    rows = []
    for (path, s), name in zip(items, results.dir_names([p for p, _ in items])):
        row = run_one(path, s, staging / name, run, echo=echo)
        rows.append(row)
        if row.summary.interrupted:
            break
    write_index(staging, [tuple(r) for r in rows])
    results.publish(staging, out)
    return rows
