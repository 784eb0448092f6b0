"""The small interfaces the core talks through. One implementation per outside thing."""

from typing import Protocol

from lab.core.plan import Plan


class PlanStore(Protocol):
    """Plan generations and per-endpoint locks (a real server with compare-and-swap)."""

    def newest(self) -> Plan | None: ...
    def get(self, generation: int) -> Plan | None: ...
    def put(self, plan: Plan) -> None: ...
    def generations(self) -> list[int]: ...
    def delete(self, generation: int) -> None: ...
    def acquire(self, lock: str, holder: str, ttl_s: float) -> bool: ...
    def release(self, lock: str, holder: str) -> None: ...
    def fencing_token(self, lease: str, holder: str) -> int:
        """A number greater than every token handed out before (for any holder)."""


class DnsBackend(Protocol):
    """The authoritative DNS plans are applied to."""

    def applied(self, endpoint: str) -> int | None:
        """Generation the endpoint points at, or None if it was never set."""

    def intact(self, endpoint: str) -> bool:
        """True unless the endpoint points at a plan whose records are gone."""

    def addresses(self, endpoint: str) -> set[str]:
        """The addresses the endpoint answers with now (empty when emptied or never set)."""

    def apply(self, endpoint: str, plan: Plan, previous: int | None, *,
              only_if_newer: bool = False, fence: int | None = None) -> None:
        """Point ``endpoint`` at ``plan`` (creating its tree records) in ONE transaction,
        recording ``previous`` as the endpoint's rollback generation. Raises WriteRefused,
        writing nothing, when ``only_if_newer`` and the endpoint already points at this
        generation or a newer one, or when ``fence`` is lower than the highest fencing
        token a write to this endpoint carried before (the fence is then raised to it)."""

    def generations(self) -> set[int]:
        """Plan generations that have records in DNS."""

    def delete_generation(self, generation: int, *, keep_if_referenced: bool = False) -> bool:
        """Remove every record of that plan generation (in one transaction); with
        ``keep_if_referenced``, remove nothing while an endpoint points at it. True when
        it removed the generation."""


class TransientError(Exception):
    """A failure worth retrying (backend busy, connection reset)."""


class WriteRefused(Exception):
    """A guarded write the backend (or the safety interlock) refused; nothing was written.
    ``safeguard`` names the one that said no (freshness-cas, fencing, interlock)."""

    def __init__(self, message: str, safeguard: str = "unknown"):
        super().__init__(message)
        self.safeguard = safeguard


class Faults(Protocol):
    """Timing faults the enactor consults at its named steps."""

    def delay(self, enactor: str, step: str, endpoint: str | None = None) -> float: ...
    def lose_lock(self, enactor: str, endpoint: str) -> bool: ...


class NoFaults:
    def delay(self, enactor: str, step: str, endpoint: str | None = None) -> float:
        return 0.0

    def lose_lock(self, enactor: str, endpoint: str) -> bool:
        return False
