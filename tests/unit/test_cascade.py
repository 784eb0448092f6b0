"""The outage's second act (lab/core/cascade.py, lab/sim/cascade.py): a fleet whose leases
lapsed while the endpoint was empty collapses re-establishing them, and stays collapsed
after DNS is back; which remediations end that and which only shorten it; the detector that
judges it, on hand-made windows; the outage length that tips the fleet."""

import dataclasses
import random

import pytest

from lab.core.cascade import (Cascade, CascadeParams, LeaseService, ManagerLoop, Thresholds,
                              Window, cascade_summary, detect)
from lab.sim.cascade import (OUTAGE_START_S, collapses, grace_s, simulate_cascade,
                             tipping_outage_s)

# 2000 hosts, renew 5 s, TTL 15 s, load 57 %; the front (propagation, health checks) sees a
# host back at once: these tests are the manager's dynamics (the front's are at the end)
INSTANT_FRONT = {"propagate_per_s": 1e6, "health_check_s": 0.5, "healthy_threshold": 1}
P = CascadeParams(**INSTANT_FRONT)
RACE_OUTAGE = (30.0, 75.0)            # the race's emptied endpoint plus the repair: 45 s
RESTORED = RACE_OUTAGE[1]


def run(params=P, outage=RACE_OUTAGE, duration_s=240.0, seed=1):
    return simulate_cascade(params, outage, seed=seed, duration_s=duration_s)


def with_(names, at_s=0.0, **more):
    return P.replace(remediations=frozenset(names), remediations_at_s=at_s, **more)


# -- the fleet with and without an outage ---------------------------------------------------
def test_defaults_are_the_documented_load():
    assert 0.5 <= P.steady_load <= 0.6
    assert P.lease_ttl_s > P.renew_period_s


def test_without_an_outage_the_fleet_holds():
    result = run(outage=None, duration_s=120.0)
    s = result.summary
    assert s["metastable"] is False
    assert s["healthy_capacity_min"] == 1.0 and s["leases_lapsed_max"] == 0
    assert s["recovered_at_s"] == 0.0
    assert all(w.fleet_goodput > 0.95 for w in result.windows)
    assert all(w.reestablish_started == 0 and w.service_wasted_units == 0
               for w in result.windows)


def test_a_long_outage_tips_the_fleet_into_a_collapse_that_outlives_it():
    result = run()
    s = result.summary
    assert s["metastable"] is True
    assert s["recovered_at_s"] is None
    assert s["leases_lapsed_max"] == P.hosts and s["healthy_capacity_min"] == 0.0
    late = [w for w in result.windows if w.t0 >= RESTORED + grace_s(P)]
    assert late[-1].t1 - late[0].t0 >= 3 * P.renew_period_s
    assert all(w.dns_ok and w.fleet_goodput < 0.05 for w in late)
    # the sustaining effect: the service is busy, with work nobody waits for any more
    assert all(w.service_wasted_units > 10 * w.service_useful_units for w in late[2:])
    assert late[-1].service_queue_units > late[0].service_queue_units


def test_a_short_outage_does_not():
    """8 s: every lease outlives it (TTL 15 s, renewals every 5 s): nothing lapses."""
    s = run(outage=(30.0, 38.0), duration_s=120.0).summary
    assert s["metastable"] is False
    assert s["leases_lapsed_max"] == 0
    assert s["recovered_at_s"] is not None and s["recovered_at_s"] <= 40.0


def test_an_outage_under_the_ttl_that_lapses_some_leases_recovers():
    """12 s: the oldest leases lapse (the renewal storm at DNS's return comes too late for
    them) but one re-establishment each fits the service: it recovers by itself."""
    s = run(outage=(30.0, 42.0), duration_s=150.0).summary
    assert 0 < s["leases_lapsed_max"] < P.hosts
    assert s["metastable"] is False
    assert s["recovered_at_s"] is not None and s["recovered_at_s"] <= 42.0 + 60


