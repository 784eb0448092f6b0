"""The simulation agrees with the real lab: each backend's real suite run (one real run per
experiment file, shared with the other Docker-tier tests) is simulated with the same files,
seed and backend, and `dnslab diff` must find every file in agreement - verdict, as-expected,
each invariant, the emptied endpoints, and per client group the outage duration within
max(2 s, 15 %) - except what a file declares under ``simulation_differs``. The diff is kept
beside the real suite (results/suite-<backend>/diff-simulation.txt and .json)."""

import json

import pytest

from tests.docker.helpers import dnslab


@pytest.mark.docker
@pytest.mark.parametrize("backend", ["powerdns", "coredns"])
def test_every_real_suite_run_agrees_with_its_simulation(suites, backend, tmp_path):
    real = suites(backend)
    assert (real.dir / "suite.json").exists(), real.proc.stdout[-2000:] + real.proc.stderr[-2000:]
    sim = tmp_path / "sim"
    proc = dnslab("run", "experiments", "--sim", "--backend", backend, "--out", str(sim),
                  timeout=300)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    report = real.dir / "diff-simulation.json"
    proc = dnslab("diff", str(real.dir), str(sim), "--json", str(report), timeout=120)
    (real.dir / "diff-simulation.txt").write_text(proc.stdout)
    runs = json.loads(report.read_text())
    real_dirs = [r["dir"] for r in json.loads((real.dir / "suite.json").read_text())["runs"]]
    assert sorted(r["run"] for r in runs) == sorted(real_dirs)
    disagreeing = [r for r in runs if not r["agrees"]]
    assert not disagreeing, proc.stdout
    assert proc.returncode == 0, proc.stdout + proc.stderr
    # A declared difference is shown, never silently dropped.
    for r in runs:
        for row in r["rows"]:
            assert row["status"] in ("agrees", "declared"), row
            if row["status"] == "declared":
                assert row["why"], row
