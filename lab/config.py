"""Names and defaults shared by the CLI, the services and the tests."""

import os
from pathlib import Path

PROJECT = "dnslab"
PROJECT_LABEL = "com.docker.compose.project"
SERVICE_LABEL = "com.docker.compose.service"
# The image every lab image builds FROM (compose passes DNSLAB_BASE_IMAGE as a build arg).
BASE_IMAGE = os.environ.get("DNSLAB_BASE_IMAGE") or "debian:bookworm-slim"
ZONE = "lab.test"
SEED_NAME = f"seed.{ZONE}"
SEED_ADDRESS = "198.51.100.10"
PDNS_API_PORT = 8081
PDNS_SERVER_ID = "localhost"

# -- per-lab secrets (made by lab/keygen.py at the lab's first start) -----------------------
# Each consumer mounts only its own volume, `secrets-<consumer>`, at /run/secrets; keygen
# writes exactly these files into it (paths under /run/secrets). The CA key and everything
# else stay in keygen's own volume, `secrets`, which nothing else mounts.
SECRETS_DIR = "/run/secrets"
# etcd servers: the host part of each one's address on the lab network (compose.yaml).
ETCD_STORES = {"plan-store": 12, "zone-store": 14}
# etcd users beside root, per store: user -> (permission, key prefix).
ETCD_USERS = {
    "plan-store": {"lab": ("readwrite", "/dnslab/")},
    "zone-store": {"enactor": ("readwrite", "/skydns/"), "coredns": ("read", "/skydns/")},
}
# The user the lab's Python clients (runner, planner, enactors) are on each store.
ETCD_CLIENT_USER = {"plan-store": "lab", "zone-store": "enactor"}


def _etcd_client(store: str, user: str) -> tuple[str, ...]:
    return tuple(f"etcd/{store}/{user}.{ext}" for ext in ("crt", "key", "password"))


def _etcd_server(store: str) -> tuple[str, ...]:
    return (tuple(f"etcd/{store}/{name}" for name in ("server.crt", "server.key", "users"))
            + _etcd_client(store, "root")
            + tuple(f"etcd/{store}/{user}.password" for user in ETCD_USERS[store]))


SECRETS = {
    "pdns-auth": ("pdns-api-key",),
    "recursor": ("recursor-api-key",),         # recursor, recursor-coredns, resolver-stale
    "grafana": ("grafana-admin-password",),
    "plan-store": ("etcd/ca.crt",) + _etcd_server("plan-store"),
    "zone-store": ("etcd/ca.crt",) + _etcd_server("zone-store"),
    # CoreDNS is user coredns by its certificate alone (images/coredns/Corefile says why).
    "coredns": ("etcd/ca.crt",) + _etcd_client("zone-store", "coredns")[:2],
    "planner": ("etcd/ca.crt",) + _etcd_client("plan-store", "lab"),
    "enactor": ("pdns-api-key", "etcd/ca.crt") + _etcd_client("plan-store", "lab")
               + _etcd_client("zone-store", "enactor"),
    # The experiment runner (the experiments service; on a host, a copy fetched through
    # Docker): both stores, and the PowerDNS API (a run's reset, `dnslab smoke`, `repair`).
    "runner": ("pdns-api-key", "etcd/ca.crt") + _etcd_client("plan-store", "lab")
              + _etcd_client("zone-store", "enactor"),
}
# Who reads a consumer's files inside its container (0 = root); only Grafana's image
# runs as another user.
SECRETS_OWNER = {"grafana": 472}
# A worker container's secrets volume by role (lab/runtime.py); clients get none.
WORKER_SECRETS = {"planner": "planner", "enactor": "enactor", "resolver": "recursor"}

# Services `dnslab up` starts (Grafana is added only when its image is available).
CORE_SERVICES = ("pdns-auth", "recursor", "plan-store", "zone-store", "coredns",
                 "recursor-coredns", "prober", "pager", "alertmanager", "prometheus",
                 "docker-proxy")
OPTIONAL_SERVICES = ("grafana",)
GRAFANA_IMAGE = "grafana/grafana-oss:11.3.0"


def published_ports() -> dict[str, tuple[str, int]]:
    """Host ports the lab publishes on 127.0.0.1: service -> (env variable, port)."""
    return {
        "prometheus": ("DNSLAB_PROMETHEUS_PORT", int(os.environ.get("DNSLAB_PROMETHEUS_PORT", 9090))),
        "grafana": ("DNSLAB_GRAFANA_PORT", int(os.environ.get("DNSLAB_GRAFANA_PORT", 3000))),
    }


def go_proxy() -> str | None:
    """The Go module proxy CoreDNS is built from: $DNSLAB_GOPROXY, else the machine's own
    `go env GOPROXY`, else $GOPROXY. Never a host named in the lab's code."""
    import shutil
    import subprocess
    if value := os.environ.get("DNSLAB_GOPROXY"):
        return value
    for go in (shutil.which("go"), "/usr/local/go/bin/go"):
        if go and os.path.exists(go):
            try:
                out = subprocess.run([go, "env", "GOPROXY"], capture_output=True, text=True,
                                     timeout=30).stdout.strip()
            except (OSError, subprocess.SubprocessError):
                continue
            if out and out != "off":
                return out
    return os.environ.get("GOPROXY") or None


def repo_root() -> Path:
    """The directory holding compose.yaml: $DNSLAB_HOME, else the source checkout, else cwd."""
    if home := os.environ.get("DNSLAB_HOME"):
        return Path(home)
    here = Path(__file__).resolve().parent.parent
    if (here / "compose.yaml").exists():
        return here
    return Path.cwd()


PROXY_DOCKER_HOST = "unix:///run/dnslab-docker/docker.sock"


def inside_lab() -> bool:
    """Running in the lab's experiments service (its Docker access is the lab's proxy)."""
    return os.environ.get("DOCKER_HOST") == PROXY_DOCKER_HOST
