"""The container runtime for a run's workers (planner, enactors, client probers): created
with the Docker SDK from the lab image, on the lab network, labelled with the lab's compose
project (so `dnslab down` removes them too) and ``dnslab.worker``. Container faults (pause,
kill/restart) are done here. Everything is looked up by label: the runtime never touches a
container outside the lab's project."""

import collections
import functools
import threading
import time
from typing import Callable

from lab import config
from lab.core.history import Event
from lab.errors import LabError, StackNotUp
from lab.eventlog import parse_line

WORKER_LABEL = "dnslab.worker"
RUN_LABEL = "dnslab.run"
DOCKER_PROXY_SERVICE = "docker-proxy"


@functools.cache
def _by_name_class():
    from docker.models.containers import Container

    class ByName(Container):
        """A container the lab addresses by name in every API call (docker-py uses ``id`` in
        each path): the experiments container's Docker proxy (images/docker-proxy) lets
        through only calls on containers named as the lab names them."""

        @property
        def id(self):
            return self.attrs["Name"].lstrip("/")
    return ByName


def guard(container):
    """Refuse any container that is not the lab's (defence in depth: every lookup already
    filters on the project label); the lab's own comes back addressed by name."""
    from docker.models.containers import Container
    if container.labels.get(config.PROJECT_LABEL) != config.PROJECT:
        raise LabError(f"refusing to touch container {container.name}: it does not carry "
                       f"{config.PROJECT_LABEL}={config.PROJECT}")
    by_name = _by_name_class()
    if isinstance(container, by_name) or not isinstance(container, Container):
        return container      # already by name, or not the SDK's (a unit test's fake)
    return by_name(attrs=container.attrs, client=container.client,
                   collection=container.collection)


def lab_containers(client, labels: list[str], *, all: bool = True) -> list:
    """The containers carrying every one of ``labels`` (the project's label first), each
    inspected by name and guarded: a sparse list, then one look per name, because the
    Docker proxy refuses inspecting a container by id. One that vanished in between, or that
    the proxy keeps out of reach (403: keygen, the proxy itself), is skipped."""
    import docker.errors
    if f"{config.PROJECT_LABEL}={config.PROJECT}" not in labels:
        raise LabError("lab_containers: the project's label must be among the filters")
    out = []
    for c in client.containers.list(all=all, sparse=True, filters={"label": labels}):
        name = (c.attrs.get("Names") or ["/"])[0].lstrip("/")
        try:
            out.append(guard(client.containers.get(name)))
        except docker.errors.NotFound:
            continue
        except docker.errors.APIError as e:
            if e.status_code == 403:    # the Docker proxy keeps it from us (keygen, itself)
                continue
            raise
    return out
LAB_IMAGE = "dnslab/lab:dev"


class RecentLines:
    """The lines a worker's followers saw in the last ``window_s`` seconds (by arrival):
    what a restarted worker's log can replay (it is followed again from one second before
    its restart, `Workers.restart`). Bounded, unlike a set of every line: a long run's
    runner stays flat (benchmarks/runner_memory.py)."""

    def __init__(self, window_s: float = 60.0):
        self.window_s = window_s
        self._order: collections.deque = collections.deque()     # (arrival, hash), oldest first
        self._hashes: set[int] = set()
        self._lock = threading.Lock()

    def seen_or_add(self, h: int) -> bool:
        """Was ``h`` seen within the window? If not, remember it now."""
        now = time.monotonic()
        with self._lock:
            while self._order and self._order[0][0] < now - self.window_s:
                self._hashes.discard(self._order.popleft()[1])
            if h in self._hashes:
                return True
            self._hashes.add(h)
            self._order.append((now, h))
            return False

    def __len__(self) -> int:
        return len(self._order)


class LogFollower:
    """A container's stdout log stream, line by line, into ``on_event`` (lines that are not
    events are skipped; a line seen before, e.g. again after a restart, is skipped too). Ends
    when the container stops or on ``close()``."""

    def __init__(self, container, on_event: Callable[[Event], None], *,
                 since: float | None = None, seen: RecentLines | None = None):
        self.seen = seen if seen is not None else RecentLines()
        self.stream = None
        self._closed = False
        kwargs = {"since": int(since)} if since else {}

        def pump() -> None:
            buffer = b""
            try:
                self.stream = container.logs(stream=True, follow=True, stdout=True,
                                             stderr=False, **kwargs)
                if self._closed:
                    return self.stream.close()
                for chunk in self.stream:
                    buffer += chunk
                    *lines, buffer = buffer.split(b"\n")
                    for line in lines:
                        if self.seen.seen_or_add(hash(line)):
                            continue
                        if (event := parse_line(line)) is not None:
                            on_event(event)
            except Exception:
                return

        self.thread = threading.Thread(target=pump, daemon=True,
                                       name=f"follow-{getattr(container, 'name', '?')}")
        self.thread.start()

    def join(self, timeout_s: float) -> None:
        self.thread.join(timeout_s)

    def close(self, timeout_s: float = 2.0) -> None:
        """Stop following a container that keeps running (a service such as the pager)."""
        self._closed = True
        if self.stream is not None:
            try:
                self.stream.close()
            except Exception:
                pass
        self.thread.join(timeout_s)


