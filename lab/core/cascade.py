"""The outage's second act: the metastable cascade (EC2's DropletWorkflow Manager).

While the regional endpoint answered with no addresses, a fleet manager could not renew the
leases of its hosts; leases lapsed and the hosts left service. When DNS came back, every
lapsed host wanted its lease re-established at once, through a lease service that can only
do so much at a time. Re-establishment took long enough that the work timed out, more work
was queued to reattempt it, and the service spent its capacity on work nobody waited for any
more: congestive collapse, which outlived the DNS fault by hours.

The model, in the incident's words (pure: time is a step counter, randomness and the DNS
answer are injected; nothing here sleeps or reads a clock):

- ``LeaseService`` -- the regional lease store behind the endpoint. ``capacity`` concurrent
  slots; one unit of work (a renewal) holds a slot for ``base_s`` times a slowdown, so the
  service completes ``capacity / (base_s * slowdown)`` units a second. The slowdown grows
  with queued work (contention): ``1 + queued_units / (capacity * slowdown_queue_per_slot)``,
  capped at ``slowdown_max``. One queue, FIFO. The service does not know a client's
  deadline: work whose client has given up is still served (wasted work, it consumed
  capacity). That is the sustaining effect.
- ``FleetManager`` -- the hosts and their leases. A held lease is renewed every
  ``renew_period_s`` (a renewal is one unit, ``renew_timeout_s``; a failed renewal is retried
  after about ``renew_retry_s`` while the lease lasts); a lease not renewed within
  ``lease_ttl_s`` lapses and the host leaves service. Re-establishing a lapsed lease is
  ``reestablish_units`` units with ``reestablish_timeout_s``. The manager queues a
  re-establishment when a lease lapses, and its lease sweep (every ``sweep_s``) queues one
  more for every host still lapsed, without looking at what is already queued ("additional
  work was queued to reattempt establishing the droplet lease"). A re-establishment that
  fails (no address, or timed out) is retried by the retry policy (``Retry``).
- DNS: a request can only be sent while ``resolves(t)`` is true; otherwise it fails at once.
- ``ManagerLoop`` -- the manager stepped by ``step_s`` against the service behind a
  ``LeasePort`` (submit, cancel; the loop hands the manager the completions); it measures
  per window of ``window_s`` (never cumulative). ``Cascade`` is that loop with the
  ``LeaseService`` in process (the simulation); the real fleet manager (lab/cascade/fleet.py)
  runs the same loop on its monotonic clock against the real service over TCP
  (lab/cascade/service.py runs ``LeaseService`` on its own clock). ``detect``
  (lab/core/cascade_detect.py) judges the windows.

Remediations (``Remediation``), switched on from ``remediations_at_s``:
- ``admission-control``: the manager keeps at most ``admission_limit`` re-establishments in
  flight (default: the service's capacity in slots) -- throttling by queue size.
- ``velocity-control``: at most ``velocity_per_s`` re-establishments started a second.
- ``backoff-budget``: a failed re-establishment waits a jittered exponential backoff
  (full jitter, ``backoff_base_s`` doubling to ``backoff_cap_s``); retries spend tokens of a
  retry budget refilled by ``budget_ratio`` per useful completion plus
  ``budget_floor_per_s``; the sweep leaves a host with work queued alone (the per-host
  schedule a backoff needs is what removes the duplicates).
- ``lifo-shedding``: the service serves the newest work first (stale work waits at the back).
- ``deadline-shedding``: clients send their deadline; the service drops queued work that
  cannot finish before it, at no cost.
- ``restart-manager`` (an operator action at ``restart_at_s``): the manager restarts: its
  queue and retries are dropped, its connections close (the service drops their queued
  requests; those in service finish as waste), it is down ``restart_down_s`` and comes back
  with one re-establishment per lapsed host.
"""

import heapq
import math
from collections import deque
from dataclasses import dataclass, fields
from enum import StrEnum
from typing import Callable, Iterable, NamedTuple, Protocol

# The judgement of the windows is lab/core/cascade_detect.py; its names are the model's too.
from lab.core.cascade_detect import Thresholds, Verdict, cascade_summary, detect
from lab.core.front import Front, FrontParams, FrontWindow

