"""The outage's second act, the front: network state propagation and NLB health checks.

Once the fleet manager (DWFM) had re-established its hosts' leases, Network Manager still had
a backlog of network state to propagate to them, and the network load balancer's health
checks failed for every host whose state had not propagated yet: the capacity users saw
stayed low after the hosts were back. This is that front, as a pure model fed with the
fleet's lapsed set (lab/core/cascade.py ``FleetManager.lapsed``) and the model time:

- **Network state.** A host that leaves the lapsed set (its lease re-established) joins one
  FIFO propagation queue; a host that enters it loses its network state (and its place in
  the queue: the entry is skipped when it reaches the head). Propagation runs at
  ``propagate_per_s`` hosts a second; budget not spent because the queue was empty is not
  banked.
- **Health checks.** Every ``check_s`` of model time each target (a host holding a lease) is
  checked; the check passes iff its network state has propagated. A target turns healthy
  after ``healthy_threshold`` consecutive passes and a healthy one unhealthy after
  ``unhealthy_threshold`` consecutive failures (NLB's thresholds). A host lapsed at a check
  is not a target: unhealthy, its history forgotten (a re-registered target starts
  unhealthy). The balancer knows only its checks: a host that lapsed and came back between
  two checks is still healthy at the next one, failing, until ``unhealthy_threshold``.

``Front.observe(t, lapsed)`` takes the model time (seconds since the start, never going
back) and the fleet's current lapsed set, and returns a ``FrontWindow`` when a check was
due. Within one call: hosts newly lapsed lose their state, the budget of the elapsed time
goes to the queue as it stood, hosts back from lapse join its tail, then the due checks run
(a host back at ``t`` is therefore propagated from ``t`` on: a world observing every
``check_s`` sees returns up to one interval late; observe more often to narrow that).
Checks fall at multiples of ``check_s``; a call that passes several runs them all at ``t``.

Cost: comparing the lapsed set with the previous one is set arithmetic in C over the lapsed
hosts; the Python work is per change (a lapse, a return, a propagation) and, per check, per
target whose health can still change (a host propagated but not yet healthy, or healthy but
unpropagated): a settled fleet costs nothing per check. Per-host state is bytearrays.
"""

from dataclasses import dataclass

__all__ = ["Front", "FrontParams", "FrontWindow"]

_EPS = 1e-9
MAX_THRESHOLD = 255     # NLB allows 2-10; the streaks are kept in bytearrays


@dataclass(frozen=True)
class FrontParams:
    propagate_per_s: float = 50.0       # network-state propagations a second
    check_s: float = 5.0                # health-check interval
    healthy_threshold: int = 2          # consecutive passes before a target counts healthy
    unhealthy_threshold: int = 2        # consecutive failures before a healthy one does not

    def __post_init__(self):
        for name in ("propagate_per_s", "check_s"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) \
                    or not value > 0 or value == float("inf"):
                raise ValueError(f"front: {name} must be a positive number of "
                                 f"{'hosts a second' if name == 'propagate_per_s' else 'seconds'}"
                                 f" (got {value!r})")
        for name in ("healthy_threshold", "unhealthy_threshold"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) \
                    or not 1 <= value <= MAX_THRESHOLD:
                raise ValueError(f"front: {name} must be a whole number of consecutive "
                                 f"checks from 1 to {MAX_THRESHOLD} (got {value!r})")


@dataclass(frozen=True)
class FrontWindow:
    t: float                        # model time of the check
    targets: int                    # hosts holding a lease
    propagated: int                 # targets whose network state has propagated
    healthy: int                    # targets the balancer counts healthy
    healthy_capacity: float         # healthy / hosts
    propagation_backlog: int        # targets waiting for their network state