class ScrapeTargets:
    """Prometheus's file-based discovery of a run's workers: ``targets/workers.json`` in the
    Prometheus container, written (through the Docker API, so it works from the host and from
    the experiments container alike) whenever a worker starts and emptied when they are
    removed. At idle the file is empty, so no target is down; any worker name is scraped."""

    DIRECTORY = "/etc/prometheus/targets"
    FILE = "workers.json"

    def __init__(self, stack, echo=print):
        self.stack = stack
        self.echo = echo
        self.entries: dict[str, dict] = {}
        self._warned = False

    def add(self, name: str, address: str, job: str) -> None:
        self.entries[name] = {"targets": [address],
                              "labels": {"job": job, "worker": name, "instance": name}}
        self._write()

    def clear(self) -> None:
        self.entries.clear()
        self._write()

    def _write(self) -> None:
        import io
        import json
        import tarfile
        body = (json.dumps(list(self.entries.values()), indent=1) + "\n").encode()
        data = io.BytesIO()
        with tarfile.open(fileobj=data, mode="w") as tar:
            info = tarfile.TarInfo(self.FILE)
            info.size, info.mode, info.mtime = len(body), 0o644, int(time.time())
            tar.addfile(info, io.BytesIO(body))
        try:
            container = guard(self.stack.container("prometheus"))
            if not container.put_archive(self.DIRECTORY, data.getvalue()):
                raise LabError("the engine refused the upload")
        except Exception as e:
            if not self._warned:   # observation only: the run goes on, its verdict unchanged
                self._warned = True
                self.echo(f"run: cannot tell Prometheus the workers' targets ({str(e)[:120]}); "
                          "their metrics will be missing from Prometheus")


def _secrets_mount(command: list[str] | None, image: str) -> list:
    """The one secrets volume a worker's role uses (config.WORKER_SECRETS), read-only:
    planner and enactors run a spec naming their role; a resolver runs the recursor image;
    client probers get none."""
    import json

    import docker.types
    if image.startswith("dnslab/recursor:"):
        role = "resolver"
    elif command and command[:2] == ["worker", "--spec"]:
        role = json.loads(command[2]).get("role")
    else:
        role = None
    if (consumer := config.WORKER_SECRETS.get(role)) is None:
        return []
    return [docker.types.Mount(config.SECRETS_DIR, f"{config.PROJECT}_secrets-{consumer}",
                               type="volume", read_only=True)]


