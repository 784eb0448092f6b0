"""Killing the runner in the middle of an injected fault leaves nothing behind: SIGINT and
SIGTERM roll back before exiting; after SIGKILL the next `dnslab` command recovers."""

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from lab.etcd import EtcdGateway
from lab.faults import EtcdFaults, active_run
from lab.runtime import Workers
from tests.docker.helpers import dnslab, wait_for

SCENARIO = Path(__file__).with_name("interrupt.yaml")
PROJECT = "com.docker.compose.project=dnslab"


def paused(lab):
    return lab.client.containers.list(filters={"label": PROJECT, "status": "paused"})


def start_run(out: Path) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "lab", "run", str(SCENARIO), "--out", str(out),
                             "--no-up"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)


@pytest.fixture(autouse=True)
def never_leave_a_run_behind(lab):
    """Whatever happens in a test here, the next test must find no run, worker or fault."""
    yield
    etcd = EtcdGateway(lab.address("plan-store"))
    wait_for(lambda: active_run(etcd) is None, timeout_s=30, what="no active run")
    from lab.run import recover_abandoned
    recover_abandoned(lab, echo=lambda m: None)


def faults_in_place(lab) -> bool:
    channel = EtcdFaults(EtcdGateway(lab.address("plan-store"))).active()
    return bool(paused(lab)) and bool(channel)


def armed(etcd) -> list[tuple]:
    """The channel's faults, without how many firings each has left: the first run's own
    enactor consumes firings of its delay while the second run is being refused."""
    return [(f.kind, f.target, f.step, f.endpoint, f.seconds) for f in EtcdFaults(etcd).active()]


def assert_nothing_left(lab):
    assert paused(lab) == []
    assert Workers(lab.client, run_id="check", net_prefix="", scoped=False).all() == []
    etcd = EtcdGateway(lab.address("plan-store"))
    assert EtcdFaults(etcd).active() == []
    assert active_run(etcd) is None


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_signal_rolls_back_before_exit(lab, tmp_path, sig):
    proc = start_run(tmp_path)
    try:
        wait_for(lambda: faults_in_place(lab), timeout_s=90, what="pause and delay in place")
        proc.send_signal(sig)
        proc.wait(timeout=90)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert_nothing_left(lab)
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["verdict"] == "aborted" and "interrupted" in summary["reason"]
    assert proc.returncode == 1
    phases = [json.loads(line).get("phase") for line in (tmp_path / "events.jsonl").open()
              if '"phase"' in line]
    assert phases[-1] == "rollback"


def test_sigkill_then_next_command_recovers(lab, tmp_path):
    proc = start_run(tmp_path)
    try:
        wait_for(lambda: faults_in_place(lab), timeout_s=90, what="pause and delay in place")
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert paused(lab), "the SIGKILLed run should have left its pause in place"
    # The run lease dies with the runner; until it expires the leftovers still look owned.
    wait_for(lambda: active_run(EtcdGateway(lab.address("plan-store"))) is None,
             timeout_s=20, what="the killed run's lease to expire")
    status = dnslab("status")
    assert status.returncode == 0, status.stderr
    assert "recovered from an interrupted run" in status.stderr
    assert_nothing_left(lab)
    # The history written before the kill is intact, line by line, in the run's staging
    # directory; the destination holds no stale or partial result.
    [staging] = tmp_path.parent.glob(f".{tmp_path.name}.partial-*")
    lines = (staging / "events.jsonl").read_text().splitlines()
    assert lines and all(json.loads(line) for line in lines[:-1])
    assert not (tmp_path / "summary.json").exists()


def test_a_refused_run_changes_nothing(lab, tmp_path):
    """A second `dnslab run` while the first is in its fault window is refused in one line
    before it touches anything: the first run's pause, channel faults, workers, network and
    results stay as they were, and the first run ends on its own terms."""
    first = tmp_path / "first"
    proc = start_run(first)
    try:
        wait_for(lambda: faults_in_place(lab), timeout_s=90, what="pause and delay in place")
        etcd = EtcdGateway(lab.address("plan-store"))
        before = ({c.name for c in paused(lab)}, armed(etcd),
                  {c.name for c in Workers(lab.client, run_id="check", net_prefix="",
                                           scoped=False).all()}, active_run(etcd))
        for extra in ([], ["--no-up"]):   # refused before `compose up`, and by the run lock
            second = dnslab("run", str(SCENARIO), "--out", str(tmp_path / "second"), *extra)
            assert second.returncode == 2, second.stderr
            lines = second.stderr.strip().splitlines()
            assert len(lines) == 1 and "another run" in lines[0] and "nothing was changed" in lines[0]
        after = ({c.name for c in paused(lab)}, armed(etcd),
                 {c.name for c in Workers(lab.client, run_id="check", net_prefix="",
                                          scoped=False).all()}, active_run(etcd))
        assert after == before
        assert lab.client.networks.list(names=["dnslab_lab"])
        assert not list(tmp_path.glob("*second*")) and not list(tmp_path.glob(".second*"))
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=90)
    finally:
        if proc.poll() is None:
            proc.kill()
    summary = json.loads((first / "summary.json").read_text())
    assert summary["verdict"] == "aborted" and "interrupted" in summary["reason"], summary
    assert_nothing_left(lab)


