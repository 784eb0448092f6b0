"""CoreDNS, built from its Go module at the pinned release, serves the lab zone from its
etcd zone store on the lab network, and Prometheus scrapes its prometheus plugin."""

import dns.message
import dns.query
import dns.rcode
import dns.rdatatype

from tests.docker.helpers import promql, scalar, wait_for


def test_coredns_from_its_go_module_serves_the_lab_zone(lab):
    version = lab.container("coredns").exec_run(["coredns", "-version"]).output.decode()
    assert version.startswith("CoreDNS-1.15.0"), version
    plugins = lab.container("coredns").exec_run(["coredns", "-plugins"]).output.decode()
    assert {"etcd", "prometheus"} <= set(plugins.split())
    r = dns.query.udp(dns.message.make_query("nothing-here.lab.test", "A"),
                      lab.address("coredns"), timeout=2)
    # The etcd plugin answers for the zone: authoritative NXDOMAIN with its synthesized SOA,
    # whose minimum (the negative TTL) is 30 s.
    assert dns.rcode.to_text(r.rcode()) == "NXDOMAIN"
    soa = [rr for rrset in r.authority if rrset.rdtype == dns.rdatatype.SOA for rr in rrset]
    assert soa and soa[0].minimum == 30


def test_prometheus_scrapes_coredns(lab):
    dns.query.udp(dns.message.make_query("nothing-here.lab.test", "A"), lab.address("coredns"),
                  timeout=2)
    wait_for(lambda: scalar('up{job="coredns"}') == 1, timeout_s=30, what="coredns scraped")
    series = wait_for(lambda: promql('coredns_dns_responses_total{rcode="NXDOMAIN"}'),
                      timeout_s=30, what="CoreDNS response metrics in Prometheus")
    assert any(s["metric"].get("zone") == "lab.test." for s in series), series
