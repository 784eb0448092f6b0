"""The lab's Grafana dashboards as code, built with Grafana's Foundation SDK
(grafana-foundation-sdk, the `dashboards` extra). `dnslab dashboards` writes
grafana/dashboards/*.json from here, which Grafana provisions (grafana/provisioning);
`dnslab dashboards --check` says which committed file no longer matches its source.

Every query goes to the provisioned Prometheus datasource, and every metric a query names
is one a real race exports (lab/metrics.py, lab/prober.py, Prometheus's own `up`,
`scrape_duration_seconds` and `ALERTS`): the Docker tier evaluates each one
(tests/docker/test_race_run.py)."""

import importlib.util
import json
import sys
from dataclasses import dataclass
from pathlib import Path

import yaml

from lab import config

PROVISIONED_DATASOURCE = Path("grafana/provisioning/datasources/prometheus.yaml")
DASHBOARDS = Path("grafana/dashboards")
INSTALL = "pip install -e '.[dashboards]'"

PANEL_HEIGHT, PANEL_WIDTH = 8, 12          # two panels a row on Grafana's 24-column grid


@dataclass(frozen=True)
class Query:
    expr: str
    legend: str


@dataclass(frozen=True)
class PanelSpec:
    title: str
    queries: tuple[Query, ...]
    unit: str | None = None
    kind: str = "timeseries"                # or "state-timeline"
    description: str = ""
    firing: bool = False                    # a 1 reads "firing", in red
    states: tuple[tuple[str, str, str], ...] = ()   # (value, text, color) of a state timeline


@dataclass(frozen=True)
class AnnotationSpec:
    """A Prometheus annotation query: a mark wherever ``expr`` has a sample."""
    name: str
    expr: str
    title_format: str
    icon_color: str


@dataclass(frozen=True)
class DashboardSpec:
    uid: str
    title: str
    panels: tuple[PanelSpec, ...]
    annotations: tuple[AnnotationSpec, ...] = ()


BLAST_RADIUS = DashboardSpec(
    uid="dnslab-blast-radius",
    title="Blast radius",
    annotations=(
        AnnotationSpec("Fault windows", "max by (fault, target) (dnslab_fault_active) == 1",
                       "{{fault}} {{target}}", "rgba(244, 180, 0, 1)"),
        # When a page went out: the lab's rules with severity=page while they fire.
        AnnotationSpec("Pages", 'ALERTS{alertstate="firing", severity="page"}',
                       "page: {{alertname}}", "rgba(242, 73, 92, 1)"),
    ),
    panels=(
        PanelSpec("Probe outcomes by client group and rcode", (
            Query("sum by (group, rcode) (rate(dnslab_client_probes_total[10s]))",
                  "{{group}} {{rcode}}"),), unit="reqps"),
        PanelSpec("Clients affected (last probe got no address)", (
            Query("sum by (group) (dnslab_clients_failing)", "{{group}}"),
            Query("sum(dnslab_clients_failing) / sum(dnslab_clients)", "fraction of all clients"))),
        PanelSpec("Addresses per endpoint (last answer)", (
            Query("min by (endpoint, group) (dnslab_endpoint_addresses)",
                  "{{endpoint}} ({{group}})"),)),
        PanelSpec("Applied generation per endpoint and enactor, and the newest published", (
            Query("dnslab_endpoint_applied_generation", "{{enactor}} {{endpoint}}"),
            Query("max(dnslab_planner_generation)", "newest published"))),
        PanelSpec("Lock waits and retries", (
            Query("sum by (enactor) (rate(dnslab_enactor_lock_losses_total[30s]))",
                  "lock waits {{enactor}}"),
            Query("sum by (enactor) (rate(dnslab_enactor_endpoint_retries_total[30s]))",
                  "retries {{enactor}}"))),
        PanelSpec("Faults in effect", (
            Query("max by (fault, target) (dnslab_fault_active)", "{{fault}} {{target}}"),)),
        PanelSpec("Invariant violations and stuck enactors", (
            Query("sum by (invariant) (dnslab_invariant_violations_total)", "{{invariant}}"),
            Query("max by (enactor) (dnslab_enactor_stuck)", "stuck {{enactor}}"))),
        PanelSpec("Safeguards at work", (
            Query("sum by (enactor) (dnslab_enactor_writes_refused_total)",
                  "writes refused {{enactor}}"),
            Query("sum by (enactor) (dnslab_cleanup_skipped_plans_total)",
                  "clean-ups skipped {{enactor}}"),
            Query("sum by (enactor) (dnslab_cleanup_deleted_plans_total)",
                  "plans deleted {{enactor}}"))),
        PanelSpec("Page times: alerts firing", (
            Query('max by (alertname, severity) (ALERTS{alertstate="firing"})',
                  "{{alertname}} ({{severity}})"),), kind="state-timeline", firing=True,
            description="The lab's alert rules (images/prometheus/alerts.yml) while they "
                        "fire; severity page is what paged (the Pages annotation marks it)."),
        PanelSpec("Safeguards at work, by safeguard (refused writes and kept plans)", (
            Query("sum by (safeguard) (dnslab_safeguard_refusals_total)", "{{safeguard}}"),),
            description="Writes refused (freshness CAS, fencing, interlock) and plans "
                        "clean-up kept (clean-up skips active plans, interlock), counted "
                        "by the safeguard that said no."),
    ),
)

