"""The lab's containers, through Docker Compose (lifecycle) and the Docker SDK (lookups).

Everything here is scoped to the compose project ``dnslab``: lookups filter on its label,
so the lab never touches another container.
"""

import collections
import os
import socket
import subprocess
import sys
from pathlib import Path

from lab import config
from lab.errors import (BaseImageMissing, ComposeMissing, EngineMissing, LabError, PortInUse,
                        SecretMissing, StackNotUp)


def engine():
    """A Docker SDK client for an engine that answers, or EngineMissing."""
    import docker
    import docker.errors

    where = os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock")
    try:
        client = docker.from_env(version="auto", timeout=10)
        client.ping()
    except (docker.errors.DockerException, OSError) as e:
        reason = str(e).split("\n")[0][:120]
        raise EngineMissing(f"no Docker engine answers at {where} ({reason}); "
                            "start one, or run images/bootstrap as root to install and start it") from None
    return client


class Stack:
    """The running (or not yet running) lab."""

    def __init__(self, root: Path | None = None, *, echo=None):
        self.root = root or config.repo_root()
        self.compose_file = self.root / "compose.yaml"
        self.echo = echo  # callable for progress lines, or None for quiet
        self._client = None

    # -- outside things -------------------------------------------------------------
    @property
    def client(self):
        if self._client is None:
            self._client = engine()
        return self._client

    def compose(self, *args: str, check: bool = True) -> str:
        """Run ``docker compose`` on the lab project; return its output (stdout+stderr)."""
        if not self.compose_file.exists():
            raise LabError(f"no compose.yaml in {self.root}; run dnslab from the lab checkout "
                           "or set DNSLAB_HOME")
        self.client  # a missing engine is reported as such, not as a compose failure
        cmd = ["docker", "compose", "-f", str(self.compose_file), "-p", config.PROJECT, *args]
        try:
            proc = subprocess.Popen(cmd, cwd=self.root, stdout=subprocess.PIPE,
                                    stderr=subprocess.STDOUT, text=True)
        except FileNotFoundError:
            raise ComposeMissing("the docker CLI is not installed; install it, or run "
                                 "images/bootstrap as root") from None
        tail: collections.deque[str] = collections.deque(maxlen=40)
        out = []
        assert proc.stdout is not None
        for line in proc.stdout:
            out.append(line)
            tail.append(line.rstrip())
            if self.echo:
                self.echo(line.rstrip())
        rc = proc.wait()
        text = "".join(out)
        if rc != 0 and check:
            raise self._compose_error(args[0], list(tail))
        return text

    def _compose_error(self, verb: str, tail: list[str]) -> LabError:
        joined = "\n".join(tail)
        if "is not a docker command" in joined or "unknown command" in joined:
            return ComposeMissing("`docker compose` (v2) is missing; run images/bootstrap to "
                                  "install the Compose v2 CLI plugin")
        if "port is already allocated" in joined or "address already in use" in joined:
            return PortInUse(f"docker compose {verb}: a published port is taken "
                             f"({_last_meaningful(tail)}); free it or set DNSLAB_PROMETHEUS_PORT"
                             " / DNSLAB_GRAFANA_PORT")
        return LabError(f"docker compose {verb} failed: {_last_meaningful(tail)}")

    # -- preflight ------------------------------------------------------------------
    def check_compose(self) -> None:
        try:
            ok = subprocess.run(["docker", "compose", "version"], capture_output=True,
                                timeout=30).returncode == 0
        except FileNotFoundError:
            ok = False
        if not ok:
            raise ComposeMissing("`docker compose` (v2) is missing; run images/bootstrap to "
                                 "install the Compose v2 CLI plugin")

    def check_ports(self) -> None:
        """Each published UI port must be free, unless the lab itself already holds it."""
        held = self._ports_held_by_lab()
        for service, (var, port) in config.published_ports().items():
            if port in held:
                continue
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
                s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                try:
                    s.bind(("127.0.0.1", port))
                except OSError:
                    raise PortInUse(f"port 127.0.0.1:{port} for the {service} UI is already in "
                                    f"use; free it or choose another with {var}=PORT") from None

    def _ports_held_by_lab(self) -> set[int]:
        held = set()
        for c in self.containers():
            for bindings in (c.attrs.get("HostConfig", {}).get("PortBindings") or {}).values():
                for b in bindings or []:
                    if b.get("HostPort"):
                        held.add(int(b["HostPort"]))
        return held

    def image_available(self, ref: str, *, pull: bool = True) -> bool:
        import docker.errors
        try:
            self.client.images.get(ref)
            return True
        except docker.errors.ImageNotFound:
            pass
        if not pull:
            return False
        repo, _, tag = ref.rpartition(":")
        try:
            self.client.images.pull(repo, tag=tag)
            return True
        except docker.errors.DockerException:
            return False

    def check_base_image(self) -> None:
        if not self.image_available(config.BASE_IMAGE):
            raise BaseImageMissing(f"base image {config.BASE_IMAGE} is missing and no registry "
                                   "answers; run images/bootstrap to build it offline from "
                                   "your apt mirror")

    def preflight(self) -> None:
        self.client
        self.check_compose()
        self.check_ports()
        self.check_base_image()

    # -- lifecycle ------------------------------------------------------------------
    def build(self) -> None:
        self.client
        self.check_compose()
        self.check_base_image()
        self._export_go_proxy()   # none known: CoreDNS's build uses Go's default
        self.compose("build")

    @staticmethod
    def _export_go_proxy() -> bool:
        """CoreDNS's image fetches its toolchain and modules from the Go module proxy: hand
        the machine's own setting to compose's build argument (DNSLAB_GOPROXY)."""
        proxy = config.go_proxy()
        if proxy:
            os.environ["DNSLAB_GOPROXY"] = proxy
        return bool(proxy)

    def up(self, *, build: bool = True, grafana: bool | None = None) -> list[str]:
        self.preflight()
        services = list(config.CORE_SERVICES)
        if grafana is None:
            grafana = self.image_available(config.GRAFANA_IMAGE)
        if grafana:
            services.append("grafana")
        elif self.echo:
            self.echo(f"dnslab: {config.GRAFANA_IMAGE} is not available (no registry?); "
                      "starting without Grafana - Prometheus is the UI")
        args = ["up", "--detach", "--wait", "--wait-timeout", "180"]
        if build:
            self._export_go_proxy()
            args.append("--build")
        self.compose(*args, *services)
        return services

    def down(self) -> None:
        """Compose's down, then whatever still carries the project's label: a run's workers
        (created by the runner, not by compose, and possibly while compose was removing the
        services), their networks and volumes. Repeated until nothing is left (at most three
        rounds); only ever by label, never by name."""
        if not config.inside_lab():     # the experiments service has no compose CLI
            self.compose("down", "--volumes", "--remove-orphans", "--timeout", "5", check=False)
        for _ in range(3):
            if not self._remove_labelled():
                break

    def _remove_labelled(self) -> bool:
        """Remove every container, network and volume carrying the project label; whether
        there was anything to remove."""
        import docker.errors
        label = {"label": f"{config.PROJECT_LABEL}={config.PROJECT}"}
        found = False
        from lab.runtime import DOCKER_PROXY_SERVICE
        # The Docker proxy last: a `dnslab down` inside the experiments container goes
        # through it (and the experiments container itself is then gone too).
        for c in sorted(self.containers(),
                        key=lambda c: c.labels.get(config.SERVICE_LABEL) == DOCKER_PROXY_SERVICE):
            if config.inside_lab() and self._is_self(c):
                continue     # removing itself would end this down half way
            found = True
            try:
                c.remove(force=True)
            except docker.errors.APIError:
                pass
        for n in self.client.networks.list(filters=label):
            found = True
            # By name (the Docker proxy lets only the lab's names through); fails while
            # another project's container is attached: said.
            try:
                self.client.api.remove_network(n.name)
            except docker.errors.APIError:
                pass
        for v in self.client.volumes.list(filters=label):
            found = True
            try:
                v.remove(force=True)
            except docker.errors.APIError:
                pass
        return found

    @staticmethod
    def _is_self(container) -> bool:
        """Is ``container`` the one this process runs in (its hostname is its short id)?"""
        host = socket.gethostname()
        return bool(host) and (container.attrs.get("Id") or "").startswith(host)

    # -- lookups (scoped to the project label) ---------------------------------------
    def containers(self, service: str | None = None, *, all: bool = True) -> list:
        labels = [f"{config.PROJECT_LABEL}={config.PROJECT}"]
        if service:
            labels.append(f"{config.SERVICE_LABEL}={service}")
        from lab.runtime import lab_containers
        return lab_containers(self.client, labels, all=all)

    def leftovers(self) -> dict[str, list[str]]:
        """Containers, networks and volumes of the lab that still exist."""
        label = {"label": f"{config.PROJECT_LABEL}={config.PROJECT}"}
        return {
            "containers": [c.name for c in self.containers()],
            "networks": [n.name for n in self.client.networks.list(filters=label)],
            "volumes": [v.name for v in self.client.volumes.list(filters=label)],
        }

    def container(self, service: str):
        running = [c for c in self.containers(service, all=False)]
        if not running:
            raise StackNotUp(f"the lab's {service} service is not running; start the lab "
                             "with `dnslab up`")
        return running[0]

    def address(self, service: str) -> str:
        """The service's IPv4 address on the lab network (reachable from a Linux host)."""
        c = self.container(service)
        for net, info in c.attrs["NetworkSettings"]["Networks"].items():
            if net == f"{config.PROJECT}_lab" and info.get("IPAddress"):
                return info["IPAddress"]
        raise StackNotUp(f"{service} has no address on the {config.PROJECT}_lab network")

    def secret(self, name: str) -> str:
        """A per-lab secret: this process's own copy (the runner's secrets volume in the
        experiments container, DNSLAB_SECRETS_DIR), else read in the pdns-auth container."""
        own = Path(os.environ.get("DNSLAB_SECRETS_DIR") or config.SECRETS_DIR) / name
        try:
            if value := own.read_text().strip():
                return value
        except OSError:
            pass
        result = self.container("pdns-auth").exec_run(["cat", f"/run/secrets/{name}"])
        if result.exit_code != 0 or not result.output.strip():
            raise SecretMissing(f"secret {name} is missing from the lab's secrets volume; "
                                "recreate the lab with `dnslab down && dnslab up`")
        return result.output.decode().strip()


def _last_meaningful(lines: list[str]) -> str:
    for line in reversed(lines):
        line = line.strip()
        if line and not line.startswith("#"):
            return line[:240]
    return "no output"


def stderr_echo(line: str) -> None:
    print(line, file=sys.stderr, flush=True)
