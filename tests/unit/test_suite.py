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


def test_a_suite_runs_a_file_only_on_the_backends_it_lists():
    proc = dnslab("run", "experiments", "--dry", "--backend", "coredns")
    assert proc.returncode == 0, proc.stderr
    assert "race-short-ttls.yaml is not run on coredns (its backends: powerdns)" in proc.stdout
    assert "race-short-ttls.yaml: " not in proc.stdout and "dynamodb-race.yaml: " in proc.stdout
    proc = dnslab("run", "experiments", "--dry", "--backend", "powerdns")
    assert "race-short-ttls.yaml: " in proc.stdout and "is not run on" not in proc.stdout


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
    s = dict(summarize(race_history(), backend="powerdns", seed=1, title="race",
                       expected="outage"), as_expected=True)
    held = dict(s, title="steady", expected="hold", as_expected=False)
    suite.write_index(tmp_path, [(Path("experiments/race.yaml"), s, "race"),
                                 (Path("experiments/steady.yaml"), held, "steady")])
    page = (tmp_path / "index.html").read_text()
    assert 'href="race/report.html"' in page and 'href="steady/report.html"' in page
    assert "NOT as expected" in page
    assert 'failures="1"' in (tmp_path / "junit.xml").read_text()


def test_an_undecided_run_in_the_index_never_reads_as_no_outage(tmp_path):
    import json
    race = summarize(race_history(), backend="powerdns", seed=1, title="race", expected="outage")
    broken = summarize(race_history()[:1], backend="powerdns", seed=1, title="broken",
                       expected="hold", status="error", reason="cannot reach <pdns>")
    suite.write_index(tmp_path, [(Path("experiments/race.yaml"), race, "race"),
                                 (Path("experiments/broken.yaml"), broken, "broken")])
    page = (tmp_path / "index.html").read_text()
    row = page[page.index("broken/report.html"):]
    row = row[:row.index("</tr>")]
    assert '<td class=bad>error</td>' in row
    assert "— (error: cannot reach &lt;pdns&gt;)" in row and "0 / " not in row
    assert '<a href="broken/report.html">report</a>' in row
    assert '<td class=ok>hypothesis-violated</td>' in page
    runs = {r["dir"]: r for r in json.loads((tmp_path / "suite.json").read_text())["runs"]}
    assert runs["broken"]["outage"] is None and runs["broken"]["reason"] == "cannot reach <pdns>"
    assert runs["race"]["outage"]["detected"] is True
    assert runs["race"]["report"] == "race/report.html" and runs["race"]["time_to_page_s"] is None


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


def test_a_duration_override_that_cuts_a_fault_off_is_refused():
    """planner-burst with --duration 3 used to pass without its second burst."""
    proc = dnslab("run", "experiments/planner-burst.yaml", "--dry", "--duration", "3")
    assert proc.returncode == 2
    [line] = proc.stderr.strip().splitlines()
    assert "faults[1].at_s" in line and "--duration" in line


class FakeRunner:
    """Stands in for the real run (Docker tier) so the CLI's own bookkeeping is tested."""

    def __init__(self, s, where, stack, *, echo, lease, experiment):
        self.s, self.where, self.experiment = s, where, experiment

    def run(self):
        from lab import results
        staging = results.stage(self.where, "fake")
        summary = {"verdict": "hypothesis-held", "as_expected": self.s.expect == "hold",
                   "outage": {"failed_probes": 0, "total_probes": 1,
                              "clients_affected_fraction": 0.0, "client_seconds_lost": 0,
                              "duration_s": 0}, "detection_lag_ms": None,
                   "automation_stuck": False, "recovered_by": None, "title": self.s.title,
                   "backend": self.s.backend, "experiment": self.experiment}
        results.write_run(staging, summary, [])
        results.publish(staging, self.where)
        from lab.core.blast import Summary
        return Summary(summary)


def _fake_lab(monkeypatch):
    import contextlib

    from lab import cli, run
    monkeypatch.setattr(run, "Runner", FakeRunner)
    monkeypatch.setattr(cli, "_lab_for_runs", lambda stack, args: contextlib.nullcontext())


def test_one_file_writes_its_run_and_a_directory_of_one_writes_a_suite(monkeypatch, tmp_path):
    import json

    from lab import cli
    _fake_lab(monkeypatch)
    assert cli.main(["run", "experiments/steady-state.yaml", "--out", str(tmp_path / "one")]) == 0
    assert json.loads((tmp_path / "one" / "summary.json").read_text())["title"]
    folder = tmp_path / "experiments"
    folder.mkdir()
    (folder / "added.yaml").write_text(Path("experiments/dynamodb-race.yaml").read_text())
    assert cli.main(["run", str(folder), "--out", str(tmp_path / "suite")]) == 1
    [run] = json.loads((tmp_path / "suite" / "suite.json").read_text())["runs"]
    assert run["dir"] == "added" and run["as_expected"] is False
    summary = json.loads((tmp_path / "suite" / "added" / "summary.json").read_text())
    assert len(summary["experiment"]["sha256"]) == 64
