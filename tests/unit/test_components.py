"""The lab's own components during a run (lab/core/components.py): what changed between two
looks, which changes end a run, and that a failed worker pass is in the history."""

import pytest

from lab.core import components as c
from lab.core.history import History, Kind
from lab.core.loops import enactor_loop, planner_loop
from lab.core.ports import TransientError

UP = c.Look("id1", "2026-11-28T10:00:00Z", "running")


@pytest.mark.parametrize("now, expected", [
    (UP, None),
    (c.Look("id1", "2026-11-28T10:00:00Z", "paused"), None),     # the run's own pause fault
    (c.Look("id1", "2026-11-28T10:05:00Z", "running"), c.RESTARTED),
    (c.Look("id1", "2026-11-28T10:00:00Z", "exited"), c.STOPPED),
    (c.Look("id1", "2026-11-28T10:00:00Z", "restarting"), c.STOPPED),
    (c.Look("id2", "2026-11-28T10:05:00Z", "running"), c.RECREATED),
    (c.GONE, c.REMOVED),
])
def test_what_happened_to_a_component_between_two_looks(now, expected):
    assert c.change(UP, now) == expected


def test_a_stopped_component_that_comes_back_is_started_and_nothing_else():
    stopped = c.Look("id1", "2026-11-28T10:00:00Z", "exited")
    assert c.change(stopped, c.Look("id1", "2026-11-28T10:01:00Z", "running")) == c.STARTED
    assert c.change(stopped, stopped) is None and c.change(c.GONE, c.GONE) is None


def test_changes_name_every_component_that_changed_and_only_those():
    before = {"plan-store": UP, "zone-store": UP, "prometheus": UP}
    now = {"plan-store": UP, "zone-store": c.Look("id1", "later", "running"),
           "prometheus": c.Look("id1", UP.started_at, "exited")}
    assert c.changes(before, now) == [("prometheus", c.STOPPED), ("zone-store", c.RESTARTED)]
    assert c.changes(before, {"plan-store": UP, "prometheus": UP}) == [("zone-store", c.REMOVED)]


def test_a_run_depends_on_its_stores_server_and_resolver_not_on_observers():
    pdns = c.depends_on("pdns-auth", "recursor", "powerdns")
    core = c.depends_on("coredns", "recursor-coredns", "coredns")
    assert pdns == {"plan-store", "pdns-auth", "recursor"}
    assert core == {"plan-store", "zone-store", "coredns", "recursor-coredns"}
    for observer in ("prometheus", "alertmanager", "pager"):
        assert observer not in pdns | core


def test_the_reason_names_the_component_and_what_to_do():
    why = c.why_fatal("zone-store", c.RESTARTED)
    assert "zone-store restarted" in why and "docker logs dnslab-zone-store-1" in why
    assert "\n" not in why


class _Clock:
    def __init__(self):
        self.t = 0.0

    def now(self) -> float:
        return self.t

    def sleep(self, seconds: float) -> None:
        self.t += seconds


class _FailingStore:
    def __init__(self, fails: int):
        self.fails = fails

    def newest(self):
        if self.fails:
            self.fails -= 1
            raise TransientError("etcd at 10.0.0.2:2379 unreachable (ConnectionError)")
        return None


class _Enactor:
    name = "enactor-a"

    def __init__(self, store):
        self.store = store

    def run_once(self):
        return self.store.newest()


def test_a_failed_pass_and_a_failed_publish_are_events_with_the_error():
    clock = _Clock()
    history = History(clock.now)
    enactor_loop(_Enactor(_FailingStore(2)), history, clock, poll_s=0.5, max_seconds=2.0)
    errors = [e for e in history.events() if e.kind is Kind.WORKER_ERROR]
    assert [(e.source, e.data["during"]) for e in errors] == [("enactor-a", "pass")] * 2
    assert "unreachable" in errors[0].data["error"]

    class Planner:
        def publish(self):
            raise TransientError("etcd at 10.0.0.2:2379 unreachable (ReadTimeout)")
    history = History(clock.now)
    planner_loop(Planner(), history, clock, period_s=1.0, max_seconds=2.5, burst=lambda n: 0)
    errors = [e for e in history.events() if e.kind is Kind.WORKER_ERROR]
    assert len(errors) == 3 and {e.data["during"] for e in errors} == {"publish"}
