"""The real fleet manager (EC2's DropletWorkflow Manager analogue): thousands of virtual
hosts renewing their leases through the regional endpoint, against the real lease service
(lab/cascade/service.py) over TCP.

Every decision is the core's (lab/core/cascade.py ``ManagerLoop`` / ``FleetManager``): when a
lease is renewed, when it lapses, what the sweep queues, how failures are retried, the
remediations. This module only gives the loop a clock, an address and a transport:

- the clock: a step every ``step_s`` of monotonic time (``advance_to`` from the start,
  catching up step by step when late, sleeping otherwise -- never a busy loop);
- the address: the endpoint name resolved through an injected ``resolve()`` (a list of
  IPv4 addresses; empty = the endpoint answered with none, or the lookup failed), at most
  once a step, in its own thread so a slow resolver never stalls the steps. No address:
  the core's requests fail at once, as in the simulation;
- the transport (``RemoteLeases``, the core's ``LeasePort``): one connection per kind of
  work to the first address on ``port``, one line per batch of hosts; a refused, failed or
  broken connection fails its outstanding work at the next step (the core retries), and a
  changed address reconnects. Completions arriving over TCP are handed to the core at the
  next step; its deadlines decide useful or late.

``restart()`` is the operator's lever (a SIGHUP handler may call it): the core's restart at
the next step -- queue and retries dropped, the re-establishment connection closed so the
service cancels that backlog, down ``restart_down_s``.
"""

import asyncio
import concurrent.futures
import dataclasses
import ipaddress
import math
import random as random_module
import resource
import sys
import time
from typing import Callable

from lab.cascade import wire
from lab.core.cascade import REESTABLISH, RENEW, Batch, CascadeParams, ManagerLoop, Marks

CONNECT_TIMEOUT_S = 1.0