__all__ = ["Batch", "Cascade", "CascadeParams", "Counters", "FleetManager", "LeasePort",
           "LeaseService", "ManagerLoop", "Marks", "REESTABLISH", "RENEW", "Remediation",
           "Retry", "Thresholds", "Verdict", "Window", "cascade_summary", "detect"]


class Remediation(StrEnum):
    ADMISSION_CONTROL = "admission-control"
    VELOCITY_CONTROL = "velocity-control"
    BACKOFF_BUDGET = "backoff-budget"
    LIFO_SHEDDING = "lifo-shedding"
    DEADLINE_SHEDDING = "deadline-shedding"
    RESTART_MANAGER = "restart-manager"


class Retry(StrEnum):
    IMMEDIATE = "immediate"      # the next step (the flawed manager's)
    FIXED = "fixed"              # after retry_fixed_s
    BACKOFF = "backoff"          # jittered exponential (backoff-budget forces it)


@dataclass(frozen=True)
class CascadeParams:
    hosts: int = 2000
    renew_period_s: float = 5.0
    lease_ttl_s: float = 15.0
    renew_timeout_s: float = 5.0
    renew_retry_s: float = 1.0
    capacity: int = 35                      # concurrent slots of the lease service
    base_s: float = 0.05                    # slot-seconds per unit of work, unloaded
    slowdown_max: float = 1.5
    slowdown_queue_per_slot: float = 100.0  # queued units per slot that add +100 %
    reestablish_units: int = 2              # a re-establishment is this many renewals' work
    reestablish_timeout_s: float = 10.0
    sweep_s: float = 10.0
    retry: Retry = Retry.IMMEDIATE
    retry_fixed_s: float = 2.0
    backoff_base_s: float = 1.0
    backoff_cap_s: float = 30.0
    budget_ratio: float = 0.2
    budget_floor_per_s: float = 10.0
    admission_limit: int = 0                # 0: the service's capacity in slots
    velocity_per_s: float = 50.0
    remediations: frozenset = frozenset()
    remediations_at_s: float = 0.0
    restart_at_s: float | None = None
    restart_down_s: float = 5.0
    step_s: float = 0.1
    window_s: float = 5.0
    # the health-checked front (lab/core/front.py): network state propagated to hosts back
    # in service, and the balancer's health checks that count what users can reach
    propagate_per_s: float = 50.0
    health_check_s: float = 5.0
    healthy_threshold: int = 2
    unhealthy_threshold: int = 2

    def __post_init__(self):
        known = {r.value for r in Remediation}
        names = frozenset(str(r) for r in self.remediations)
        unknown = sorted(names - known)
        if unknown:
            raise ValueError(f"cascade: unknown remediation {', '.join(unknown)} "
                             f"(known: {', '.join(sorted(known))})")
        object.__setattr__(self, "remediations", names)
        object.__setattr__(self, "retry", Retry(self.retry))
        if Remediation.RESTART_MANAGER in names and self.restart_at_s is None:
            raise ValueError("cascade: restart-manager needs restart_at_s (when the "
                             "operator restarts the manager)")
        if self.hosts < 1 or self.capacity < 1 or self.step_s <= 0 or self.window_s <= 0:
            raise ValueError("cascade: hosts, capacity, step_s and window_s must be positive")
        if self.window_s < self.step_s:
            raise ValueError("cascade: window_s must be at least step_s")
        self.front   # validates the front's parameters

    @property
    def front(self) -> FrontParams:
        """The health-checked front's parameters."""
        try:
            return FrontParams(propagate_per_s=self.propagate_per_s,
                               check_s=self.health_check_s,
                               healthy_threshold=self.healthy_threshold,
                               unhealthy_threshold=self.unhealthy_threshold)
        except ValueError as e:
            raise ValueError(f"cascade: {e}".replace("front: check_s", "health_check_s")
                             .replace("front: ", "")) from None

    @property
    def steady_load(self) -> float:
        """Renewal work of a full fleet as a fraction of the service's unloaded throughput."""
        return (self.hosts / self.renew_period_s) / (self.capacity / self.base_s)

    def replace(self, **changes) -> "CascadeParams":
        values = {f.name: getattr(self, f.name) for f in fields(self)}
        values.update(changes)
        return CascadeParams(**values)


