"""The real lease service: the regional lease store whose lab address the endpoint
``dynamodb.us-east-1`` publishes. One process, one asyncio loop, stdlib only.

It runs the core's ``LeaseService`` (lab/core/cascade.py) on the real clock: every
``step_s`` of monotonic time it does that step's work -- completions, then taking queued work
into its ``capacity`` slots -- so the capacity, the FIFO queue, the slowdown growing with
queued work and the LIFO / deadline-shedding switches are the model's, not a second copy of
them. A client's batch (lab/cascade/wire.py) is queued as one core ``Batch``; replies go out
as sub-ranges complete, late ones too (a real server does not know its client gave up: that
is the wasted work that sustains the collapse), and the manager judges them. A connection
that closes has its queued batches cancelled (a manager restart drops its backlog here);
work already in service finishes as waste.

The loop never blocks: reading is per-connection tasks, writing is buffered and a client
that does not read its replies is dropped; a malformed or overlong line drops that
connection only, with one log line. Every ``window_s`` it emits ``service-window``.
"""

import asyncio
import math
import resource
import sys
import time
from typing import Callable

from lab.cascade import wire
from lab.core.cascade import Batch, CascadeParams, LeaseService

MAX_CONNECTIONS = 64
STATS_EVERY_STEPS = 1


class WireBatch(Batch):
    """A client's batch at the service: no host ids and no per-host marks (those are the
    client's), only what the service's rules read, and where to answer."""
    __slots__ = ("conn", "rid")

    def __init__(self, conn: "Connection", rid: int, kind: str, n: int, units: int,
                 deadline_step: int):
        self.kind, self.hosts, self.units, self.deadline = kind, range(n), units, deadline_step
        self.pos, self.end, self.ok = 0, n, None
        self.cancelled = self.resolved = False
        self.tag = self.attempt = 0
        self.conn, self.rid = conn, rid


class Connection:
    def __init__(self, cid: int, writer: asyncio.StreamWriter, peer: str):
        self.cid, self.writer, self.peer = cid, writer, peer
        self.batches: list[WireBatch] = []      # submitted, maybe still queued
        self.closed = False

    def send(self, data: bytes) -> bool:
        """Buffer ``data``; False (and the connection aborted) when the client has let
        more than the bound of replies pile up unread."""
        if self.closed:
            return False
        transport = self.writer.transport
        if transport.is_closing():
            return False
        if transport.get_write_buffer_size() > wire.MAX_WRITE_BUFFER:
            transport.abort()
            return False
        self.writer.write(data)
        return True


