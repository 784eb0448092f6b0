"""The one guard decision (lab/core/guard.py), and that every backend encodes it: the memory
backend here; PowerDNS and CoreDNS in the Docker tier (tests/docker/test_plans.py)."""

import pytest

from lab.core.guard import decide_delete, decide_write
from lab.core.memory import MemoryDns
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
