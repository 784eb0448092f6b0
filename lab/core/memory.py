"""In-memory plan store and DNS backend: the deterministic-simulation implementations of the
core's ports (and what pure-logic tests run against). No I/O."""

from lab.core.plan import Plan


class MemoryPlanStore:
    def __init__(self):
        self.plans: dict[int, Plan] = {}
        self.locks: dict[str, str] = {}

    def newest(self) -> Plan | None:
        return self.plans[max(self.plans)] if self.plans else None

    def get(self, generation: int) -> Plan | None:
        return self.plans.get(generation)

    def put(self, plan: Plan) -> None:
        if plan.generation in self.plans:
            raise ValueError(f"generation {plan.generation} already published")
        self.plans[plan.generation] = plan

    def generations(self) -> list[int]:
        return sorted(self.plans)

    def delete(self, generation: int) -> None:
        self.plans.pop(generation, None)

    def acquire(self, lock: str, holder: str, ttl_s: float) -> bool:
        if self.locks.get(lock, holder) != holder:
            return False
        self.locks[lock] = holder
        return True

    def release(self, lock: str, holder: str) -> None:
        if self.locks.get(lock) == holder:
            del self.locks[lock]


class MemoryDns:
    """Endpoints point at per-generation trees; deleting a generation empties its users."""

    def __init__(self):
        self.pointers: dict[str, tuple[int, str]] = {}  # endpoint -> (generation, tree)
        self.rollback: dict[str, int | None] = {}
        self.trees: dict[tuple[int, str], tuple] = {}  # (generation, tree) -> targets
        self.transactions = 0

    def applied(self, endpoint: str) -> int | None:
        pointer = self.pointers.get(endpoint)
        return pointer[0] if pointer else None

    def intact(self, endpoint: str) -> bool:
        pointer = self.pointers.get(endpoint)
        return pointer is None or pointer in self.trees

    def apply(self, endpoint: str, plan: Plan, previous: int | None) -> None:
        tree = plan.endpoints[endpoint]
        self.trees[(plan.generation, tree)] = plan.trees[tree]
        self.pointers[endpoint] = (plan.generation, tree)
        self.rollback[endpoint] = previous
        self.transactions += 1

    def generations(self) -> set[int]:
        return {g for g, _ in self.trees}

    def delete_generation(self, generation: int) -> None:
        for key in [k for k in self.trees if k[0] == generation]:
            del self.trees[key]
        self.transactions += 1

    def addresses(self, endpoint: str) -> tuple[str, ...]:
        """What a client asking the authoritative server would get: () when emptied."""
        pointer = self.pointers.get(endpoint)
        return tuple(t.address for t in self.trees.get(pointer, ())) if pointer else ()
