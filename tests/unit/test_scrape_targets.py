"""The workers' scrape targets (lab/runtime.py ScrapeTargets): the file Prometheus's
file-based discovery reads, uploaded into the Prometheus container (a fake engine here; the
Docker tier checks a real Prometheus scrapes every worker and shows all targets up at idle)."""

import io
import json
import tarfile

from lab import config
from lab.runtime import ScrapeTargets


class FakeContainer:
    def __init__(self, project=config.PROJECT, accept=True):
        self.labels = {config.PROJECT_LABEL: project}
        self.name = "dnslab-prometheus-1"
        self.uploads = []
        self.accept = accept

    def put_archive(self, path, data):
        with tarfile.open(fileobj=io.BytesIO(data)) as tar:
            [member] = tar.getmembers()
            self.uploads.append((path, member.name, member.mode,
                                 json.loads(tar.extractfile(member).read())))
        return self.accept


class FakeStack:
    def __init__(self, container):
        self._c = container

    def container(self, service):
        assert service == "prometheus"
        return self._c


def test_each_worker_is_listed_under_its_own_name_and_job_and_cleared_at_the_end():
    c = FakeContainer()
    targets = ScrapeTargets(FakeStack(c), echo=lambda m: None)
    targets.add("planner", "172.30.53.40:9100", "planner")
    targets.add("enactor-zeta", "172.30.53.41:9100", "enactor")
    path, name, mode, body = c.uploads[-1]
    assert (path, name, mode) == ("/etc/prometheus/targets", "workers.json", 0o644)
    assert body == [
        {"targets": ["172.30.53.40:9100"],
         "labels": {"job": "planner", "worker": "planner", "instance": "planner"}},
        {"targets": ["172.30.53.41:9100"],
         "labels": {"job": "enactor", "worker": "enactor-zeta", "instance": "enactor-zeta"}}]
    targets.clear()
    assert c.uploads[-1][3] == []


def test_a_failed_upload_is_said_once_and_never_stops_the_run():
    said = []
    targets = ScrapeTargets(FakeStack(FakeContainer(accept=False)), echo=said.append)
    targets.add("planner", "172.30.53.40:9100", "planner")
    targets.add("clients-1", "172.30.53.31:9100", "clients")
    assert len(said) == 1 and "Prometheus" in said[0]


def test_a_container_outside_the_project_is_never_written():
    c = FakeContainer(project="someone-else")
    said = []
    ScrapeTargets(FakeStack(c), echo=said.append).add("planner", "1.2.3.4:9100", "planner")
    assert c.uploads == [] and "refusing" in said[0]
