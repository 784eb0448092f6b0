"""A race no one scripted, replayed on real DNS: `dnslab search` finds an empty endpoint
from experiments/steady-state.yaml (no scripted fault) in the simulation, shrinks it and
writes it as an experiment file; that file, run on the real lab (PowerDNS), must empty the
endpoint the same way: never-delete-active-plan violated, the run as its file expects.
(benchmarks/search_replay.py runs it 10 times on each backend and prints the count.)"""

import json

from lab import config
from tests.docker.helpers import dnslab

RESULTS = config.repo_root() / "results"
SEED = "4"


def test_a_found_schedule_empties_the_endpoint_on_real_powerdns(lab, tmp_path):
    out = RESULTS / "search-replay"
    proc = dnslab("search", "experiments/steady-state.yaml", "--seed", SEED, "--out",
                  str(out), "-q", timeout=1200)
    assert proc.returncode == 0, proc.stderr[-2000:]
    doc = json.loads((out / "search.json").read_text())
    [found] = [f for f in doc["variants"][0]["found"] if f["violation"] == "empty-endpoint"]
    assert found["replay_sim"]["as_expected"] and found["replay_sim"]["invariant_violated"]
    assert len(found["emitted"]) <= 4

    run = tmp_path / "replay"
    proc = dnslab("run", found["file"], "--out", str(run), "--no-up", "--backend", "powerdns",
                  timeout=900)
    summary = json.loads((run / "summary.json").read_text())
    held = {i["name"]: i["held"] for i in summary["invariants"]}
    assert held["never-delete-active-plan"] is False, (summary.get("verdict"),
                                                       proc.stderr[-2000:])
    assert summary["as_expected"] is True, (summary.get("reason"), proc.stderr[-2000:])
    assert all(f["status"] == "fired" for f in summary["faults"]), summary["faults"]
