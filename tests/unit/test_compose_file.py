"""Static rules for compose.yaml and prometheus.yml that the lab promises."""

from pathlib import Path

import yaml

from lab import config

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = yaml.safe_load((ROOT / "compose.yaml").read_text())
SERVICES = COMPOSE["services"]
ONE_SHOT = {"keygen", "experiments"}


def test_fixed_project_name():
    assert COMPOSE["name"] == "dnslab"


def test_only_ui_ports_published_and_only_on_loopback():
    published = {name: s["ports"] for name, s in SERVICES.items() if s.get("ports")}
    assert set(published) == {"prometheus", "grafana"}
    for ports in published.values():
        for spec in ports:
            assert str(spec).startswith("127.0.0.1:"), spec


def test_every_server_is_healthchecked():
    servers = set(SERVICES) - ONE_SHOT
    assert servers >= {"pdns-auth", "recursor", "plan-store", "prometheus", "grafana", "prober",
                       "coredns", "zone-store", "recursor-coredns"}
    for name in servers:
        assert SERVICES[name].get("healthcheck", {}).get("test"), f"{name} has no healthcheck"


def test_dependencies_wait_for_health_and_none_on_grafana():
    for name, s in SERVICES.items():
        deps = s.get("depends_on", {})
        assert isinstance(deps, dict), f"{name}: depends_on must use conditions"
        assert "grafana" not in deps, f"{name} depends on grafana, which cannot be pulled offline"
        for dep, cond in deps.items():
            expected = ("service_completed_successfully" if dep in ONE_SHOT
                        else "service_healthy")
            assert cond["condition"] == expected, f"{name} -> {dep}"


def test_lab_network_is_internal():
    assert COMPOSE["networks"]["lab"]["internal"] is True
    for name in ("pdns-auth", "recursor", "plan-store", "prober", "coredns", "zone-store",
                 "recursor-coredns", "alertmanager", "pager"):
        assert list(SERVICES[name]["networks"]) == ["lab"], name


def test_no_secret_constants():
    text = (ROOT / "compose.yaml").read_text().lower()
    for word in ("api-key=", "api_key:", "password:", "gf_security_admin_password:"):
        assert word not in text
    assert "GF_SECURITY_ADMIN_PASSWORD__FILE" in SERVICES["grafana"]["environment"]


def test_each_service_mounts_only_its_own_secrets_read_only():
    """keygen writes one volume per consumer (lab/config.py SECRETS); each consumer mounts
    its own and nothing else, read-only; the prober and the other services mount none."""
    from lab import config
    assert set(COMPOSE["volumes"]) == \
        {"secrets", "docker-proxy"} | {f"secrets-{c}" for c in config.SECRETS}
    mine = {"pdns-auth": "pdns-auth", "recursor": "recursor", "recursor-coredns": "recursor",
            "plan-store": "plan-store", "zone-store": "zone-store", "coredns": "coredns",
            "grafana": "grafana", "experiments": "runner"}
    for name, s in SERVICES.items():
        secret_mounts = [v for v in s.get("volumes", ()) if v.startswith("secrets")]
        if name == "keygen":
            assert sorted(secret_mounts) == sorted(
                ["secrets:/run/secrets/keygen"]
                + [f"secrets-{c}:/run/secrets/{c}" for c in config.SECRETS])
        elif name in mine:
            assert secret_mounts == [f"secrets-{mine[name]}:/run/secrets:ro"], name
        else:
            assert secret_mounts == [], name
    assert set(config.WORKER_SECRETS.values()) <= set(config.SECRETS)


def test_etcd_only_over_tls_with_authentication():
    corefile = (ROOT / "images/coredns/Corefile").read_text()
    assert "endpoint https://" in corefile and "http://" not in corefile
    assert "credentials" not in corefile.split("etcd {$LAB_ZONE}")[1]
    assert "tls /run/secrets/etcd/zone-store/coredns.crt" in corefile
    entry = (ROOT / "images/plan-store/entrypoint.sh").read_text()
    assert "--listen-client-urls=https://0.0.0.0:2379" in entry and "--client-cert-auth" in entry
    assert "auth enable" in entry
    for store in ("plan-store", "zone-store"):
        assert SERVICES[store]["environment"]["LAB_ETCD_STORE"] == store
        assert SERVICES[store]["healthcheck"]["test"] == ["CMD", "/usr/local/bin/etcd-health"]
        assert "entrypoint" not in SERVICES[store]


def test_prometheus_scrapes_every_server():
    prom = yaml.safe_load((ROOT / "images/prometheus/prometheus.yml").read_text())
    targets = {t.split(":")[0] for job in prom["scrape_configs"]
               for sc in job.get("static_configs", ()) for t in sc["targets"]}
    assert targets >= {"pdns-auth", "recursor", "plan-store", "prober", "localhost", "coredns",
                       "zone-store", "recursor-coredns", "alertmanager", "pager"}


