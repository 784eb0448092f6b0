"""A run's history folded into what its summary and report say, in constant memory per
client (pure).

A long run makes a probe event per client every half second; keeping them all grows without
bound. ``Fold`` takes the history in time order, one event at a time, and keeps:

- the few events the verdict, the timeline and the report read one by one (``RETAINED``:
  phases, faults, repairs, pages) and, unless the caller reads them back from events.jsonl
  (the runner does), the first ``MAX_ROWS`` rows of the report's table;
- the checkers' state (``lab.core.checkers.Structure``: plans per endpoint, deletions of
  active plans, first violations);
- per client and per group, running aggregates of the probes: counts, first and last
  failure, the next probe after a failure (client-seconds lost), the first good answer after
  a client's last failure (outage end, recovery), each failure's cause (``attribute``: the
  latest cause at or before it), failed-probe stretches and per-second shares for the report.

Every figure of the summary is a function of the sorted history, and ``Fold`` computes it in
one pass, linear in the events: the runner folds events as they arrive (through ``Reorder``,
which puts them back in time order: ``Record``), and ``fold_sorted(iter_events(path))`` on
events.jsonl afterwards gives the same figures. The report's series are bounded too (wider
buckets and thinned lines past a few thousand points). At equal times, the run's own events count before probes
(a probe at the moment of a deletion saw the deletion).
"""

import heapq
import math
import statistics
from array import array
from collections import Counter
from dataclasses import dataclass
from typing import Iterable, Iterator

from lab.core.checkers import Structure
from lab.core.history import Event, Kind

REORDER_S = 5.0        # how late an event may arrive (after later ones) and still be in order
RETAINED = frozenset({Kind.PHASE, Kind.FAULT_ARMED, Kind.FAULT_STARTED, Kind.FAULT_ENDED,
                      Kind.REPAIRED, Kind.PAGED,
                      # the cascade's: one window per 5 s, a lookup change, an action
                      Kind.CASCADE_WINDOW, Kind.SERVICE_WINDOW, Kind.CASCADE_DNS,
                      Kind.MANAGER_RESTARTED, Kind.REMEDIATIONS_ON})
WORKER_SOURCES = ("planner", "enactor")
MAX_ROWS = 3000        # the report's events table (events.jsonl has them all)
MAX_STRETCHES = 3000   # failed-probe stretches listed in the report
MAX_BUCKETS = 4000     # per-group failed shares (1 s each; wider once a run is longer)
MAX_POINTS = 4000      # points per generation series in the report (thinned beyond)
GAPS_EXACT = 4096      # a client's gaps kept exactly; beyond, counted per millisecond
PROBE_GAP_S = 2.0      # failed probes further apart than this start a new stretch


@dataclass(frozen=True)
class Cause:
    t: float
    what: str
    endpoints: frozenset[str] | None = None    # an emptied endpoint's name; None: any


def fault_cause(e: Event) -> Cause:
    return Cause(e.t, f"{e.data.get('fault')} {e.data.get('target')}"
                 + (f" at {e.data['step']}" if e.data.get("step") else ""))


def deletion_cause(e: Event, users: list[str]) -> Cause:
    return Cause(e.t, f"plan {e.data['generation']} deleted by {e.source} while "
                      f"{', '.join(users)} pointed at it", frozenset(users))


class Reorder:
    """Events in arrival order in, time order out (stable: equal times keep their arrival
    order). ``push`` each event; ``release(upto)`` yields those at or before ``upto``;
    ``drain`` the rest. An event that arrives after a later one was released is ``late``
    (it is still released, out of order: the consumer must not trust its fold)."""

    def __init__(self):
        self._heap: list = []
        self._seq = 0
        self.released_t = -math.inf
        self.late = 0

    def push(self, e: Event) -> None:
        if e.t < self.released_t:
            self.late += 1
        heapq.heappush(self._heap, (e.t, self._seq, e))
        self._seq += 1

    def release(self, upto: float) -> Iterator[Event]:
        heap = self._heap
        while heap and heap[0][0] <= upto:
            t, _, e = heapq.heappop(heap)
            self.released_t = max(self.released_t, t)
            yield e

    def drain(self) -> Iterator[Event]:
        return self.release(math.inf)

    def pending(self) -> list[Event]:
        return [e for _, _, e in sorted(self._heap)]

    def __len__(self) -> int:
        return len(self._heap)


