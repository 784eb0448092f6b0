"""The safeguard campaign CI runs: `dnslab search experiments/dynamodb-race.yaml
--mitigations all --budget 10000` in the simulation. It is started in the background (at
the lowest CPU priority) as soon as the session's tests are collected, so it uses the CPU
the Docker tier's real runs leave idle; tests/unit/test_search_campaign.py waits for it and
checks its outcome. Its results stay in results/search-campaign (the README's table).

scripts/test starts it earlier still, before the engine and the images are set up (mostly
waiting on downloads and disk): `python -m tests.campaign` in the background, which runs it
and writes its exit status to results/search-campaign.rc; the session then adopts that run
(``DNSLAB_CAMPAIGN=started``) instead of starting its own."""

import os
import signal
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
RC = ROOT / "results" / "search-campaign.rc"
PID = ROOT / "results" / "search-campaign.pid"
LOG = ROOT / "results" / "search-campaign.log"


class Campaign:
    def __init__(self):
        self.log = LOG
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


class Adopted:
    """The campaign scripts/test started before the session (``python -m tests.campaign``)."""

    def __init__(self):
        self.began = time.monotonic()
        deadline = self.began + 60           # it writes its pid first thing
        while not PID.exists() and time.monotonic() < deadline:
            time.sleep(0.2)
        self.pid = int(PID.read_text()) if PID.exists() else 0

    def wait(self) -> tuple[int, str, float]:
        deadline = time.monotonic() + WAIT_S
        while not RC.exists() and time.monotonic() < deadline and self.pid and \
                _alive(self.pid):
            time.sleep(1.0)
        code = int(RC.read_text() or -1) if RC.exists() else -1
        return code, LOG.read_text()[-3000:], time.monotonic() - self.began

    def stop(self) -> None:
        if not RC.exists() and self.pid and _alive(self.pid):
            os.killpg(self.pid, signal.SIGKILL)     # it leads its own process group


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
        return True
    except ProcessLookupError:
        return False


_running: Campaign | Adopted | None = None


def start() -> None:
    global _running
    if _running is None:
        started = os.environ.get("DNSLAB_CAMPAIGN") == "started"
        _running = Adopted() if started else Campaign()


def running() -> Campaign:
    start()
    return _running


def stop() -> None:
    if _running is not None:
        _running.stop()


def main() -> int:
    """Run the campaign now, at the lowest CPU priority, in a process group of its own;
    its exit status goes to ``RC`` (written last: its presence means it ended)."""
    os.setpgrp()
    os.nice(19)
    RC.unlink(missing_ok=True)
    LOG.parent.mkdir(parents=True, exist_ok=True)
    PID.write_text(str(os.getpid()))
    with LOG.open("w") as log:
        code = subprocess.call([sys.executable, "-m", "lab", *COMMAND], cwd=ROOT, stdout=log,
                               stderr=subprocess.STDOUT)
    tmp = RC.with_suffix(".rc.tmp")
    tmp.write_text(str(code))
    tmp.replace(RC)
    return code


if __name__ == "__main__":
    sys.exit(main())
