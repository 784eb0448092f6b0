"""The worker spec: what the runner writes is what the worker reads (lab/workerspec.py)."""

import pytest

from lab import cli
from lab.errors import LabError
from lab.workerspec import ClientsSpec, EnactorSpec, PlannerSpec, from_json, to_json


@pytest.mark.parametrize("spec", [
    PlannerSpec(store="10.0.0.2", seed=7, period_s=0.5, max_seconds=90, metrics_port=9100),
    EnactorSpec(name="enactor-b", store="10.0.0.2", backend="coredns", zone_store="10.0.0.3",
                mitigations=("fencing", "interlock"), keep=40, alias="cname", ttl=2),
    ClientsSpec(first=26, count=26, resolver="10.0.0.4", authoritative="10.0.0.5",
                source="clients-2", interval_s=0.25),
])
def test_a_spec_reads_back_as_written(spec):
    assert from_json(to_json(spec)) == spec


@pytest.mark.parametrize("text, named", [
    ("not json", "not JSON"),
    ('{"seed": 1}', "must name a role"),
    ('{"role": "planner", "store": "x", "sede": 2}', "unknown setting 'sede'"),
    ('{"role": "clients", "first": 0}', "ClientsSpec"),
])
def test_a_bad_spec_is_one_line_naming_what_is_wrong(text, named):
    with pytest.raises(LabError, match=named):
        from_json(text)


def test_the_worker_command_refuses_a_bad_spec_in_one_line(capsys):
    assert cli.main(["worker", "--spec", '{"role": "nobody"}']) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "must name a role" in err[0]
