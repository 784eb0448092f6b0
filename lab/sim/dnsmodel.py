"""The DNS servers of the simulation: an authoritative server answering from the in-memory
backend's state with the lab's record layout, and a caching resolver that behaves as the
real pdns-recursor 4.8 did in this lab (docs/design.md, "The simulation").

Authoritative (both backends, lab/backends/*_plans.py):
- flattened alias: the endpoint name carries its tree's addresses; once the tree is
  deleted it has no address records: NXDOMAIN (``empty_answer: nxdomain``), or NODATA
  (``nodata``: a TXT record keeps the name);
- cname alias: ``endpoint CNAME g<gen>.<tree>.plans``; a deleted tree answers NXDOMAIN /
  NODATA on PowerDNS (the resolver caches the CNAME and the target's negative answer
  separately); CoreDNS drops a CNAME whose in-zone target has no records: NODATA;
- the negative TTL is the zone's SOA minimum on PowerDNS (the experiment's), fixed at 30 s
  on CoreDNS; records carry the experiment's record TTL;
- a paused (frozen) server does not answer.

Resolver (pdns-recursor 4.8, as measured here):
- caches answers for the record TTL and negative answers for the negative TTL; a CNAME and
  its target are cached separately;
- asked while the server does not answer: the client's 1 s timeout ends first (the
  recursor waits 1.5 s); each such query is one failure of the server, and after
  ``SERVER_DOWN_MAX_FAILS`` (64) consecutive ones the recursor throttles the server for
  ``SERVER_DOWN_THROTTLE_S`` (60 s): every query answers SERVFAIL at once, even after the
  server is back (measured: failures end 61-65 s after they began, on both backends);
- with serve-stale, an expired record whose refresh fails is kept 30 s more, up to
  ``extensions`` times: queries that came while the refresh waited for the server (1.5 s)
  time out at the client, later ones get the stale record at once.
"""

from dataclasses import dataclass

NXDOMAIN, NODATA, SERVFAIL, TIMEOUT, OK = "NXDOMAIN", "NODATA", "SERVFAIL", "TIMEOUT", "NOERROR"
SERVER_DOWN_MAX_FAILS = 64
SERVER_DOWN_THROTTLE_S = 60.0
STALE_EXTENSION_S = 30.0
UPSTREAM_TIMEOUT_S = 1.5
MAX_CHAIN = 8


@dataclass(frozen=True)
class Answer:
    """One name's answer: an rcode, addresses (NOERROR), or a CNAME target, and its TTL."""

    rcode: str
    addresses: frozenset = frozenset()
    cname: str | None = None
    ttl: float = 0.0


