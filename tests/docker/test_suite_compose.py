"""The main job: `docker compose up experiments` runs the shipped suite inside a container
that drives its siblings through the Docker socket, leaves its results on the host — and
leaves a decoy container of another project untouched, even one that carries the lab's
worker label and is paused. The suite runs once per backend, picked by the compose variable
DNSLAB_BACKEND: on PowerDNS through `up`, on CoreDNS through `run --rm`, whose exit status
is the suite's (the README's way to gate a pipeline)."""

import hashlib
import json
import os
import subprocess

import pytest

from lab import config, scenario


@pytest.fixture(scope="module", params=["powerdns", "coredns"])
def suite(suites, request):
    return suites(request.param)


def test_compose_up_experiments_runs_the_suite_and_exits_0(suite):
    proc, results, backend = suite.proc, suite.dir, suite.backend
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    runs = json.loads((results / "suite.json").read_text())["runs"]
    # Every shipped file whose `backends:` lists this backend ran; the others are named as
    # not run here, and did not run.
    shipped = {p.stem: scenario.load(p) for p in (config.repo_root() / "experiments").glob("*.yaml")}
    meant = {name for name, s in shipped.items() if backend in s.backends}
    assert {r["dir"] for r in runs} == meant, (sorted(r["dir"] for r in runs), sorted(meant))
    for name in set(shipped) - meant:
        assert f"{name}.yaml is not run on {backend}" in proc.stdout + proc.stderr, name
    assert all(r["as_expected"] for r in runs), runs
    for r in runs:
        summary = suite.summary(r["dir"])
        assert summary["backend"] == backend, r["dir"]
        assert f"<td>{backend}</td>" in (results / r["dir"] / "report.html").read_text()
        # The checkout's file, as it is now, is what ran.
        source = config.repo_root() / "experiments" / f"{r['dir']}.yaml"
        assert summary["experiment"]["sha256"] == hashlib.sha256(source.read_bytes()).hexdigest()
        assert all(f["status"] == "fired" for f in summary["faults"]), r["dir"]
        assert summary["unexplained_failures"]["count"] == 0, r["dir"]
    for r in runs:
        for name in ("summary.json", "events.jsonl", "report.html", "junit.xml"):
            assert (results / r["dir"] / name).stat().st_size > 0
    assert (results / "index.html").exists() and 'failures="0"' in (results / "junit.xml").read_text()


def test_the_race_costs_more_with_longer_ttls(suites):
    # The TTL files run on PowerDNS only (`backends: [powerdns]`): CoreDNS's etcd plugin
    # fixes the negative TTL at 30 s, so their 5 s and 60 s cannot apply there (a CoreDNS
    # run of one says so: tests/unit/test_suite.py).
    suite = suites("powerdns")
    runs = {r["dir"]: r for r in json.loads((suite.dir / "suite.json").read_text())["runs"]}
    short, long = runs["race-short-ttls"], runs["race-long-ttls"]
    assert long["outage"]["client_seconds_lost"] > short["outage"]["client_seconds_lost"]
    assert long["outage"]["duration_s"] > short["outage"]["duration_s"]


def test_a_decoy_of_another_project_is_untouched(suite):
    assert suite.decoy_before[1] == "paused"
    assert suite.decoy_after == suite.decoy_before


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
