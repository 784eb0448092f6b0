"""CoreDNS, built from its Go module at the pinned release, runs on the lab network and
answers. (The CoreDNS backend itself is work in progress.)"""

import subprocess

import dns.message
import dns.query
import dns.rcode

from tests.docker.helpers import wait_for


def compose(lab, *args):
    return subprocess.run(["docker", "compose", "-f", str(lab.compose_file), "-p", "dnslab",
                           "--profile", "coredns", *args], capture_output=True, text=True,
                          timeout=180, cwd=lab.root)


def test_coredns_from_its_go_module_answers_on_the_lab_network(lab):
    up = compose(lab, "up", "-d", "--no-build", "coredns")
    assert up.returncode == 0, up.stderr
    try:
        address = wait_for(lambda: lab.address("coredns"), timeout_s=30, what="coredns address")
        version = lab.container("coredns").exec_run(["coredns", "-version"]).output.decode()
        assert version.startswith("CoreDNS-1.15.0"), version

        def ask():
            try:
                return dns.query.udp(dns.message.make_query("whoami.lab.test", "A"), address,
                                     timeout=1)
            except Exception:
                return None
        r = wait_for(ask, timeout_s=30, what="an answer from CoreDNS")
        assert dns.rcode.to_text(r.rcode()) == "NOERROR"
        assert any(rrset.rdtype == 1 for rrset in r.additional)   # whoami: our address
    finally:
        compose(lab, "rm", "-s", "-f", "coredns")