# -- remediations ---------------------------------------------------------------------------
# Switched on from the start (a safeguard in place before the race), on the same 45 s outage.
# Measured (seeds 1-3 agree unless said): recovered 15 s after DNS for admission-control and
# lifo-shedding, 50 s for velocity-control, 45 s for backoff-budget, 75 s for
# deadline-shedding; the baseline never within the run.
@pytest.mark.parametrize("name, recovered_within_s", [
    # the manager never has more in flight than the service can hold: no queue, no timeout
    ("admission-control", 20.0),
    # fresh requests are served first, before their deadline; stale ones starve harmlessly
    ("lifo-shedding", 20.0),
])
def test_remediations_that_end_the_collapse(name, recovered_within_s):
    s = run(with_([name])).summary
    assert s["metastable"] is False, s["reason"]
    assert s["recovered_at_s"] is not None
    assert s["recovered_at_s"] - RESTORED <= recovered_within_s


def test_velocity_control_ends_it_slowly_on_the_edge_of_the_detector():
    """50 re-establishments a second (100 units) fit beside the renewals: slow and steady.
    After this 45 s outage goodput climbs through half about when the grace ends (0.51,
    0.44, 0.44 over the first three renew periods judged): the detector reads the slow
    climb as a collapse, and the fleet recovers by itself within 55 s of DNS."""
    s = run(with_(["velocity-control"])).summary
    assert s["recovered_at_s"] is not None
    assert s["recovered_at_s"] - RESTORED <= 55.0
    assert s["leases_recovered_at_s"] == s["recovered_at_s"]     # the front is instant here


def test_backoff_budget_ends_it_slowly_on_the_edge_of_the_detector():
    """One item per host and a retry budget: the budget (refilled by successes) throttles the
    first re-establishments, so goodput climbs slowly: below 0.5 for 10-15 s after the grace,
    the detector's limit, so the verdict depends on the seed; recovery does not (45 s)."""
    for seed in (1, 2):
        s = run(with_(["backoff-budget"]), seed=seed).summary
        assert s["recovered_at_s"] is not None
        assert 30.0 <= s["recovered_at_s"] - RESTORED <= 60.0


def test_deadline_shedding_only_shortens_it():
    """The service drops work that cannot finish in time, but the sweep's duplicates keep
    coming and renewals queued behind re-establishments are shed too: still a collapse after
    the grace, ended 75 s after DNS."""
    s = run(with_(["deadline-shedding"])).summary
    assert s["metastable"] is True
    assert s["recovered_at_s"] is not None
    assert 50.0 <= s["recovered_at_s"] - RESTORED <= 100.0


# Switched on in the middle of the collapse (at 120 s, 45 s after DNS came back).
MID = 120.0


def test_restart_manager_ends_the_collapse():
    """The restart drops the manager's queue and its connections (the service's backlog of
    its stale requests with them); one re-establishment per lapsed host fits the service."""
    s = run(P.replace(remediations=frozenset({"restart-manager"}), restart_at_s=MID),
            duration_s=200.0).summary
    assert s["metastable"] is True             # it was, until the operator acted
    assert s["recovered_at_s"] is not None
    assert MID < s["recovered_at_s"] <= MID + P.restart_down_s + 3 * P.renew_period_s


def test_admission_control_ends_it_at_once_with_deadline_shedding_alone_only_slowly():
    """Mid-collapse, throttling the manager stops new stale work but the service's backlog
    of it (queued before the switch) must drain first: 175 s. With deadline-shedding the
    service drops that backlog, and the collapse ends within a window."""
    alone = run(with_(["admission-control"], MID), duration_s=360.0).summary
    assert alone["recovered_at_s"] is not None
    assert alone["recovered_at_s"] - MID >= 120.0
    both = run(with_(["admission-control", "deadline-shedding"], MID), duration_s=180.0).summary
    assert both["recovered_at_s"] is not None
    assert both["recovered_at_s"] - MID <= 10.0


def test_lifo_shedding_mid_collapse_ends_it_within_a_window():
    s = run(with_(["lifo-shedding"], MID), duration_s=180.0).summary
    assert s["recovered_at_s"] is not None and s["recovered_at_s"] - MID <= 10.0