def _stderr(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


class Lane:
    """One connection to the service, carrying one kind of work (renewals or
    re-establishments), so a restart can drop the one without the other."""

    def __init__(self, kind: str):
        self.kind = kind
        self.state = "down"                  # down | connecting | up
        self.address: str | None = None
        self.writer: asyncio.StreamWriter | None = None
        self.pending: list[bytes] = []       # lines submitted while connecting
        self.outstanding: dict[int, Batch] = {}
        self.remaining: dict[int, int] = {}  # hosts not yet answered, per request id
        self.generation = 0                  # bumped on close: stale tasks know they are
        self.task: asyncio.Task | None = None


class RemoteLeases:
    """The core's ``LeasePort`` over TCP (lab/cascade/wire.py)."""

    def __init__(self, params: CascadeParams, *, port: int, model_now: Callable[[], float],
                 wall: Callable[[], float] = time.time, log: Callable[[str], None] = _stderr):
        self.p, self.port, self.model_now, self.wall, self.log = params, port, model_now, wall, log
        self.lanes = {RENEW: Lane(RENEW), REESTABLISH: Lane(REESTABLISH)}
        self.address: str | None = None
        self.arrived: list[tuple[Batch, int, int]] = []
        self.broken: list[Batch] = []
        self._next_id = 0
        self._acc = [0, 0, 0]                # the service's useful, wasted, shed units
        self._last: list[int] | None = None
        self._queued = 0
        self.connects = self.connect_failures = self.breaks = 0
        self.window_steps = max(1, round(params.window_s / params.step_s))

    # -- where the service is ---------------------------------------------------------
    def set_address(self, address: str | None) -> None:
        """The endpoint's address this step. None (no address): connections stay as they
        are -- work already sent still completes, as in the model -- and nothing new is
        sent (the core fails it at once). A new address: reconnect."""
        if address is None or address == self.address:
            return
        self.address = address
        for lane in self.lanes.values():
            if lane.state != "down" and lane.address != address:
                self._close(lane, f"the endpoint now answers {address}")

    # -- the port ---------------------------------------------------------------------
    def submit(self, batch: Batch) -> None:
        lane = self.lanes[batch.kind]
        self._next_id += 1
        rid = self._next_id
        lane.outstanding[rid] = batch
        lane.remaining[rid] = len(batch.hosts)
        deadline = self.wall() + batch.deadline * self.p.step_s - self.model_now()
        line = wire.request_line(wire.Request(rid, batch.kind, len(batch.hosts), batch.units,
                                              deadline))
        if lane.state == "up":
            self._write(lane, line)
            return
        lane.pending.append(line)
        if lane.state == "down":
            self._connect(lane)

    def cancel(self, predicate: Callable[[Batch], bool]) -> None:
        """Closed connections: every lane carrying a matching batch is closed, so the
        service drops what of it is queued. (The core's restart matches only
        re-establishments, which have a lane of their own; anything else on a closed lane
        fails and is retried.)"""
        for lane in self.lanes.values():
            matched = [b for b in lane.outstanding.values() if predicate(b)]
            if not matched:
                continue
            for b in matched:
                b.cancelled = True
            self._close(lane, None)

    def completions(self, step: int) -> list:
        out, self.arrived = self.arrived, []
        return out

    def failed(self, step: int) -> list:
        out, self.broken = self.broken, []
        return out

    def start_work(self, step: int) -> None:
        """Sent already (buffered, flushed by the event loop between steps). Once a window,
        forget requests the core has given up on: a late answer to them is of no use."""
        if step % self.window_steps:
            return
        for lane in self.lanes.values():
            for rid in [r for r, b in lane.outstanding.items() if b.resolved or b.cancelled]:
                del lane.outstanding[rid]
                del lane.remaining[rid]

    def marks(self) -> Marks:
        return Marks(*self._acc, self._queued)

    def remediations_on(self, names: frozenset) -> None:
        """The service's switches are the service's (its own clock or lever)."""

    # -- transport ----------------------------------------------------------------------
    def _connect(self, lane: Lane) -> None:
        if self.address is None:
            self._fail_all(lane)
            return
        lane.state, lane.address = "connecting", self.address
        lane.task = asyncio.get_running_loop().create_task(
            self._run_lane(lane, lane.generation, self.address))

    async def _run_lane(self, lane: Lane, generation: int, address: str) -> None:
        self.connects += 1
        try:
            reader, writer = await asyncio.wait_for(
                asyncio.open_connection(address, self.port, limit=wire.MAX_LINE),
                CONNECT_TIMEOUT_S)
        except (OSError, asyncio.TimeoutError) as e:
            if lane.generation == generation:
                self.connect_failures += 1
                lane.state = "down"
                self._fail_all(lane)
                self.log(f"fleet-manager: cannot connect to {address}:{self.port} "
                         f"({e.__class__.__name__}): its work fails")
            return
        if lane.generation != generation:
            writer.transport.abort()
            return
        lane.writer, lane.state = writer, "up"
        pending, lane.pending = lane.pending, []
        for line in pending:
            if lane.generation != generation:
                return                           # closed while flushing: failed already
            self._write(lane, line)
        why = "the service closed the connection"
        try:
            while lane.generation == generation:
                line = await reader.readline()
                if not line or not line.endswith(b"\n"):
                    break
                self._reply(lane, wire.parse_reply(line))
        except wire.WireError as e:
            why = f"a malformed reply ({e})"
        except (ConnectionError, OSError, ValueError) as e:
            why = f"{e.__class__.__name__}"
        except asyncio.CancelledError:
            return
        if lane.generation == generation:
            self._close(lane, why)

    def _reply(self, lane: Lane, m) -> None:
        if isinstance(m, wire.Stats):
            new = [m.useful, m.wasted, m.shed]
            last = self._last or [0, 0, 0]
            for i in range(3):               # a restarted service counts from zero again
                self._acc[i] += new[i] - last[i] if new[i] >= last[i] else new[i]
            self._last, self._queued = new, m.queued
            return
        batch = lane.outstanding.get(m.id)
        if batch is None:
            return                           # given up on and forgotten
        if isinstance(m, wire.Refused):
            del lane.outstanding[m.id], lane.remaining[m.id]
            self.broken.append(batch)
            return
        if m.b > len(batch.hosts):
            raise wire.WireError(f"range [{m.a}, {m.b}) of a batch of {len(batch.hosts)}")
        self.arrived.append((batch, m.a, m.b))
        left = lane.remaining[m.id] - (m.b - m.a)
        if left <= 0:
            del lane.outstanding[m.id], lane.remaining[m.id]
        else:
            lane.remaining[m.id] = left

    def _write(self, lane: Lane, line: bytes) -> None:
        transport = lane.writer.transport
        if transport.is_closing() or transport.get_write_buffer_size() > wire.MAX_WRITE_BUFFER:
            self._close(lane, "the service is not reading its requests")
            return
        lane.writer.write(line)

    def _close(self, lane: Lane, why: str | None) -> None:
        """Close the lane; its outstanding work fails now (cancelled work excepted)."""
        lane.generation += 1
        if lane.writer is not None:
            lane.writer.transport.abort()
        if lane.task is not None and lane.task is not asyncio.current_task():
            lane.task.cancel()
        lane.writer, lane.task, lane.state = None, None, "down"
        if why is not None:
            self.breaks += 1
            self.log(f"fleet-manager: {lane.kind} connection closed: {why}")
        self._fail_all(lane)

    def _fail_all(self, lane: Lane) -> None:
        self.broken.extend(b for b in lane.outstanding.values() if not b.cancelled)
        lane.outstanding.clear()
        lane.remaining.clear()
        lane.pending = []

    def close(self) -> None:
        for lane in self.lanes.values():
            self._close(lane, None)


def ipv4_only(addresses) -> list[str]:
    out = []
    for a in addresses or ():
        try:
            if isinstance(ipaddress.ip_address(str(a)), ipaddress.IPv4Address):
                out.append(str(a))
        except ValueError:
            continue
    return out


class FleetRunner:
    """The core's manager loop on the real clock against ``RemoteLeases``."""

    def __init__(self, params: CascadeParams, *, resolve: Callable[[], list], port: int,
                 emit: Callable[..., None], seed: int,
                 clock: Callable[[], float] = time.monotonic,
                 wall: Callable[[], float] = time.time, log: Callable[[str], None] = _stderr):
        self.p, self.resolve, self.emit, self.clock, self.log = params, resolve, emit, clock, log
        self.start = clock()
        self.addresses: list[str] = []
        self.leases = RemoteLeases(params, port=port, model_now=self.model_now, wall=wall,
                                   log=log)
        self.loop = ManagerLoop(params, leases=self.leases,
                                resolves=lambda t: bool(self.addresses),
                                random=random_module.Random(f"fleet/{seed}").random)
        self._restart = self._remediate = False
        self._seen: tuple | None = None
        self.max_lag_s = 0.0
        self.restarts = 0

    def model_now(self) -> float:
        return self.clock() - self.start

    # -- the operator's levers (thread-safe: a flag read at the next step) ---------------
    def restart(self) -> None:
        self._restart = True

    def remediate(self) -> None:
        self._remediate = True

    # -- the endpoint -------------------------------------------------------------------
    def _looked_up(self, addresses) -> None:
        self.addresses = addresses
        key = (bool(addresses), tuple(addresses))
        if key != self._seen:
            self._seen = key
            self.emit("cascade-dns", ok=bool(addresses), addresses=list(addresses),
                      at_s=round(self.model_now(), 3))

    async def _lookups(self, executor) -> None:
        """Resolve at most once a step, in a thread of its own."""
        loop, step_s = asyncio.get_running_loop(), self.p.step_s
        while True:
            began = self.clock()
            try:
                found = ipv4_only(await loop.run_in_executor(executor, self.resolve))
            except asyncio.CancelledError:
                raise
            except Exception as e:               # a lookup that fails answers no address
                if self.addresses or self._seen is None:
                    self.log(f"fleet-manager: lookup failed: {e.__class__.__name__}: {e}")
                found = []
            self._looked_up(found)
            await asyncio.sleep(max(0.0, step_s - (self.clock() - began)))

    # -- the clock ----------------------------------------------------------------------
    async def run(self, *, max_seconds: float, restart_event=None, stop_event=None,
                  remediate_event=None) -> None:
        step_s, model = self.p.step_s, self.loop
        executor = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="lookup")
        try:
            first = await asyncio.get_running_loop().run_in_executor(executor, self.resolve)
            self._looked_up(ipv4_only(first))
        except Exception as e:
            self.log(f"fleet-manager: lookup failed: {e.__class__.__name__}: {e}")
            self._looked_up([])
        lookups = asyncio.get_running_loop().create_task(self._lookups(executor))
        self.start = self.clock()
        try:
            while True:
                if stop_event is not None and stop_event.is_set():
                    return
                if restart_event is not None and restart_event.is_set():
                    restart_event.clear()
                    self._restart = True
                if remediate_event is not None and remediate_event.is_set():
                    self._remediate = True
                now = self.model_now()
                if now >= max_seconds:
                    return
                wait = (model.step_no + 1) * step_s - now
                if wait > 0:
                    await asyncio.sleep(wait)
                    continue
                self.max_lag_s = max(self.max_lag_s, -wait)
                if self._restart:
                    self._restart = False
                    self.restarts += 1
                    model.restart_step = model.step_no + 1
                if self._remediate:
                    self._remediate = False
                    model.remediate_step = min(model.remediate_step, model.step_no + 1)
                self.leases.set_address(self.addresses[0] if self.addresses else None)
                model.advance_to(math.floor(now / step_s + 1e-9) * step_s)
                for w in model.windows:
                    self.emit("cascade-window", **dataclasses.asdict(w))
                model.windows.clear()            # emitted: a long run keeps none
                await asyncio.sleep(0)
        finally:
            lookups.cancel()
            self.leases.close()
            executor.shutdown(wait=False, cancel_futures=True)


