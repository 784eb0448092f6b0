"""Where events go outside the pure core: a worker writes each event as one JSON line on
stdout (the runner collects them from the container's log stream, so nothing is lost if
the runner restarts), the runner appends them to ``events.jsonl`` with a flush per event."""

import heapq
import json
import math
import sys
import threading
from pathlib import Path
from typing import Callable, Iterable, Iterator, TextIO

from lab.core.history import Event


class JsonLines:
    """Append events to a text stream, one JSON object per line, flushed per event."""

    def __init__(self, stream: TextIO, also: Callable[[Event], None] | None = None, *,
                 flush_each: bool = True):
        self.stream = stream
        self.also = also
        self.flush_each = flush_each   # False: the owner calls flush() (e.g. before it waits)
        self._lock = threading.Lock()

    def __call__(self, event: Event) -> None:
        line = _ENCODER.encode(event.to_json())
        with self._lock:
            self.stream.write(line + "\n")
            if self.flush_each:
                self.stream.flush()
        if self.also:
            self.also(event)

    def flush(self) -> None:
        with self._lock:
            self.stream.flush()


_ENCODER = json.JSONEncoder(separators=(",", ":"), check_circular=False)


def stdout_sink(also: Callable[[Event], None] | None = None, *,
                flush_each: bool = True) -> JsonLines:
    return JsonLines(sys.stdout, also, flush_each=flush_each)


def parse_line(line: str | bytes) -> Event | None:
    """An event from one log line, or None for lines that are not events (human logs)."""
    if isinstance(line, bytes):
        line = line.decode("utf-8", "replace")
    line = line.strip()
    if not line.startswith("{"):
        return None
    try:
        obj = json.loads(line)
        return Event.from_json(obj)
    except (ValueError, KeyError, TypeError):
        return None


def read_events(path: Path) -> list[Event]:
    with open(path) as f:
        return [e for e in (parse_line(line) for line in f) if e is not None]


def write_events(path: Path, events: Iterable[Event]) -> None:
    """Write a whole history atomically (temp file + rename)."""
    tmp = path.with_suffix(path.suffix + ".tmp")
    with open(tmp, "w") as f:
        encode = _ENCODER.encode
        f.writelines([encode(e.to_json()) + "\n" for e in events])
    tmp.replace(path)


def _time_of(line: str) -> float | None:
    """An event line's time, cheaply (``{"t":...`` as JsonLines writes it); None: no event."""
    if line.startswith('{"t":'):
        end = line.find(",", 5)
        try:
            return float(line[5:end])
        except ValueError:
            pass
    e = parse_line(line)
    return None if e is None else e.t


def iter_events(path: Path) -> Iterator[Event]:
    """The events of a JSON-lines file one at a time (constant memory)."""
    with open(path) as f:
        for line in f:
            e = parse_line(line)
            if e is not None:
                yield e


def table_rows(path: Path, n: int) -> list[Event]:
    """The report's events table from a sorted events.jsonl: its first ``n`` events that
    are neither probes nor freshness checks that found no newer plan (streamed)."""
    out = []
    for line in open(path):
        if '"kind":"probe"' in line:
            continue
        e = parse_line(line)
        if e is None or e.kind.value == "probe" or \
                (e.kind.value == "freshness-checked" and not e.data.get("fresh")):
            continue
        out.append(e)
        if len(out) >= n:
            break
    return out


def sort_file(src: Path, dst: Path, *, window_s: float = 5.0, chunk: int = 50_000) -> int:
    """Write ``src`` (events in arrival order) to ``dst`` in time order, stably (equal times
    keep their arrival order: the same bytes as sorting the whole history in memory), through
    a temp file and a rename; returns the number of events. Memory is bounded: events are
    nearly in order (each worker's stream is), so a heap holding ``window_s`` of them puts
    them back in order; an event later than that falls back to sorting runs of ``chunk``
    lines on disk and merging them."""
    tmp = dst.with_suffix(dst.suffix + ".tmp")
    try:
        n = _sort_window(src, tmp, window_s)
        if n is None:
            n = _sort_chunks(src, tmp, chunk)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    tmp.replace(dst)
    return n


def _sort_window(src: Path, dst: Path, window_s: float) -> int | None:
    heap: list = []
    written = -math.inf
    top = -math.inf
    n = 0
    with open(src) as f, open(dst, "w") as out:
        for seq, line in enumerate(f):
            t = _time_of(line)
            if t is None:
                continue
            if t < written:
                return None          # later than the window: sort on disk instead
            n += 1
            heapq.heappush(heap, (t, seq, line))
            top = max(top, t)
            while heap and heap[0][0] <= top - window_s:
                written, _, first = heapq.heappop(heap)
                out.write(first)
        while heap:
            out.write(heapq.heappop(heap)[2])
    return n


def _sort_chunks(src: Path, dst: Path, chunk: int) -> int:
    import tempfile
    runs, n = [], 0
    with tempfile.TemporaryDirectory(dir=dst.parent, prefix=".sort-") as tmp:
        def spill(items):
            items.sort(key=lambda x: (x[0], x[1]))
            path = Path(tmp) / f"{len(runs)}"
            with open(path, "w") as out:
                out.writelines(f"{t!r}\t{seq}\t{line}" for t, seq, line in items)
            runs.append(path)

        items = []
        with open(src) as f:
            for seq, line in enumerate(f):
                t = _time_of(line)
                if t is None:
                    continue
                n += 1
                items.append((t, seq, line if line.endswith("\n") else line + "\n"))
                if len(items) >= chunk:
                    spill(items)
                    items = []
        if items:
            spill(items)

        def read(path):
            with open(path) as f:
                for row in f:
                    t, seq, line = row.split("\t", 2)
                    yield float(t), int(seq), line

        with open(dst, "w") as out:
            out.writelines(line for _, _, line in heapq.merge(*(read(p) for p in runs)))
    return n