def test_unknown_remediation_and_restart_without_a_time_are_refused():
    with pytest.raises(ValueError, match="unknown remediation jitter"):
        CascadeParams(remediations=frozenset({"jitter"}))
    with pytest.raises(ValueError, match="restart_at_s"):
        CascadeParams(remediations=frozenset({"restart-manager"}))


# -- determinism ----------------------------------------------------------------------------
def test_same_seed_same_windows():
    outage = (30.0, 42.0)                     # renewal retries' jitter matters here
    a = run(outage=outage, duration_s=120.0, seed=7)
    b = run(outage=outage, duration_s=120.0, seed=7)
    c = run(outage=outage, duration_s=120.0, seed=8)
    assert a.windows == b.windows and a.summary == b.summary
    assert a.windows != c.windows             # the seed is used


# -- the detector on hand-made windows ------------------------------------------------------
BASE = Window(t0=0, t1=5, dns_ok=True, leases_held=100, leases_held_min=100, lapsed=0,
              out_of_service=0, reestablish_queued=0, reestablish_started=0,
              reestablish_timed_out=0, reestablish_failed_dns=0, reestablish_completed=0,
              reestablish_duplicate=0, renewals_ok=100, renewals_failed=0,
              service_useful_units=100, service_wasted_units=0, service_shed_units=0,
              service_queue_units=0, manager_queue=0, service_goodput=20.0,
              fleet_goodput=1.0, healthy_capacity=1.0)


def windows(*goodput_capacity, start=0.0):
    out = []
    for i, (g, c) in enumerate(goodput_capacity):
        t0 = start + 5.0 * i
        out.append(dataclasses.replace(BASE, t0=t0, t1=t0 + 5.0, fleet_goodput=g,
                                       healthy_capacity=c, leases_held=int(100 * c),
                                       leases_held_min=int(100 * c),
                                       out_of_service=100 - int(100 * c)))
    return out


def judge(ws, restored=10.0, grace=5.0):
    return detect(ws, restored, renew_period_s=5.0, grace_s=grace)


def test_detector_recovery():
    # DNS back at 10 s; low until 20 s (within grace + one window), then healthy
    ws = windows((0, 0), (0, 0), (0.2, 0.3), (0.6, 0.7), (1.2, 0.97), (1.0, 1.0),
                 (1.0, 1.0), (1.0, 1.0))
    v = judge(ws)
    assert v.metastable is False
    assert v.recovered_at_s == 20.0


def test_detector_collapse():
    ws = windows((0, 0), (0, 0), (0.1, 0.4), (0.0, 0.1), (0.0, 0.0), (0.0, 0.0))
    v = judge(ws)
    assert v.metastable is True and v.recovered_at_s is None


def test_detector_collapse_that_ends_by_itself():
    ws = windows((0, 0), (0, 0), (0.1, 0.4), (0.0, 0.1), (0.2, 0.0), (0.3, 0.0),
                 (0.9, 0.96), (1.0, 1.0), (1.0, 1.0))
    v = judge(ws)
    assert v.metastable is True                # it outlived DNS by 3 renew periods
    assert v.recovered_at_s == 30.0


def test_detector_too_short_an_observation_is_undecided_not_a_pass():
    # healthy, but only 10 s observed after the grace: 15 s are needed
    assert judge(windows((0, 0), (0, 0), (0, 0), (1.0, 1.0), (1.0, 1.0))).metastable is None
    # nothing at all after the grace
    assert judge(windows((0, 0), (0, 0))).metastable is None
    assert judge([]).metastable is None


def test_detector_low_at_the_end_of_the_observation_is_undecided():
    # 20 s observed after the grace, no low stretch yet, but the last window is low and a
    # stretch may grow from it
    ws = windows((0, 0), (0, 0), (0, 0), (1.0, 1.0), (1.0, 1.0), (1.0, 1.0), (0.1, 0.9))
    assert judge(ws).metastable is None


