"""Prometheus metrics of the lab's workers, derived from the events they emit (one place
maps history to metrics, so dashboards and reports cannot disagree)."""

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from lab.core.history import Event, Kind

LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)

# The safeguards that refuse a write or keep a plan: the `safeguard` label's fixed values.
SAFEGUARDS = ("freshness-cas", "fencing", "cleanup-skips-active", "interlock", "unknown")

# The cascade (lab/core/cascade.py). A window's counts (what happened in its window_s) are
# added to counters, so rate() and increase() over a few windows read them per second; its
# levels at the window's end (leases held, queues, goodput, capacity) are gauges. Every
# cascade series carries the emitting worker (`manager`: the fleet manager, `service`: the
# lease service) and exists only once that worker reported, so no other worker exports a 0
# a min() or an alert would read as a collapsed fleet.
REESTABLISH_STAGES = {"queued": "reestablish_queued", "started": "reestablish_started",
                      "timed-out": "reestablish_timed_out",
                      "failed-dns": "reestablish_failed_dns",
                      "completed": "reestablish_completed",
                      "duplicate": "reestablish_duplicate"}
RENEWAL_RESULTS = {"ok": "renewals_ok", "failed": "renewals_failed"}
SERVICE_WORK = {"useful": "useful_units", "wasted": "wasted_units", "shed": "shed_units"}


def safeguard_of(e: Event) -> str:
    """Which safeguard refused (a WRITE_REFUSED or CLEANUP_SKIPPED event carries its name,
    lab/core/guard.py); "unknown" for anything else."""
    safeguard = e.data.get("safeguard")
    return safeguard if safeguard in SAFEGUARDS else "unknown"


