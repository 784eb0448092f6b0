"""The front (lab/core/front.py): network state propagation and NLB health checks behind
the fleet's leases -- why capacity stays low after the leases are back."""

import random

import pytest

from lab.core.cascade import Cascade, CascadeParams
from lab.core.front import Front, FrontParams, FrontWindow

ALL = set(range(2000))


def run(front: Front, lapsed_at, until: float, every: float = 5.0) -> list[FrontWindow]:
    """Observe every ``every`` s up to ``until``; ``lapsed_at(t)`` is the fleet's lapsed set."""
    out, k = [], 1
    while k * every <= until + 1e-9:
        t = round(k * every, 6)
        w = front.observe(t, lapsed_at(t))
        if w is not None:
            out.append(w)
        k += 1
    return out


def mass_lapse(t: float) -> set:
    """All 2000 hosts lapsed from 30 s, re-established at 45 s."""
    return ALL if 30 <= t < 45 else set()


def full_at(windows, hosts=2000) -> float:
    """When the front was back to every host healthy for good."""
    t = None
    for w in windows:
        if w.healthy == hosts:
            t = w.t if t is None else t
        else:
            t = None
    return t


def test_a_steady_fleet_is_all_healthy():
    windows = run(Front(2000, FrontParams()), lambda t: set(), 600)
    assert len(windows) == 120
    assert {(w.targets, w.propagated, w.healthy, w.healthy_capacity, w.propagation_backlog)
            for w in windows} == {(2000, 2000, 2000, 1.0, 0)}


def test_a_fleet_that_starts_unpropagated_climbs_from_nothing():
    windows = run(Front(100, FrontParams(propagate_per_s=10),
                        propagated_at_start=False), lambda t: set(), 60)
    assert windows[0].propagated == 50 and windows[0].healthy == 0
    assert windows[0].propagation_backlog == 50
    assert full_at(windows, 100) == 15.0        # all propagated at 10 s, two checks


def test_capacity_after_a_mass_lapse_climbs_at_the_propagation_rate():
    p = FrontParams()                           # 50 a second, checks every 5 s, thresholds 2
    windows = run(Front(2000, p), mass_lapse, 200)
    by_t = {w.t: w for w in windows}
    assert by_t[30].targets == 0 and by_t[30].healthy == 0 and by_t[30].propagated == 0
    # the leases are back at 45 s; the state of 2000 hosts needs 40 s to propagate
    assert by_t[45].targets == 2000 and by_t[45].healthy == 0
    assert by_t[45].propagation_backlog == 2000
    rises = [by_t[t + 5].healthy - by_t[t].healthy for t in range(55, 85, 5)]
    assert rises == [250] * len(rises)          # 50/s x 5 s per check
    done = full_at(windows)
    assert 45 + 40 <= done <= 45 + 40 + p.check_s + p.healthy_threshold * p.check_s


def test_a_slower_propagation_lengthens_the_climb_in_proportion():
    lag = {}
    for rate in (50, 25, 12.5):
        done = full_at(run(Front(2000, FrontParams(propagate_per_s=rate)), mass_lapse, 400))
        lag[rate] = done - 45
    # 40 / 80 / 160 s of propagation, plus the same check and threshold delay
    assert lag[25] - lag[50] == pytest.approx(40, abs=5)
    assert lag[12.5] - lag[25] == pytest.approx(80, abs=5)


def test_observing_more_often_does_not_change_the_climb():
    coarse = full_at(run(Front(2000, FrontParams()), mass_lapse, 200, every=5))
    fine = full_at(run(Front(2000, FrontParams()), mass_lapse, 200, every=0.5))
    assert fine == coarse == 90.0


def test_a_host_that_lapses_again_in_the_queue_is_skipped_and_blocks_nothing():
    front = Front(100, FrontParams(propagate_per_s=10))
    front.observe(5, set(range(100)))
    front.observe(10, set())                    # all back: queued in host order 0..99
    assert front.queued() == list(range(100))
    w = front.observe(11, {0})                  # host 0, first in line, lapses again
    assert w is None
    assert front.propagated[0] == 0 and 0 not in front.queued()
    w = front.observe(15, {0})                  # 5 s x 10/s: hosts 1..50, not 0
    assert w.targets == 99 and w.propagated == 50 and w.propagation_backlog == 49
    assert all(front.propagated[h] for h in range(1, 51))
    w = front.observe(20, {0})
    assert w.propagated == 99 and w.propagation_backlog == 0
    w = front.observe(25, set())                # host 0 back: the tail of an empty queue
    assert w.propagated == 99 and w.propagation_backlog == 1 and w.healthy == 99
    w = front.observe(30, set())
    assert w.propagated == 100 and w.healthy == 99
    w = front.observe(35, set())
    assert w.healthy == 100


def test_idle_propagation_budget_is_not_banked():
    front = Front(100, FrontParams(propagate_per_s=10))
    front.observe(5, set(range(100)))
    front.observe(100, set(range(100)))         # 95 s with nothing to propagate
    front.observe(101, set())                   # all back at 101
    w = front.observe(105, set())
    assert w.propagated == 40                   # 4 s x 10/s, nothing saved from before


