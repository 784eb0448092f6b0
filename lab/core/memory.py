"""In-memory plan store and DNS backend: the deterministic-simulation implementations of the
core's ports (and what pure-logic tests run against). No I/O."""

from typing import Callable

from lab.core.guard import decide_delete, decide_write
from lab.core.plan import Plan
from lab.core.ports import TransientError


class MemoryPlanStore:
    """``clock``: locks expire ``ttl_s`` after they were taken, as an etcd lease whose holder
    died does (the simulation's killed workers); without it a lock is held until released."""

    def __init__(self, clock: Callable[[], float] | None = None):
        self.plans: dict[int, Plan] = {}     # changed only through put and delete
        self._newest: int | None = None      # the highest generation in ``plans``
        self.locks: dict[str, str] = {}
        self.expiry: dict[str, float] = {}
        self.clock = clock
        self.revision = 0

    def newest(self) -> Plan | None:
        # Every enactor poll asks: kept, not searched (a file may keep 200 generations).
        return None if self._newest is None else self.plans[self._newest]

    def get(self, generation: int) -> Plan | None:
        return self.plans.get(generation)

    def put(self, plan: Plan) -> None:
        if plan.generation in self.plans:
            # As the etcd store refuses it (a create-if-absent transaction): the planner
            # logs it and publishes next period.
            raise TransientError(f"plan generation {plan.generation} was already published")
        self.plans[plan.generation] = plan
        if self._newest is None or plan.generation > self._newest:
            self._newest = plan.generation

    def generations(self) -> list[int]:
        return sorted(self.plans)

    def delete(self, generation: int) -> None:
        self.plans.pop(generation, None)
        if generation == self._newest:
            self._newest = max(self.plans) if self.plans else None

    def acquire(self, lock: str, holder: str, ttl_s: float) -> bool:
        now = self.clock() if self.clock else None
        if now is not None and lock in self.locks and self.expiry[lock] <= now:
            del self.locks[lock]              # its holder's lease ran out
        if self.locks.get(lock, holder) != holder:
            return False
        self.locks[lock] = holder
        self.expiry[lock] = now + ttl_s if now is not None else float("inf")
        return True

    def release(self, lock: str, holder: str) -> None:
        if self.locks.get(lock) == holder:
            del self.locks[lock]

    def fencing_token(self, lease: str, holder: str) -> int:
        self.revision += 1
        return self.revision


class MemoryDns:
    """Endpoints point at per-generation trees; deleting a generation empties its users."""

    def __init__(self):
        self.pointers: dict[str, tuple[int, str]] = {}  # endpoint -> (generation, tree)
        self.rollback: dict[str, int | None] = {}
        self.trees: dict[tuple[int, str], tuple] = {}  # (generation, tree) -> targets
        self.fences: dict[str, int] = {}
        self.transactions = 0

    def applied(self, endpoint: str) -> int | None:
        pointer = self.pointers.get(endpoint)
        return pointer[0] if pointer else None

    def intact(self, endpoint: str) -> bool:
        pointer = self.pointers.get(endpoint)
        return pointer is None or pointer in self.trees

    def apply(self, endpoint: str, plan: Plan, previous: int | None, *,
              only_if_newer: bool = False, fence: int | None = None) -> None:
        fenced = decide_write(endpoint, plan.generation, current=self.applied(endpoint),
                              highest_fence=self.fences.get(endpoint, 0),
                              only_if_newer=only_if_newer, fence=fence)
        if fenced is not None:
            self.fences[endpoint] = fenced
        tree = plan.endpoints[endpoint]
        self.trees[(plan.generation, tree)] = plan.trees[tree]
        self.pointers[endpoint] = (plan.generation, tree)
        self.rollback[endpoint] = previous
        self.transactions += 1

    def generations(self) -> set[int]:
        return {g for g, _ in self.trees}

    def delete_generation(self, generation: int, *, keep_if_referenced: bool = False) -> bool:
        if not decide_delete(generation, (g for g, _ in self.pointers.values()),
                             keep_if_referenced=keep_if_referenced,
                             present=generation in self.generations()):
            return False
        for key in [k for k in self.trees if k[0] == generation]:
            del self.trees[key]
        self.transactions += 1
        return True

    def addresses(self, endpoint: str) -> set[str]:
        """What a client asking the authoritative server would get: empty when emptied."""
        pointer = self.pointers.get(endpoint)
        return {t.address for t in self.trees.get(pointer, ())} if pointer else set()
