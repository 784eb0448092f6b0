"""The suite around runs: collect-and-validate first, --dry touches nothing, the index."""

import subprocess
import sys
from pathlib import Path

from lab import suite
from lab.core.blast import summarize
from tests.unit.test_run_model import race_history


def dnslab(*args, **env):
    import os
    return subprocess.run([sys.executable, "-m", "lab", *args], capture_output=True, text=True,
                          timeout=60, env={**os.environ, "DOCKER_HOST": "unix:///nonexistent",
                                           **env})


def test_dry_run_prints_the_plan_without_an_engine():
    proc = dnslab("run", "experiments", "--dry")
    assert proc.returncode == 0, proc.stderr
    assert "delay enactor-a at after-freshness-check for 12 s" in proc.stdout
    assert "+8 s after fault 0 took effect: delay enactor-b at before-cleanup" in proc.stdout
    assert "steady-state.yaml" in proc.stdout and "(no faults)" in proc.stdout


def test_backend_override_from_the_flag_and_the_compose_variable():
    proc = dnslab("run", "experiments/race-short-ttls.yaml", "--dry", "--backend", "coredns")
    assert proc.returncode == 0, proc.stderr
    assert "backend coredns" in proc.stdout
    # CoreDNS's etcd plugin fixes the negative TTL; the plan says so instead of pretending.
    assert "SOA negative TTL 30 s (fixed by coredns; the file asks 5 s)" in proc.stdout
    proc = dnslab("run", "experiments/race-short-ttls.yaml", "--dry", DNSLAB_BACKEND="coredns")
    assert "backend coredns" in proc.stdout
    proc = dnslab("run", "experiments/race-short-ttls.yaml", "--dry", DNSLAB_BACKEND="")
    assert "backend powerdns" in proc.stdout and "negative TTL 5 s," in proc.stdout
    proc = dnslab("run", "experiments", "--dry", DNSLAB_BACKEND="bind")
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert proc.stderr.strip() == ("dnslab: error: DNSLAB_BACKEND must be one of powerdns, "
                                   "coredns (or empty), not 'bind'")


def test_one_malformed_file_stops_the_suite_before_anything_runs(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("title: t\nexpect: hold\nclients: many\n")
    proc = dnslab("run", "experiments", str(bad), "--out", str(tmp_path / "out"))
    assert proc.returncode == 2
    line = proc.stderr.strip()
    assert line.startswith(f"dnslab: error: {bad}:3:") and "clients" in line and "\n" not in line
    assert not (tmp_path / "out").exists()


def test_index_links_every_run(tmp_path):
    s = summarize(race_history(), backend="powerdns", seed=1, title="race", expected="outage")
    s["as_expected"] = True
    held = dict(s, title="steady", expected="hold", as_expected=False)
    suite.write_index(tmp_path, [(Path("experiments/race.yaml"), s, "race"),
                                 (Path("experiments/steady.yaml"), held, "steady")])
    page = (tmp_path / "index.html").read_text()
    assert 'href="race/report.html"' in page and 'href="steady/report.html"' in page
    assert "NOT as expected" in page
    assert 'failures="1"' in (tmp_path / "junit.xml").read_text()


class FakeStack:
    def __init__(self):
        self.calls = []

    def up(self, *, build, grafana):
        self.calls.append(("up", grafana))

    def down(self):
        self.calls.append(("down",))

    def address(self, service):
        return "198.51.100.1"


class FakeLease:
    refuse = False

    def __init__(self, etcd, run_id):
        self.run_id = run_id

    def start(self):
        from lab.faults import RunInProgress
        if self.refuse:
            raise RunInProgress("another run (x) is in progress on this lab")
        return self

    def stop(self):
        pass


def test_runs_stop_the_lab_they_started_unless_kept_up(monkeypatch):
    from types import SimpleNamespace

    import pytest

    from lab import cli, faults
    monkeypatch.setattr(faults, "RunLease", FakeLease)
    monkeypatch.setattr(cli, "_live_run", lambda stack: None)
    for flags, expected in [({}, [("up", False), ("down",)]),
                            ({"keep_up": True}, [("up", None)]),
                            ({"no_up": True}, [])]:
        stack = FakeStack()
        args = SimpleNamespace(no_up=flags.get("no_up", False), keep_up=flags.get("keep_up", False))
        with cli._lab_for_runs(stack, args) as lease:
            assert isinstance(lease, FakeLease)
        assert stack.calls == expected, flags
    stack = FakeStack()
    with pytest.raises(RuntimeError):   # a crash during the runs still stops the lab
        with cli._lab_for_runs(stack, SimpleNamespace(no_up=False, keep_up=False)):
            raise RuntimeError("boom")
    assert stack.calls[-1] == ("down",)


def test_a_refused_run_touches_nothing(monkeypatch):
    """A live run holds the lock: the second command neither brings the lab up (which could
    recreate containers under the live run) nor takes it down."""
    from types import SimpleNamespace

    import pytest

    from lab import cli, faults
    monkeypatch.setattr(faults, "RunLease", FakeLease)
    monkeypatch.setattr(cli, "_live_run", lambda stack: "the-race")
    stack = FakeStack()
    with pytest.raises(faults.RunInProgress, match="the-race"):
        with cli._lab_for_runs(stack, SimpleNamespace(no_up=False, keep_up=False)):
            raise AssertionError("must not get here")
    assert stack.calls == []
    # The lock is refused after `up` (two commands raced to start): still no `down`.
    monkeypatch.setattr(cli, "_live_run", lambda stack: None)
    monkeypatch.setattr(FakeLease, "refuse", True)
    stack = FakeStack()
    with pytest.raises(faults.RunInProgress):
        with cli._lab_for_runs(stack, SimpleNamespace(no_up=False, keep_up=False)):
            raise AssertionError("must not get here")
    assert stack.calls == [("up", False)]
