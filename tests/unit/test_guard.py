"""The one guard decision (lab/core/guard.py), and that every backend encodes it: the memory
backend here; PowerDNS and CoreDNS in the Docker tier (tests/docker/test_plans.py); the
interlock's decision; and the memory plan store's lock expiry."""

import pytest

from lab.core.guard import (decide_delete, decide_interlock_delete, decide_interlock_write,
                             decide_write)
from lab.core.memory import MemoryDns, MemoryPlanStore
from lab.core.plan import Plan, Target
from lab.core.ports import WriteRefused


@pytest.mark.parametrize("current, only_if_newer, refused", [
    (None, True, False), (4, True, False), (5, True, True), (6, True, True),
    (6, False, False)])
def test_freshness_cas_refuses_this_generation_or_an_older_one(current, only_if_newer, refused):
    if refused:
        with pytest.raises(WriteRefused, match=f"already at plan {current}"):
            decide_write("ep", 5, current=current, highest_fence=0, only_if_newer=only_if_newer)
    else:
        assert decide_write("ep", 5, current=current, highest_fence=0,
                            only_if_newer=only_if_newer) is None


@pytest.mark.parametrize("fence, highest, refused", [(7, 0, False), (7, 7, False),
                                                      (7, 8, True), (0, 1, True)])
def test_fencing_refuses_a_token_lower_than_the_last_accepted(fence, highest, refused):
    if refused:
        with pytest.raises(WriteRefused, match=f"token {fence} is stale \\(fence {highest}\\)"):
            decide_write("ep", 5, current=None, highest_fence=highest, fence=fence)
    else:
        assert decide_write("ep", 5, current=None, highest_fence=highest, fence=fence) == fence


def test_freshness_is_decided_before_the_fence():
    with pytest.raises(WriteRefused, match="already at plan 9"):
        decide_write("ep", 5, current=9, highest_fence=100, only_if_newer=True, fence=1)


@pytest.mark.parametrize("pointed_at, keep, present, deleted", [
    ([3, 4], False, True, True),        # the incident's clean-up: whatever points at it
    ([3, 4], True, True, False),        # clean-up skips an active plan
    ([4, None], True, True, True),      # nobody points at 3
    ([3], True, False, True),           # nothing of plan 3 is left to keep
])
def test_clean_up_deletes_unless_an_endpoint_points_at_it(pointed_at, keep, present, deleted):
    assert decide_delete(3, pointed_at, keep_if_referenced=keep, present=present) is deleted


def _plan(generation: int) -> Plan:
    return Plan(generation, {"r": (Target("198.51.100.10", 10),)}, {"ep": "r"})


def test_the_memory_backend_encodes_the_decision():
    dns = MemoryDns()
    dns.apply("ep", _plan(5), None, fence=3)
    with pytest.raises(WriteRefused):
        dns.apply("ep", _plan(4), 5, only_if_newer=True)
    with pytest.raises(WriteRefused):
        dns.apply("ep", _plan(6), 5, fence=2)
    assert dns.applied("ep") == 5 and dns.fences["ep"] == 3
    dns.apply("ep", _plan(6), 5, fence=4)
    assert dns.applied("ep") == 6 and dns.fences["ep"] == 4
    assert dns.delete_generation(6, keep_if_referenced=True) is False and dns.intact("ep")
    assert dns.delete_generation(6) is True and not dns.intact("ep")


# -- the interlock -------------------------------------------------------------------------
FOUR = {"a", "b", "c", "d"}


@pytest.mark.parametrize("new, current, limit, refused", [
    (set(), FOUR, 0.5, "would leave ep with no addresses"),
    (set(), set(), 1.0, "would leave ep with no addresses"),   # even a first write
    ({"a"}, FOUR, 0.5, "remove 75% of ep's capacity at once \\(limit 50%\\)"),
    ({"a", "b"}, FOUR, 0.5, None),                             # exactly the limit
    ({"e"}, FOUR, 1.0, None),                                  # all replaced, limit 100%
    ({"a"}, set(), 0.0, None),                                 # nothing to remove yet
])
def test_interlock_write(new, current, limit, refused):
    if refused:
        with pytest.raises(WriteRefused, match=f"interlock: plan 7 .*{refused}"):
            decide_interlock_write("ep", 7, new=new, current=current, max_removed_fraction=limit)
    else:
        assert decide_interlock_write("ep", 7, new=new, current=current,
                                      max_removed_fraction=limit) is None


@pytest.mark.parametrize("users, kept, refused", [
    ([], False, None),
    (["ep1", "ep2"], False, "leave ep1, ep2 with no"),
    ([], True, "leave an endpoint with no"),       # the backend's guarded deletion kept it
])
def test_interlock_delete(users, kept, refused):
    if refused:
        with pytest.raises(WriteRefused, match=f"interlock: deleting plan 3 would {refused}"):
            decide_interlock_delete(3, users, kept=kept)
    else:
        assert decide_interlock_delete(3, users, kept=kept) is None


# -- lock expiry in the memory plan store ----------------------------------------------------
def test_an_expired_lock_is_free_and_a_live_one_is_not():
    now = [0.0]
    store = MemoryPlanStore(clock=lambda: now[0])
    assert store.acquire("lock", "a", ttl_s=5)
    now[0] = 4.9
    assert not store.acquire("lock", "b", ttl_s=5)
    now[0] = 5.0
    assert store.acquire("lock", "b", ttl_s=5)
    assert store.locks["lock"] == "b" and store.expiry["lock"] == 10.0
    store.release("lock", "a")                      # a's lease is gone: releases nothing
    assert not store.acquire("lock", "a", ttl_s=5)


def test_reacquiring_refreshes_the_lock():
    now = [0.0]
    store = MemoryPlanStore(clock=lambda: now[0])
    assert store.acquire("lock", "a", ttl_s=5)
    now[0] = 4.0
    assert store.acquire("lock", "a", ttl_s=5)      # now held until 9
    now[0] = 8.0
    assert not store.acquire("lock", "b", ttl_s=5)
    now[0] = 9.0
    assert store.acquire("lock", "b", ttl_s=5)


def test_without_a_clock_a_lock_is_held_until_released():
    store = MemoryPlanStore()
    assert store.acquire("lock", "a", ttl_s=0)
    assert not store.acquire("lock", "b", ttl_s=0)
    store.release("lock", "a")
    assert store.acquire("lock", "b", ttl_s=0)
