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
SECRETS = ("pdns-api-key", "grafana-admin-password")

# Services `dnslab up` starts (Grafana is added only when its image is available).
CORE_SERVICES = ("pdns-auth", "recursor", "plan-store", "zone-store", "coredns",
                 "recursor-coredns", "prober", "pager", "alertmanager", "prometheus")
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
