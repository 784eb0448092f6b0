import json
import os
import re
import shlex
import shutil
import subprocess
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from lab import config
from lab.stack import Stack

RESULTS = config.repo_root() / "results"


@pytest.fixture(scope="session")
def lab():
    """The real lab stack, built and up for the whole Docker tier; torn down afterwards,
    and the teardown fails the run if any container, network or volume of the lab is left."""
    stack = Stack(echo=None)
    try:
        stack.up()
        yield stack
    finally:
        stack.down()
        left = stack.leftovers()
        assert not any(left.values()), f"lab resources left after down: {left}"


@dataclass
class SuiteRun:
    """One run of the shipped suite through compose on one backend, kept in
    results/suite-<backend>: every test that needs a run of a shipped experiment reads it
    here (one real run per experiment and backend)."""
    backend: str
    proc: subprocess.CompletedProcess
    dir: Path
    decoy_before: tuple
    decoy_after: tuple
    # Under tmux (CoreDNS): (host time, pane text) of each look at the terminal that showed
    # the race's live view (tests/docker/test_live_view.py). None: not run under tmux.
    captures: list | None = field(default=None)

    def run(self, name: str) -> Path:
        return self.dir / name

    def summary(self, name: str) -> dict:
        return json.loads((self.dir / name / "summary.json").read_text())


def _run_suite(lab, backend: str) -> SuiteRun:
    """On PowerDNS through `docker compose up experiments`, on CoreDNS through `docker
    compose run --rm experiments` (whose exit status is the suite's). A decoy container of
    another project, carrying the lab's worker label and paused, sits beside the suite."""
    decoy = lab.client.containers.run(
        config.BASE_IMAGE, ["sleep", "3600"], detach=True, name=f"dnslab-decoy-{backend}",
        labels={"com.docker.compose.project": "not-dnslab", "dnslab.worker": "1",
                "com.docker.compose.service": "enactor-a"}, network_mode="none")
    try:
        decoy.pause()
        decoy.reload()
        before = (decoy.id, decoy.status, decoy.attrs["State"]["StartedAt"])
        shutil.rmtree(RESULTS / "suite", ignore_errors=True)
        verb = ["up"] if backend == "powerdns" else ["run", "--rm"]
        command = ["docker", "compose", "-f", str(config.repo_root() / "compose.yaml"),
                   "-p", config.PROJECT, *verb, "experiments"]
        env = {**os.environ, "DNSLAB_BACKEND": backend}
        captures = None
        if backend == "coredns":
            # In a terminal (tmux), so the experiments container gets a TTY and shows the
            # live view; the race's screens are kept for test_live_view.py.
            proc, captures = _in_tmux(command, env, keep=lambda text: RACE_LABEL in text)
        else:
            proc = subprocess.run(command, capture_output=True, text=True, timeout=2400,
                                  cwd=config.repo_root(), env=env)
        decoy.reload()
        after = (decoy.id, decoy.status, decoy.attrs["State"]["StartedAt"])
    finally:
        try:
            decoy.unpause()
        except Exception:
            pass
        decoy.remove(force=True)
    kept = RESULTS / f"suite-{backend}"     # the next backend's run replaces results/suite
    shutil.rmtree(kept, ignore_errors=True)
    if (RESULTS / "suite").exists():
        shutil.copytree(RESULTS / "suite", kept)
    return SuiteRun(backend, proc, kept, before, after, captures)


RACE_LABEL = "dynamodb-race ("      # the live view's label of the race's run in a suite
# A terminal's escape sequences: CSI, OSC, charset and single-character ones.
ANSI = re.compile(r"\x1b(\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(\x07|\x1b\\)|[()][0-9A-Za-z]"
                  r"|[=>78DEHMc])")
PASSED_ON = ("DOCKER_", "DNSLAB_", "COMPOSE_", "PATH", "HOME", "XDG_RUNTIME_DIR")


def _in_tmux(command: list[str], env: dict, *, keep, timeout_s: float = 2400,
             every_s: float = 0.5) -> tuple[subprocess.CompletedProcess, list]:
    """Run ``command`` in a detached 200x50 tmux session (a terminal, so `docker compose
    run` gives the container a TTY). Returns a CompletedProcess carrying the command's exit
    status and the pane's output (everything it printed, escape sequences removed, in
    ``stdout``), and the (host time, pane text) of every look at the pane, twice a second,
    whose text ``keep`` accepts."""
    work = Path(tempfile.mkdtemp(prefix="dnslab-tmux-"))
    session = f"dnslab-suite-{uuid.uuid4().hex[:8]}"
    rc, log, go = work / "rc", work / "pane.log", work / "go"
    # The tmux server may be older than this process: its environment is not ours, so the
    # script sets what compose needs.
    exports = "".join(f"export {k}={shlex.quote(v)}\n" for k, v in env.items()
                      if k.startswith(PASSED_ON) or k in PASSED_ON)
    script = work / "run.sh"
    script.write_text(
        f"{exports}cd {shlex.quote(str(config.repo_root()))}\n"
        f"while [ ! -e {shlex.quote(str(go))} ]; do sleep 0.1; done\n"
        f"{shlex.join(command)}\n"
        f"echo $? > {shlex.quote(str(rc))}.tmp && mv {shlex.quote(str(rc))}.tmp "
        f"{shlex.quote(str(rc))}\n")
    tmux = ["tmux", "-L", session]            # a server of its own: no one else's options
    subprocess.run([*tmux, "new-session", "-d", "-s", session, "-x", "200", "-y", "50",
                    f"bash {shlex.quote(str(script))}"], check=True, timeout=30)
    captures: list[tuple[float, str]] = []
    try:
        subprocess.run([*tmux, "set-option", "-t", session, "remain-on-exit", "on"],
                       check=True, timeout=30)
        subprocess.run([*tmux, "pipe-pane", "-t", session, "-o",
                        f"cat >> {shlex.quote(str(log))}"], check=True, timeout=30)
        go.touch()
        deadline = time.monotonic() + timeout_s
        while not rc.exists():
            if time.monotonic() > deadline:
                raise TimeoutError(f"{shlex.join(command)} did not end within {timeout_s} s "
                                   f"(pane log: {log})")
            seen = time.time()
            shot = subprocess.run([*tmux, "capture-pane", "-p", "-t", session],
                                  capture_output=True, text=True, timeout=30)
            if shot.returncode == 0 and keep(shot.stdout):
                captures.append((seen, shot.stdout))
            time.sleep(every_s)
        status = int(rc.read_text().strip() or "255")
    finally:
        subprocess.run([*tmux, "kill-server"], capture_output=True, timeout=30)
    output = log.read_text(errors="replace") if log.exists() else ""
    shutil.rmtree(work, ignore_errors=True)
    proc = subprocess.CompletedProcess(command, status, ANSI.sub("", output).replace("\r", ""),
                                       "")
    return proc, captures


@pytest.fixture(scope="session")
def suites(lab):
    """suites(backend) -> SuiteRun, run at most once per backend per session."""
    done: dict[str, SuiteRun] = {}

    def get(backend: str) -> SuiteRun:
        if backend not in done:
            done[backend] = _run_suite(lab, backend)
        return done[backend]
    return get
