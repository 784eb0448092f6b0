"""The safeguard campaign CI runs: `dnslab search experiments/dynamodb-race.yaml
--mitigations all --budget 10000` in the simulation. It is started in the background (at
the lowest CPU priority) as soon as the session's tests are collected, so it uses the CPU
the Docker tier's real runs leave idle; tests/unit/test_search_campaign.py waits for it and
checks its outcome. Its results stay in results/search-campaign (the README's table)."""

import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "results" / "search-campaign"
BUDGET = 10000
COMMAND = ["search", "experiments/dynamodb-race.yaml", "--mitigations", "all", "--budget",
           str(BUDGET), "--find", "any", "--workers", "2", "--out", str(OUT), "-q"]
WAIT_S = 45 * 60


class Campaign:
    def __init__(self):
        self.log = ROOT / "results" / "search-campaign.log"
        self.log.parent.mkdir(parents=True, exist_ok=True)
        self.began = time.monotonic()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "lab", *COMMAND], cwd=ROOT, stdout=self.log.open("w"),
            stderr=subprocess.STDOUT, preexec_fn=lambda: os.nice(19))

    def wait(self) -> tuple[int, str, float]:
        try:
            code = self.proc.wait(timeout=WAIT_S)
        except subprocess.TimeoutExpired:
            self.stop()
            code = -1
        return code, self.log.read_text()[-3000:], time.monotonic() - self.began

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


_running: Campaign | None = None


def start() -> None:
    global _running
    if _running is None:
        _running = Campaign()


def running() -> Campaign:
    start()
    return _running


def stop() -> None:
    if _running is not None:
        _running.stop()
