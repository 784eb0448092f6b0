"""`dnslab compare`: one scenario, same seed, once per safeguard variant; a comparison of
what each variant saved and cost (comparison.json, comparison.md, comparison.html).

Variants: ``none`` (the baseline, always first), then each requested one; ``a+b`` switches
several on together; ``all`` means every mitigation on its own.
"""

import dataclasses
import html
import json
import shutil
import sys
from pathlib import Path

from lab.core.compare import variant_row, with_baseline
from lab.core.plan import DEFAULT_ENDPOINTS
from lab.core.verdict import Verdict
from lab.eventlog import read_events
from lab.scenario import MITIGATIONS, ExperimentError, Scenario


def variants(spec: str) -> list[tuple[str, tuple[str, ...]]]:
    """``all`` | ``none`` | comma-separated names or ``a+b`` combinations."""
    names = list(MITIGATIONS) if spec.strip() == "all" else \
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
    return dataclasses.replace(s, mitigations=parts)


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
    events = read_events(run_dir / "events.jsonl")
    row = variant_row(name, summary, events, set(DEFAULT_ENDPOINTS))
    row["dir"] = run_dir.name
    return row


def write(out: Path, *, experiment: str, s: Scenario, command: str, rows: list[dict]) -> None:
    rows = with_baseline(rows)
    doc = {"experiment": experiment, "title": s.title, "backend": s.backend, "seed": s.seed,
           "command": command, "variants": rows}
    (out / "comparison.json").write_text(json.dumps(doc, indent=2) + "\n")
    (out / "comparison.md").write_text(markdown(doc))
    (out / "comparison.html").write_text(page(doc))


COLUMNS = ("variant", "outage", "outage (s)", "clients affected", "client-s lost",
           "longest client outage resolver / direct (s)", "invariants violated",
           "converge (s)", "DNS writes / plan", "lock waits / plan", "refused / skipped",
           "added latency / plan (ms)")


def _cells(r: dict) -> list[str]:
    c = r["cost"]
    longest = r["longest_client_outage_s"]
    return [r["variant"], "yes" if r["outage"] else "no", f"{r['outage_s']:g}",
            f"{r['clients_affected_fraction']:.0%}", f"{r['client_seconds_lost']:g}",
            f"{longest.get('resolver', 0):g} / {longest.get('direct', 0):g}",
            ", ".join(r["violations"]) or "none",
            "-" if r["time_to_converge_s"] is None else f"{r['time_to_converge_s']:g}",
            f"{c['dns_writes_per_plan']:g}", f"{c['lock_waits_per_plan']:g}",
            f"{c['writes_refused']} / {c['cleanups_skipped']}",
            "-" if c["added_latency_ms_per_plan"] is None else f"{c['added_latency_ms_per_plan']:+g}"]


def markdown(doc: dict) -> str:
    lines = [f"# {doc['title']}: safeguards compared",
             "", f"Backend {doc['backend']}, seed {doc['seed']}; `{doc['command']}`", "",
             "| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    lines += ["| " + " | ".join(_cells(r)) + " |" for r in doc["variants"]]
    return "\n".join(lines) + "\n"


def page(doc: dict) -> str:
    head = "".join(f"<th>{html.escape(c)}</th>" for c in COLUMNS)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(x)}</td>" for x in _cells(r)) + "</tr>"
        for r in doc["variants"])
    links = " ".join(f'<a href="{html.escape(r["dir"])}/report.html">{html.escape(r["variant"])}</a>'
                     for r in doc["variants"])
    return ("<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>"
            f"{html.escape(doc['title'])}: safeguards compared</title><style>body{{font-family:"
            "sans-serif;margin:24px}td,th{padding:3px 8px;border-bottom:1px solid #ddd;"
            "text-align:left}</style></head><body>"
            f"<h1>{html.escape(doc['title'])}: safeguards compared</h1>"
            f"<p>Backend {html.escape(doc['backend'])}, seed {doc['seed']}; "
            f"<code>{html.escape(doc['command'])}</code></p>"
            f"<table><tr>{head}</tr>{body}</table><p>Runs: {links}</p></body></html>\n")


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
        echo(f"{name}: {summary['verdict']}; outage {'yes' if row['outage'] else 'no'} "
             f"({row['outage_s']} s), clients affected {row['clients_affected_fraction']:.0%}, "
             f"violated: {', '.join(row['violations']) or 'none'}; results in {where}")
        if Verdict(summary["verdict"]) not in (Verdict.VIOLATED, Verdict.HELD):
            break
    return rows