class Authoritative:
    def __init__(self, dns, *, backend: str, alias: str, empty_answer: str,
                 record_ttl_s: float, negative_ttl_s: float):
        self.dns = dns                   # lab.core.memory.MemoryDns
        self.coredns = backend == "coredns"
        self.alias = alias
        self.empty_answer = empty_answer
        self.ttl = record_ttl_s
        self.negative_ttl = negative_ttl_s
        self.paused = False
        self._memo: dict[tuple[str, str], Answer] = {}
        self._memo_at = -1            # the backend's transaction count the memo is valid for

    def _empty(self) -> Answer:
        rcode = NODATA if self.empty_answer == "nodata" else NXDOMAIN
        return Answer(rcode, ttl=self.negative_ttl)

    def _tree(self, pointer, rdtype: str) -> frozenset | None:
        """The addresses of a tree of that type, or None when the tree is gone."""
        targets = self.dns.trees.get(pointer)
        if targets is None:
            return None
        return frozenset(t.address for t in targets if t.rtype == rdtype)

    def answer(self, name: str, rdtype: str) -> Answer | None:
        """None: no answer (the server is frozen). Answers are the same until the backend's
        next transaction, so they are kept until then."""
        if self.paused:
            return None
        if self.dns.transactions != self._memo_at:
            self._memo.clear()
            self._memo_at = self.dns.transactions
        key = (name, rdtype)
        found = self._memo.get(key)
        if found is None:
            found = self._memo[key] = self._answer(name, rdtype)
        return found

    def _answer(self, name: str, rdtype: str) -> Answer:
        if name.startswith("tree:"):                 # a CNAME target: "tree:<gen>:<tree>"
            _, gen, tree = name.split(":")
            found = self._tree((int(gen), tree), rdtype)
            if found is None:
                return self._empty()
            return Answer(OK, found, ttl=self.ttl) if found else \
                Answer(NODATA, ttl=self.negative_ttl)
        pointer = self.dns.pointers.get(name)
        if pointer is None:
            return Answer(NXDOMAIN, ttl=self.negative_ttl)
        found = self._tree(pointer, rdtype)
        if self.alias == "cname":
            if found is None and self.coredns:
                return Answer(NODATA, ttl=self.negative_ttl)
            return Answer(OK, cname=f"tree:{pointer[0]}:{pointer[1]}", ttl=self.ttl)
        if found is None:
            return self._empty()
        return Answer(OK, found, ttl=self.ttl) if found else Answer(NODATA, ttl=self.negative_ttl)

    def resolve(self, name: str, rdtype: str) -> tuple[str, int]:
        """What a direct client (no recursion) makes of it: (rcode or TIMEOUT, addresses).
        With a CNAME alias the server adds the in-zone target's records."""
        return follow(self.answer, name, rdtype)


@dataclass
class _Cached:
    answer: Answer
    expires: float
    extensions: int = 0
    waiting_until: float = -1.0      # a failed refresh is still waiting for the server


class Resolver:
    def __init__(self, server: Authoritative, *, serve_stale_extensions: int = 0):
        self.server = server
        self.extensions = serve_stale_extensions
        self.cache: dict[tuple[str, str], _Cached] = {}
        self.fails = 0
        self.throttled_until = -1.0

    def _ask(self, name: str, rdtype: str, now: float) -> Answer | None:
        """One name, from cache or from the server; None: the client times out;
        Answer(SERVFAIL): the recursor gives up at once (throttled)."""
        key = (name, rdtype)
        cached = self.cache.get(key)
        if cached is not None and cached.expires > now:
            return None if now < cached.waiting_until else cached.answer
        stale = cached is not None and cached.answer.rcode == OK and \
            cached.extensions < self.extensions
        if now < self.throttled_until:
            return self._stale(cached, now, 0.0) if stale else Answer(SERVFAIL)
        fresh = self.server.answer(name, rdtype)
        if fresh is None:
            self.fails += 1
            if self.fails >= SERVER_DOWN_MAX_FAILS:
                self.throttled_until = now + SERVER_DOWN_THROTTLE_S
                self.fails = 0
            return self._stale(cached, now, UPSTREAM_TIMEOUT_S) if stale else None
        self.fails = 0
        self.cache[key] = _Cached(fresh, now + fresh.ttl)
        return fresh

    @staticmethod
    def _stale(cached: _Cached, now: float, wait: float) -> Answer | None:
        """Keep an expired record 30 s more; None while its refresh waits for the server."""
        cached.extensions += 1
        cached.waiting_until = now + wait
        cached.expires = now + wait + STALE_EXTENSION_S
        return None if wait else cached.answer

    def resolve(self, name: str, rdtype: str, now: float) -> tuple[str, int]:
        return follow(lambda n, t: self._ask(n, t, now), name, rdtype)


def follow(ask, name: str, rdtype: str) -> tuple[str, int]:
    """(rcode or TIMEOUT, addresses) for ``name``, following CNAMEs (``ask(name, rdtype)``
    answers one name; None: no answer in time)."""
    for _ in range(MAX_CHAIN):
        a = ask(name, rdtype)
        if a is None:
            return TIMEOUT, 0
        if a.cname is None:
            return a.rcode, len(a.addresses)
        name = a.cname
    return SERVFAIL, 0