LAB_HEALTH = DashboardSpec(
    uid="dnslab-lab-health",
    title="Lab health",
    panels=(
        PanelSpec("Scrape targets up", (Query("up", "{{job}} {{instance}}"),)),
        PanelSpec("Prober rates (probes per second)", (
            Query("sum by (instance) (rate(dnslab_client_probes_total[10s]))", "{{instance}}"),
            Query("sum by (path) (rate(dnslab_probes_total[10s]))", "prober service {{path}}")),
            unit="reqps"),
        PanelSpec("Enactor loop latency (pass that applied a plan, p50 / p99)", (
            Query("histogram_quantile(0.5, sum by (le, enactor) "
                  "(rate(dnslab_enactor_pass_duration_seconds_bucket[1m])))", "p50 {{enactor}}"),
            Query("histogram_quantile(0.99, sum by (le, enactor) "
                  "(rate(dnslab_enactor_pass_duration_seconds_bucket[1m])))", "p99 {{enactor}}")),
            unit="s"),
        PanelSpec("Client probe latency p99 by group", (
            Query("histogram_quantile(0.99, sum by (le, group) "
                  "(rate(dnslab_client_probe_duration_seconds_bucket[30s])))", "{{group}}"),),
            unit="s"),
        PanelSpec("Scrape duration by job", (
            Query("max by (job) (scrape_duration_seconds)", "{{job}}"),), unit="s"),
        PanelSpec("Enactor passes by result", (
            Query("sum by (result) (rate(dnslab_enactor_passes_total[30s]))", "{{result}}"),)),
    ),
)

