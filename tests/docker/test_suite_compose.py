"""The main job: `docker compose up experiments` runs the shipped suite inside a container
that drives its siblings through the Docker socket, leaves its results on the host — and
leaves a decoy container of another project untouched, even one that carries the lab's
worker label and is paused. The suite runs once per backend, picked by the compose variable
DNSLAB_BACKEND: on PowerDNS through `up`, on CoreDNS through `run --rm`, whose exit status
is the suite's (the README's way to gate a pipeline)."""

import hashlib
import json
import os
import shutil
import subprocess

import pytest

from lab import config

RESULTS = config.repo_root() / "results" / "suite"


@pytest.fixture(scope="module", params=["powerdns", "coredns"])
def suite(lab, request):
    decoy = lab.client.containers.run(
        config.BASE_IMAGE, ["sleep", "3600"], detach=True, name="dnslab-decoy-not-ours",
        labels={"com.docker.compose.project": "not-dnslab", "dnslab.worker": "1",
                "com.docker.compose.service": "enactor-a"}, network_mode="none")
    try:
        decoy.pause()
        decoy.reload()
        before = (decoy.id, decoy.attrs["State"]["StartedAt"])
        shutil.rmtree(RESULTS, ignore_errors=True)
        verb = ["up"] if request.param == "powerdns" else ["run", "--rm"]
        proc = subprocess.run(["docker", "compose", "-f", str(config.repo_root() / "compose.yaml"),
                               "-p", config.PROJECT, *verb, "experiments"],
                              capture_output=True, text=True, timeout=2400,
                              cwd=config.repo_root(),
                              env={**os.environ, "DNSLAB_BACKEND": request.param})
        decoy.reload()
        # Keep each backend's results beside results/suite (the next run overwrites it),
        # replacing, not merging into, an older copy.
        if RESULTS.exists():
            kept = RESULTS.with_name(f"suite-{request.param}")
            shutil.rmtree(kept, ignore_errors=True)
            shutil.copytree(RESULTS, kept)
        yield proc, decoy, before, request.param
    finally:
        try:
            decoy.unpause()
        except Exception:
            pass
        decoy.remove(force=True)


def test_compose_up_experiments_runs_the_suite_and_exits_0(suite):
    proc, _, _, backend = suite
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    runs = json.loads((RESULTS / "suite.json").read_text())["runs"]
    assert {r["dir"] for r in runs} >= {"dynamodb-race", "steady-state", "enactor-killed-mid-plan",
                                        "planner-burst", "enactor-paused-past-cleanup-horizon",
                                        "race-short-ttls", "race-long-ttls"}
    assert all(r["as_expected"] for r in runs), runs
    for r in runs:
        summary = json.loads((RESULTS / r["dir"] / "summary.json").read_text())
        assert summary["backend"] == backend, r["dir"]
        assert f"<td>{backend}</td>" in (RESULTS / r["dir"] / "report.html").read_text()
    for r in runs:
        for name in ("summary.json", "events.jsonl", "report.html", "junit.xml"):
            assert (RESULTS / r["dir"] / name).stat().st_size > 0
    assert (RESULTS / "index.html").exists() and 'failures="0"' in (RESULTS / "junit.xml").read_text()


def test_the_race_costs_more_with_longer_ttls(suite):
    backend = suite[3]
    runs = {r["dir"]: r for r in json.loads((RESULTS / "suite.json").read_text())["runs"]}
    short, long = runs["race-short-ttls"], runs["race-long-ttls"]
    if backend == "powerdns":
        assert long["outage"]["client_seconds_lost"] > short["outage"]["client_seconds_lost"]
        assert long["outage"]["duration_s"] > short["outage"]["duration_s"]
    else:
        # CoreDNS's etcd plugin fixes the negative TTL at 30 s: the runs say so rather than
        # pretend the files' 5 s and 60 s applied.
        for run, asked in ((short, 5), (long, 60)):
            summary = json.loads((RESULTS / run["dir"] / "summary.json").read_text())
            assert (summary["negative_ttl_s"], summary["requested_negative_ttl_s"]) == (30, asked)


def test_a_decoy_of_another_project_is_untouched(suite):
    _, decoy, before, _ = suite
    assert decoy.status == "paused"
    assert (decoy.id, decoy.attrs["State"]["StartedAt"]) == before


FAILING = """\
title: Added after the images were built, and made to fail
expect: outage
clients: 4
prober_containers: 1
steady_state_s: 2
duration_s: 3
"""


def test_compose_run_exits_with_the_suite_status_and_runs_the_files_as_they_are(lab, tmp_path):
    """`docker compose run --rm experiments` runs the experiment files as they are now (here
    DNSLAB_EXPERIMENTS names a directory holding one file written after the images were
    built; by default it is the checkout's experiments/) and exits non-zero when one ends other than expected."""
    experiments, results = tmp_path / "experiments", tmp_path / "results"
    experiments.mkdir()
    results.mkdir()
    added = experiments / "added-after-build.yaml"
    added.write_text(FAILING)
    proc = subprocess.run(
        ["docker", "compose", "-f", str(config.repo_root() / "compose.yaml"), "-p",
         config.PROJECT, "run", "--rm", "experiments"],
        capture_output=True, text=True, timeout=600, cwd=config.repo_root(),
        env={**os.environ, "DNSLAB_EXPERIMENTS": str(experiments), "DNSLAB_RESULTS": str(results)})
    assert proc.returncode == 1, proc.stdout[-3000:] + proc.stderr[-2000:]
    [run] = json.loads((results / "suite" / "suite.json").read_text())["runs"]
    assert run["dir"] == "added-after-build" and run["as_expected"] is False
    summary = json.loads((results / "suite" / "added-after-build" / "summary.json").read_text())
    assert summary["title"] == "Added after the images were built, and made to fail"
    assert summary["experiment"]["sha256"] == hashlib.sha256(added.read_bytes()).hexdigest()
    assert summary["verdict"] == "hypothesis-held" and summary["outage"]["detected"] is False