def test_compose_stop_of_the_experiments_service_in_a_fault_window_leaves_nothing(lab, tmp_path):
    """`docker compose stop experiments` while its run holds a pause and a delay: the runner
    (under an init, SIGTERM handled) rolls back within the service's stop grace period and
    exits on its own (not killed: exit status is not 137); nothing is left paused, running
    or armed, and the run's summary says it was interrupted."""
    import shutil

    from lab import config
    experiments = tmp_path / "experiments"
    experiments.mkdir()
    shutil.copy(SCENARIO, experiments / SCENARIO.name)
    results = tmp_path / "results"
    env = {**os.environ, "DNSLAB_EXPERIMENTS": str(experiments), "DNSLAB_RESULTS": str(results)}
    compose = ["docker", "compose", "-f", str(lab.compose_file), "-p", config.PROJECT]
    try:
        up = subprocess.run([*compose, "up", "-d", "--no-deps", "--force-recreate", "experiments"],
                            capture_output=True, text=True, timeout=120, cwd=lab.root, env=env)
        assert up.returncode == 0, up.stderr
        wait_for(lambda: faults_in_place(lab), timeout_s=120, what="pause and delay in place")
        stop = subprocess.run([*compose, "stop", "experiments"], capture_output=True, text=True,
                              timeout=180, cwd=lab.root, env=env)
        assert stop.returncode == 0, stop.stderr
        runner = lab.client.containers.list(all=True, filters={"label": [
            PROJECT, "com.docker.compose.service=experiments", "com.docker.compose.oneoff=False"]})
        assert runner and runner[0].attrs["State"]["ExitCode"] != 137, \
            runner[0].logs(tail=30).decode(errors="replace")
        assert_nothing_left(lab)
        summaries = list(results.rglob("summary.json"))
        assert summaries, list(results.rglob("*"))
        summary = json.loads(summaries[0].read_text())
        assert summary["verdict"] == "aborted" and "interrupted" in summary["reason"], summary
    finally:
        subprocess.run([*compose, "rm", "-f", "-s", "experiments"], capture_output=True,
                       timeout=120, cwd=lab.root, env=env)


@pytest.mark.takes_lab_down
def test_one_down_during_a_run_in_the_experiments_service_leaves_nothing(lab, tmp_path):
    """`dnslab down` while the experiments service is in a fault window: one call removes
    the runner, its workers (which compose did not create), the networks and the volumes,
    and exits 0. A container of another project whose name starts with `dnslab-` is neither
    touched nor counted as left over (scope goes by label, never by name)."""
    from lab import config
    lab.up(build=False)      # whatever the tests before left stopped (seen in CI: plan-store)
    decoy = lab.client.containers.run(config.BASE_IMAGE, ["sleep", "600"], detach=True,
                                      name="dnslab-not-the-lab", network_mode="none",
                                      labels={"com.docker.compose.project": "not-dnslab"})
    try:
        started = subprocess.run(
            ["docker", "compose", "-f", str(lab.compose_file), "-p", config.PROJECT, "run",
             "-d", "--rm", "--no-deps", "experiments", "run",
             "/opt/dnslab/experiments/interrupt.yaml", "--no-up",
             "--out", "/opt/dnslab/results/down-during-run"],
            capture_output=True, text=True, timeout=120, cwd=lab.root,
            env={**os.environ, "DNSLAB_EXPERIMENTS": str(SCENARIO.parent)})
        assert started.returncode == 0, started.stderr
        wait_for(lambda: faults_in_place(lab), timeout_s=120, what="pause and delay in place")
        down = dnslab("down", timeout=180)
        assert down.returncode == 0, down.stderr
        assert "no container, network or volume of the lab is left" in down.stdout
        assert not any(lab.leftovers().values()), lab.leftovers()
        decoy.reload()
        assert decoy.status == "running"
    finally:
        decoy.remove(force=True)
        lab.up(build=False)      # the rest of the Docker tier needs the lab
