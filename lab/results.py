"""Where results go, atomically. A run (or a suite) writes into a fresh hidden staging
directory beside its destination and moves it into place when done, so a destination only
ever holds one whole run: an interrupted run leaves its own `aborted` summary, a killed one
leaves the previous results untouched (and its staging directory, `.NAME.partial-RUN`).
Default destinations are unique; ``results/latest`` points at the newest."""

import json
import re
import shutil
import time
import uuid
from pathlib import Path

from lab.errors import LabError

ROOT = Path("results")
LATEST = "latest"


def default_dir(prefix: str = "") -> Path:
    """A fresh directory name under results/: date, time and a random suffix."""
    return ROOT / f"{prefix}{time.strftime('%Y%m%dT%H%M%S')}-{uuid.uuid4().hex[:6]}"


def _unwritable(path: Path, e: OSError) -> LabError:
    return LabError(f"cannot write results at {path}: {e.strerror or e}; choose another "
                    "--out or free space there")


MARKERS = ("summary.json", "suite.json", "comparison.json", "search.json", "tipping.json")


def replaceable(out: Path) -> bool:
    """A destination a run may replace: absent, an empty directory, or an earlier result of
    the lab (it holds a summary, a suite index or a comparison). Anything else is the
    user's, and is never moved or removed."""
    out = Path(out)
    if not out.exists() and not out.is_symlink():
        return True
    if out.is_symlink() or not out.is_dir():
        return False
    return not any(out.iterdir()) or any((out / m).is_file() for m in MARKERS)


def ensure_writable(out: Path) -> None:
    """Refuse an unwritable destination, or one that holds something other than an earlier
    result, before the lab is touched (one line, the path)."""
    if not replaceable(out):
        raise LabError(f"--out {out} exists and is not a lab result directory (no "
                       f"{', '.join(MARKERS)}); name a new or empty directory")
    parent = Path(out).parent
    probe = parent / f".dnslab-write-check-{uuid.uuid4().hex[:6]}"
    try:
        parent.mkdir(parents=True, exist_ok=True)
        probe.write_text("")
        probe.unlink()
    except OSError as e:
        raise _unwritable(Path(out), e) from None


def stage(out: Path, run_id: str) -> Path:
    """Create the staging directory for ``out`` (same filesystem, so the move is atomic)."""
    out = Path(out)
    staging = out.parent / f".{out.name}.partial-{run_id}"
    try:
        staging.mkdir(parents=True)
        (staging / ".probe").write_text("")
        (staging / ".probe").unlink()
    except OSError as e:
        shutil.rmtree(staging, ignore_errors=True)
        raise _unwritable(out, e) from None
    return staging


def publish(staging: Path, out: Path) -> None:
    """Replace ``out`` with ``staging`` (the old results are removed only after the swap)."""
    out = Path(out)
    if not replaceable(out):
        raise LabError(f"{out} now holds something other than an earlier result; the new "
                       f"results are kept in {staging}")
    old = out.parent / f".{out.name}.old-{uuid.uuid4().hex[:6]}"
    try:
        if out.exists() or out.is_symlink():
            out.rename(old)
        staging.rename(out)
    except OSError as e:
        raise _unwritable(out, e) from None
    shutil.rmtree(old, ignore_errors=True)


def point_latest(out: Path) -> None:
    """results/latest -> ``out`` when ``out`` sits directly in results/ (relative link, so
    it holds on the host and in the experiments container alike)."""
    out = Path(out)
    if out.parent.resolve() != ROOT.resolve():
        return
    link = out.parent / LATEST
    tmp = out.parent / f".{LATEST}.{uuid.uuid4().hex[:6]}"
    try:
        tmp.symlink_to(out.name)
        tmp.replace(link)
    except OSError:
        tmp.unlink(missing_ok=True)


def write_run(staging: Path, summary: dict, events: list | None, *, echo=print,
              fold=None) -> None:
    """summary.json, events.jsonl (the history, sorted), report.html and junit.xml.
    ``events`` None: the runner has already written events.jsonl (sorted), and ``fold`` is
    that history folded (lab/core/fold.py), which the report is drawn from."""
    from lab.eventlog import write_events
    try:
        if events is not None:
            write_events(staging / "events.jsonl", events)
        (staging / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    except OSError as e:
        raise _unwritable(staging, e) from None
    try:
        from lab.report import render_html, render_junit
        rows = None
        if fold is not None and fold.rows is None:
            from lab.eventlog import table_rows
            from lab.report import MAX_EVENT_ROWS
            rows = table_rows(staging / "events.jsonl", MAX_EVENT_ROWS)
        (staging / "report.html").write_text(render_html(summary, events or [], fold, rows))
        (staging / "junit.xml").write_text(render_junit([summary]))
    except Exception as e:  # the summary and history are already safe on disk
        echo(f"run: could not write report.html/junit.xml: {type(e).__name__}: {e}")


_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def dir_names(paths: list[Path]) -> list[str]:
    """One directory name per experiment file: its stem with anything but letters, digits,
    '.', '_' and '-' replaced, no leading dots (so never '.' or '..'), unique in the list."""
    names, seen = [], set()
    for p in paths:
        base = _UNSAFE.sub("-", Path(p).stem).lstrip(".-")[:80] or "experiment"
        name, n = base, 2
        while name in seen:
            name, n = f"{base}-{n}", n + 1
        seen.add(name)
        names.append(name)
    return names
