"""Where events go outside the pure core: a worker writes each event as one JSON line on
stdout (the runner collects them from the container's log stream, so nothing is lost if
the runner restarts), the runner appends them to ``events.jsonl`` with a flush per event."""

import json
import sys
import threading
from pathlib import Path
from typing import Callable, Iterable, TextIO

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
