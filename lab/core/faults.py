"""Faults as data: what the runner injects, and how a worker decides whether one applies.

Worker-level faults (delays at named enactor steps, lock losses, planner bursts) travel
through a fault channel the workers consult at run time, so nothing is rebuilt. Container
faults (pause, kill) are done by the runner to whole containers. Every fault is an event in
the run's history when it starts and when it ends.
"""

from dataclasses import asdict, dataclass
from enum import Enum, StrEnum


class FaultKind(StrEnum):
    DELAY = "delay"            # an enactor sleeps at a named step
    LOSE_LOCK = "lose-lock"    # an enactor's next lock attempts fail
    BURST = "planner-burst"    # the planner publishes `count` generations back to back
    PAUSE = "pause"            # docker pause of a whole worker (freezer)
    KILL = "kill"              # kill a worker; restart it after `seconds`


CHANNEL_KINDS = (FaultKind.DELAY, FaultKind.LOSE_LOCK, FaultKind.BURST)
CONTAINER_KINDS = (FaultKind.PAUSE, FaultKind.KILL)


@dataclass(frozen=True)
class Fault:
    kind: FaultKind
    target: str                    # enactor-a, planner, ...
    seconds: float = 0.0           # delay length; pause/kill duration
    step: str | None = None        # delay: after-freshness-check | before-endpoint | before-cleanup
    endpoint: str | None = None    # delay before / lock loss on this endpoint only (None: any)
    times: int = 1                 # how many times a channel fault fires before it is spent
    count: int = 0                 # planner burst: generations to publish

    def matches(self, kind: FaultKind, target: str, step: str | None = None,
                endpoint: str | None = None) -> bool:
        return (self.kind is kind and self.target == target
                and (self.step is None or self.step == step)
                and (self.endpoint is None or endpoint is None or self.endpoint == endpoint))

    def fires_for(self, kind: FaultKind, target: str, step: str | None = None,
                  endpoint: str | None = None) -> bool:
        """Whether a worker at this step consumes a firing of this fault (the channel's
        rule, on etcd and in the simulation): it matches and has firings left."""
        return self.times > 0 and self.matches(kind, target, step, endpoint)

    def spent(self) -> "Fault":
        return Fault(**{**asdict(self), "times": self.times - 1})

    def to_json(self) -> dict:
        return {k: (v.value if isinstance(v, Enum) else v) for k, v in asdict(self).items()
                if v is not None}

    @staticmethod
    def from_json(obj: dict) -> "Fault":
        obj = dict(obj)
        obj["kind"] = FaultKind(obj["kind"])
        return Fault(**obj)


class FaultChannel:
    """How a worker consults a fault channel at its named steps (the core's ``Faults``
    port, and the planner's bursts). A channel (etcd in lab/faults.py, a list in the
    simulation) implements ``take``: consume one firing of the first armed fault that
    ``fires_for`` this step, or None."""

    def take(self, kind: FaultKind, target: str, step: str | None = None,
             endpoint: str | None = None) -> "Fault | None":
        raise NotImplementedError

    def delay(self, enactor: str, step: str, endpoint: str | None = None) -> float:
        fault = self.take(FaultKind.DELAY, enactor, step, endpoint)
        return fault.seconds if fault else 0.0

    def lose_lock(self, enactor: str, endpoint: str) -> bool:
        return self.take(FaultKind.LOSE_LOCK, enactor, None, endpoint) is not None

    def burst(self, planner: str) -> int:
        fault = self.take(FaultKind.BURST, planner)
        return fault.count if fault else 0