def test_detector_a_window_flickering_above_the_line_does_not_break_a_collapse():
    # after the grace: 0.47, 0.51, 0.19 -- one window just above half, the stretch's
    # average (0.39) well below it: the fleet did not renew for three renew periods
    ws = windows((0, 0), (0, 0), (0, 0), (0.47, 0.7), (0.51, 0.8), (0.19, 0.6), (1.0, 1.0))
    v = judge(ws)
    assert v.metastable is True and "0.39 on average" in v.reason


def test_detector_a_gap_in_the_windows_breaks_a_low_stretch():
    ws = windows((0, 0), (0, 0), (0, 0), (0.1, 0.5), (0.1, 0.5))
    ws += windows((0.1, 0.5), (1.0, 1.0), (1.0, 1.0), (1.0, 1.0), start=40.0)
    assert judge(ws).metastable is False


def test_summary_shape():
    ws = windows((0, 0), (0, 0), (0.1, 0.4), (0.0, 0.1), (0.0, 0.0), (0.0, 0.0))
    s = cascade_summary(ws, 10.0, renew_period_s=5.0, grace_s=5.0, thresholds=Thresholds())
    assert {"metastable", "dns_restored_at_s", "recovered_at_s", "goodput_windows",
            "leases_lapsed_max", "healthy_capacity_min"} <= s.keys()
    assert s["goodput_windows"] == [0, 0, 0.1, 0.0, 0.0, 0.0]
    assert s["leases_lapsed_max"] == 100 and s["healthy_capacity_min"] == 0.0
    assert s["dns_restored_at_s"] == 10.0


# -- the tipping point ----------------------------------------------------------------------
def test_tipping_outage_is_just_past_the_lease_ttl():
    """Measured 15.9 s with the defaults (outage from 30 s): a lease lapses once the outage
    outlasts TTL - renew period (10 s), but it takes the lease sweep's duplicates queued
    during the outage to tip the fleet."""
    tip = tipping_outage_s(P, 5.0, 45.0, tolerance_s=0.5)
    assert P.lease_ttl_s - P.renew_period_s < tip <= P.lease_ttl_s + 3.0
    assert collapses(P, tip) is True
    assert collapses(P, tip - 0.5) is False


def test_tipping_outage_refuses_a_bracket_that_does_not_bracket():
    with pytest.raises(ValueError, match="already tips"):
        tipping_outage_s(P, 30.0, 45.0)
    with pytest.raises(ValueError, match="does not tip"):
        tipping_outage_s(P, 2.0, 8.0)


def test_outage_must_fit_the_run():
    with pytest.raises(ValueError, match="within"):
        simulate_cascade(P, (30.0, 900.0), duration_s=600.0)
    assert OUTAGE_START_S > P.lease_ttl_s      # a steady fleet before the endpoint empties


# -- the manager against a port (what the real fleet manager runs) --------------------------
class SlowPort(LeaseService):
    """The in-process service behind a slow network: every completion reaches the manager
    ``delay`` steps late; ``refuse`` turns every request into a failure at the next step."""

    def __init__(self, p, delay=0, refuse=False):
        super().__init__(p)
        self.delay, self.refuse, self.wire, self.refused = delay, refuse, [], []

    def submit(self, batch):
        if self.refuse:
            self.refused.append(batch)
        else:
            super().submit(batch)

    def completions(self, step):
        self.wire += [(step + self.delay, c) for c in super().completions(step)]
        now = [c for at, c in self.wire if at <= step]
        self.wire = [(at, c) for at, c in self.wire if at > step]
        return now

    def failed(self, step):
        out, self.refused = self.refused, []
        return out


def port_run(port_of, duration_s=40.0):
    port = port_of(P)
    loop = ManagerLoop(P, leases=port, resolves=lambda t: True, random=lambda: 0.5)
    loop.advance_to(duration_s)
    return loop.windows


def test_the_simulation_is_the_manager_loop_with_the_service_in_process():
    a = Cascade(P, resolves=lambda t: not 30 <= t < 45, random=random.Random(3).random)
    b = ManagerLoop(P, leases=LeaseService(P), resolves=lambda t: not 30 <= t < 45,
                    random=random.Random(3).random)
    a.advance_to(120.0)
    b.advance_to(120.0)
    assert a.windows == b.windows


