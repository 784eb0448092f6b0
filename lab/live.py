"""The live view of a run (and of a search): the fold in lab/core/live.py, shown while the
run works.

- ``live``: on a terminal, a rich ``Live`` display redrawn a few times a second: header
  (experiment, phase, time left), failing share per client group with a sparkline,
  endpoints (plan, addresses; red when empty), enactors, active faults with countdowns,
  violations and alerts.
- ``plain``: elsewhere (CI, ``docker compose up experiments``), one timestamped line every
  ``EVERY_S`` seconds, and one at once when something notable changes (phase, an endpoint
  emptied, a violation, a page, an enactor stuck), never more than one per ``MIN_GAP_S``.
- ``none``: nothing.

The view must never break or slow a run: events are folded under a lock (O(1) each); drawing
happens on its own thread, at most ``1 / REFRESH_S`` times a second; an exception while
drawing turns a live display into plain lines, and plain lines into nothing.
"""

import sys
import threading
import time
from pathlib import Path
from typing import Callable, TextIO

from lab.core.history import Event
from lab.core.live import EnactorState, LiveState, View

MODES = ("auto", "live", "plain", "none")
REFRESH_S = 0.25        # how often the view looks at the state
EVERY_S = 5.0           # plain: a line at least this often
MIN_GAP_S = 1.0         # plain: never two lines closer than this
BLOCKS = " ▁▂▃▄▅▆▇█"


def choose(mode: str | None, *, sim: bool = False, quiet: bool = False,
           stream: TextIO | None = None) -> str:
    """The view to use: ``auto`` (or unset) is ``live`` on a terminal, else ``plain`` for
    the real lab and ``none`` for the simulation (which runs faster than anyone reads);
    ``--quiet`` without ``--view`` shows nothing."""
    if mode not in (None, "auto"):
        return mode
    if quiet:
        return "none"
    stream = sys.stdout if stream is None else stream
    try:
        tty = stream.isatty()
    except (AttributeError, ValueError):
        tty = False
    if tty:
        return "live"
    return "none" if sim else "plain"


# -- plain lines -----------------------------------------------------------------------------
def _pct(x: float | None) -> str:
    return "-" if x is None else f"{x:.0%}"


def _left(s: float | None) -> str:
    return "" if s is None else f" {s:.0f}s left"


def plain_line(v: View, wall: float | None = None) -> str:
    """One line with the facts of the view, e.g. ``live 14:03:12 +23.4s dynamodb-race
    observe 37s left | direct 62% fail resolver 0% | dynamodb.us-east-1 gen 9 EMPTY | ...``."""
    stamp = time.strftime("%H:%M:%S", time.localtime(wall)) if wall is not None else ""
    head = f"live {stamp} +{v.elapsed_s:.1f}s".replace("  ", " ")
    if v.label or v.title:
        head += f" {v.label or v.title}"
    head += f" {v.phase or 'starting'}{_left(v.phase_left_s)}"
    parts = [head]
    if v.groups:
        parts.append(" ".join(f"{g.name} {_pct(g.failing)} fail" for g in v.groups))
    eps = []
    for e in v.endpoints:
        s = f"{e.name} gen {'-' if e.generation is None else e.generation}"
        if e.empty:
            s += " EMPTY"
        elif e.addresses is not None:
            s += f" {e.addresses} addr"
        eps.append(s)
    parts.append(" ".join(eps))
    if v.enactors:
        parts.append(" ".join(f"{e.name} {e.text()}" for e in v.enactors))
    if v.fleet is not None:
        parts.append(v.fleet.text())
    parts.append("faults: " + (", ".join(f.text() for f in v.faults) or "none"))
    parts.append("violations: " + (", ".join(x.name for x in v.violations) or "none"))
    if v.alerts:
        latest: dict[str, str] = {}
        for a in v.alerts:
            latest[a.name] = a.status
        parts.append("alerts: " + ", ".join(f"{a} {s}" for a, s in latest.items()))
    return " | ".join(parts)