def test_workers_are_discovered_from_a_file_that_is_empty_at_idle_and_pages_leave():
    """No static worker target (down between runs, blind to other names): the runner writes
    the file Prometheus watches (lab/runtime.py ScrapeTargets); the image ships it empty."""
    import json
    prom = yaml.safe_load((ROOT / "images/prometheus/prometheus.yml").read_text())
    static = [t for job in prom["scrape_configs"] for sc in job.get("static_configs", ())
              for t in sc["targets"]]
    assert not [t for t in static if "worker" in t]
    [workers] = [j for j in prom["scrape_configs"] if "file_sd_configs" in j]
    assert workers["file_sd_configs"][0]["files"] == ["/etc/prometheus/targets/*.json"]
    assert json.loads((ROOT / "images/prometheus/workers.json").read_text()) == []
    assert "COPY workers.json /etc/prometheus/targets/workers.json" in (
        ROOT / "images/prometheus/Dockerfile").read_text()
    assert prom["alerting"]["alertmanagers"][0]["static_configs"][0]["targets"] == [
        "alertmanager:9093"]
    am = yaml.safe_load((ROOT / "images/prometheus/alertmanager.yml").read_text())
    [page] = am["route"]["routes"]
    assert page["matchers"] == ['severity="page"'] and page["receiver"] == "pager"
    [hook] = [r for r in am["receivers"] if r["name"] == "pager"][0]["webhook_configs"]
    assert hook["url"] == "http://pager:9095/page" and hook["send_resolved"] is True
    assert SERVICES["pager"]["entrypoint"][:3] == ["python3", "-m", "lab.pager"]


def test_experiments_service_runs_the_checkouts_files_not_the_images_copy():
    mounts = SERVICES["experiments"]["volumes"]
    assert "${DNSLAB_EXPERIMENTS:-./experiments}:/opt/dnslab/experiments:ro" in mounts


def test_every_built_image_takes_the_base_image_and_coredns_needs_no_variable():
    """No variable needs exporting before `docker compose up experiments`: the Go proxy is
    optional (empty: Go's default) and every image builds FROM the BASE_IMAGE argument."""
    built = {name: s["build"] for name, s in SERVICES.items() if "build" in s}
    assert set(built) >= {"pdns-auth", "recursor", "plan-store", "coredns", "prometheus",
                          "experiments"}
    for name, build in built.items():
        assert build["args"]["BASE_IMAGE"] == "${DNSLAB_BASE_IMAGE:-debian:bookworm-slim}", name
    assert SERVICES["coredns"]["build"]["args"]["GOPROXY"] == "${DNSLAB_GOPROXY:-}"
    for dockerfile in (ROOT / "images").glob("*/Dockerfile"):
        text = dockerfile.read_text()
        assert "ARG BASE_IMAGE=debian:bookworm-slim" in text, dockerfile
        assert "FROM debian" not in text, dockerfile
    assert 'test -n "$GOPROXY"' not in (ROOT / "images/coredns/Dockerfile").read_text()


def test_only_the_docker_proxy_holds_the_engine_socket():
    """The experiments container reaches the engine only through docker-proxy's allow-list
    (images/docker-proxy/haproxy.cfg), whose socket is in a volume no other service mounts;
    the proxy itself is on no network."""
    holders = {name for name, svc in SERVICES.items()
               if any("docker.sock" in str(v) for v in svc.get("volumes", []))}
    assert holders == {"docker-proxy"}, holders
    proxy = SERVICES["docker-proxy"]
    assert proxy["network_mode"] == "none"
    assert "docker-proxy:/run/dnslab-docker" in proxy["volumes"]
    exp = SERVICES["experiments"]
    assert exp["environment"]["DOCKER_HOST"] == "unix:///run/dnslab-docker/docker.sock" \
        == config.PROXY_DOCKER_HOST      # how a runner knows it is inside the lab
    assert "docker-proxy:/run/dnslab-docker" in exp["volumes"]
    assert "docker-proxy" in exp["depends_on"]
    mounting = {name for name, svc in SERVICES.items()
                if any(str(v).startswith("docker-proxy:") for v in svc.get("volumes", []))}
    assert mounting == {"docker-proxy", "experiments"}, mounting
    cfg = (ROOT / "images/docker-proxy/haproxy.cfg").read_text()
    # The last word is a refusal; the create rule reads the body and refuses privilege.
    rules = [line.strip() for line in cfg.splitlines() if line.strip().startswith("http-request")]
    assert rules[-1] == "http-request deny deny_status 403", rules
    assert "option http-buffer-request" in cfg and "!body_privilege" in cfg