RENEW, REESTABLISH = "renew", "reestablish"


class Batch:
    """Requests sent in one step by one kind of work, sharing a deadline: hosts[pos:end] are
    still queued at the service. ``ok`` marks the hosts whose request completed in time."""
    __slots__ = ("kind", "hosts", "units", "deadline", "pos", "end", "ok", "cancelled",
                 "tag", "attempt", "resolved")

    def __init__(self, kind, hosts, units, deadline, tag=0, attempt=0):
        self.kind, self.hosts, self.units, self.deadline = kind, hosts, units, deadline
        self.pos, self.end = 0, len(hosts)
        self.ok = bytearray(len(hosts))
        self.cancelled = False
        self.resolved = False
        self.tag, self.attempt = tag, attempt


class Marks(NamedTuple):
    """The lease service's counters as the manager's windows read them: units completed by
    their deadline, completed after it (or cancelled in service), dropped unserved, all
    since the start; and the units queued now."""
    useful: int
    wasted: int
    shed: int
    queued: int


class LeasePort(Protocol):
    """The lease service as the fleet manager's step loop sees it: the one cut between the
    manager's decisions and where the service runs. ``LeaseService`` is the in-process
    implementation (the simulation); lab/cascade/fleet.py's is a TCP client of the real
    service (lab/cascade/service.py), which runs the same ``LeaseService`` on its clock.

    A step is: ``completions(step)``, ``failed(step)``, the manager's decisions (which
    ``submit`` and ``cancel``), then ``start_work(step)``. Completions handed over are still
    judged by the manager (deadline, cancelled): a remote service's reply can come late.
    ``failed`` are batches that can no longer complete (their connection broke, or the
    service refused them): the manager fails what of them is left at once."""

    def submit(self, batch: "Batch") -> None: ...
    def cancel(self, predicate: Callable[["Batch"], bool]) -> None: ...
    def completions(self, step: int) -> Iterable[tuple["Batch", int, int]]: ...
    def failed(self, step: int) -> Iterable["Batch"]: ...
    def start_work(self, step: int) -> None: ...
    def marks(self) -> Marks: ...
    def remediations_on(self, names: frozenset) -> None: ...


