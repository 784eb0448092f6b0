"""The Docker tier: the real stack (PowerDNS, pdns-recursor, Prometheus, the prober)."""

import secrets
import socket
import subprocess

import dns.exception
import dns.message
import dns.query
import dns.rdatatype
import pytest

from lab import config
from lab.backends.powerdns import PowerDNS, RRset
from tests.docker.helpers import dnslab, promql, scalar, wait_for
from tests.unit.test_cli_errors import assert_one_line_error

CANARY = f"canary.{config.ZONE}"


def resolve(server: str, name: str) -> set[str] | None:
    """The A addresses ``server`` answers for ``name``; None when no answer came in 3 s (a
    loaded machine: the callers wait for a condition, and a lost reply is not a wrong one)."""
    try:
        r = dns.query.udp(dns.message.make_query(name, "A"), server, timeout=3)
    except dns.exception.Timeout:
        return None
    return {rd.address for rrset in r.answer if rrset.rdtype == dns.rdatatype.A for rd in rrset}


def test_record_written_through_api_resolves_and_prober_counts_rise(lab):
    api = PowerDNS(lab.address("pdns-auth"), lab.secret("pdns-api-key"))
    address = f"203.0.113.{secrets.randbelow(254) + 1}"
    api.replace(config.ZONE, RRset(CANARY, "A", 5, (address,)))

    assert resolve(lab.address("pdns-auth"), CANARY) == {address}
    # The resolver may hold the canary's NXDOMAIN until the negative TTL (30 s) runs out.
    wait_for(lambda: resolve(lab.address("recursor"), CANARY) == {address}, timeout_s=45,
             what=f"{CANARY} resolving to {address} through the resolver")

    for path in ("resolver", "authoritative"):
        expr = f'sum(dnslab_probes_total{{name="{CANARY}",path="{path}",outcome="ok"}})'
        first = wait_for(lambda: scalar(expr), timeout_s=30, what=f"{expr} present")
        wait_for(lambda: (scalar(expr) or 0) > first, timeout_s=30, what=f"{expr} rising")


def test_seed_probes_succeed_and_every_target_is_up(lab):
    ok = 'sum by (path) (increase(dnslab_probes_total{name="seed.lab.test",outcome="ok"}[20s]))'
    rows = wait_for(lambda: len(promql(ok)) == 2 and promql(ok), timeout_s=30, what=ok)
    assert all(float(r["value"][1]) > 0 for r in rows)
    # Over the same window (earlier tests freeze the authoritative server on purpose).
    failed = scalar('sum(increase(dnslab_probes_total{name="seed.lab.test",outcome!="ok"}[20s]))')
    assert not failed, f"seed probes failed: {failed}"
    # No run is going: every target is a lab service and every one is up (the workers are
    # discovered only while they exist; tests/docker/test_paging.py checks that after a run).
    core = {"prometheus", "pdns-auth", "recursor", "plan-store", "prober", "coredns",
            "zone-store", "alertmanager", "pager"}
    targets = wait_for(lambda: (t := promql("up")) and all(x["value"][1] == "1" for x in t)
                       and {x["metric"]["job"] for x in t} == core and t,
                       timeout_s=30, what="every target up")
    assert len(targets) == 10, targets   # two recursors
    assert promql("histogram_quantile(0.99, sum by (le) (rate(dnslab_probe_duration_seconds_bucket[30s])))")


def test_experiments_service_runs_inside_the_network(lab):
    proc = subprocess.run(["docker", "compose", "-f", str(lab.compose_file), "run", "--rm",
                           "--no-deps", "experiments", "smoke"], capture_output=True, text=True,
                          timeout=120, cwd=lab.root)
    assert proc.returncode == 0, proc.stderr
    assert "resolved through the resolver" in proc.stdout


def test_compose_config_is_clean(lab):
    proc = subprocess.run(["docker", "compose", "-f", str(lab.compose_file), "config", "-q"],
                          capture_output=True, text=True, timeout=60, cwd=lab.root)
    assert (proc.returncode, proc.stdout, proc.stderr) == (0, "", "")


def test_promtool_check_config(lab):
    proc = subprocess.run(
        ["docker", "run", "--rm", "--network", "none",
         "--label", f"{config.PROJECT_LABEL}={config.PROJECT}",
         "--entrypoint", "promtool", "dnslab/prometheus:dev",
         "check", "config", "/etc/prometheus/prometheus.yml"],
        capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "SUCCESS" in proc.stdout + proc.stderr


def test_port_already_taken_is_one_line(lab):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        proc = dnslab("up", "-q", "--no-build", DNSLAB_PROMETHEUS_PORT=str(port))
    assert_one_line_error(proc, f"127.0.0.1:{port}", "DNSLAB_PROMETHEUS_PORT")


def test_missing_base_image_without_registry_is_one_line(lab):
    """The premise is made, not assumed: the base image is named in a registry that does
    not answer (a closed port on loopback), so the test means the same on a machine where a
    registry serves debian:bookworm-slim - and no image of the machine's is touched."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]     # closed again when the block ends: nothing answers
    absent = f"127.0.0.1:{port}/dnslab-test/absent:none"
    images_before = sorted(t for i in lab.client.images.list() for t in i.tags)
    proc = dnslab("build", "-q", DNSLAB_BASE_IMAGE=absent)
    assert_one_line_error(proc, absent, "images/bootstrap")
    assert sorted(t for i in lab.client.images.list() for t in i.tags) == images_before