class Front:
    """The propagation queue and the balancer's view of ``hosts`` hosts (0 .. hosts-1).

    ``propagated_at_start``: the fleet starts steady, every host propagated and healthy;
    otherwise every host starts queued (in host order) and unhealthy."""

    def __init__(self, hosts: int, params: FrontParams = FrontParams(), *,
                 propagated_at_start: bool = True):
        if isinstance(hosts, bool) or not isinstance(hosts, int) or hosts < 1:
            raise ValueError(f"front: hosts must be a positive whole number (got {hosts!r})")
        self.p, self.hosts = params, hosts
        self.t = 0.0
        self.checks = 0                         # checks run so far (at k * check_s)
        self.lapsed = bytearray(hosts)          # as last observed
        self.prev: set[int] = set()
        self.n_lapsed = 0
        start = 1 if propagated_at_start else 0
        self.propagated = bytearray([start]) * hosts
        self.n_propagated = hosts * start
        self.healthy = bytearray([start]) * hosts     # the balancer's view
        self.n_healthy = hosts * start
        self.streak = bytearray(hosts)          # consecutive checks against the current view
        self.watched = bytearray(hosts)         # in self.watch: its health can still change
        self.watch: list[int] = []
        # the propagation queue: a list read from `head`; an entry at absolute index i is
        # live iff qpos[host] == i (a host that lapsed is skipped when its entry comes up)
        self.queue: list[int] = []
        self.head = 0
        self.base = 0                           # absolute index of queue[0]
        self.qpos = [-1] * hosts
        self.backlog = 0                        # live entries
        self.budget = 0.0
        if not propagated_at_start:
            self._enqueue(range(hosts))

    # -- network state ----------------------------------------------------------------------
    def _enqueue(self, hosts) -> None:
        qpos, i = self.qpos, self.base + len(self.queue)
        for h in hosts:
            qpos[h] = i
            i += 1
        self.queue.extend(hosts)
        self.backlog += len(hosts)

    def _propagate(self, dt: float) -> None:
        if not self.backlog:                    # only skipped entries left, if any
            self.base += len(self.queue)
            self.queue.clear()
            self.head, self.budget = 0, 0.0
            return
        budget = self.budget + self.p.propagate_per_s * dt
        queue, qpos, propagated = self.queue, self.qpos, self.propagated
        watched, watch = self.watched, self.watch
        i, base, done = self.head, self.base, 0
        end = len(queue)
        while budget >= 1.0 and i < end:
            h = queue[i]
            if qpos[h] == base + i:
                qpos[h] = -1
                propagated[h] = 1
                if not watched[h]:
                    watched[h] = 1
                    watch.append(h)
                done += 1
                budget -= 1.0
            i += 1
        # skip dead entries at the head, so the queue never looks busy with them
        while i < end and qpos[queue[i]] != base + i:
            i += 1
        self.n_propagated += done
        self.backlog -= done
        self.budget = budget if self.backlog else 0.0
        if i > 4096 and i * 2 > end:
            del queue[:i]
            self.base += i
            i = 0
        self.head = i

    def queued(self) -> list[int]:
        """The hosts waiting for their network state, first in line first."""
        base, qpos = self.base, self.qpos
        return [h for i, h in enumerate(self.queue[self.head:], self.head)
                if qpos[h] == base + i]

    # -- the fleet's changes ----------------------------------------------------------------
    def _changes(self, lapsed: set[int]) -> list[int]:
        """Apply the hosts that entered the lapsed set; return those that left it, sorted."""
        prev = self.prev
        if len(lapsed) == len(prev) and lapsed == prev:     # one pass in C, no copies
            return []
        entered, left = lapsed - prev, prev - lapsed
        if entered and (min(entered) < 0 or max(entered) >= self.hosts):
            bad = sorted(h for h in entered if not 0 <= h < self.hosts)
            raise ValueError(f"front: lapsed host {bad[0]} is not one of the "
                             f"{self.hosts} hosts (0..{self.hosts - 1})")
        flag, propagated, qpos = self.lapsed, self.propagated, self.qpos
        watched, watch = self.watched, self.watch       # their views can change
        lost = dropped = 0
        for h in entered:
            flag[h] = 1
            if propagated[h]:
                propagated[h] = 0
                lost += 1
            elif qpos[h] >= 0:
                qpos[h] = -1                    # its entry is skipped at the head
                dropped += 1
            if not watched[h]:
                watched[h] = 1
                watch.append(h)
        for h in left:
            flag[h] = 0
            if not watched[h]:
                watched[h] = 1
                watch.append(h)
        self.n_propagated -= lost
        self.backlog -= dropped
        self.n_lapsed += len(entered) - len(left)
        self.prev = set(lapsed)
        return sorted(left)

    # -- health checks ----------------------------------------------------------------------
    def _check(self) -> None:
        """One health check of every target whose view can change; the others are settled
        (healthy and passing, or unhealthy and failing, or lapsed and forgotten)."""
        lapsed, propagated, healthy = self.lapsed, self.propagated, self.healthy
        streak, watched = self.streak, self.watched
        up, down = self.p.healthy_threshold, self.p.unhealthy_threshold
        still: list[int] = []
        gained = 0
        for h in self.watch:
            if lapsed[h]:                       # not a target: unhealthy, history forgotten
                gained -= healthy[h]
                healthy[h] = streak[h] = 0
                watched[h] = 0
                continue
            if propagated[h] == healthy[h]:     # the check agrees with the view
                streak[h] = 0
                watched[h] = 0
                continue
            s = streak[h] + 1
            if s >= (down if healthy[h] else up):
                gained += 1 - 2 * healthy[h]
                healthy[h] ^= 1
                streak[h] = 0
                watched[h] = 0
            else:
                streak[h] = s
                still.append(h)
        self.watch = still
        self.n_healthy += gained

    # -- the world's call -------------------------------------------------------------------
    def observe(self, t: float, lapsed: set[int]) -> FrontWindow | None:
        """The fleet at model time ``t``: its hosts whose lease is lapsed (read and copied,
        so the fleet's own live set will do). Returns the balancer's view when a health
        check was due (at or before ``t``), else None."""
        if t < self.t - _EPS:
            raise ValueError(f"front: time went back from {self.t} to {t}")
        dt = max(0.0, t - self.t)
        returned = self._changes(lapsed)
        self._propagate(dt)
        self._enqueue(returned)
        self.t = t
        due = int((t + _EPS) // self.p.check_s) - self.checks
        if due <= 0:
            return None
        self.checks += due
        for _ in range(due):
            if not self.watch:
                break
            self._check()
        targets = self.hosts - self.n_lapsed
        return FrontWindow(t=t, targets=targets, propagated=self.n_propagated,
                           healthy=self.n_healthy,
                           healthy_capacity=round(self.n_healthy / self.hosts, 4),
                           propagation_backlog=self.backlog)
