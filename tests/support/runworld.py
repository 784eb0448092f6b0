"""A fake world and a virtual clock for the run loop (lab/core/runloop.py), no simulation
behind them: every call the loop makes is recorded in one ``log``, in order, with the
virtual time it was made at, and the world's "workers" and "clients" append to the history
as virtual time passes.

- the control plane, once started, applies plan 1 to every endpoint (``applies``: which
  ones) 0.5 s later;
- clients probe every ``client_interval_s``; a probe fails while a container fault is
  injected (``fail_while_injected``) or always (``always_fail``);
- an armed channel fault reports it started ``fires_after_s`` later (None: never);
- ``raise_at(phase, after_s, exc)`` raises ``exc`` from the clock's ``sleep`` once virtual
  time is ``after_s`` past the first event of that phase.
"""

from lab.core.faults import Fault
from lab.core.history import Event, History, Kind
from lab.core.plan import DEFAULT_ENDPOINTS

APPLY_AFTER_S = 0.5


class FakeClock:
    """now/sleep on a float; each sleep lets the world catch up to the new time."""

    def __init__(self, world: "FakeWorld"):
        self.t = 0.0
        self.world = world
        world.clock = self

    def now(self) -> float:
        return self.t

    def sleep(self, seconds: float) -> None:
        self.t += seconds
        self.world.advance(self.t)


class FakeWorld:
    def __init__(self, scenario, *, applies=tuple(DEFAULT_ENDPOINTS), always_fail=False,
                 fail_while_injected=False, fires_after_s: float | None = 2.0,
                 ready: list | None = None, inject_error: Exception | None = None):
        self.s = scenario
        self.applies = tuple(applies)
        self.always_fail = always_fail
        self.fail_while_injected = fail_while_injected
        self.fires_after_s = fires_after_s
        self.ready = ready or []
        self.inject_error = inject_error     # raised by inject(), after it is recorded
        self.log: list[tuple] = []          # ("call", name, t, args) and ("event", kind, t, data)
        self.history: History | None = None
        self.clock: FakeClock | None = None
        self.injected: set[int] = set()
        self._apply_at: float | None = None
        self._next_probe: dict[str, float] = {}
        self._reports: list[tuple[float, Fault]] = []
        self._triggers: list[list] = []

    # -- helpers for tests ---------------------------------------------------------------
    def sink(self, event: Event) -> None:
        """Pass as the loop's ``sink``: events land in ``log`` between the world's calls."""
        self.log.append(("event", event.kind, event.t, event.data))

    def raise_at(self, phase: str, after_s: float, exc: BaseException) -> None:
        self._triggers.append([phase, after_s, exc])

    def calls(self, name: str | None = None) -> list[tuple]:
        return [x for x in self.log if x[0] == "call" and (name is None or x[1] == name)]

    def _record(self, name: str, *args) -> None:
        self.log.append(("call", name, self.clock.now(), args))

    # -- time passing ------------------------------------------------------------------------
    def advance(self, now: float) -> None:
        h = self.history
        if self._apply_at is not None and now >= self._apply_at:
            t, self._apply_at = self._apply_at, None
            for endpoint in self.applies:
                h.add(Event(t, "enactor-a", Kind.ENDPOINT_APPLIED,
                            {"endpoint": endpoint, "generation": 1, "previous": None}))
        for t, fault in [r for r in self._reports if r[0] <= now]:
            self._reports.remove((t, fault))
            h.add(Event(t, fault.target, Kind.FAULT_STARTED,
                        {"fault": fault.kind.value, "target": fault.target,
                         "step": fault.step, "seconds": fault.seconds}))
        for client, due in list(self._next_probe.items()):
            while due <= now:
                failed = self.always_fail or (self.fail_while_injected and self.injected)
                h.add(Event(due, "clients-1", Kind.PROBE, {
                    "client": client, "group": "direct", "endpoint": "dynamodb.us-east-1",
                    "outcome": "timeout" if failed else "ok"}))
                due += self.s.client_interval_s
            self._next_probe[client] = due
        for trigger in list(self._triggers):
            phase, after_s, exc = trigger
            began = next((e.t for e in h.events(Kind.PHASE) if e.data["phase"] == phase), None)
            if began is not None and now >= began + after_s:
                self._triggers.remove(trigger)
                raise exc

    # -- the World interface ------------------------------------------------------------------
    def set_up(self, history: History):
        self.history = history
        self._record("set_up")
        return self.ready

    def start_control_plane(self) -> None:
        self._record("start_control_plane")
        self._apply_at = self.clock.now() + APPLY_AFTER_S

    def start_clients(self) -> None:
        self._record("start_clients")
        now = self.clock.now()
        for i in range(self.s.clients):
            self._next_probe[f"c{i}"] = now + self.s.client_interval_s * i / self.s.clients

    def arm(self, index: int, fault: Fault) -> None:
        self._record("arm", index, fault)
        if self.fires_after_s is not None:
            self._reports.append((self.clock.now() + self.fires_after_s, fault))

    def inject(self, index: int, fault: Fault) -> None:
        self._record("inject", index, fault)
        if self.inject_error is not None:
            raise self.inject_error
        self.injected.add(index)

    def restore(self, index: int, fault: Fault) -> None:
        self._record("restore", index, fault)
        self.injected.discard(index)

    def repair(self) -> int | None:
        self._record("repair")
        return 1

    def check(self, killed: set[str]) -> None:
        self._record("check", frozenset(killed))

    def disarm(self) -> None:
        self._record("disarm")

    def roll_back(self) -> None:
        self._record("roll_back")