def _stderr(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


class LeaseServer:
    """The core ``LeaseService`` behind TCP, stepped on ``clock`` (monotonic seconds);
    ``wall`` (epoch seconds) only converts clients' deadlines."""

    def __init__(self, params: CascadeParams, *, emit: Callable[..., None],
                 log: Callable[[str], None] = _stderr,
                 clock: Callable[[], float] = time.monotonic,
                 wall: Callable[[], float] = time.time):
        self.p, self.emit, self.log, self.clock, self.wall = params, emit, log, clock, wall
        self.service = LeaseService(params)
        self.conns: dict[int, Connection] = {}
        self.step_no = 0
        self.start = clock()
        self.window_steps = max(1, round(params.window_s / params.step_s))
        self.remediate_step = round(params.remediations_at_s / params.step_s)
        self.remediating = False
        self._marks = (0, 0, 0)
        self._next_cid = 0
        self.dropped = 0                     # connections dropped for what they sent / did
        self.refused = 0                     # batches refused at the connection's bound
        self.max_lag_s = 0.0

    # -- requests ---------------------------------------------------------------------
    def accept(self, conn: Connection, r: wire.Request) -> None:
        """Queue one batch (between steps: the next step's ``start_work`` takes it)."""
        if len(conn.batches) >= wire.MAX_QUEUED_BATCHES:
            conn.batches = [b for b in conn.batches if b.pos < b.end and not b.cancelled]
            if len(conn.batches) >= wire.MAX_QUEUED_BATCHES:
                self.refused += 1
                conn.send(wire.encode({"id": r.id, "error": "queue full"}))
                return
        now_s = self.clock() - self.start
        deadline_step = math.floor((now_s + r.deadline - self.wall()) / self.p.step_s)
        batch = WireBatch(conn, r.id, r.kind, r.n, r.units, deadline_step)
        conn.batches.append(batch)
        self.service.submit(batch)

    def close(self, conn: Connection) -> None:
        """The connection is gone: its queued batches are dropped unserved; what is in
        service finishes as waste."""
        if conn.closed:
            return
        conn.closed = True
        self.conns.pop(conn.cid, None)
        if conn.batches:
            self.service.cancel(lambda b: getattr(b, "conn", None) is conn)
        conn.batches = []

    async def connection(self, reader: asyncio.StreamReader,
                         writer: asyncio.StreamWriter) -> None:
        peer = "%s:%s" % (writer.get_extra_info("peername") or ("?", "?"))[:2]
        if len(self.conns) >= MAX_CONNECTIONS:
            self.log(f"lease-service: refused {peer}: {MAX_CONNECTIONS} connections already")
            writer.transport.abort()
            return
        self._next_cid += 1
        conn = Connection(self._next_cid, writer, peer)
        self.conns[conn.cid] = conn
        try:
            while not conn.closed:
                try:
                    line = await reader.readline()
                except ValueError:               # over the stream's limit
                    self._drop(conn, f"a line over {wire.MAX_LINE} bytes")
                    break
                except (ConnectionError, OSError):
                    break
                if not line:
                    break
                if not line.endswith(b"\n"):     # closed mid-line
                    break
                if not line.strip():
                    continue
                try:
                    request = wire.parse_request(line)
                except wire.WireError as e:
                    self._drop(conn, str(e))
                    break
                self.accept(conn, request)
        finally:
            self.close(conn)
            if not writer.transport.is_closing():
                writer.transport.abort()

    def _drop(self, conn: Connection, why: str) -> None:
        self.dropped += 1
        self.log(f"lease-service: dropped {conn.peer}: {why}")

    # -- the clock --------------------------------------------------------------------
    def step(self) -> None:
        s = self.step_no + 1
        p, service = self.p, self.service
        if s >= self.remediate_step and not self.remediating:
            self.remediating = True
            service.remediations_on(p.remediations)
        late: list = []
        done = service.completions(s, late)
        for batch, a, b in (*done, *late):
            conn = batch.conn
            if not conn.closed:
                conn.send(wire.encode({"id": batch.rid, "a": a, "b": b}))
        service.start_work(s)
        self.step_no = s
        if s % STATS_EVERY_STEPS == 0 and self.conns:
            stats = wire.encode({"stats": list(service.marks())})
            for conn in list(self.conns.values()):
                conn.send(stats)
        if s % self.window_steps == 0:
            self._close_window()

    def remediate_now(self) -> None:
        """The operator's lever: the service's remediations on from the next step."""
        self.remediate_step = min(self.remediate_step, self.step_no + 1)

    def _close_window(self) -> None:
        p, m = self.p, self.service.marks()
        t1 = self.step_no * p.step_s
        t0 = t1 - self.window_steps * p.step_s
        useful0, wasted0, shed0 = self._marks
        self._marks = (m.useful, m.wasted, m.shed)
        for conn in self.conns.values():        # forget batches no longer queued
            conn.batches = [b for b in conn.batches if b.pos < b.end and not b.cancelled]
        self.emit("service-window", t0=round(t0, 6), t1=round(t1, 6),
                  useful_units=m.useful - useful0, wasted_units=m.wasted - wasted0,
                  shed_units=m.shed - shed0, queue_units=m.queued,
                  goodput=round((m.useful - useful0) / (t1 - t0), 3))

    async def run(self, *, max_seconds: float, stop_event=None, remediate_event=None) -> None:
        """Step until ``max_seconds`` of its clock or ``stop_event`` (anything with
        ``is_set``); late steps are caught up one by one, never skipped."""
        step_s = self.p.step_s
        self.start = self.clock()
        while True:
            if stop_event is not None and stop_event.is_set():
                return
            if remediate_event is not None and remediate_event.is_set():
                self.remediate_now()
            now = self.clock() - self.start
            if now >= max_seconds:
                return
            wait = (self.step_no + 1) * step_s - now
            if wait > 0:
                await asyncio.sleep(wait)
                continue
            self.max_lag_s = max(self.max_lag_s, -wait)
            last = math.floor(now / step_s + 1e-9)
            while self.step_no < last:
                self.step()
            await asyncio.sleep(0)               # the connections' readers, between steps


async def serve_leases(params: CascadeParams, *, host: str, port: int,
                       emit: Callable[..., None], max_seconds: float, stop_event=None,
                       remediate_event=None, ready: Callable[[int], None] | None = None,
                       log: Callable[[str], None] = _stderr) -> dict:
    """The lease service on ``host:port`` (0: any free port, told to ``ready``) for at most
    ``max_seconds``; returns what it did (steps, dropped connections, its CPU seconds)."""
    server = LeaseServer(params, emit=emit, log=log)
    tcp = await asyncio.start_server(server.connection, host, port, limit=wire.MAX_LINE)
    bound = tcp.sockets[0].getsockname()[1]
    if ready is not None:
        ready(bound)
    cpu0 = _cpu_s()
    try:
        await server.run(max_seconds=max_seconds, stop_event=stop_event,
                         remediate_event=remediate_event)
    finally:
        tcp.close()
        for conn in list(server.conns.values()):
            conn.writer.transport.abort()
            server.close(conn)
    return {"port": bound, "steps": server.step_no, "dropped": server.dropped,
            "refused": server.refused, "max_lag_s": round(server.max_lag_s, 3),
            "cpu_s": round(_cpu_s() - cpu0, 3)}


def run_lease_service(params: CascadeParams, *, host: str, port: int,
                      emit: Callable[..., None], max_seconds: float, stop_event=None,
                      remediate_event=None, ready=None) -> dict:
    """The worker's entry point: the lease service until ``max_seconds`` or
    ``stop_event`` (a ``threading.Event``: a signal handler may set it)."""
    return asyncio.run(serve_leases(params, host=host, port=port, emit=emit,
                                    max_seconds=max_seconds, stop_event=stop_event,
                                    remediate_event=remediate_event, ready=ready))


def _cpu_s() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime
