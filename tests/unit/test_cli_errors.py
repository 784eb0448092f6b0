"""Errors a user can fix come out as one line naming the fix, never a traceback."""

import os
import subprocess
import sys


def dnslab(*args, **env):
    return subprocess.run([sys.executable, "-m", "lab", *args], capture_output=True, text=True,
                          env={**os.environ, **env}, timeout=60)


def assert_one_line_error(proc, *words):
    assert proc.returncode == 2, proc
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("dnslab: error: ")
    for w in words:
        assert w in lines[0], lines[0]


def test_missing_engine(tmp_path):
    sock = tmp_path / "no-engine.sock"
    for verb in ("up", "down", "build", "smoke"):
        proc = dnslab(verb, "-q", DOCKER_HOST=f"unix://{sock}")
        assert_one_line_error(proc, "no Docker engine answers", "images/bootstrap")


def test_prober_without_addresses():
    env = {k: "" for k in ("LAB_RESOLVER_ADDRESS", "LAB_AUTH_ADDRESS")}
    proc = dnslab("prober", **env)
    assert_one_line_error(proc, "--resolver")
