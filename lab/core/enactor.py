"""The DNS Enactor, as the incident describes it (the flawed version).

Each pass: take the newest plan; make a ONE-TIME check that it is newer than what is
applied; walk the endpoints, applying the plan to each in one DNS transaction under a
per-endpoint lock, retrying an endpoint with backoff when the lock is lost or the write
fails; then clean up: delete plans more than ``keep`` generations older than the one just
applied. The gap between the check and the writes is the race.
"""

from dataclasses import dataclass
from enum import Enum
from typing import Callable

from lab.core.history import History, Kind
from lab.core.plan import Plan
from lab.core.ports import DnsBackend, Faults, NoFaults, PlanStore, TransientError

STEP_AFTER_CHECK = "after-freshness-check"
STEP_BEFORE_ENDPOINT = "before-endpoint"
STEP_BEFORE_CLEANUP = "before-cleanup"
STEPS = (STEP_AFTER_CHECK, STEP_BEFORE_ENDPOINT, STEP_BEFORE_CLEANUP)


class Pass(str, Enum):
    NO_PLAN = "no-plan"
    NOT_NEWER = "not-newer"
    APPLIED = "applied"
    STUCK = "stuck"
    GAVE_UP = "gave-up"


class EndpointStuck(Exception):
    """The endpoint points at a plan that no longer exists: the rollback record would point
    at nothing, which the enactor cannot handle (as in the incident)."""


@dataclass(frozen=True)
class EnactorSettings:
    keep_generations: int = 10       # clean-up deletes plans older than newest - keep
    lock_ttl_s: float = 5.0
    max_attempts: int = 20           # per endpoint
    backoff_base_s: float = 0.05
    backoff_max_s: float = 1.0


def backoff(attempt: int, settings: EnactorSettings) -> float:
    """Exponential backoff for the n-th failed attempt (1-based)."""
    return min(settings.backoff_max_s, settings.backoff_base_s * 2 ** (attempt - 1))


class RetryEndpoint(Exception):
    """This endpoint's transaction did not happen (lock lost, transient error): try again."""


# A retry policy runs one attempt function until it returns, re-running it when it raises
# RetryEndpoint and re-raising that when it gives up. The workers inject tenacity's.
Retrying = Callable[[Callable[[], None]], None]


def backoff_retrying(settings: EnactorSettings, sleep: Callable[[float], None]) -> Retrying:
    """The core's own policy (for the deterministic simulation): capped exponential backoff,
    at most ``settings.max_attempts`` attempts."""
    def run(attempt_once: Callable[[], None]) -> None:
        for attempt in range(1, settings.max_attempts + 1):
            try:
                return attempt_once()
            except RetryEndpoint:
                if attempt == settings.max_attempts:
                    raise
                sleep(backoff(attempt, settings))
    return run


class Enactor:
    def __init__(self, name: str, store: PlanStore, dns: DnsBackend, history: History, *,
                 sleep: Callable[[float], None], settings: EnactorSettings = EnactorSettings(),
                 faults: Faults | None = None, retrying: Retrying | None = None):
        self.name = name
        self.store = store
        self.dns = dns
        self.history = history
        self.sleep = sleep
        self.settings = settings
        self.faults = faults or NoFaults()
        self.retrying = retrying or backoff_retrying(settings, sleep)

    # -- one pass -----------------------------------------------------------------
    def run_once(self) -> Pass:
        plan = self.store.newest()
        if plan is None:
            return Pass.NO_PLAN
        applied = self._applied_generation(plan)
        fresh = applied is None or plan.generation > applied
        self._record(Kind.FRESHNESS_CHECKED, generation=plan.generation, applied=applied,
                     fresh=fresh)
        if not fresh:
            return Pass.NOT_NEWER
        self._fault_delay(STEP_AFTER_CHECK)
        try:
            for endpoint in plan.endpoints:
                self._fault_delay(STEP_BEFORE_ENDPOINT, endpoint)
                if not self._apply_endpoint(endpoint, plan):
                    return Pass.GAVE_UP
        except EndpointStuck:
            return Pass.STUCK
        self._record(Kind.PLAN_APPLIED, generation=plan.generation)
        self._fault_delay(STEP_BEFORE_CLEANUP)
        self.clean_up(plan.generation)
        return Pass.APPLIED

    def _applied_generation(self, plan: Plan) -> int | None:
        seen = [g for g in (self.dns.applied(e) for e in plan.endpoints) if g is not None]
        return max(seen) if seen else None

    def _apply_endpoint(self, endpoint: str, plan: Plan) -> bool:
        """Apply ``plan`` to one endpoint under its lock; a lost lock or a transient error
        is retried by the injected retry policy. False when the policy gives up."""
        lock = f"endpoint/{endpoint}"
        attempt = 0

        def once() -> None:
            nonlocal attempt
            attempt += 1
            if self.faults.lose_lock(self.name, endpoint) or \
                    not self.store.acquire(lock, self.name, self.settings.lock_ttl_s):
                self._record(Kind.LOCK_LOST, endpoint=endpoint, generation=plan.generation,
                             attempt=attempt)
                raise RetryEndpoint(f"lock {lock} held by another enactor")
            try:
                current = self.dns.applied(endpoint)
                if current is not None and not self.dns.intact(endpoint):
                    self._record(Kind.ENACTOR_STUCK, endpoint=endpoint,
                                 generation=plan.generation, missing=current)
                    raise EndpointStuck(endpoint)
                self.dns.apply(endpoint, plan, previous=current)
                self._record(Kind.ENDPOINT_APPLIED, endpoint=endpoint,
                             generation=plan.generation, previous=current)
            except TransientError as e:
                self._record(Kind.ENDPOINT_RETRY, endpoint=endpoint, generation=plan.generation,
                             reason=str(e)[:200], attempt=attempt)
                raise RetryEndpoint(str(e)) from e
            finally:
                self.store.release(lock, self.name)

        try:
            self.retrying(once)
            return True
        except RetryEndpoint:
            return False

    # -- clean-up -----------------------------------------------------------------
    def clean_up(self, newest: int) -> list[int]:
        """Delete every plan more than ``keep`` generations older than ``newest``, from DNS
        and from the store. (It does not ask whether an endpoint still uses it.)"""
        horizon = newest - self.settings.keep_generations
        known = set(self.store.generations()) | set(self.dns.generations())
        deleted = []
        for generation in sorted(g for g in known if g < horizon):
            self.dns.delete_generation(generation)
            self.store.delete(generation)
            self._record(Kind.PLAN_DELETED, generation=generation, newest=newest)
            deleted.append(generation)
        return deleted

    # -- helpers --------------------------------------------------------------------
    def _fault_delay(self, step: str, endpoint: str | None = None) -> None:
        seconds = self.faults.delay(self.name, step, endpoint)
        if seconds > 0:
            self.history.append("faults", Kind.FAULT_STARTED, fault="delay", target=self.name,
                                step=step, endpoint=endpoint, seconds=seconds)
            self.sleep(seconds)
            self.history.append("faults", Kind.FAULT_ENDED, fault="delay", target=self.name,
                                step=step, endpoint=endpoint)

    def _record(self, kind: Kind, **data) -> None:
        self.history.append(self.name, kind, **data)


def repair(store: PlanStore, dns: DnsBackend, history: History) -> int | None:
    """Operator repair: point every endpoint at the newest plan, whatever it points at now."""
    plan = store.newest()
    if plan is None:
        return None
    for endpoint in plan.endpoints:
        dns.apply(endpoint, plan, previous=None)
        history.append("operator", Kind.REPAIRED, endpoint=endpoint, generation=plan.generation)
    return plan.generation
