"""The DNS Enactor, as the incident describes it (the flawed version), with the safeguards
a user can switch on (``Safeguards``; all off by default).

Each pass: take the newest plan; make a ONE-TIME check that it is newer than what is
applied; walk the endpoints, applying the plan to each in one DNS transaction under a
per-endpoint lock, retrying an endpoint with backoff when the lock is lost or the write
fails; then clean up: delete plans more than ``keep`` generations older than the one just
applied. The gap between the check and the writes is the race.

Safeguards (the fixes AWS named, and the classic ones):
- ``freshness_cas``: every endpoint write is conditional on the endpoint still pointing at
  an older generation (the backend checks it in the same transaction where it can).
- ``cleanup_skips_active``: clean-up never deletes a plan an endpoint points at.
- ``self_repair``: an endpoint pointing at a missing plan gets the newest plan re-applied
  (checked on every pass) instead of stopping the enactor.
- ``fencing``: before its freshness check a pass takes a fencing token (a number greater
  than every token before it); every endpoint write carries it, and the backend refuses a
  token lower than the last one that endpoint accepted: a holder that stalled is fenced.
(The DNS-layer safety interlock wraps the backend instead: lab/core/interlock.py.)
"""

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Callable

from lab.core.history import History, Kind
from lab.core.plan import Plan
from lab.core.ports import DnsBackend, Faults, NoFaults, PlanStore, TransientError, WriteRefused

STEP_AFTER_CHECK = "after-freshness-check"
STEP_BEFORE_ENDPOINT = "before-endpoint"
STEP_BEFORE_CLEANUP = "before-cleanup"
STEPS = (STEP_AFTER_CHECK, STEP_BEFORE_ENDPOINT, STEP_BEFORE_CLEANUP)


class Pass(StrEnum):
    NO_PLAN = "no-plan"
    NOT_NEWER = "not-newer"
    APPLIED = "applied"
    STUCK = "stuck"
    GAVE_UP = "gave-up"
    REFUSED = "refused"          # a guarded write was refused: the pass stops, no clean-up


_FRESHNESS_CHECKED, _NOT_NEWER = Kind.FRESHNESS_CHECKED, Pass.NOT_NEWER   # a poll's


class EndpointStuck(Exception):
    """The endpoint points at a plan that no longer exists: the rollback record would point
    at nothing, which the enactor cannot handle (as in the incident)."""


@dataclass(frozen=True)
class Safeguards:
    freshness_cas: bool = False
    cleanup_skips_active: bool = False
    self_repair: bool = False
    fencing: bool = False

    NAMES = ("freshness-cas", "cleanup-skips-active", "self-repair", "fencing")

    @staticmethod
    def named(names) -> "Safeguards":
        """From mitigation names (others, e.g. the interlock, are not the enactor's)."""
        names = set(names)
        return Safeguards(**{n.replace("-", "_"): True for n in Safeguards.NAMES if n in names})


@dataclass(frozen=True)
class EnactorSettings:
    keep_generations: int = 10       # clean-up deletes plans older than newest - keep
    lock_ttl_s: float = 5.0
    max_attempts: int = 20           # per endpoint
    backoff_base_s: float = 0.05
    backoff_max_s: float = 1.0
    safeguards: Safeguards = field(default_factory=Safeguards)


def backoff(attempt: int, settings: EnactorSettings, jitter: float = 0.0) -> float:
    """The wait after the n-th failed attempt (1-based): exponential, capped, plus ``jitter``
    (0 to 1) of one base interval, so enactors that collided do not collide again."""
    return min(settings.backoff_max_s, settings.backoff_base_s * 2 ** (attempt - 1)) + \
        settings.backoff_base_s * jitter


class RetryEndpoint(Exception):
    """This endpoint's transaction did not happen (lock lost, transient error): try again."""


# A retry policy runs one attempt function until it returns, re-running it when it raises
# RetryEndpoint and re-raising that when it gives up.
Retrying = Callable[[Callable[[], None]], None]


