"""Results are atomic and never stale; every user-facing failure is one line."""

import errno
import io
import json
import subprocess
import sys

import pytest

from lab import results
from lab.errors import LabError


def test_result_directory_names_are_safe_and_unique():
    from pathlib import Path
    names = results.dir_names([Path("a/...yaml"), Path("b/race.yaml"), Path("c/race.yaml"),
                               Path("..yaml"), Path("x/héllo wörld.yaml"), Path("latest.yaml")])
    assert names[1:3] == ["race", "race-2"]
    assert all(n not in (".", "..", "") and not n.startswith(".") and "/" not in n for n in names)
    assert len(set(names)) == len(names)


def test_publish_replaces_old_results_whole(tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    (out / "summary.json").write_text('{"as_expected": true}')
    (out / "junit.xml").write_text("<old/>")
    staging = results.stage(out, "r1")
    (staging / "summary.json").write_text('{"verdict": "aborted"}')
    results.publish(staging, out)
    assert json.loads((out / "summary.json").read_text()) == {"verdict": "aborted"}
    assert not (out / "junit.xml").exists()       # nothing of the previous run is left
    assert [p.name for p in tmp_path.iterdir()] == ["run"]


def test_latest_points_at_the_newest(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for _ in range(2):
        out = results.default_dir()
        staging = results.stage(out, "x")
        results.publish(staging, out)
        results.point_latest(out)
    assert (tmp_path / "results" / "latest").resolve() == out.resolve()
    assert len([p for p in (tmp_path / "results").iterdir() if not p.is_symlink()]) == 2


def test_unwritable_out_is_one_line_before_the_lab_is_touched(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    proc = subprocess.run([sys.executable, "-m", "lab", "run", "experiments/steady-state.yaml",
                           "--out", str(blocker / "out")], capture_output=True, text=True,
                          timeout=60, env={"PATH": "/usr/bin:/bin", "DOCKER_HOST": "unix:///nonexistent"})
    assert proc.returncode == 2
    [line] = proc.stderr.strip().splitlines()
    assert line.startswith("dnslab: error: cannot write results at") and str(blocker) in line


def test_a_full_disk_while_running_is_kept_and_the_index_still_sees_every_event():
    from lab.core.history import Event, Kind
    from lab.execute import _Sink

    class Full(io.StringIO):
        def write(self, s):
            raise OSError(errno.ENOSPC, "No space left on device")

    seen = []
    sink = _Sink(Full(), seen.append)
    event = Event(1.0, "runner", Kind.PHASE, {"phase": "setup"})
    sink(event)
    sink(event)
    assert seen == [event, event] and sink.error.errno == errno.ENOSPC


def test_write_run_on_a_full_disk_names_the_path(tmp_path, monkeypatch):
    import lab.eventlog

    def full(path, events):
        raise OSError(errno.ENOSPC, "No space left on device")
    monkeypatch.setattr(lab.eventlog, "write_events", full)
    with pytest.raises(LabError, match=f"cannot write results at {tmp_path}.*No space left"):
        results.write_run(tmp_path, {}, [])


@pytest.mark.parametrize("error,words", [
    ("transient", "is the lab up?"),
    ("oserror", "No space left on device at /x"),
])
def test_component_and_disk_failures_are_one_line(monkeypatch, capsys, error, words):
    from lab import cli
    from lab.core.ports import TransientError

    def boom(args):
        if error == "transient":
            raise TransientError("etcd at http://198.51.100.1:2379/v3 unreachable (ConnectTimeout)")
        raise OSError(errno.ENOSPC, "No space left on device", "/x")
    monkeypatch.setattr(cli, "cmd_status", boom)
    assert cli.main(["status"]) == 2
    [line] = capsys.readouterr().err.strip().splitlines()
    assert line.startswith("dnslab: error:") and words in line


class FakeEtcd:
    def __init__(self, ttl="10", holder="run-1", fail=False):
        self.ttl, self.holder, self.fail = ttl, holder, fail

    def grant(self, ttl):
        return "7"

    def revoke(self, lease):
        pass

    def call(self, path, body):
        from lab.core.ports import TransientError
        from lab.etcd import b64
        if self.fail and path != "/kv/txn":
            raise TransientError("etcd unreachable")
        if path == "/kv/txn":
            return {"succeeded": True}
        if path == "/lease/keepalive":
            return {"result": {"ID": "7", "TTL": self.ttl} if self.ttl else {"ID": "7"}}
        if path == "/kv/range":
            return {"kvs": [{"value": b64(self.holder)}]} if self.holder else {}
        raise AssertionError(path)


@pytest.mark.parametrize("etcd,why", [
    (FakeEtcd(ttl=None), "expired"),
    (FakeEtcd(holder="someone-else"), "now names someone-else"),
    (FakeEtcd(fail=True), "did not answer"),
])
def test_the_lease_keepalive_checks_etcds_answer(etcd, why):
    import time

    from lab.faults import RunLease
    lease = RunLease(etcd, "run-1", ttl_s=0.2).start()
    deadline = time.monotonic() + 5
    while lease.lost is None and time.monotonic() < deadline:
        time.sleep(0.02)
    lease.stop()
    assert lease.lost and why in lease.lost


def test_a_healthy_lease_is_not_lost():
    import time

    from lab.faults import RunLease
    lease = RunLease(FakeEtcd(), "run-1", ttl_s=0.2).start()
    time.sleep(0.3)
    lease.stop()
    assert lease.lost is None


def test_an_out_that_is_not_a_result_is_never_replaced(tmp_path):
    """`--out .` or `--out ~/project` must not move or delete the user's files."""
    mine = tmp_path / "project"
    mine.mkdir()
    (mine / "notes.txt").write_text("keep me")
    with pytest.raises(LabError, match="not a lab result directory"):
        results.ensure_writable(mine)
    staging = results.stage(tmp_path / "other", "r1")
    with pytest.raises(LabError, match="kept in"):
        results.publish(staging, mine)
    assert (mine / "notes.txt").read_text() == "keep me" and staging.exists()
    assert results.replaceable(tmp_path / "absent") and results.replaceable(tmp_path / "other")


def test_a_worker_exits_promptly_on_sigterm_even_where_sigterm_is_ignored():
    """In its container a worker is PID 1, where SIGTERM does nothing by default: every
    rollback used to wait out `docker stop`'s timeout per worker. Simulated here by starting
    the worker with SIGTERM ignored; its own handler must end it at once."""
    import signal
    import socket
    import time
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen(
        [sys.executable, "-m", "lab", "prober", "--resolver", "127.0.0.1", "--authoritative",
         "127.0.0.1", "--port", str(port), "--interval", "0.2", "--timeout", "0.1",
         "--max-seconds", "60"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        preexec_fn=lambda: signal.signal(signal.SIGTERM, signal.SIG_IGN))
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and "metrics on" not in (proc.stdout.readline() or ""):
            pass
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=5) == 0
    finally:
        proc.kill()