class PlainLines:
    """Decides when a plain line is due: every ``every_s``, or at once on a notable change,
    never closer than ``min_gap_s`` (a flood of changes gives one line a ``min_gap_s``).
    ``clock`` is injected (monotonic seconds), ``write`` takes the line."""

    def __init__(self, write: Callable[[str], None], clock: Callable[[], float] = time.monotonic,
                 *, every_s: float = EVERY_S, min_gap_s: float = MIN_GAP_S,
                 wall: Callable[[], float] = time.time):
        self.write, self.clock, self.wall = write, clock, wall
        self.every_s, self.min_gap_s = every_s, min_gap_s
        self.last: float | None = None
        self.shown: tuple | None = None

    def offer(self, v: View, *, final: bool = False) -> bool:
        now = self.clock()
        changed = v.notable() != self.shown
        since = None if self.last is None else now - self.last
        due = final or since is None or since >= self.every_s or \
            (changed and since >= self.min_gap_s)
        if due:
            self.write(plain_line(v, self.wall()))
            self.last, self.shown = now, v.notable()
        return due


# -- the rich display ------------------------------------------------------------------------
def sparkline(series) -> str:
    """One block per second: its failing share, blank where there was no probe."""
    return "".join(" " if x is None else BLOCKS[1 + min(7, int(x * 7.999))] if x > 0
                   else BLOCKS[1] for x in series)


def render(v: View):
    """The view as a rich renderable (tables in a grid)."""
    from rich import box
    from rich.console import Group
    from rich.table import Table
    from rich.text import Text

    header = Text()
    header.append("dnslab ", style="bold")
    header.append(v.label or v.title or "run", style="bold cyan")
    if v.label and v.title:
        header.append(f"  {v.title}", style="dim")
    header.append("\nphase ")
    header.append(v.phase or "starting", style="bold")
    if v.phase_left_s is not None:
        header.append(f"  {v.phase_left_s:.0f}s left")
    header.append(f"  +{v.elapsed_s:.1f}s  {v.events} events", style="dim")

    clients = Table(title="clients failing", box=box.SIMPLE, title_justify="left")
    clients.add_column("group")
    clients.add_column("failing", justify="right")
    clients.add_column("last 30 s")
    clients.add_column("probes", justify="right")
    for g in v.groups:
        bad = bool(g.failing)
        clients.add_row(g.name, Text(_pct(g.failing), style="bold red" if bad else "green"),
                        Text(sparkline(g.series), style="red" if bad else "green"),
                        str(g.probes))

    endpoints = Table(title="endpoints", box=box.SIMPLE, title_justify="left")
    endpoints.add_column("endpoint")
    endpoints.add_column("plan", justify="right")
    endpoints.add_column("addresses", justify="right")
    for e in v.endpoints:
        style = "bold red" if e.empty else ""
        addr = "-" if e.addresses is None else str(e.addresses)
        if e.empty:
            addr += " EMPTY"
        endpoints.add_row(Text(e.name, style=style),
                          "-" if e.generation is None else str(e.generation),
                          Text(addr, style=style or "green"))

    enactors = Table(title="enactors", box=box.SIMPLE, title_justify="left")
    enactors.add_column("enactor")
    enactors.add_column("state")
    enactors.add_column("plan", justify="right")
    enactors.add_column("at")
    enactors.add_column("left", justify="right")
    colours = {EnactorState.STUCK: "bold red", EnactorState.STALLED: "yellow",
               EnactorState.REFUSED: "magenta", EnactorState.PAUSED: "yellow",
               EnactorState.KILLED: "red", EnactorState.APPLYING: "cyan"}
    for e in v.enactors:
        enactors.add_row(e.name, Text(e.state.value, style=colours.get(e.state, "")),
                         "-" if e.generation is None else str(e.generation), e.detail,
                         "" if e.left_s is None else f"{max(0.0, e.left_s):.0f}s")

    faults = Table(title="faults", box=box.SIMPLE, title_justify="left")
    faults.add_column("fault")
    faults.add_column("target")
    faults.add_column("step")
    faults.add_column("left", justify="right")
    for f in v.faults:
        faults.add_row(f.kind, f.target, f.step or "",
                       "armed" if f.armed else
                       "" if f.left_s is None else f"{max(0.0, f.left_s):.0f}s")
    if not v.faults:
        faults.add_row(Text("none", style="dim"), "", "", "")

    grid = Table.grid(padding=(0, 3))
    grid.add_column()
    grid.add_column()
    grid.add_row(clients, endpoints)
    grid.add_row(enactors, faults)

    log = Text()
    if v.fleet is not None:
        log.append("fleet: ", style="bold")
        log.append(v.fleet.text().removeprefix("fleet "),
                   style="bold red" if v.fleet.collapsed else "green")
        log.append("\n")
    log.append("violations: ", style="bold")
    if v.violations:
        for x in v.violations:
            log.append(f"\n  +{max(0.0, x.t - (v.now - v.elapsed_s)):.1f}s {x.name}",
                       style="bold red")
            if x.detail:
                log.append(f": {x.detail}")
    else:
        log.append("none", style="green")
    log.append("\nalerts: ", style="bold")
    if v.alerts:
        for a in v.alerts[-6:]:
            log.append(f"\n  +{max(0.0, a.t - (v.now - v.elapsed_s)):.1f}s {a.name} ")
            log.append(a.status, style="bold red" if a.status == "firing" else "green")
    else:
        log.append("none", style="dim")
    return Group(header, grid, log)