class WorkerMetrics:
    def __init__(self, registry: CollectorRegistry):
        r = registry
        self.published = Gauge("dnslab_planner_generation", "Newest plan generation published.",
                               registry=r)
        self.applied = Gauge("dnslab_endpoint_applied_generation",
                             "Plan generation an enactor last applied to an endpoint.",
                             ["enactor", "endpoint"], registry=r)
        self.passes = Counter("dnslab_enactor_passes", "Enactor passes by result.",
                              ["enactor", "result"], registry=r)
        self.pass_seconds = Histogram("dnslab_enactor_pass_duration_seconds",
                                      "Duration of enactor passes that applied a plan.",
                                      ["enactor"], registry=r)
        self.lock_lost = Counter("dnslab_enactor_lock_losses", "Per-endpoint lock losses.",
                                 ["enactor"], registry=r)
        self.retries = Counter("dnslab_enactor_endpoint_retries",
                               "Endpoint writes retried after an error.", ["enactor"], registry=r)
        self.deleted = Counter("dnslab_cleanup_deleted_plans", "Plans deleted by clean-up.",
                               ["enactor"], registry=r)
        self.stuck = Gauge("dnslab_enactor_stuck",
                           "1 while the enactor's last pass found an endpoint pointing at a "
                           "deleted plan.", ["enactor"], registry=r)
        self.faults = Gauge("dnslab_fault_active", "1 while a fault is in effect.",
                            ["fault", "target"], registry=r)
        self.probes = Counter("dnslab_client_probes", "Probes of virtual clients.",
                              ["group", "endpoint", "outcome", "rcode"], registry=r)
        self.latency = Histogram("dnslab_client_probe_duration_seconds",
                                 "Client probe latency.", ["group"], buckets=LATENCY_BUCKETS,
                                 registry=r)
        self.failing = Gauge("dnslab_clients_failing",
                             "Clients whose last probe got no address.", ["group", "endpoint"],
                             registry=r)
        self.clients = Gauge("dnslab_clients", "Virtual clients.", ["group", "endpoint"],
                             registry=r)
        self.addresses = Gauge("dnslab_endpoint_addresses",
                               "Addresses in the last answer a client of the group got for "
                               "the endpoint (0: no address).", ["group", "endpoint"],
                               registry=r)
        self.violations = Counter("dnslab_invariant_violations",
                                  "Invariant violations seen live: a direct client got no "
                                  "address (endpoint-never-empty), an enactor applied an older "
                                  "plan than the endpoint had (applied-generation-monotonic).",
                                  ["invariant"], registry=r)
        self.refused = Counter("dnslab_enactor_writes_refused",
                               "Guarded writes refused (safeguards).", ["enactor"], registry=r)
        self.skipped = Counter("dnslab_cleanup_skipped_plans",
                               "Plans clean-up kept (safeguards).", ["enactor"], registry=r)
        self.safeguard_refusals = Counter(
            "dnslab_safeguard_refusals",
            "Writes refused and plan deletions kept, by the safeguard that said no.",
            ["enactor", "safeguard"], registry=r)
        # The cascade's fleet manager (cascade-window, cascade-dns) and lease service
        # (service-window): see REESTABLISH_STAGES above for counters versus gauges.
        self.leases_held = Gauge("dnslab_fleet_leases_held",
                                 "Hosts holding a lease at the end of the last window.",
                                 ["manager"], registry=r)
        self.out_of_service = Gauge("dnslab_fleet_hosts_out_of_service",
                                    "Hosts without a lease (lapsed, not yet re-established) at "
                                    "the end of the last window.", ["manager"], registry=r)
        self.lapsed = Counter("dnslab_fleet_leases_lapsed", "Leases that lapsed.",
                              ["manager"], registry=r)
        self.reestablishments = Counter(
            "dnslab_fleet_reestablishments",
            "Lease re-establishments by stage: queued at the manager, started (sent to the "
            "lease service), timed out, failed on DNS, completed, duplicate (the sweep's).",
            ["manager", "stage"], registry=r)
        self.renewals = Counter("dnslab_fleet_renewals", "Lease renewals by result.",
                                ["manager", "result"], registry=r)
        self.waiting = Gauge("dnslab_fleet_reestablishments_waiting",
                             "Re-establishments waiting in the manager's queue at the end of "
                             "the last window.", ["manager"], registry=r)
        self.fleet_goodput = Gauge("dnslab_fleet_goodput_ratio",
                                   "Lease work that helped a host in the last window, over the "
                                   "full fleet's steady renewal work (1: steady, below 0.5: "
                                   "collapsed).", ["manager"], registry=r)
        self.capacity = Gauge("dnslab_fleet_healthy_capacity_ratio",
                              "Share of the fleet's hosts passing the front's health checks "
                              "at the end of the last window (the capacity users see).",
                              ["manager"], registry=r)
        self.healthy = Gauge("dnslab_fleet_hosts_healthy",
                             "Hosts passing the front's health checks at the end of the last "
                             "window.", ["manager"], registry=r)
        self.backlog = Gauge("dnslab_fleet_propagation_backlog",
                             "Hosts back in service whose network state has not propagated "
                             "yet (their health checks fail), at the end of the last window.",
                             ["manager"], registry=r)
        self.lookup_ok = Gauge("dnslab_fleet_lookup_ok",
                               "1 while the manager's last lookup of the endpoint got addresses.",
                               ["manager"], registry=r)
        self.lookup_addresses = Gauge("dnslab_fleet_lookup_addresses",
                                      "Addresses in the manager's last lookup of the endpoint "
                                      "(0: no address).", ["manager"], registry=r)
        self.service_goodput = Gauge("dnslab_lease_service_goodput_units_per_second",
                                     "Useful work units the lease service completed per second "
                                     "in the last window.", ["service"], registry=r)
        self.service_work = Counter("dnslab_lease_service_work_units",
                                    "Work units the lease service finished, by result: useful, "
                                    "wasted (served after its client gave up), shed.",
                                    ["service", "result"], registry=r)
        self.service_queue = Gauge("dnslab_lease_service_queue_units",
                                   "Work units queued at the lease service at the end of the "
                                   "last window.", ["service"], registry=r)
        for invariant in ("endpoint-never-empty", "applied-generation-monotonic"):
            self.violations.labels(invariant)     # exported at 0, so increase() sees the first
        self._failing: dict[tuple, set] = {}
        self._probe_children: dict[tuple, object] = {}   # label lookups are the hot path
        self._latency_children: dict[str, object] = {}

    def enactor(self, name: str) -> None:
        """Export an enactor's counters at 0 from its start (a panel of rates shows 0, not
        'no data', before the first lock wait)."""
        for counter in (self.lock_lost, self.retries, self.deleted, self.refused, self.skipped):
            counter.labels(name)
        for safeguard in SAFEGUARDS:
            self.safeguard_refusals.labels(name, safeguard)
        self.stuck.labels(name).set(0)

    def client(self, group: str, endpoint: str) -> None:
        self.clients.labels(group, endpoint).inc()
        self.failing.labels(group, endpoint).set(0)

    def __call__(self, e: Event) -> None:
        d = e.data
        if e.kind is Kind.PROBE:
            group, endpoint, outcome = d["group"], d["endpoint"], d["outcome"]
            labels = (group, endpoint, outcome, d["rcode"])
            child = self._probe_children.get(labels)
            if child is None:
                child = self._probe_children[labels] = self.probes.labels(*labels)
            child.inc()
            latency = self._latency_children.get(group)
            if latency is None:
                latency = self._latency_children[group] = self.latency.labels(group)
            latency.observe(d["latency_ms"] / 1000)
            key = (group, endpoint)
            failing = self._failing.setdefault(key, set())
            before = len(failing)
            (failing.discard if outcome == "ok" else failing.add)(d["client"])
            if len(failing) != before:
                self.failing.labels(*key).set(len(failing))
            found = d.get("addresses") or 0
            self.addresses.labels(*key).set(found if isinstance(found, int) else len(found))
            if group == "direct" and outcome in ("nxdomain", "nodata"):
                self.violations.labels("endpoint-never-empty").inc()
        elif e.kind is Kind.PLAN_PUBLISHED:
            self.published.set(d["generation"])
        elif e.kind is Kind.ENDPOINT_APPLIED:
            self.applied.labels(e.source, d["endpoint"]).set(d["generation"])
            if d.get("previous") is not None and d["generation"] < d["previous"]:
                self.violations.labels("applied-generation-monotonic").inc()
        elif e.kind is Kind.WRITE_REFUSED:
            self.refused.labels(e.source).inc()
            self.safeguard_refusals.labels(e.source, safeguard_of(e)).inc()
        elif e.kind is Kind.CLEANUP_SKIPPED:
            self.skipped.labels(e.source).inc()
            self.safeguard_refusals.labels(e.source, safeguard_of(e)).inc()
        elif e.kind is Kind.PASS:
            self.passes.labels(e.source, d["result"]).inc()
            self.stuck.labels(e.source).set(1 if d["result"] == "stuck" else 0)
            if d["result"] == "applied":
                self.pass_seconds.labels(e.source).observe(d["seconds"])
        elif e.kind is Kind.LOCK_LOST:
            self.lock_lost.labels(e.source).inc()
        elif e.kind is Kind.ENDPOINT_RETRY:
            self.retries.labels(e.source).inc()
        elif e.kind is Kind.PLAN_DELETED:
            self.deleted.labels(e.source).inc()
        elif e.kind in (Kind.FAULT_STARTED, Kind.FAULT_ENDED):
            self.faults.labels(d.get("fault", "?"), d.get("target", "?")).set(
                1 if e.kind is Kind.FAULT_STARTED else 0)
        elif e.kind is Kind.CASCADE_WINDOW:
            self._cascade_window(e.source, d)
        elif e.kind is Kind.SERVICE_WINDOW:
            self._service_window(e.source, d)
        elif e.kind is Kind.CASCADE_DNS:
            found = d.get("addresses") or 0
            self.lookup_ok.labels(e.source).set(1 if d.get("ok") else 0)
            self.lookup_addresses.labels(e.source).set(
                found if isinstance(found, int) else len(found))

    def _cascade_window(self, manager: str, d: dict) -> None:
        """One window of the fleet (a core ``Window``'s fields): counts to the counters,
        levels to the gauges. A field a window lacks counts 0 / leaves its gauge as it was."""
        def count(key: str) -> float:
            value = d.get(key)
            return value if isinstance(value, (int, float)) and value > 0 else 0

        def level(gauge, key: str) -> None:
            value = d.get(key)
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                gauge.labels(manager).set(value)
        self.lapsed.labels(manager).inc(count("lapsed"))
        for stage, key in REESTABLISH_STAGES.items():
            self.reestablishments.labels(manager, stage).inc(count(key))
        for result, key in RENEWAL_RESULTS.items():
            self.renewals.labels(manager, result).inc(count(key))
        level(self.leases_held, "leases_held")
        level(self.out_of_service, "out_of_service")
        level(self.waiting, "manager_queue")
        level(self.fleet_goodput, "fleet_goodput")
        level(self.capacity, "healthy_capacity")
        level(self.healthy, "healthy_hosts")
        level(self.backlog, "propagation_backlog")

    def _service_window(self, service: str, d: dict) -> None:
        for result, key in SERVICE_WORK.items():
            value = d.get(key)
            self.service_work.labels(service, result).inc(
                value if isinstance(value, (int, float)) and value > 0 else 0)
        for gauge, key in ((self.service_goodput, "goodput"),
                           (self.service_queue, "queue_units")):
            value = d.get(key)
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                gauge.labels(service).set(value)