def backoff_retrying(settings: EnactorSettings, sleep: Callable[[float], None],
                     random: Callable[[], float] = lambda: 0.0) -> Retrying:
    """The enactors' one retry policy, in both worlds: at most ``settings.max_attempts``
    attempts, waiting ``backoff`` between them with jitter drawn from the injected
    ``random`` (the real workers' own generator, the simulation's seeded one). Deciding (how
    long, whether to stop) is here; doing (sleeping) is the injected ``sleep``, as in
    tenacity."""
    def run(attempt_once: Callable[[], None]) -> None:
        for attempt in range(1, settings.max_attempts + 1):
            try:
                return attempt_once()
            except RetryEndpoint:
                if attempt == settings.max_attempts:
                    raise
                sleep(backoff(attempt, settings, random()))
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
        # What the last quiet check saw (generation, applied): a poll that sees the same
        # again records nothing (an idle enactor polls five times a second; its history
        # says what changed, not that nothing did). A fresh check always records.
        self._quiet: tuple | None = None

    # -- one pass -----------------------------------------------------------------
    def run_once(self) -> Pass:
        plan = self.store.newest()
        if plan is None:
            return Pass.NO_PLAN
        guards = self.settings.safeguards
        if guards.self_repair:
            self._self_repair(plan)
        # One token per pass, taken before the check: every endpoint's fence compares it.
        token = self.store.fencing_token(f"enactor/{self.name}", self.name) \
            if guards.fencing else None
        tokens = {e: token for e in plan.endpoints} if token is not None else {}
        applied = self._applied_generation(plan)
        fresh = applied is None or plan.generation > applied
        if not fresh:
            if self._quiet == (plan.generation, applied):
                return _NOT_NEWER            # seen already: nothing to record
            self._quiet = (plan.generation, applied)
        else:
            self._quiet = None
        self.history.append(self.name, _FRESHNESS_CHECKED, generation=plan.generation,
                            applied=applied, fresh=fresh)     # no _record frame
        if not fresh:
            return _NOT_NEWER
        self._fault_delay(STEP_AFTER_CHECK)
        try:
            for endpoint in plan.endpoints:
                self._fault_delay(STEP_BEFORE_ENDPOINT, endpoint)
                if not self._apply_endpoint(endpoint, plan, tokens.get(endpoint)):
                    return Pass.GAVE_UP
        except EndpointStuck:
            return Pass.STUCK
        except WriteRefused:
            return Pass.REFUSED
        self._record(Kind.PLAN_APPLIED, generation=plan.generation)
        self._fault_delay(STEP_BEFORE_CLEANUP)
        self.clean_up(plan.generation)
        return Pass.APPLIED

    def _applied_generation(self, plan: Plan) -> int | None:
        """The newest generation any of the plan's endpoints points at (None: none yet)."""
        applied, newest = self.dns.applied, None
        for endpoint in plan.endpoints:
            g = applied(endpoint)
            if g is not None and (newest is None or g > newest):
                newest = g
        return newest

    def _self_repair(self, newest: Plan) -> None:
        """Every endpoint pointing at a missing plan gets the newest plan, under its lock."""
        for endpoint in newest.endpoints:
            if self.dns.intact(endpoint):
                continue
            lock = f"endpoint/{endpoint}"
            if not self.store.acquire(lock, self.name, self.settings.lock_ttl_s):
                continue     # another enactor is on it; look again next pass
            try:
                missing = self.dns.applied(endpoint)
                if not self.dns.intact(endpoint):
                    self.dns.apply(endpoint, newest, previous=None)
                    self._record(Kind.ENDPOINT_APPLIED, endpoint=endpoint,
                                 generation=newest.generation, previous=missing,
                                 self_repair=True)
            except TransientError:
                pass         # next pass
            finally:
                self.store.release(lock, self.name)

    def _apply_endpoint(self, endpoint: str, plan: Plan, fence: int | None = None) -> bool:
        """Apply ``plan`` to one endpoint under its lock; a lost lock or a transient error
        is retried by the injected retry policy. False when the policy gives up."""
        lock = f"endpoint/{endpoint}"
        attempt = 0

        def once() -> None:
            nonlocal attempt
            attempt += 1
            injected = self.faults.lose_lock(self.name, endpoint)
            if injected:     # a fault that fired is in the history, like every other
                self.history.append("faults", Kind.FAULT_STARTED, fault="lose-lock",
                                    target=self.name, endpoint=endpoint)
                self.history.append("faults", Kind.FAULT_ENDED, fault="lose-lock",
                                    target=self.name, endpoint=endpoint)
            if injected or not self.store.acquire(lock, self.name, self.settings.lock_ttl_s):
                self._record(Kind.LOCK_LOST, endpoint=endpoint, generation=plan.generation,
                             attempt=attempt)
                raise RetryEndpoint(f"lock {lock} held by another enactor")
            try:
                current = self.dns.applied(endpoint)
                guards = self.settings.safeguards
                repairing = False
                if current is not None and not self.dns.intact(endpoint):
                    if not guards.self_repair:
                        self._record(Kind.ENACTOR_STUCK, endpoint=endpoint,
                                     generation=plan.generation, missing=current)
                        raise EndpointStuck(endpoint)
                    repairing = True
                target = (self.store.newest() or plan) if repairing else plan
                try:
                    self.dns.apply(endpoint, target, previous=None if repairing else current,
                                   only_if_newer=guards.freshness_cas and not repairing,
                                   fence=fence)
                except WriteRefused as e:
                    self._record(Kind.WRITE_REFUSED, endpoint=endpoint,
                                 generation=plan.generation, reason=str(e)[:200],
                                 safeguard=e.safeguard)
                    raise
                self._record(Kind.ENDPOINT_APPLIED, endpoint=endpoint,
                             generation=target.generation, previous=current,
                             **({"self_repair": True} if repairing else {}))
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
        skip_active = self.settings.safeguards.cleanup_skips_active
        deleted = []
        for generation in sorted(g for g in known if g < horizon):
            try:
                removed = self.dns.delete_generation(generation, keep_if_referenced=skip_active)
            except WriteRefused as e:        # the DNS-layer interlock said no
                self._record(Kind.CLEANUP_SKIPPED, generation=generation, newest=newest,
                             reason=str(e)[:200], safeguard=e.safeguard)
                continue
            if removed is False:
                self._record(Kind.CLEANUP_SKIPPED, generation=generation, newest=newest,
                             reason="an endpoint points at it", safeguard="cleanup-skips-active")
                continue
            # Recorded the moment DNS lost it (before the store's own deletion): a write
            # that lands after the deletion must come after it in the history, or the
            # checkers would see a plan deleted while it was active when it was not.
            self._record(Kind.PLAN_DELETED, generation=generation, newest=newest)
            self.store.delete(generation)
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