# The outage's second act (lab/core/cascade.py; metrics in lab/metrics.py): the fleet
# manager's leases and re-establishments and the lease service's work, under the DNS the
# fleet saw (the manager's own lookup of the endpoint, after the resolver's caches).
CASCADE = DashboardSpec(
    uid="dnslab-cascade",
    title="Cascade: the fleet behind the endpoint",
    annotations=(
        AnnotationSpec("Fleet lookup without addresses",
                       "max by (manager) (dnslab_fleet_lookup_ok) == 0",
                       "{{manager}}: the endpoint has no address", "rgba(244, 180, 0, 1)"),
        AnnotationSpec("Pages", 'ALERTS{alertstate="firing", severity="page"}',
                       "page: {{alertname}}", "rgba(242, 73, 92, 1)"),
    ),
    panels=(
        PanelSpec("Fleet goodput and healthy capacity", (
            Query("min by (manager) (dnslab_fleet_goodput_ratio)", "goodput {{manager}}"),
            Query("min by (manager) (dnslab_fleet_healthy_capacity_ratio)",
                  "healthy capacity {{manager}}")), unit="percentunit",
            description="Goodput: lease work that helped a host in the last 5 s window, over "
                        "the full fleet's steady renewal work (100 %: steady; below 50 % for "
                        "three renew periods after DNS is back: metastable, the "
                        "FleetCollapsedAfterDNS page). Healthy capacity: hosts passing the "
                        "front's health checks (the capacity users see: a host back in "
                        "service waits for its network state to propagate)."),
        PanelSpec("DNS for the fleet: the manager's lookup of the endpoint", (
            Query("max by (manager) (dnslab_fleet_lookup_ok)", "{{manager}}"),),
            kind="state-timeline",
            states=(("1", "addresses", "green"), ("0", "no address", "red")),
            description="What the fleet manager's own lookup got, through the lab's resolver "
                        "(its caches included)."),
        PanelSpec("Lease service: work by result and goodput", (
            Query("sum by (result) (rate(dnslab_lease_service_work_units_total[30s]))",
                  "{{result}}"),
            Query("sum(dnslab_lease_service_goodput_units_per_second)", "goodput")),
            unit="ops",
            description="Work units the lease service finished per second: useful, wasted "
                        "(served after its client gave up), shed; goodput is the useful work "
                        "of the last window."),
        PanelSpec("Leases held, healthy, out of service, and lapsing", (
            Query("sum by (manager) (dnslab_fleet_leases_held)", "held {{manager}}"),
            Query("sum by (manager) (dnslab_fleet_hosts_healthy)", "healthy {{manager}}"),
            Query("sum by (manager) (dnslab_fleet_propagation_backlog)",
                  "network state not propagated {{manager}}"),
            Query("sum by (manager) (dnslab_fleet_hosts_out_of_service)",
                  "out of service {{manager}}"),
            Query("sum by (manager) (increase(dnslab_fleet_leases_lapsed_total[30s]))",
                  "lapsed in 30 s {{manager}}"))),
        PanelSpec("Re-establishments per second by stage", (
            Query("sum by (stage) (rate(dnslab_fleet_reestablishments_total[30s]))",
                  "{{stage}}"),
            Query("sum by (result) (rate(dnslab_fleet_renewals_total[30s]))",
                  "renewals {{result}}")), unit="ops"),
        PanelSpec("Queues: re-establishments at the manager, work at the lease service", (
            Query("sum by (manager) (dnslab_fleet_reestablishments_waiting)",
                  "re-establishments waiting {{manager}}"),
            Query("sum by (service) (dnslab_lease_service_queue_units)",
                  "work units queued {{service}}"))),
    ),
)

ALL = {"blast-radius": BLAST_RADIUS, "cascade": CASCADE, "lab-health": LAB_HEALTH}


def datasource_uid(root: Path) -> str:
    """The uid Grafana provisions the lab's Prometheus under (one place says it)."""
    doc = yaml.safe_load((root / PROVISIONED_DATASOURCE).read_text())
    (prometheus,) = [d for d in doc["datasources"] if d["type"] == "prometheus"]
    return prometheus["uid"]


