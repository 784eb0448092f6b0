"""One append-only history of typed, timestamped events per run.

Planner, enactors, probers, faults and the runner all append here; checkers and reports are
pure functions of it. A sink (e.g. a JSONL file) may be attached so a crash loses at most the
event being written.
"""

import threading
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Callable, Iterable


class Kind(StrEnum):
    PLAN_PUBLISHED = "plan-published"          # planner: {generation}
    FRESHNESS_CHECKED = "freshness-checked"    # enactor: {generation, applied, fresh}
    ENDPOINT_APPLIED = "endpoint-applied"      # enactor: {endpoint, generation, previous}
    ENDPOINT_RETRY = "endpoint-retry"          # enactor: {endpoint, generation, reason, attempt}
    LOCK_LOST = "lock-lost"                    # enactor: {endpoint, generation}
    PLAN_APPLIED = "plan-applied"              # enactor: {generation} (all endpoints done)
    PLAN_DELETED = "plan-deleted"              # enactor clean-up: {generation, newest}
    ENACTOR_STUCK = "enactor-stuck"            # enactor: {endpoint, generation, missing}
    REPAIRED = "repaired"                      # operator: {endpoint, generation}
    FAULT_ARMED = "fault-armed"                # runner: a channel fault is waiting for its step
    FAULT_STARTED = "fault-started"            # faults: {fault, target, ...}
    FAULT_ENDED = "fault-ended"                # faults: {fault, target}
    PROBE = "probe"                            # probers: {client, group, endpoint, outcome, rcode, addresses, latency_ms}
    PHASE = "phase"                            # runner: {phase}
    PASS = "enactor-pass"                      # enactor: {result, generation, seconds}
    WRITE_REFUSED = "write-refused"            # enactor: {endpoint, generation, reason, safeguard}
    CLEANUP_SKIPPED = "cleanup-skipped"        # enactor: {generation, newest, reason, safeguard}
    PAGED = "paged"                            # alertmanager (via the lab's pager): {alert, status, labels, starts_at}
    WORKER_ERROR = "worker-error"              # planner/enactor: {during: publish|pass, error} (it retries)
    COMPONENT = "component"                    # runner: {component, change, fatal} a lab service restarted, stopped...
    # The cascade (lab/core/cascade.py), the outage's second act:
    CASCADE_WINDOW = "cascade-window"          # fleet-manager: a Window's fleet fields, every window_s
    SERVICE_WINDOW = "service-window"          # lease-service: {t0, t1, useful_units, wasted_units, shed_units, queue_units, goodput}
    CASCADE_DNS = "cascade-dns"                # fleet-manager: {ok, addresses} each time its lookup of the endpoint changes
    MANAGER_RESTARTED = "manager-restarted"    # operator: {reason} the fleet manager was restarted (a timed action)
    REMEDIATIONS_ON = "remediations-on"        # operator: {remediations} switched on in the fleet manager and lease service


@dataclass(frozen=True)
class Event:
    t: float          # seconds, from the run's injected clock
    source: str       # "planner", "enactor-a", "prober-1", "faults", "runner", "operator"
    kind: Kind
    data: dict = field(default_factory=dict)

    # Frozen, but built without a checked assignment per field: a run makes an event per
    # step of every worker, and the simulation runs thousands of runs in a search.
    def __init__(self, t: float, source: str, kind: Kind, data: dict | None = None):
        d = self.__dict__
        d["t"] = t
        d["source"] = source
        d["kind"] = kind
        d["data"] = {} if data is None else data

    def to_json(self) -> dict:
        return {"t": self.t, "source": self.source, "kind": self.kind.value, **self.data}

    @staticmethod
    def from_json(obj: dict) -> "Event":
        obj = dict(obj)
        t, source, kind = obj.pop("t"), obj.pop("source"), Kind(obj.pop("kind"))
        return Event(t, source, kind, obj)


class History:
    """Thread-safe append-only event list with an optional sink called per event. It keeps
    every event, none (``keep=False``) or those a predicate accepts."""

    def __init__(self, clock: Callable[[], float], sink: Callable[[Event], None] | None = None,
                 *, keep: bool | Callable[[Event], bool] = True, threads: bool = True):
        self.clock = clock
        self.sink = sink
        # False: only pass events to the sink (long-running workers); a predicate: keep the
        # events it accepts (the runner keeps the few it reads back, lab/core/fold.py)
        self.keep = keep
        self._events: list[Event] = []
        self._lock = threading.Lock()
        if not threads:
            # Only one thread appends (the simulation's control-plane path: its workers are
            # greenlets of one thread): the same append without taking the lock.
            self.append = self._append_one_thread

    def append(self, source: str, kind: Kind, **data) -> Event:
        with self._lock:
            return self._append_one_thread(source, kind, **data)

    def _append_one_thread(self, source: str, kind: Kind, **data) -> Event:
        event = Event(self.clock(), source, kind, data)
        keep = self.keep
        if keep is True or (keep is not False and callable(keep) and keep(event)):
            self._events.append(event)
        if self.sink:
            self.sink(event)
        return event

    def add(self, event: Event) -> None:
        """Append an event stamped elsewhere (a worker's own clock, same host clock)."""
        with self._lock:
            if not callable(self.keep) or self.keep(event):
                self._events.append(event)
            if self.sink:
                self.sink(event)

    def events(self, kind: Kind | None = None) -> list[Event]:
        with self._lock:
            if kind is None:
                return list(self._events)
            return [e for e in self._events if e.kind is kind]

    def __iter__(self) -> Iterable[Event]:
        return iter(self.events())