class _Client:
    __slots__ = ("group", "last_t", "pending", "gaps", "hist", "last_fail", "ok_after",
                 "failed", "recovered", "began", "longest", "first_in_group_outage")

    def __init__(self, group):
        self.group = group
        self.last_t = None        # its previous probe
        self.pending = None       # a counted failure waiting for the next probe (its time)
        self.gaps: array | None = array("d")
        self.hist: Counter | None = None
        self.last_fail = None     # its last counted failure
        self.ok_after = None      # first good answer strictly after last_fail
        self.failed = False       # any counted failure
        self.recovered = None     # first good answer after its last counted failure
        self.began = None         # its current run of failures (any) began
        self.longest = 0.0        # its longest run of failures, to the next good answer
        self.first_in_group_outage = None   # its first failure since its group's first

    def gap(self, d: float) -> None:
        if self.gaps is not None:
            self.gaps.append(d)
            if len(self.gaps) > GAPS_EXACT:
                self.hist = Counter(round(g, 3) for g in self.gaps)
                self.gaps = None
        else:
            self.hist[round(d, 3)] += 1

    def typical(self) -> float:
        """The median gap between its probes (exact up to GAPS_EXACT gaps, then over
        gaps rounded to the millisecond)."""
        if self.gaps is not None:
            return statistics.median(self.gaps) if self.gaps else 0.0
        n = sum(self.hist.values())
        values = sorted(self.hist.items())

        def nth(k):
            for v, c in values:
                if k < c:
                    return v
                k -= c
        return nth(n // 2) if n % 2 else (nth(n // 2 - 1) + nth(n // 2)) / 2


class _Series:
    """A step series for the report, in two arrays; past MAX_POINTS it keeps every other
    point and from then on every stride-th (a thinned line for long runs)."""
    __slots__ = ("t", "g", "stride", "offered")

    def __init__(self):
        self.t, self.g = array("d"), array("d")
        self.stride, self.offered = 1, 0

    def add(self, t: float, g) -> None:
        self.offered += 1
        if (self.offered - 1) % self.stride:
            return
        self.t.append(t)
        self.g.append(g)
        if len(self.t) > MAX_POINTS:
            self.t, self.g = self.t[::2], self.g[::2]
            self.stride *= 2

    def points(self) -> list[tuple[float, int]]:
        return [(t, int(g) if g == int(g) else g) for t, g in zip(self.t, self.g)]


class _Group:
    __slots__ = ("clients", "probes", "failed", "first", "last", "last_ok", "prev_ok",
                 "ok_before")

    def __init__(self):
        self.clients: set = set()
        self.probes = 0
        self.failed = 0
        self.first: Event | None = None     # first counted failure
        self.last = None
        self.last_ok = None                 # latest good answer (until the first failure)
        self.prev_ok = None                 # latest good answer strictly before last_ok
        self.ok_before = None


class Fold:
    """A history folded in time order (``add`` each event; ``close`` once at the end)."""

    def __init__(self, counts=None, *, rows: bool = True):
        # counts(probe) -> bool: which failures count (default: those with a cause)
        self.counts = counts
        self.structure = Structure()
        self.retained: list[Event] = []
        self.events = 0
        self.t_first: float | None = None
        self.t_last: float | None = None
        self.worker_seen = False
        self.kinds: Counter = Counter()
        # probes
        self.probes = 0
        self.failed_all = 0
        self.clients: dict[str, _Client] = {}
        self.groups: dict[str, _Group] = {}
        self.counted = 0
        self.first_counted = None
        self.last_counted = None
        self.lost = 0.0
        self.by_cause: dict[str, int] = {}
        self.unexplained = 0
        self.first_unexplained: Event | None = None
        self.detection: Event | None = None    # first failure of an emptied endpoint
        self.answering: dict[str, list] = {}   # emptied endpoint -> [failed seen, first ok]
        # causes, latest first
        self._fault: Cause | None = None
        self._by_endpoint: dict[str, Cause] = {}
        self._any: Cause | None = None
        self._any_rank = 0
        # the report
        # the report's table: its first MAX_ROWS events (rows False: the caller reads them
        # back from events.jsonl, lab/eventlog.table_rows)
        self.rows: list[Event] | None = [] if rows else None
        self.row_count = 0
        self.idle_checks = 0
        self.bucket_s = 1.0
        self.buckets: dict[str, tuple[array, array]] = {}   # group -> (failed, probes)
        self._published = _Series()
        self._applied: dict[str, _Series] = {}
        self.g_max = 1
        self._open: dict[tuple, list] = {}
        self._stretches: list[tuple] = []
        self.stretches_dropped = 0
        self._held: list[Event] = []       # probes at the latest time, after the rest
        self._closed = False

    # -- adding ----------------------------------------------------------------------------
    def add(self, e: Event) -> None:
        if self._held and e.t > self._held[0].t:
            self._flush()
        self.events += 1
        if self.t_first is None:
            self.t_first = e.t
        self.t_last = e.t if self.t_last is None else max(self.t_last, e.t)
        if e.kind is Kind.PROBE:
            self._held.append(e)
            return
        self._other(e)

    def close(self) -> "Fold":
        if not self._closed:
            self._flush()
            self._stretches += list(self._open.items())
            self._open = {}
            for c in self.clients.values():
                if c.began is not None:
                    c.longest = max(c.longest, c.last_t - c.began)
                    c.began = None
                if c.pending is not None:
                    self.lost += c.typical()
                    c.pending = None
            self._closed = True
        return self

    def _flush(self) -> None:
        held, self._held = self._held, []
        for e in held:
            self._probe(e)

    def _other(self, e: Event) -> None:
        kind = e.kind
        self.kinds[kind] += 1
        if e.source.startswith(WORKER_SOURCES):
            self.worker_seen = True
        had = len(self.structure.deletions)
        self.structure.add(e)
        if kind in RETAINED:
            self.retained.append(e)
        if kind is Kind.FAULT_STARTED:
            self._cause(fault_cause(e), 0)
        elif len(self.structure.deletions) > had:
            d, users = self.structure.deletions[-1]
            if had == 0:
                self.answering = {ep: [False, None] for ep in users}
            self._cause(deletion_cause(d, users), 1)
        # the report
        if kind is Kind.FRESHNESS_CHECKED and not e.data.get("fresh"):
            self.idle_checks += 1
        else:
            self.row_count += 1
            if self.rows is not None and len(self.rows) < MAX_ROWS:
                self.rows.append(e)
        if kind in (Kind.ENDPOINT_APPLIED, Kind.REPAIRED) and "endpoint" in e.data:
            self._point(e.data["endpoint"], e)
        elif kind is Kind.PLAN_PUBLISHED and "generation" in e.data:
            self._point(None, e)

    def _point(self, series: str | None, e: Event) -> None:
        """One point of a generation series; a series past MAX_POINTS keeps every other
        point and from then on every stride-th (a thinned step line for long runs)."""
        g = e.data["generation"]
        if not isinstance(g, (int, float)) or isinstance(g, bool):
            return
        self.g_max = max(self.g_max, g)
        points = self._published if series is None else \
            self._applied.setdefault(series, _Series())
        points.add(e.t - self.t_first, g)

    def _cause(self, cause: Cause, rank: int) -> None:
        if cause.endpoints is None:
            self._fault = cause
        else:
            for ep in cause.endpoints:
                self._by_endpoint[ep] = cause
        if self._any is None or rank >= self._any_rank or cause.t > self._any.t:
            self._any, self._any_rank = cause, rank    # at one time, faults before deletions

    def _probe(self, e: Event) -> None:
        d = e.data
        client, group, endpoint = d.get("client"), d.get("group"), d.get("endpoint")
        outcome = d.get("outcome")
        failed = outcome != "ok"
        self.probes += 1
        self.structure.add(e)
        self._bucket(e)
        c = self.clients.get(client)
        if c is None:
            c = self.clients[client] = _Client(group)
        if c.last_t is not None:
            c.gap(e.t - c.last_t)
        if c.pending is not None:
            self.lost += e.t - c.pending
            c.pending = None
        c.last_t = e.t
        g = self.groups.get(group)
        if g is None:
            g = self.groups[group] = _Group()
        g.clients.add(client)
        g.probes += 1
        counted = False
        impact = self.structure.impact
        if failed:
            if c.began is None:
                c.began = e.t
        elif c.began is not None:
            c.longest = max(c.longest, e.t - c.began)
            c.began = None
        if failed:
            self.failed_all += 1
            self._stretch(e)
            cause = self._by_endpoint.get(endpoint) or self._fault or self._any
            if cause is None:
                self.unexplained += 1
                if self.first_unexplained is None:
                    self.first_unexplained = e
            else:
                counted = True
                self.by_cause[cause.what] = self.by_cause.get(cause.what, 0) + 1
            if self.counts is not None:
                counted = self.counts(e)
            if impact is not None and self.detection is None and e.t >= impact[0].t and \
                    endpoint in impact[1]:
                self.detection = e
        if counted:
            self.counted += 1
            if self.first_counted is None:
                self.first_counted = e.t
            self.last_counted = e.t
            c.pending = e.t
            c.last_fail, c.ok_after = e.t, None
            c.failed, c.recovered = True, None
            if g.first is None:
                g.first = e
                g.ok_before = g.last_ok if g.last_ok is not None and g.last_ok < e.t \
                    else g.prev_ok
            g.failed += 1
            g.last = e.t
        if failed and g.first is not None and c.first_in_group_outage is None and \
                e.t >= g.first.t:
            c.first_in_group_outage = e.t
        elif not failed:
            if c.last_fail is not None and c.ok_after is None and e.t > c.last_fail:
                c.ok_after = e.t
            if c.failed and c.recovered is None:
                c.recovered = e.t
            if g.first is None:
                if g.last_ok is not None and e.t > g.last_ok:
                    g.prev_ok = g.last_ok
                g.last_ok = e.t
        if impact is not None and group == "direct" and endpoint in self.answering and \
                e.t >= impact[0].t:
            seen = self.answering[endpoint]
            if counted:
                seen[0] = True
            fix = self.structure.fixes.get(endpoint)
            if not failed and seen[1] is None and fix is not None and e.t >= fix.t:
                seen[1] = e.t

    def _bucket(self, e: Event) -> None:
        w = self.bucket_s
        b = int((e.t - self.t_first) // w)
        while b >= MAX_BUCKETS:
            self.bucket_s = w = w * 2
            for failed, probes in self.buckets.values():
                for a in (failed, probes):
                    half = array("l", (a[i] + (a[i + 1] if i + 1 < len(a) else 0)
                                       for i in range(0, len(a), 2)))
                    a[:] = half
            b = int((e.t - self.t_first) // w)
        by = self.buckets.get(e.data.get("group", "?"))
        if by is None:
            by = self.buckets[e.data.get("group", "?")] = (array("l"), array("l"))
        failed, probes = by
        if b >= len(probes):
            grow = b + 1 - len(probes)
            failed.extend([0] * grow)
            probes.extend([0] * grow)
        failed[b] += e.data.get("outcome") != "ok"
        probes[b] += 1

    def _stretch(self, e: Event) -> None:
        d = e.data
        key = (e.source, d.get("group"), d.get("endpoint"), d.get("outcome"))
        cur = self._open.get(key)
        if cur and e.t - cur[1] <= PROBE_GAP_S:
            cur[1] = e.t
            cur[2] += 1
            cur[3].add(d.get("client"))
            return
        if cur:
            if len(self._stretches) < MAX_STRETCHES:
                self._stretches.append((key, cur))
            else:
                self.stretches_dropped += 1
        self._open[key] = [e.t, e.t, 1, {d.get("client")}]

    # -- reading ---------------------------------------------------------------------------
    def stretches(self) -> list[tuple]:
        """(key, [first, last, count, clients]) per failed-probe stretch (after close)."""
        return self._stretches

    def share_points(self) -> dict[str, list[tuple[float, float]]]:
        """Per group, (seconds since the run started, share of failed probes) per bucket."""
        w = self.bucket_s
        return {g: [(b * w, failed[b] / n) for b, n in enumerate(probes) if n]
                for g, (failed, probes) in self.buckets.items()}

    @property
    def published(self) -> list[tuple[float, int]]:
        """(seconds since the run started, generation) of the plans published."""
        return self._published.points()

    @property
    def applied(self) -> dict[str, list[tuple[float, int]]]:
        """Per endpoint, (seconds since the run started, generation) it was pointed at."""
        return {ep: s.points() for ep, s in self._applied.items()}

    def outage(self) -> dict:
        """blast.outage's figures over the failures the run explains."""
        affected = [c for c in self.clients.values() if c.last_fail is not None]
        duration = 0.0
        if self.counted:
            end = self.last_counted
            for c in affected:
                end = max(end, c.ok_after if c.ok_after is not None else c.last_fail)
            duration = end - self.first_counted
        clients = len(self.clients)
        return {
            "detected": bool(self.counted),
            "duration_s": round(duration, 3),
            "clients_affected_fraction": round(len(affected) / clients, 4) if clients else 0.0,
            "client_seconds_lost": round(self.lost, 3),
            "failed_probes": self.counted,
            "total_probes": self.probes,
            "clients": clients,
            "clients_affected": len(affected),
        }

    def group_view(self, group: str) -> dict:
        g = self.groups.get(group) or _Group()
        return {"clients": len(g.clients), "probes": g.probes, "failed": g.failed,
                "first_failure": g.first.t if g.first else None, "last_failure": g.last,
                "last_ok_before_first_failure": g.ok_before if g.first else None}

    def longest_client_outage_s(self, group: str) -> float:
        """``lab.core.compare.longest_client_outage_s``: the longest run of failed probes one
        client of ``group`` saw, first failure to the next good answer (or its last probe)."""
        return round(max((c.longest for c in self.clients.values() if c.group == group),
                         default=0.0), 3)

    def clients_failing_in_group_outage(self, group: str) -> int:
        """Clients of ``group`` with a failed probe between the group's first and last
        counted failure (``lab.core.agreement.group_outage``)."""
        g = self.groups.get(group)
        if g is None or g.first is None:
            return 0
        return sum(1 for c in self.clients.values() if c.group == group
                   and c.first_in_group_outage is not None
                   and c.first_in_group_outage <= g.last)

    def recoveries(self, group: str) -> tuple[list[tuple[float, str]], int]:
        """(recovered clients as (time, client), clients still failing) of a group."""
        recovered, stuck = [], 0
        for name, c in self.clients.items():
            if c.group != group or not c.failed:
                continue
            if c.recovered is None:
                stuck += 1
            else:
                recovered.append((c.recovered, name))
        return recovered, stuck


def fold(events: Iterable[Event], counts=None) -> Fold:
    """Fold a whole history (sorted here by time, stably)."""
    f = Fold(counts)
    for e in sorted(events, key=lambda e: e.t):
        f.add(e)
    return f.close()


def fold_sorted(events: Iterable[Event], *, rows: bool = True) -> Fold:
    """Fold a history already in time order (events.jsonl), streaming."""
    f = Fold(rows=rows)
    for e in events:
        f.add(e)
    return f.close()


class Record:
    """The runner's fold of a run: events in arrival order in (``add``), folded in time
    order as soon as they are ``REORDER_S`` older than the newest (``Reorder``); ``close``
    folds the rest. ``late``: events that came after that, out of order: the fold is then
    not the sorted history's, and the caller folds events.jsonl instead."""

    def __init__(self, window_s: float = REORDER_S, *, rows: bool = True):
        self.window_s = window_s
        self.order = Reorder()
        self.fold = Fold(rows=rows)
        self._top = -math.inf

    def add(self, e: Event) -> None:
        self.order.push(e)
        if e.t > self._top:
            self._top = e.t
            for x in self.order.release(self._top - self.window_s):
                self.fold.add(x)

    @property
    def late(self) -> int:
        return self.order.late

    def close(self) -> Fold:
        for x in self.order.drain():
            self.fold.add(x)
        return self.fold.close()
