"""The workers' metrics, read from a fresh registry: each safeguard's refusals are counted
under the safeguard that said no, from the refusals the core itself records."""

import random

import pytest
from prometheus_client import CollectorRegistry

from lab.core.enactor import Enactor, EnactorSettings, Safeguards
from lab.core.guard import decide_interlock_write, decide_write
from lab.core.history import Event, History, Kind
from lab.core.interlock import SafetyInterlock
from lab.core.memory import MemoryDns, MemoryPlanStore
from lab.core.plan import DEFAULT_ENDPOINTS
from lab.core.planner import Planner
from lab.core.ports import WriteRefused
from lab.metrics import SAFEGUARDS, WorkerMetrics
from tests.clock import VirtualClock


def refusals(registry, enactor="enactor-a") -> dict[str, float]:
    return {s: registry.get_sample_value("dnslab_safeguard_refusals_total",
                                         {"enactor": enactor, "safeguard": s})
            for s in SAFEGUARDS}


def refused_by(decide, *args, **kwargs) -> str:
    """The safeguard the core's own guard names when it refuses."""
    with pytest.raises(WriteRefused) as e:
        decide(*args, **kwargs)
    return e.value.safeguard


def test_every_safeguard_is_exported_at_zero_from_the_enactors_start():
    registry = CollectorRegistry()
    WorkerMetrics(registry).enactor("enactor-a")
    assert refusals(registry) == {s: 0.0 for s in SAFEGUARDS}


@pytest.mark.parametrize("safeguard, named", [
    ("freshness-cas", refused_by(decide_write, "e", 3, current=5, highest_fence=0,
                                 only_if_newer=True)),
    ("fencing", refused_by(decide_write, "e", 3, current=2, highest_fence=9, fence=4)),
    ("interlock", refused_by(decide_interlock_write, "e", 3, new=set(), current={"a"},
                             max_removed_fraction=0.5)),
    ("unknown", "a safeguard the metrics do not know"),
    ("unknown", None),
])
def test_a_refused_write_counts_under_its_safeguard(safeguard, named):
    registry = CollectorRegistry()
    m = WorkerMetrics(registry)
    m.enactor("enactor-a")
    data = {"endpoint": "e", "generation": 3, "reason": "refused"}
    if named is not None:
        data["safeguard"] = named
    m(Event(1.0, "enactor-a", Kind.WRITE_REFUSED, data))
    assert refusals(registry) == {s: float(s == safeguard) for s in SAFEGUARDS}
    assert registry.get_sample_value("dnslab_enactor_writes_refused_total",
                                     {"enactor": "enactor-a"}) == 1


@pytest.mark.parametrize("interlock, safeguard", [(False, "cleanup-skips-active"),
                                                  (True, "interlock")])
def test_a_kept_plan_counts_under_the_safeguard_that_kept_it(interlock, safeguard):
    """An enactor applies plan 1, the planner moves on, clean-up would delete plan 1 while
    the endpoints still point at it: the safeguard keeps it, the enactor records why."""
    clock = VirtualClock()
    registry = CollectorRegistry()
    metrics = WorkerMetrics(registry)
    history = History(clock, sink=metrics)
    store, mem = MemoryPlanStore(), MemoryDns()
    dns = SafetyInterlock(mem, DEFAULT_ENDPOINTS) if interlock else mem
    planner = Planner(store, history, random.Random(7))
    settings = EnactorSettings(keep_generations=1, max_attempts=2,
                               safeguards=Safeguards(cleanup_skips_active=not interlock))
    a = Enactor("enactor-a", store, dns, history, sleep=clock.sleep, settings=settings)
    metrics.enactor("enactor-a")
    planner.publish()
    a.run_once()
    for _ in range(3):
        planner.publish()
    a.clean_up(store.newest().generation)
    assert history.events(Kind.CLEANUP_SKIPPED)
    counted = refusals(registry)
    assert counted[safeguard] == len(history.events(Kind.CLEANUP_SKIPPED)) >= 1
    assert sum(counted.values()) == counted[safeguard]
