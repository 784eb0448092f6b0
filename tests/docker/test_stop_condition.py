"""A stop condition aborts the method when the blast radius passes its bound; the rollback
still runs and the history says why."""

import json
from pathlib import Path

from lab.etcd import EtcdGateway
from lab.faults import EtcdFaults
from lab.runtime import Workers
from tests.docker.helpers import dnslab


def test_blast_radius_bound_aborts_the_run(lab, tmp_path):
    proc = dnslab("run", str(Path(__file__).with_name("stop.yaml")), "--out", str(tmp_path),
                  "--no-up")
    s = json.loads((tmp_path / "summary.json").read_text())
    assert proc.returncode == 1
    assert s["verdict"] == "aborted" and s["reason"].startswith("stop condition: ")
    assert s["outage"]["clients_affected_fraction"] > 0.2
    phases = [json.loads(line)["phase"] for line in (tmp_path / "events.jsonl").open()
              if '"kind":"phase"' in line]
    assert "repair" not in phases and phases[-1] == "rollback"
    assert Workers(lab.client, run_id="check", net_prefix="", scoped=False).all() == []
    assert EtcdFaults(EtcdGateway(lab.address("plan-store"))).active() == []