def test_a_completion_that_reaches_the_manager_after_its_deadline_is_of_no_use():
    """The manager judges replies itself (a real service's can arrive late): with every
    reply a second later than the renewal timeout (6 s), no lease is ever renewed: every
    one lapses; re-establishments (10 s timeout) still get through."""
    late = port_run(lambda p: SlowPort(p, delay=round((p.renew_timeout_s + 1) / p.step_s)))
    assert sum(w.renewals_ok for w in late) == 0
    assert sum(w.lapsed for w in late) >= P.hosts
    assert sum(w.reestablish_completed for w in late) > 0
    prompt = port_run(lambda p: SlowPort(p, delay=2))
    assert all(w.healthy_capacity == 1.0 for w in prompt)


def test_refused_work_fails_at_once_and_is_retried():
    ws = port_run(lambda p: SlowPort(p, refuse=True), duration_s=20.0)
    assert ws[0].renewals_failed > P.hosts / P.renew_period_s * P.window_s  # retries too
    assert ws[-1].leases_held == 0 and ws[-1].reestablish_timed_out > 0


# -- the health-checked front (lab/core/front.py) -------------------------------------------
FRONTED = CascadeParams()             # network state at 50 hosts/s, checks every 5 s, 2 to pass


def test_with_the_front_hosts_back_in_service_are_not_yet_capacity():
    """Admission control ends the collapse (leases back within 20 s of DNS), but every
    returning host waits for its network state (2000 at 50 a second) and two passing
    checks: the capacity users see comes back about 40 s later than the leases."""
    fast = run(with_(["admission-control"])).summary
    fronted = run(FRONTED.replace(remediations=frozenset({"admission-control"})))
    s = fronted.summary
    assert s["metastable"] is False and s["recovered_at_s"] is not None
    lag = s["recovered_at_s"] - fast["recovered_at_s"]
    assert 25.0 <= lag <= FRONTED.hosts / FRONTED.propagate_per_s \
        + FRONTED.healthy_threshold * FRONTED.health_check_s + FRONTED.window_s
    # the front's own signature: leases all held, capacity still low, a propagation backlog
    back = [w for w in fronted.windows if w.t0 >= RESTORED and w.leases_held == FRONTED.hosts
            and w.healthy_capacity < 0.95]
    assert back and all(w.propagation_backlog > 0 or w.healthy_hosts < w.leases_held
                        for w in back)
    assert all(w.healthy_hosts_min <= w.healthy_hosts for w in fronted.windows)
    assert s["healthy_capacity_min"] == 0.0


def test_with_the_front_and_no_outage_every_host_stays_healthy():
    result = run(FRONTED, outage=None, duration_s=60.0)
    assert result.summary["healthy_capacity_min"] == 1.0
    assert all(w.healthy_hosts == w.healthy_hosts_min == FRONTED.hosts
               and w.propagation_backlog == 0 for w in result.windows)


def test_a_slower_front_only_delays_recovery_never_the_verdict():
    fast = run(FRONTED.replace(remediations=frozenset({"lifo-shedding"}))).summary
    slow = run(FRONTED.replace(remediations=frozenset({"lifo-shedding"}),
                               propagate_per_s=20.0), duration_s=300.0).summary
    assert fast["metastable"] is slow["metastable"] is False
    assert slow["recovered_at_s"] - fast["recovered_at_s"] >= 40.0   # 2000/20 - 2000/50 = 60


@pytest.mark.parametrize("change, named", [
    ({"health_check_s": 0}, "health_check_s"), ({"propagate_per_s": -1}, "propagate_per_s"),
    ({"healthy_threshold": 0}, "healthy_threshold"),
    ({"unhealthy_threshold": 1.5}, "unhealthy_threshold")])
def test_a_bad_front_is_refused_naming_the_field(change, named):
    with pytest.raises(ValueError, match=f"^cascade: {named}"):
        CascadeParams(**change)
