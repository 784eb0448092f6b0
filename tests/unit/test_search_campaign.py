"""The safeguard campaign: 10,000 schedules per variant from the fault space, on the race's
set-up, in the simulation (started in the background by tests/campaign.py). Each safeguard's
outcome is checked, not assumed: the shape the incident predicts must hold on every schedule
tried, and each violation found must shrink and replay."""

import json

import pytest

from lab.core.experiment import DNS_MITIGATIONS
from tests import campaign


@pytest.fixture(scope="module")
def doc():
    code, log, took = campaign.running().wait()
    assert code == 0, f"campaign exited {code} after {took:.0f} s: {log}"
    return json.loads((campaign.OUT / "search.json").read_text())


@pytest.fixture(scope="module")
def rows(doc):
    return {v["variant"]: v for v in doc["variants"]}


def test_every_variant_ran_its_whole_budget_without_errors(rows):
    assert set(rows) == {"none", *DNS_MITIGATIONS}     # `all` for a file without a cascade
    for name, v in rows.items():
        assert v["explored"] == campaign.BUDGET, name
        assert v["errors"] == 0, (name, v["first_error"])
        assert v["pairs"] >= 0.8 * v["possible_pairs"], (name, v["pairs"], v["possible_pairs"])
        assert v["interleavings"] > 10, name


def empty(v) -> int:
    return v["counts"]["empty-endpoint"]


def backwards(v) -> int:
    return v["counts"]["generation-backwards"]


def test_without_safeguards_schedules_empty_the_endpoint(rows):
    v = rows["none"]
    assert empty(v) > 0 and backwards(v) > 0
    [found] = [f for f in v["found"] if f["violation"] == "empty-endpoint"]
    assert found["shrunk_faults"] <= 4
    assert found["replay_sim"]["as_expected"] and found["replay_sim"]["invariant_violated"]


def test_freshness_cas_and_fencing_never_empty_it(rows):
    for name in ("freshness-cas", "fencing"):
        assert empty(rows[name]) == 0, name
    assert backwards(rows["freshness-cas"]) == 0


def test_cleanup_skips_active_lets_the_generation_go_back_but_never_empties(rows):
    v = rows["cleanup-skips-active"]
    assert empty(v) == 0 and backwards(v) > 0
    [found] = [f for f in v["found"] if f["violation"] == "generation-backwards"]
    assert found["replay_sim"]["as_expected"]


def test_self_repair_empties_briefly_and_always_recovers(rows):
    v = rows["self-repair"]
    assert empty(v) > 0
    assert v["unrecovered"] == 0 and v["longest_empty_s"] < 2.0, v["longest_empty_s"]


def test_interlock_never_answers_empty(rows):
    assert empty(rows["interlock"]) == 0


def test_serve_stale_is_none_for_the_control_plane(rows):
    assert rows["serve-stale"]["same_search_as"] == "none"
    assert rows["serve-stale"]["counts"] == rows["none"]["counts"]