class Workers:
    """A run's workers: every lookup and action is scoped to the lab's project label and,
    with ``scoped`` (the default), to the run's own ``dnslab.run`` label. Recovery of a dead
    run's leftovers uses ``scoped=False`` (only while no live run holds the run lock)."""

    def __init__(self, client, *, run_id: str, net_prefix: str, scoped: bool = True):
        self.client = client
        self.run_id = run_id
        self.scoped = scoped
        self.net_prefix = net_prefix
        self.network = f"{config.PROJECT}_lab"
        self._followers: list[threading.Thread] = []
        self._seen: dict[str, RecentLines] = {}

    def _lab_filter(self, **more) -> dict:
        labels = [f"{config.PROJECT_LABEL}={config.PROJECT}", f"{WORKER_LABEL}=1"]
        if self.scoped:
            labels.append(f"{RUN_LABEL}={self.run_id}")
        labels += [f"{k}={v}" for k, v in more.items()]
        return {"label": labels}

    def all(self) -> list:
        return lab_containers(self.client, self._lab_filter()["label"])

    def get(self, name: str):
        found = lab_containers(self.client,
                               self._lab_filter(**{config.SERVICE_LABEL: name})["label"])
        if not found:
            raise StackNotUp(f"worker {name} does not exist in the lab")
        return found[0]

    def dead(self, exclude: set[str] = frozenset()) -> list[tuple[str, str]]:
        """Workers that stopped on their own: (name, last line of their stderr)."""
        out = []
        # A sparse list (one call, looked at every second): only an exited worker is inspected.
        for c in self.client.containers.list(all=True, sparse=True, filters=self._lab_filter()):
            labels = c.attrs.get("Labels") or {}
            name = labels.get(config.SERVICE_LABEL, "?")
            if c.attrs.get("State") == "exited" and name not in exclude:
                try:
                    c = self.get(name)
                except StackNotUp:
                    continue
                tail = c.logs(stdout=False, stderr=True, tail=1).decode("utf-8", "replace").strip()
                out.append((name, tail[:300] or f"exit code {c.attrs['State'].get('ExitCode')}"))
        return out

    def remove_all(self) -> list[str]:
        """Remove the workers (this run's, or with scoped=False every run's: recovery)."""
        removed = []
        for c in self.all():
            try:
                if c.status == "paused":
                    c.unpause()
                c.remove(force=True)
                removed.append(c.name)
            except Exception:  # already gone
                pass
        return removed

    def start(self, name: str, command: list[str] | None, host: int, env: dict[str, str], *,
              entrypoint: list[str] | None = None, image: str = LAB_IMAGE) -> None:
        import docker.types

        address = f"{self.net_prefix}.{host}"
        endpoint = self.client.api.create_endpoint_config(ipv4_address=address)
        networking = self.client.api.create_networking_config({self.network: endpoint})
        try:
            self.client.api.create_container(
                image, command=command, name=f"{config.PROJECT}-worker-{name}",
                entrypoint=entrypoint,
                environment=env, networking_config=networking,
                labels={config.PROJECT_LABEL: config.PROJECT, config.SERVICE_LABEL: name,
                        "com.docker.compose.oneoff": "False", WORKER_LABEL: "1",
                        RUN_LABEL: self.run_id},
                host_config=self.client.api.create_host_config(
                    mounts=_secrets_mount(command, image), init=True,
                    log_config=docker.types.LogConfig(type="json-file")))
        except Exception as e:
            raise LabError(f"cannot create worker {name} at {address}: {str(e)[:200]}; is the "
                           "lab up (`dnslab up`) and the lab image built?") from None
        self.client.api.start(f"{config.PROJECT}-worker-{name}")   # by name: the proxy's rule

    # -- events ---------------------------------------------------------------------------
    def follow(self, name: str, on_event: Callable[[Event], None], *, since: float | None = None) -> None:
        """Stream the worker's stdout events into ``on_event`` until the container stops."""
        self._followers.append(LogFollower(self.get(name), on_event, since=since,
                                           seen=self._seen.setdefault(name, RecentLines())))

    def drain(self, timeout_s: float = 10.0) -> None:
        deadline = time.monotonic() + timeout_s
        for f in self._followers:
            f.join(max(0.0, deadline - time.monotonic()))

    def stop_all(self, timeout_s: int = 3) -> None:
        """Stop every worker at once (each exits on SIGTERM; the timeout is a backstop)."""
        def stop(c) -> None:
            try:
                if c.status == "paused":
                    c.unpause()
                c.stop(timeout=timeout_s)
            except Exception:
                pass
        threads = [threading.Thread(target=stop, args=(c,), daemon=True) for c in self.all()]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout_s + 10)

    # -- container faults -----------------------------------------------------------------
    def pause(self, name: str) -> None:
        self.get(name).pause()

    def unpause(self, name: str) -> None:
        c = self.get(name)
        c.reload()
        if c.status == "paused":
            c.unpause()

    def kill(self, name: str) -> None:
        self.get(name).kill()

    def signal(self, name: str, signal: str) -> None:
        """Send ``signal`` to the worker (its init passes it on to the worker process)."""
        self.get(name).kill(signal=signal)

    def restart(self, name: str, on_event: Callable[[Event], None]) -> None:
        c = self.get(name)
        c.reload()
        if c.status != "running":
            began = time.time()
            c.start()
            self.follow(name, on_event, since=began - 1)

    def unpause_all(self) -> list[str]:
        """Unpause this run's paused workers (rollback)."""
        done = []
        for c in self.all():
            if c.status == "paused":
                guard(c).unpause()
                done.append(c.name)
        return done

    def unpause_everything(self) -> list[str]:
        """Rollback: unpause every paused container of the lab's project (workers and
        services alike), and only those."""
        done = []
        for c in lab_containers(self.client, [f"{config.PROJECT_LABEL}={config.PROJECT}"],
                                all=False):
            if c.status == "paused":
                c.unpause()
                done.append(c.name)
        return done
