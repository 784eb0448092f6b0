"""The workers' loops, as the real workers (lab/workers.py) and the simulation
(lab/sim/world.py) both run them: the planner publishes a plan every period (a burst fault
first publishes ``count`` more back to back), an enactor runs passes, waiting ``poll_s``
after a pass that applied nothing. Both stop by themselves after ``max_seconds``."""

from typing import Callable

from lab.core.enactor import Enactor, EnactorSettings, Pass, Safeguards, backoff_retrying
from lab.core.interlock import SafetyInterlock
from lab.core.plan import DEFAULT_ENDPOINTS
from lab.core.history import History, Kind
from lab.core.planner import Planner
from lab.core.ports import DnsBackend, Faults, PlanStore, TransientError

QUIET = (Pass.NOT_NEWER, Pass.NO_PLAN)     # passes not worth an event


def planner_loop(planner: Planner, history: History, clock, *, period_s: float,
                 max_seconds: float, burst: Callable[[str], int], name: str = "planner",
                 errors: tuple[type, ...] = (), log: Callable[[str], None] = lambda m: None
                 ) -> None:
    start = clock.now()
    next_at = start
    while clock.now() - start < max_seconds:
        try:
            count = burst(name)
            if count:
                history.append("faults", Kind.FAULT_STARTED, fault="planner-burst",
                               target=name, count=count)
                for _ in range(count):
                    planner.publish()
                history.append("faults", Kind.FAULT_ENDED, fault="planner-burst", target=name)
            planner.publish()
        except (TransientError, *errors) as e:
            log(f"{name}: publish failed, will retry next period: {e}")
            history.append(name, Kind.WORKER_ERROR, during="publish", error=str(e)[:200])
        next_at += period_s
        clock.sleep(max(0.0, next_at - clock.now()))


def enactor_loop(enactor: Enactor, history: History, clock, *, poll_s: float,
                 max_seconds: float, errors: tuple[type, ...] = (),
                 log: Callable[[str], None] = lambda m: None) -> None:
    now, sleep, run_once, applied = clock.now, clock.sleep, enactor.run_once, Pass.APPLIED
    start = now()
    while now() - start < max_seconds:
        began = now()
        try:
            result = run_once()
        except (TransientError, *errors) as e:
            log(f"{enactor.name}: pass failed, will retry: {e}")
            history.append(enactor.name, Kind.WORKER_ERROR, during="pass", error=str(e)[:200])
            result = None
        if result is not None and result not in QUIET:
            history.append(enactor.name, Kind.PASS, result=result.value,
                           seconds=round(now() - began, 4))
        if result is not applied:
            sleep(poll_s)


def enactor_for(name: str, store: PlanStore, backend: DnsBackend, history: History, *,
                sleep: Callable[[float], None], random: Callable[[], float], faults: Faults,
                keep: int, mitigations, interlock_max_removed: float = 0.5) -> Enactor:
    """An enactor with the run's mitigations (its own safeguards, and the interlock wrapped
    around its DNS backend) and the one retry policy (``backoff_retrying``, jitter from
    ``random``)."""
    if "interlock" in mitigations:
        backend = SafetyInterlock(backend, DEFAULT_ENDPOINTS,
                                  max_removed_fraction=interlock_max_removed)
    settings = EnactorSettings(keep_generations=keep, safeguards=Safeguards.named(mitigations))
    return Enactor(name, store, backend, history, sleep=sleep, faults=faults,
                   settings=settings, retrying=backoff_retrying(settings, sleep, random))