# -- the observer a run feeds ----------------------------------------------------------------
class RunView:
    """Folds a run's events (``__call__``, from the history's sink, any thread) and draws
    them on its own thread. ``now`` is the run's clock; ``stream`` where plain lines go;
    ``console`` a rich Console for the live display (default: stdout)."""

    def __init__(self, state: LiveState, mode: str, *, now: Callable[[], float] | None = None,
                 stream: TextIO | None = None, console=None, refresh_s: float = REFRESH_S,
                 clock: Callable[[], float] = time.monotonic):
        self.state = state
        self.mode = mode
        self.now = now
        self.stream = stream
        self.console = console
        self.refresh_s = refresh_s
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._live = None
        self.plain = PlainLines(self._write, clock)
        self.errors: list[str] = []

    def __call__(self, event: Event) -> None:
        if self.mode == "none":
            return
        try:
            with self._lock:
                self.state.add(event)
        except Exception as e:     # a bad event must not reach the run
            self._note(e)

    def _write(self, line: str) -> None:
        stream = self.stream or sys.stderr
        print(line, file=stream, flush=True)

    def _note(self, e: Exception) -> None:
        if len(self.errors) < 5:
            self.errors.append(f"{type(e).__name__}: {e}")

    def view(self) -> View:
        with self._lock:
            now = None
            if self.now is not None:
                try:
                    now = self.now()
                except Exception:
                    now = None
            return self.state.view(now)

    # -- drawing ---------------------------------------------------------------------
    def start(self) -> "RunView":
        if self.mode == "none":
            return self
        if self.mode == "live":
            try:
                from rich.console import Console
                from rich.live import Live
                self.console = self.console or Console()
                self._live = Live(console=self.console, auto_refresh=False, transient=False,
                                  redirect_stdout=True, redirect_stderr=True)
                self._live.start()
            except Exception as e:
                self._fall_back(e)
        self._thread = threading.Thread(target=self._loop, name="dnslab-live-view",
                                        daemon=True)
        self._thread.start()
        return self

    def _loop(self) -> None:
        while not self._stop.wait(self.refresh_s):
            self.draw()

    def draw(self, final: bool = False) -> None:
        """One look at the state; never raises."""
        if self.mode == "none":
            return
        try:
            v = self.view()
        except Exception as e:
            self._note(e)
            return
        if self.mode == "live":
            try:
                self._live.update(render(v), refresh=True)
                return
            except Exception as e:
                self._fall_back(e)
        if self.mode == "plain":
            try:
                self.plain.offer(v, final=final)
            except Exception as e:
                self._note(e)
                self.mode = "none"

    def _fall_back(self, e: Exception) -> None:
        self._note(e)
        live, self._live = self._live, None
        if live is not None:
            try:
                live.stop()
            except Exception:
                pass
        self.mode = "plain"
        try:
            self._write(f"live: the terminal display failed ({type(e).__name__}: {e}); "
                        "plain lines from here")
        except Exception:
            self.mode = "none"

    def close(self) -> None:
        """Stop drawing; the last state stays on screen (or is the last plain line)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2)
        self.draw(final=True)
        if self._live is not None:
            try:
                self._live.stop()
            except Exception:
                pass
            self._live = None


class RunViews:
    """Makes the view of each run of one command (lab/execute.py asks, per run). ``label``
    is set by the command before each run (``dynamodb-race (1/9)``, ``variant fencing
    (3/6)``)."""

    def __init__(self, mode: str, *, stream: TextIO | None = None, console=None):
        self.mode = mode
        self.stream = stream
        self.console = console
        self.label = ""

    def __call__(self, scenario, *, clock=None, experiment: dict | None = None) -> RunView | None:
        if self.mode == "none":
            return None
        label = self.label
        if not label and experiment and experiment.get("file"):
            label = Path(experiment["file"]).stem
        now = getattr(clock, "now", None)
        return RunView(LiveState(scenario, label), self.mode, now=now, stream=self.stream,
                       console=self.console)


# -- search --------------------------------------------------------------------------------
class SearchView:
    """``dnslab search``'s progress, from the engine's ``progress(result)`` callback (once per
    batch): schedules explored, rate, violations found so far by kind, time elapsed and left.
    ``live``: a rich display; ``plain``: a line every ``EVERY_S`` and at each new find."""

    def __init__(self, mode: str, *, budget: int, time_s: float | None = None,
                 variants: int = 1, stream: TextIO | None = None, console=None,
                 clock: Callable[[], float] = time.monotonic):
        self.mode, self.budget, self.time_s, self.variants = mode, budget, time_s, variants
        self.stream, self.console, self.clock = stream, console, clock
        self.index = 0
        self._live = None
        self._last: float | None = None
        self._found: tuple = ()

    def variant(self, index: int) -> None:
        self.index = index

    def _line(self, r) -> str:
        left = self._left(r)
        found = ", ".join(f"{k} {n}" for k, n in r.counts.items() if n) or "none"
        return (f"search [{r.variant}] ({self.index + 1}/{self.variants}): {r.explored}/"
                f"{self.budget} schedules, {r.rate:.0f}/s, {r.elapsed_s:.0f}s elapsed"
                + ("" if left is None else f", ~{left:.0f}s left")
                + f" | violations: {found}" + (f" | errors {r.errors}" if r.errors else ""))

    def _left(self, r) -> float | None:
        by_budget = (self.budget - r.explored) / r.rate if r.rate else None
        by_time = None if self.time_s is None else max(0.0, self.time_s - r.elapsed_s)
        known = [x for x in (by_budget, by_time) if x is not None]
        return min(known) if known else None

    def __call__(self, r) -> None:
        """The engine's progress callback; never raises."""
        try:
            if self.mode == "live":
                self._draw_live(r)
            elif self.mode == "plain":
                now = self.clock()
                found = tuple(sorted(r.found))
                if self._last is None or now - self._last >= EVERY_S or (
                        found != self._found and now - self._last >= MIN_GAP_S):
                    print(self._line(r), file=self.stream or sys.stderr, flush=True)
                    self._last, self._found = now, found
        except Exception:
            self.close()
            self.mode = "plain" if self.mode == "live" else "none"

    def _draw_live(self, r) -> None:
        from rich import box
        from rich.console import Console, Group
        from rich.live import Live
        from rich.table import Table
        from rich.text import Text
        if self._live is None:
            self.console = self.console or Console(stderr=True)
            self._live = Live(console=self.console, auto_refresh=False)
            self._live.start()
        left = self._left(r)
        head = Text()
        head.append(f"search [{r.variant}] ", style="bold cyan")
        head.append(f"variant {self.index + 1}/{self.variants}  {r.strategy}, seed {r.seed}\n")
        head.append(f"{r.explored}/{self.budget} schedules  {r.rate:.0f}/s  "
                    f"{r.elapsed_s:.0f}s elapsed" + ("" if left is None else
                                                     f"  ~{left:.0f}s left"))
        head.append(f"\n{len(r.interleavings)} interleavings, {len(r.pairs)}/"
                    f"{r.possible_pairs} pairs" + (f", {r.errors} errors" if r.errors else ""))
        t = Table(title="violations found", box=box.SIMPLE, title_justify="left")
        t.add_column("violation")
        t.add_column("schedules", justify="right")
        t.add_column("first at", justify="right")
        for k, n in r.counts.items():
            f = r.found.get(k)
            t.add_row(Text(k, style="bold red" if n else ""), str(n),
                      "-" if f is None else f"#{f.index}")
        self._live.update(Group(head, t), refresh=True)

    def close(self) -> None:
        live, self._live = self._live, None
        if live is not None:
            try:
                live.stop()
            except Exception:
                pass