class LeaseService:
    """The lease store: bounded concurrent work, one queue, service time growing with the
    queue. Time is in steps of ``step_s``. The same rules run in the simulation (as the
    manager's ``LeasePort``) and in the real lease service's process, on its own clock."""

    def __init__(self, p: CascadeParams):
        self.p = p
        self.queue: deque[Batch] = deque()
        self.queued_units = 0
        self.in_service: list = []           # heap (done_step, seq, batch, a, b)
        self._seq = 0
        self._budget = 0.0
        self.lifo = False
        self.shed_expired = False
        self.useful_units = 0                # completed by their deadline
        self.wasted_units = 0                # completed after it, or cancelled in service
        self.shed_units = 0                  # dropped unserved (deadline-shedding)

    def slowdown(self) -> float:
        p = self.p
        return min(p.slowdown_max, 1.0 + self.queued_units / (p.capacity * p.slowdown_queue_per_slot))

    def submit(self, batch: Batch) -> None:
        self.queue.append(batch)
        self.queued_units += (batch.end - batch.pos) * batch.units

    def cancel(self, predicate: Callable[[Batch], bool]) -> None:
        """Closed connections: their queued requests are dropped unserved."""
        kept = deque()
        for b in self.queue:
            if predicate(b):
                b.cancelled = True
                self.queued_units -= (b.end - b.pos) * b.units
            else:
                kept.append(b)
        self.queue = kept
        for entry in self.in_service:
            if predicate(entry[2]):
                entry[2].cancelled = True

    def completions(self, step: int, late: list | None = None) -> list:
        """(batch, a, b) of the work finishing at ``step`` by its deadline. Work finishing
        after it is wasted; with ``late`` given, its (batch, a, b) are appended there (a real
        service still answers a client that may have given up: the client judges)."""
        done, heap = [], self.in_service
        while heap and heap[0][0] <= step:
            d, _, batch, a, b = heapq.heappop(heap)
            units = (b - a) * batch.units
            if d <= batch.deadline and not batch.cancelled:
                self.useful_units += units
                done.append((batch, a, b))
            else:
                self.wasted_units += units
                if late is not None and not batch.cancelled:
                    late.append((batch, a, b))
        return done

    def failed(self, step: int) -> tuple:
        return ()                            # in process, nothing breaks

    def marks(self) -> Marks:
        return Marks(self.useful_units, self.wasted_units, self.shed_units, self.queued_units)

    def remediations_on(self, names: frozenset) -> None:
        """The service's own remediations: which end of the queue it serves, and whether it
        drops work that cannot finish by its client's deadline."""
        self.lifo = Remediation.LIFO_SHEDDING in names
        self.shed_expired = Remediation.DEADLINE_SHEDDING in names

    def start_work(self, step: int) -> None:
        """Take this step's worth of work from the queue into service."""
        p, queue = self.p, self.queue
        if not queue:
            self._budget = 0.0               # idle capacity is not banked
            return
        slow = self.slowdown()
        self._budget += p.capacity * p.step_s / (p.base_s * slow)
        while queue:
            batch = queue[-1] if self.lifo else queue[0]
            service_steps = max(1, math.ceil(batch.units * p.base_s * slow / p.step_s - 1e-9))
            done_step = step + service_steps
            if self.shed_expired and done_step > batch.deadline:
                units = (batch.end - batch.pos) * batch.units
                self.queued_units -= units
                self.shed_units += units
                batch.pos = batch.end            # nothing of it is queued any more
                queue.pop() if self.lifo else queue.popleft()
                continue
            n = min(batch.end - batch.pos, int(self._budget // batch.units))
            if n <= 0:
                break
            if self.lifo:
                a, b = batch.end - n, batch.end
                batch.end = a
            else:
                a, b = batch.pos, batch.pos + n
                batch.pos = b
            self._budget -= n * batch.units
            self.queued_units -= n * batch.units
            self._seq += 1
            heapq.heappush(self.in_service, (done_step, self._seq, batch, a, b))
            if batch.pos >= batch.end:
                queue.pop() if self.lifo else queue.popleft()
        if not queue:
            self._budget = 0.0


@dataclass
class Counters:
    """What happened in the current window (reset at each window's end)."""
    lapsed: int = 0
    reestablish_queued: int = 0
    reestablish_started: int = 0
    reestablish_timed_out: int = 0
    reestablish_failed_dns: int = 0
    reestablish_completed: int = 0      # a lapsed host back in service
    reestablish_duplicate: int = 0      # in time, but the host was already back: no use
    renewals_ok: int = 0
    renewals_failed: int = 0
    held_min: int = 0


@dataclass(frozen=True)
class Window:
    t0: float
    t1: float
    dns_ok: bool                        # DNS answered with addresses for the whole window
    leases_held: int                    # hosts in service at the window's end
    leases_held_min: int
    lapsed: int                         # leases that lapsed in the window
    out_of_service: int                 # hosts without a lease at the window's end
    reestablish_queued: int
    reestablish_started: int
    reestablish_timed_out: int
    reestablish_failed_dns: int
    reestablish_completed: int
    reestablish_duplicate: int
    renewals_ok: int
    renewals_failed: int
    service_useful_units: int
    service_wasted_units: int
    service_shed_units: int
    service_queue_units: int            # at the window's end
    manager_queue: int                  # re-establishments waiting at the manager, at the end
    service_goodput: float              # useful units completed per second
    fleet_goodput: float                # lease work that helped a host, per second, over the
    #                                     full fleet's steady renewal work (1.0 = steady)
    healthy_capacity: float             # healthy_hosts / hosts: the capacity users see
    healthy_hosts: int = 0              # hosts passing the front's health checks, at the end
    healthy_hosts_min: int = 0          # the fewest at any check in the window
    propagation_backlog: int = 0        # hosts back in service, network state not propagated


class FleetManager:
    """N hosts with leases, their renewals, and the manager re-establishing lapsed ones.
    It reaches the lease service only through ``leases`` (a ``LeasePort``): ``submit`` and,
    when it restarts, ``cancel``; its step loop hands it the completions."""

    def __init__(self, p: CascadeParams, leases: LeasePort,
                 resolves: Callable[[float], bool], random: Callable[[], float]):
        self.p, self.leases, self.resolves, self.random = p, leases, resolves, random
        dt = p.step_s
        self.ttl_steps = max(1, round(p.lease_ttl_s / dt))
        self.period_steps = max(1, round(p.renew_period_s / dt))
        self.renew_timeout_steps = max(1, round(p.renew_timeout_s / dt))
        self.reest_timeout_steps = max(1, round(p.reestablish_timeout_s / dt))
        self.sweep_steps = max(1, round(p.sweep_s / dt))
        self.lease_exp = [0] * p.hosts          # step the lease lapses at; -1: lapsed
        self.renewing = bytearray(p.hosts)      # a renewal is outstanding
        self.items = [0] * p.hosts              # re-establishments live for the host
        self.expiring: dict[int, list] = {}     # step -> hosts whose lease lapses then
        self.renew_due: dict[int, list] = {}    # step -> lease buckets to renew then
        self.deadlines: dict[int, list] = {}    # step -> batches whose clients give up then
        self.retry_at: dict[int, list] = {}     # step -> [(hosts, attempt)] re-establishments
        self.queue: deque = deque()             # the manager's queue: (hosts, attempt)
        self.queue_len = 0
        self.lapsed: set[int] = set()
        self.held = p.hosts
        self.in_flight = 0                      # re-establishments sent, not yet resolved
        self.epoch = 0
        self.down_until = -1
        self.next_sweep = self.sweep_steps
        self.velocity_tokens = 0.0
        self.budget_tokens = 0.0
        self.c = Counters(held_min=p.hosts)
        self.effective_units = 0                # lease work that helped a host (this window)
        self.remediate = False
        # a fleet in steady state: leases spread over one renewal period
        for h in range(p.hosts):
            renewed = -((h * self.period_steps) // p.hosts)     # 0 .. -(period-1)
            self._hold(h, renewed)

    # -- leases -----------------------------------------------------------------------
    def _hold(self, h: int, at: int) -> None:
        exp = at + self.ttl_steps
        self.lease_exp[h] = exp
        bucket = self.expiring.get(exp)
        if bucket is None:
            self.expiring[exp] = [h]
            self.renew_due.setdefault(at + self.period_steps, []).append(exp)
        else:
            bucket.append(h)

    def lapse(self, step: int) -> None:
        hosts = self.expiring.pop(step, None)
        if not hosts:
            return
        exp, now_lapsed = self.lease_exp, []
        for h in hosts:
            if exp[h] == step:
                exp[h] = -1
                now_lapsed.append(h)
        if now_lapsed:
            self.held -= len(now_lapsed)
            self.c.lapsed += len(now_lapsed)
            self.lapsed.update(now_lapsed)
            if step >= self.down_until:
                self._enqueue(now_lapsed, 0)

    def renew(self, step: int) -> None:
        buckets = self.renew_due.pop(step, None)
        if not buckets:
            return
        exp, renewing = self.lease_exp, self.renewing
        t = step * self.p.step_s
        for e in buckets:
            if e <= step:
                continue
            hosts = [h for h in self.expiring.get(e, ()) if exp[h] == e and not renewing[h]]
            if not hosts:
                continue
            if not self.resolves(t):
                self.c.renewals_failed += len(hosts)
                self._retry_renewal(e, step)
                continue
            for h in hosts:
                renewing[h] = 1
            batch = Batch(RENEW, hosts, 1, step + self.renew_timeout_steps, tag=e)
            self.leases.submit(batch)
            self.deadlines.setdefault(batch.deadline, []).append(batch)

    def _retry_renewal(self, e: int, step: int) -> None:
        delay = self.p.renew_retry_s * (0.5 + self.random())
        at = step + max(1, round(delay / self.p.step_s))
        if at < e:
            self.renew_due.setdefault(at, []).append(e)

    # -- re-establishment -------------------------------------------------------------
    def _enqueue(self, hosts: list, attempt: int) -> None:
        if not hosts:
            return
        items = self.items
        for h in hosts:
            items[h] += 1
        self.queue.append((hosts, attempt))
        self.queue_len += len(hosts)
        self.c.reestablish_queued += len(hosts)

    def sweep(self, step: int) -> None:
        if step < self.next_sweep or step < self.down_until:
            return
        self.next_sweep = step + self.sweep_steps
        if not self.lapsed:
            return
        hosts = sorted(self.lapsed)
        if self.remediate and Remediation.BACKOFF_BUDGET in self.p.remediations:
            hosts = [h for h in hosts if self.items[h] == 0]
        self._enqueue(hosts, 0)

    def _retry(self, hosts: list, attempt: int, step: int) -> None:
        """Failed re-establishments: when to queue them again."""
        p = self.p
        policy = p.retry
        if self.remediate and Remediation.BACKOFF_BUDGET in p.remediations:
            policy = Retry.BACKOFF
        if policy is Retry.IMMEDIATE:
            at = step + 1
            self.retry_at.setdefault(at, []).append((hosts, attempt + 1))
        elif policy is Retry.FIXED:
            at = step + max(1, round(p.retry_fixed_s / p.step_s))
            self.retry_at.setdefault(at, []).append((hosts, attempt + 1))
        else:
            cap = min(p.backoff_cap_s, p.backoff_base_s * 2 ** min(attempt, 30))
            by_step: dict[int, list] = {}
            for h in hosts:
                at = step + max(1, round(cap * self.random() / p.step_s))
                by_step.setdefault(at, []).append(h)
            for at, hs in by_step.items():
                self.retry_at.setdefault(at, []).append((hs, attempt + 1))

    def dispatch(self, step: int) -> None:
        p = self.p
        for hosts, attempt in self.retry_at.pop(step, ()):
            self.queue.append((hosts, attempt))
            self.queue_len += len(hosts)
        if step < self.down_until or not self.queue:
            return
        limit = self.queue_len
        rem = p.remediations if self.remediate else frozenset()
        if Remediation.ADMISSION_CONTROL in rem:
            limit = min(limit, (p.admission_limit or p.capacity) - self.in_flight)
        if Remediation.VELOCITY_CONTROL in rem:
            self.velocity_tokens = min(p.velocity_per_s,
                                       self.velocity_tokens + p.velocity_per_s * p.step_s)
            limit = min(limit, int(self.velocity_tokens))
        budgeted = Remediation.BACKOFF_BUDGET in rem
        if budgeted:
            self.budget_tokens = min(10 * p.budget_floor_per_s,
                                     self.budget_tokens + p.budget_floor_per_s * p.step_s)
        if limit <= 0:
            return
        dns = self.resolves(step * p.step_s)
        sent = []
        while self.queue and limit > 0:
            hosts, attempt = self.queue[0]
            n = min(len(hosts), limit)
            if budgeted and attempt > 0:
                n = min(n, int(self.budget_tokens))
                if n <= 0:
                    break
                self.budget_tokens -= n
            if n == len(hosts):
                self.queue.popleft()
                part = hosts
            else:
                part, rest = hosts[:n], hosts[n:]
                self.queue[0] = (rest, attempt)
            self.queue_len -= n
            limit -= n
            sent.append((part, attempt))
        if Remediation.VELOCITY_CONTROL in rem:
            self.velocity_tokens -= sum(len(h) for h, _ in sent)
        for part, attempt in sent:
            self.c.reestablish_started += len(part)
            if not dns:
                self.c.reestablish_failed_dns += len(part)
                self._retry(part, attempt, step)
                continue
            batch = Batch(REESTABLISH, part, p.reestablish_units,
                          step + self.reest_timeout_steps, tag=self.epoch, attempt=attempt)
            self.in_flight += len(part)
            self.leases.submit(batch)
            self.deadlines.setdefault(batch.deadline, []).append(batch)

    # -- outcomes ---------------------------------------------------------------------
    def completed(self, batch: Batch, a: int, b: int, step: int) -> None:
        batch.ok[a:b] = b"\x01" * (b - a)
        hosts = batch.hosts
        exp = self.lease_exp
        if batch.kind == RENEW:
            e = batch.tag
            renewed = 0
            for h in hosts[a:b]:
                self.renewing[h] = 0
                if exp[h] == e:
                    self._hold(h, step)
                    renewed += 1
            self.c.renewals_ok += b - a
            self.effective_units += renewed
            self._deposit(b - a)
            return
        if batch.tag != self.epoch:
            return
        self.in_flight -= b - a
        back = 0
        for h in hosts[a:b]:
            self.items[h] -= 1
            if exp[h] == -1:
                self.lapsed.discard(h)
                self._hold(h, step)
                back += 1
        self.held += back
        self.c.reestablish_completed += back
        self.c.reestablish_duplicate += (b - a) - back
        self.effective_units += back * batch.units
        self._deposit(b - a)

    def _deposit(self, successes: int) -> None:
        """The retry budget: every successful lease request earns ``budget_ratio`` of a
        retry (renewals included: retries may be a fraction of all the manager's work)."""
        self.budget_tokens = min(10 * self.p.budget_floor_per_s,
                                 self.budget_tokens + self.p.budget_ratio * successes)

    def give_up(self, step: int) -> None:
        """Clients whose deadline is now: what did not complete has timed out."""
        for batch in self.deadlines.pop(step, ()):
            self.fail(batch, step)

    def fail(self, batch: Batch, step: int) -> None:
        """What of ``batch`` has not completed has failed, now: its deadline came, or (a
        real service) its connection broke. Counted as timed out and retried; the batch's
        deadline later finds it resolved."""
        if batch.cancelled or batch.resolved:
            return
        batch.resolved = True
        ok = batch.ok
        failed = [h for i, h in enumerate(batch.hosts) if not ok[i]]
        if not failed:
            return
        if batch.kind == RENEW:
            for h in failed:
                self.renewing[h] = 0
            self.c.renewals_failed += len(failed)
            self._retry_renewal(batch.tag, step)
            return
        if batch.tag != self.epoch:
            return
        self.in_flight -= len(failed)
        self.c.reestablish_timed_out += len(failed)
        self._retry(failed, batch.attempt, step)

    def restart(self, step: int) -> None:
        """The operator restarts the manager: queue, retries and connections are gone."""
        old = self.epoch
        self.epoch += 1
        self.leases.cancel(lambda b: b.kind == REESTABLISH and b.tag == old)
        self.queue.clear()
        self.queue_len = 0
        self.retry_at.clear()
        self.items = [0] * self.p.hosts
        self.in_flight = 0
        self.down_until = step + max(1, round(self.p.restart_down_s / self.p.step_s))
        self.next_sweep = self.down_until


class ManagerLoop:
    """The fleet manager's step loop against a lease service behind a ``LeasePort``, one
    ``step_s`` at a time, measuring per window of ``window_s``.

    ``advance_to(t)`` runs every step up to model time ``t`` (seconds since the start): a
    simulation calls it with virtual time, a real manager with its monotonic clock's (and
    catches up, step by step, when it was late). ``resolves(t)`` says whether the service's
    endpoint answers with addresses at model time ``t`` (a real manager: its latest lookup);
    ``random()`` is a number in [0, 1) (jitter). The operator's levers are steps:
    ``remediate_step`` (remediations on from then; the params' ``remediations_at_s``) and
    ``restart_step`` (the manager restarts then; the params' ``restart_at_s`` under
    restart-manager); a world may set either, e.g. to ``step_no + 1``."""

    def __init__(self, params: CascadeParams, *, leases: LeasePort,
                 resolves: Callable[[float], bool], random: Callable[[], float]):
        self.p = params
        self.resolves = resolves
        self.leases = leases
        self.fleet = FleetManager(params, leases, resolves, random)
        self.step_no = 0
        self.window_steps = max(1, round(params.window_s / params.step_s))
        self.remediate_step = round(params.remediations_at_s / params.step_s)
        self.restart_step = (round(params.restart_at_s / params.step_s)
                             if Remediation.RESTART_MANAGER in params.remediations else None)
        self.windows: list[Window] = []
        self._dns_ok_window = True
        self._service_marks = (0, 0, 0)
        # the front sees the fleet's lapsed hosts every step; its view changes at checks
        self.front = Front(params.hosts, params.front)
        self.front_view = FrontWindow(t=0.0, targets=params.hosts, propagated=params.hosts,
                                      healthy=params.hosts, healthy_capacity=1.0,
                                      propagation_backlog=0)
        self._healthy_min = params.hosts

    @property
    def now(self) -> float:
        return self.step_no * self.p.step_s

    def advance_to(self, t: float) -> None:
        last = round(t / self.p.step_s)
        while self.step_no < last:
            self.step()

    def step(self) -> None:
        s = self.step_no + 1
        fleet, leases = self.fleet, self.leases
        if s >= self.remediate_step and not fleet.remediate:
            fleet.remediate = True
            leases.remediations_on(self.p.remediations)
        if s == self.restart_step:
            fleet.restart(s)
        for batch, a, b in leases.completions(s):
            # the client's own judgement: a reply after its deadline, or for a request it
            # cancelled or has already given up on, is of no use to it
            if s <= batch.deadline and not batch.cancelled and not batch.resolved:
                fleet.completed(batch, a, b, s)
        for batch in leases.failed(s):
            fleet.fail(batch, s)
        fleet.give_up(s)
        fleet.lapse(s)
        fleet.renew(s)
        fleet.sweep(s)
        fleet.dispatch(s)
        leases.start_work(s)
        if fleet.held < fleet.c.held_min:
            fleet.c.held_min = fleet.held
        if not self.resolves(s * self.p.step_s):
            self._dns_ok_window = False
        view = self.front.observe(s * self.p.step_s, fleet.lapsed)
        if view is not None:
            self.front_view = view
            if view.healthy < self._healthy_min:
                self._healthy_min = view.healthy
        self.step_no = s
        if s % self.window_steps == 0:
            self._close_window()

    def _close_window(self) -> None:
        p, fleet, c = self.p, self.fleet, self.fleet.c
        marks = self.leases.marks()
        t1 = self.step_no * p.step_s
        t0 = t1 - self.window_steps * p.step_s
        useful0, wasted0, shed0 = self._service_marks
        useful = marks.useful - useful0
        seconds = t1 - t0
        self.windows.append(Window(
            t0=round(t0, 6), t1=round(t1, 6), dns_ok=self._dns_ok_window,
            leases_held=fleet.held, leases_held_min=c.held_min, lapsed=c.lapsed,
            out_of_service=p.hosts - fleet.held,
            reestablish_queued=c.reestablish_queued, reestablish_started=c.reestablish_started,
            reestablish_timed_out=c.reestablish_timed_out,
            reestablish_failed_dns=c.reestablish_failed_dns,
            reestablish_completed=c.reestablish_completed,
            reestablish_duplicate=c.reestablish_duplicate,
            renewals_ok=c.renewals_ok, renewals_failed=c.renewals_failed,
            service_useful_units=useful,
            service_wasted_units=marks.wasted - wasted0,
            service_shed_units=marks.shed - shed0,
            service_queue_units=marks.queued, manager_queue=fleet.queue_len,
            service_goodput=round(useful / seconds, 3),
            fleet_goodput=round(fleet.effective_units / seconds
                                / (p.hosts / p.renew_period_s), 4),
            healthy_capacity=self.front_view.healthy_capacity,
            healthy_hosts=self.front_view.healthy, healthy_hosts_min=self._healthy_min,
            propagation_backlog=self.front_view.propagation_backlog))
        self._healthy_min = self.front_view.healthy
        self._service_marks = (marks.useful, marks.wasted, marks.shed)
        fleet.c = Counters(held_min=fleet.held)
        fleet.effective_units = 0
        self._dns_ok_window = True


class Cascade(ManagerLoop):
    """One run of the lease service and the fleet manager in one process (the simulation):
    the manager's step loop with the in-process ``LeaseService`` as its port."""

    def __init__(self, params: CascadeParams, *, resolves: Callable[[float], bool],
                 random: Callable[[], float]):
        self.service = LeaseService(params)
        super().__init__(params, leases=self.service, resolves=resolves, random=random)