def test_one_passing_check_does_not_make_a_target_healthy():
    front = Front(10, FrontParams(propagate_per_s=100, healthy_threshold=2))
    front.observe(5, set(range(10)))
    front.observe(9, set())
    w = front.observe(10, set())                # all propagated by 10 s: one pass
    assert w.propagated == 10 and w.healthy == 0
    assert front.observe(15, set()).healthy == 10

    once = Front(10, FrontParams(propagate_per_s=100, healthy_threshold=1))
    once.observe(5, set(range(10)))
    once.observe(9, set())
    assert once.observe(10, set()).healthy == 10


def test_a_healthy_target_that_lost_its_state_between_checks_fails_until_the_threshold():
    # host 0 lapses and is back between two checks: the balancer never saw it lapsed, so
    # it stays healthy (traffic to a host without its network state) until two failures
    front = Front(10, FrontParams(propagate_per_s=0.05, unhealthy_threshold=2))
    assert front.observe(5, set()).healthy == 10
    front.observe(6, {0})
    front.observe(7, set())
    w = front.observe(10, set())
    assert w.propagated == 9 and w.healthy == 10
    assert front.observe(15, set()).healthy == 9

    lapsed_at_check = Front(10, FrontParams(propagate_per_s=0.05))
    lapsed_at_check.observe(5, set())
    assert lapsed_at_check.observe(10, {0}).healthy == 9       # not a target: unhealthy


def test_a_passing_streak_is_broken_by_a_failure():
    front = Front(1, FrontParams(propagate_per_s=1, healthy_threshold=3))
    front.observe(5, {0})
    front.observe(6, set())                     # back, queued
    assert front.observe(10, set()).healthy == 0        # propagated: pass 1
    front.observe(14, {0})
    front.observe(14.5, set())                  # back, queued again, not propagated yet
    assert front.observe(15, set()).healthy == 0        # fail: the streak starts over
    assert front.observe(20, set()).healthy == 0        # pass 1
    assert front.observe(25, set()).healthy == 0        # pass 2
    assert front.observe(30, set()).healthy == 1        # pass 3


@pytest.mark.parametrize("changes, message", [
    ({"propagate_per_s": 0}, "propagate_per_s must be a positive number"),
    ({"propagate_per_s": float("nan")}, "propagate_per_s"),
    ({"check_s": -5}, "check_s must be a positive number of seconds"),
    ({"healthy_threshold": 0}, "healthy_threshold must be a whole number"),
    ({"unhealthy_threshold": 2.5}, "unhealthy_threshold must be a whole number"),
    ({"healthy_threshold": 256}, "from 1 to 255"),
    ({"unhealthy_threshold": True}, "unhealthy_threshold"),
])
def test_invalid_params_are_refused(changes, message):
    with pytest.raises(ValueError, match=message):
        FrontParams(**changes)


def test_invalid_calls_are_refused():
    with pytest.raises(ValueError, match="hosts must be a positive"):
        Front(0)
    front = Front(10)
    front.observe(5, set())
    with pytest.raises(ValueError, match="time went back from 5"):
        front.observe(4, set())
    with pytest.raises(ValueError, match="lapsed host 10 is not one of the 10 hosts"):
        front.observe(6, {3, 10})


def test_the_same_fleet_gives_the_same_windows():
    rng = random.Random(7)
    script = [set(rng.sample(range(500), rng.randrange(0, 300))) for _ in range(60)]
    shuffled = []
    for s in script:
        items = list(s)
        rng.shuffle(items)
        shuffled.append(set(items))            # same hosts, another insertion order

    def windows(sets):
        front = Front(500, FrontParams(propagate_per_s=20))
        return [front.observe(5.0 * (k + 1), s) for k, s in enumerate(sets)]
    assert windows(script) == windows(script) == windows(shuffled)


def test_a_simulated_cascade_recovers_its_leases_before_its_capacity():
    # a 15 s outage: every lease lapses and the fleet re-establishes them by itself
    model = Cascade(CascadeParams(), resolves=lambda t: not 30 <= t < 45,
                    random=random.Random(1).random)
    front = Front(model.p.hosts, FrontParams())
    leases, capacity = [], []
    for k in range(1, 49):                      # 240 s
        t = 5.0 * k
        model.advance_to(t)
        w = front.observe(t, model.fleet.lapsed)
        leases.append((t, model.fleet.held))
        capacity.append((t, w.healthy, w.targets))
        assert w.targets == model.fleet.held and w.healthy <= w.targets

    def back(series):
        """Start of the last stretch with every host counted, None if it ends short."""
        t = None
        for at, n in series:
            t = (t if t is not None else at) if n == 2000 else None
        return t
    assert min(n for _, n in leases) == 0       # the whole fleet lapsed
    leases_back = back(leases)
    front_back = back((t, h) for t, h, _ in capacity)
    assert leases_back is not None and front_back is not None
    assert front_back - leases_back >= 20       # the propagation lag behind the leases
