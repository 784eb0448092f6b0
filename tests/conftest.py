"""Test tiers. Unit tests need nothing. Tests marked `docker` need a Docker engine and the
real lab stack: they skip on a laptop without one, but when DNSLAB_REQUIRE_DOCKER=1 (the
README test command sets it, so CI does) a missing engine or any skipped Docker-tier test
fails the run."""

import os

import pytest

REQUIRE_DOCKER = os.environ.get("DNSLAB_REQUIRE_DOCKER") == "1"


def engine_answers() -> bool:
    try:
        from lab.stack import engine
        engine()
        return True
    except Exception:
        return False


def pytest_collection_modifyitems(config, items):
    for item in items:
        if "/tests/docker/" in str(item.fspath):
            item.add_marker(pytest.mark.docker)
    # A test that takes the whole lab down (Prometheus's history with it) runs last: the
    # session's shared suite runs are asserted on from Prometheus by later tests (seen in CI:
    # a `dnslab down` test between the suite and those queries left them no data).
    items.sort(key=lambda i: "takes_lab_down" in i.keywords)      # stable: order kept otherwise
    docker_items = [i for i in items if "docker" in i.keywords]
    if not docker_items or engine_answers():
        return
    if REQUIRE_DOCKER:
        raise pytest.UsageError("DNSLAB_REQUIRE_DOCKER=1 but no Docker engine answers: the "
                                "Docker tier cannot run (run images/bootstrap first)")
    skip = pytest.mark.skip(reason="no Docker engine answers (set DNSLAB_REQUIRE_DOCKER=1 to fail)")
    for item in docker_items:
        item.add_marker(skip)


def pytest_collection_finish(session):
    """The safeguard campaign (tests/campaign.py) starts now when its test is selected: in
    the background, so it runs while the Docker tier waits on real time."""
    if any(i.nodeid.startswith("tests/unit/test_search_campaign.py") for i in session.items):
        from tests import campaign
        campaign.start()


_docker_outcomes: dict[str, int] = {"passed": 0, "skipped": 0, "other": 0}


def pytest_runtest_logreport(report):
    if "docker" not in report.keywords:
        return
    if report.when == "call" or (report.when == "setup" and report.outcome != "passed"):
        key = report.outcome if report.outcome in ("passed", "skipped") else "other"
        _docker_outcomes[key] += 1


def pytest_sessionfinish(session, exitstatus):
    from tests import campaign
    campaign.stop()
    if REQUIRE_DOCKER and _docker_outcomes["skipped"]:
        print(f"\nDNSLAB_REQUIRE_DOCKER=1: {_docker_outcomes['skipped']} Docker-tier test(s) "
              "skipped; that is a failure here")
        session.exitstatus = 1