def build(spec: DashboardSpec, uid: str):
    """The SDK's dashboard model for ``spec``, its queries on datasource ``uid``."""
    from grafana_foundation_sdk.builders import dashboard, prometheus, statetimeline, timeseries
    from grafana_foundation_sdk.models.dashboard import DataSourceRef, ValueMap, ValueMappingResult

    source = DataSourceRef(type_val="prometheus", uid=uid)
    d = (dashboard.Dashboard(spec.title).uid(spec.uid).tags(["dnslab"]).timezone("utc")
         .readonly().refresh("5s").time("now-15m", "now").version(1)
         .annotation(dashboard.AnnotationQuery().name("Annotations & Alerts").built_in(1)
                     .datasource(DataSourceRef(type_val="grafana", uid="-- Grafana --"))
                     .enable(True).hide(True).icon_color("rgba(0, 211, 255, 1)")
                     .type("dashboard")))
    for a in spec.annotations:
        d.annotation(_PrometheusAnnotation(
            dashboard.AnnotationQuery().name(a.name).datasource(source).enable(True)
            .hide(False).icon_color(a.icon_color).expr(a.expr), a.title_format))
    kinds = {"timeseries": timeseries.Panel, "state-timeline": statetimeline.Panel}
    for number, p in enumerate(spec.panels, start=1):
        panel = (kinds[p.kind]().id(number).title(p.title).datasource(source)
                 .height(PANEL_HEIGHT).span(PANEL_WIDTH))
        if p.unit:
            panel.unit(p.unit)
        if p.description:
            panel.description(p.description)
        if p.firing:
            panel.mappings([ValueMap({"1": ValueMappingResult(text="firing", color="red")})])
        elif p.states:
            panel.mappings([ValueMap({value: ValueMappingResult(text=text, color=color)
                                      for value, text, color in p.states})])
        for i, q in enumerate(p.queries):
            panel.with_target(prometheus.Dataquery().ref_id(chr(ord("A") + i)).datasource(source)
                              .expr(q.expr).legend_format(q.legend))
        d.with_panel(panel)
    return d.build()


class _PrometheusAnnotation:
    """The SDK's AnnotationQuery carries `expr` but not what Grafana's Prometheus datasource
    reads besides it (the step, the title's format): a builder that adds them."""

    def __init__(self, query, title_format: str):
        self.query, self.title_format = query, title_format

    def build(self):
        return self

    def to_json(self) -> dict:
        return {**self.query.build().to_json(), "step": "2s",
                "titleFormat": self.title_format, "useValueForTime": False}


def render(root: Path) -> dict[str, str]:
    """File name -> JSON text of every dashboard (sorted keys, indent 2, final newline)."""
    from grafana_foundation_sdk.cog.encoder import JSONEncoder
    uid = datasource_uid(root)
    return {f"{name}.json": json.dumps(build(spec, uid), cls=JSONEncoder, indent=2,
                                       sort_keys=True) + "\n"
            for name, spec in sorted(ALL.items())}


def differences(rendered: dict[str, str], directory: Path) -> list[tuple[str, str]]:
    """(file name, what is wrong) for each file of ``directory`` that is not what
    ``rendered`` says, is missing, or is a JSON file no source generates."""
    found = []
    on_disk = {p.name for p in directory.glob("*.json")} if directory.is_dir() else set()
    for name in sorted(set(rendered) | on_disk):
        if name not in on_disk:
            found.append((name, "is missing; run `dnslab dashboards`"))
        elif name not in rendered:
            found.append((name, "has no source in lab/dashboards.py; add one or delete it"))
        elif (directory / name).read_text() != rendered[name]:
            found.append((name, "differs from its source; run `dnslab dashboards`"))
    return found


def _shown(path: Path, root: Path) -> str:
    try:
        return str(path.resolve().relative_to(root.resolve()))
    except ValueError:
        return str(path)


def main(check: bool, out: str | None) -> int:
    root = config.repo_root()
    directory = Path(out) if out else root / DASHBOARDS
    if importlib.util.find_spec("grafana_foundation_sdk") is None:
        print(f"dnslab dashboards: needs Grafana's Foundation SDK: {INSTALL}", file=sys.stderr)
        return 2
    rendered = render(root)
    if check:
        wrong = differences(rendered, directory)
        for name, what in wrong:
            print(f"dnslab dashboards: {_shown(directory / name, root)} {what}", file=sys.stderr)
        return 1 if wrong else 0
    directory.mkdir(parents=True, exist_ok=True)
    for name, text in rendered.items():
        (directory / name).write_text(text)
    print(f"dnslab dashboards: wrote {', '.join(rendered)} to {_shown(directory, root)}",
          file=sys.stderr)
    return 0