async def manage_fleet(params: CascadeParams, *, resolve: Callable[[], list], port: int,
                       emit: Callable[..., None], seed: int, max_seconds: float,
                       restart_event=None, stop_event=None, remediate_event=None,
                       runner: list | None = None, log: Callable[[str], None] = _stderr) -> dict:
    """The fleet manager for ``max_seconds``; returns what it did (steps, its worst lag,
    connections, restarts, its CPU seconds). ``runner``, when given, receives the
    ``FleetRunner`` (for its ``restart()`` lever)."""
    fleet = FleetRunner(params, resolve=resolve, port=port, emit=emit, seed=seed, log=log)
    if runner is not None:
        runner.append(fleet)
    cpu0 = _cpu_s()
    await fleet.run(max_seconds=max_seconds, restart_event=restart_event,
                    stop_event=stop_event, remediate_event=remediate_event)
    return {"steps": fleet.loop.step_no, "max_lag_s": round(fleet.max_lag_s, 3),
            "connects": fleet.leases.connects,
            "connect_failures": fleet.leases.connect_failures,
            "breaks": fleet.leases.breaks, "restarts": fleet.restarts,
            "cpu_s": round(_cpu_s() - cpu0, 3)}


def run_fleet_manager(params: CascadeParams, *, resolve: Callable[[], list], port: int,
                      emit: Callable[..., None], seed: int, max_seconds: float,
                      restart_event=None, stop_event=None, remediate_event=None) -> dict:
    """The worker's entry point. ``restart_event`` / ``stop_event`` / ``remediate_event``:
    ``threading.Event``s a signal handler may set (SIGHUP: restart the manager, cleared when
    taken; SIGTERM: stop; the operator switching the remediations on, which otherwise come
    at ``params.remediations_at_s`` -- pass a far one, e.g. 1e9, to leave them to the
    lever)."""
    return asyncio.run(manage_fleet(params, resolve=resolve, port=port, emit=emit, seed=seed,
                                    max_seconds=max_seconds, restart_event=restart_event,
                                    stop_event=stop_event, remediate_event=remediate_event))


def _cpu_s() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime
