"""`dnslab compare` on real PowerDNS: the race once per safeguard (same seed), and the
authoritative server frozen with and without serve-stale. What each safeguard does to the
outage is asserted from comparison.json, which the command derives from each run's history."""

import json

import pytest

from lab import config
from tests.docker.helpers import dnslab

OUT = config.repo_root() / "results" / "compare"
# Self-repair's detection interval: an enactor looks at every endpoint at the start of
# each pass; passes come every --poll (0.2 s); clients probe every 0.5 s; one pass takes
# well under a second. A direct client must see the endpoint back within that.
SELF_REPAIR_BOUND_S = 0.2 + 0.5 + 1.0


@pytest.fixture(scope="module")
def race(suites):
    """The baseline (`none`) is the suite's own run of the race on PowerDNS."""
    baseline = suites("powerdns").run("dynamodb-race")
    proc = dnslab("compare", "experiments/dynamodb-race.yaml", "--mitigations", "all",
                  "--no-up", "--baseline", str(baseline), "--out", str(OUT / "race"),
                  timeout=2400)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    doc = json.loads((OUT / "race" / "comparison.json").read_text())
    # An aborted or error variant has no outage figures at all (null), so every assertion
    # below about "no outage" could pass on it: each variant must have been decided.
    assert all(r["decided"] and r["verdict"] in ("hypothesis-violated", "hypothesis-held")
               for r in doc["variants"]), [(r["variant"], r["verdict"]) for r in doc["variants"]]
    return {r["variant"]: r for r in doc["variants"]}


@pytest.fixture(scope="module")
def frozen(suites):
    baseline = suites("powerdns").run("authoritative-unreachable")
    proc = dnslab("compare", "experiments/authoritative-unreachable.yaml", "--mitigations",
                  "serve-stale", "--no-up", "--baseline", str(baseline), "--out",
                  str(OUT / "authoritative-unreachable"), timeout=1200)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    doc = json.loads((OUT / "authoritative-unreachable" / "comparison.json").read_text())
    assert all(r["decided"] for r in doc["variants"]), doc["variants"]
    return {r["variant"]: r for r in doc["variants"]}


def test_without_safeguards_the_race_is_an_outage(race):
    assert race["none"]["outage"] and race["none"]["endpoint_emptied"]
    assert "endpoint-never-empty" in race["none"]["violations"]


@pytest.mark.parametrize("variant", ["freshness-cas", "cleanup-skips-active", "fencing"])
def test_these_safeguards_leave_no_endpoint_empty(race, variant):
    row = race[variant]
    assert not row["endpoint_emptied"], row
    assert "endpoint-never-empty" not in row["violations"], row
    assert "never-delete-active-plan" not in row["violations"], row
    assert not row["outage"], row


def test_freshness_cas_and_fencing_refuse_the_stale_write(race):
    assert race["freshness-cas"]["cost"]["writes_refused"] >= 1
    assert race["fencing"]["cost"]["writes_refused"] >= 1
    assert "applied-generation-monotonic" not in race["freshness-cas"]["violations"]
    assert "applied-generation-monotonic" not in race["fencing"]["violations"]


def test_cleanup_skipping_keeps_the_stale_plan_it_cannot_prevent(race):
    row = race["cleanup-skips-active"]
    assert row["cost"]["cleanups_skipped"] >= 1
    assert "applied-generation-monotonic" in row["violations"]   # the stale write happened


def test_interlock_leaves_no_empty_answer(race):
    row = race["interlock"]
    assert "endpoint-never-empty" not in row["violations"], row
    assert row["failed_probes"]["direct"] == 0, row
    assert row["cost"]["cleanups_skipped"] >= 1


def test_self_repair_bounds_the_outage_by_its_detection_interval(race):
    row = race["self-repair"]
    assert row["endpoint_emptied"] and row["recovered_by"] == "self-repair", row
    assert 0 < row["longest_client_outage_s"]["direct"] <= SELF_REPAIR_BOUND_S, row
    assert row["longest_client_outage_s"]["direct"] < \
        race["none"]["longest_client_outage_s"]["direct"]


def test_serve_stale_does_not_help_against_an_empty_answer(race):
    none, stale = race["none"], race["serve-stale"]
    assert stale["outage"] and stale["endpoint_emptied"]
    # The resolver got an authoritative empty answer and cached it: serving stale records
    # is for failures, not answers.
    assert stale["longest_client_outage_s"]["resolver"] >= \
        0.8 * none["longest_client_outage_s"]["resolver"]


def test_serve_stale_helps_when_the_authoritative_server_times_out(frozen):
    none, stale = frozen["none"], frozen["serve-stale"]
    assert none["outage"] and none["longest_client_outage_s"]["resolver"] > 10
    assert stale["longest_client_outage_s"]["resolver"] <= 2.0, stale
    assert stale["failed_probes"]["resolver"] < none["failed_probes"]["resolver"] / 10
    # Direct clients ask the frozen server itself: nothing on the client side helps them.
    assert stale["longest_client_outage_s"]["direct"] > 10
