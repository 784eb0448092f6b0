import json
import os
import shutil
import subprocess
from dataclasses import dataclass
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
        proc = subprocess.run(["docker", "compose", "-f", str(config.repo_root() / "compose.yaml"),
                               "-p", config.PROJECT, *verb, "experiments"],
                              capture_output=True, text=True, timeout=2400,
                              cwd=config.repo_root(), env={**os.environ, "DNSLAB_BACKEND": backend})
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
    return SuiteRun(backend, proc, kept, before, after)


@pytest.fixture(scope="session")
def suites(lab):
    """suites(backend) -> SuiteRun, run at most once per backend per session."""
    done: dict[str, SuiteRun] = {}

    def get(backend: str) -> SuiteRun:
        if backend not in done:
            done[backend] = _run_suite(lab, backend)
        return done[backend]
    return get
