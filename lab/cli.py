"""`dnslab` command line. Errors the user can fix print one line and exit 2."""

import argparse
import contextlib
import json
import os
import sys
import urllib.request
import uuid
from pathlib import Path

from lab import __version__, config
from lab.backends import BACKENDS
from lab.core.ports import TransientError
from lab.errors import LabError, SecretMissing


def _stack(args):
    from lab.stack import Stack, stderr_echo
    return Stack(echo=None if getattr(args, "quiet", False) else stderr_echo)


def cmd_up(args) -> int:
    stack = _stack(args)
    services = stack.up(build=not args.no_build,
                        grafana=False if args.no_grafana else None)
    port = config.published_ports()["prometheus"][1]
    print(f"dnslab: up: {', '.join(services)}; Prometheus at http://127.0.0.1:{port}")
    return 0


def _recover(stack) -> None:
    from lab.run import recover_abandoned
    recover_abandoned(stack, echo=lambda m: print(m, file=sys.stderr))


def cmd_down(args) -> int:
    stack = _stack(args)
    _recover(stack)
    stack.down()
    left = stack.leftovers()
    if config.inside_lab():
        # Least privilege: the Docker proxy lets a runner remove the lab's services, workers,
        # networks and volumes, not the proxy itself, keygen or the container it runs in.
        kept = ", ".join(n for names in left.values() for n in names) or "nothing"
        print(f"dnslab: down (in the experiments service): removed all the Docker proxy "
              f"lets a runner remove; left by design: {kept}; run `dnslab down` on the host "
              f"to remove those")
        return 0
    if any(left.values()):
        raise LabError(f"lab resources remain after down: {left}; remove them with docker rm/"
                       "network rm/volume rm")
    print("dnslab: down: no container, network or volume of the lab is left")
    return 0


def cmd_build(args) -> int:
    _stack(args).build()
    return 0


def cmd_status(args) -> int:
    stack = _stack(args)
    _recover(stack)
    for c in stack.containers():
        health = c.attrs.get("State", {}).get("Health", {}).get("Status", "-")
        print(f"{c.labels.get(config.SERVICE_LABEL, c.name):12} {c.status:10} {health}")
    return 0


def cmd_keygen(args) -> int:
    from lab.keygen import generate
    created = generate(Path(args.directory))
    print(f"keygen: created {', '.join(created) or 'nothing (secrets already present)'}")
    return 0


def cmd_prober(args) -> int:
    from lab.prober import serve
    return serve(resolver=args.resolver, authoritative=args.authoritative, names=args.name,
                 interval_s=args.interval, port=args.port, max_seconds=args.max_seconds,
                 timeout_s=args.timeout)


def _in_network_endpoints():
    """(pdns address, resolver address, api key) inside the lab network, or None on a host."""
    auth = os.environ.get("LAB_AUTH_ADDRESS")
    resolver = os.environ.get("LAB_RESOLVER_ADDRESS")
    key_file = os.environ.get("PDNS_API_KEY_FILE")
    if not (auth and resolver and key_file):
        return None
    try:
        key = Path(key_file).read_text().strip()
    except OSError:
        raise SecretMissing(f"cannot read the PowerDNS API key at {key_file}; the keygen "
                            "service must run first") from None
    return auth, resolver, key


def cmd_smoke(args) -> int:
    from lab import smoke
    from lab.backends.powerdns import PowerDNS

    found = _in_network_endpoints()
    if found is None:
        stack = _stack(args)
        found = stack.address("pdns-auth"), stack.address("recursor"), stack.secret("pdns-api-key")
    auth, resolver, key = found
    result = smoke.run(PowerDNS(auth, key), resolver, config.ZONE, timeout_s=args.timeout)
    print(f"smoke: {result.name} A {result.address} written through the PowerDNS API resolved "
          f"through the resolver after {result.seconds_to_resolve * 1000:.0f} ms")
    return 0


def _read_secret_file(path: str) -> str:
    try:
        return Path(path).read_text().strip()
    except OSError:
        raise SecretMissing(f"cannot read the PowerDNS API key at {path}; the keygen service "
                            "must run first") from None


def cmd_planner(args) -> int:
    from lab.workerspec import PlannerSpec
    return run_worker(PlannerSpec(store=args.store, seed=args.seed, period_s=args.period,
                                  max_seconds=args.max_seconds, metrics_port=args.metrics_port))


def cmd_enactor(args) -> int:
    from lab.workerspec import EnactorSpec
    return run_worker(EnactorSpec(
        name=args.name, store=args.store, backend=args.backend, auth=args.auth,
        zone_store=args.zone_store, api_key_file=args.api_key_file,
        mitigations=tuple(x for x in args.safeguards.split(",") if x and x != "none"),
        interlock_max_removed=args.interlock_max_removed, keep=args.keep,
        empty_answer=args.empty_answer, alias=args.alias, ttl=args.ttl, poll_s=args.poll,
        max_seconds=args.max_seconds, metrics_port=args.metrics_port))


def cmd_clients(args) -> int:
    from lab.workerspec import ClientsSpec
    return run_worker(ClientsSpec(
        first=args.first, count=args.count, resolver=args.resolver, authoritative=args.auth,
        source=args.source, group=args.group, interval_s=args.interval, timeout_s=args.timeout,
        max_seconds=args.max_seconds, metrics_port=args.metrics_port))


def cmd_worker(args) -> int:
    from lab.workerspec import from_json
    return run_worker(from_json(args.spec))


def run_worker(spec) -> int:
    """Run the worker a spec describes (lab/workerspec.py)."""
    from lab import workers
    from lab.workerspec import (ClientsSpec, EnactorSpec, FleetManagerSpec, LeaseServiceSpec,
                                PlannerSpec)
    if isinstance(spec, PlannerSpec):
        return workers.run_planner(store_address=spec.store, seed=spec.seed,
                                   period_s=spec.period_s, max_seconds=spec.max_seconds,
                                   metrics_port=spec.metrics_port, regional=spec.regional)
    if isinstance(spec, (LeaseServiceSpec, FleetManagerSpec)):
        from lab import cascade_workers
        return cascade_workers.run(spec)
    if isinstance(spec, EnactorSpec):
        from lab.backends import plans_backend
        key = _read_secret_file(spec.api_key_file) if spec.backend == "powerdns" else None
        backend = plans_backend(spec.backend, config.ZONE, empty_answer=spec.empty_answer,
                                ttl=spec.ttl, alias=spec.alias, pdns_address=spec.auth,
                                pdns_api_key=key, zone_store_address=spec.zone_store)
        return workers.run_enactor(name=spec.name, store_address=spec.store, backend=backend,
                                   keep=spec.keep, safeguards=list(spec.mitigations),
                                   interlock_max_removed=spec.interlock_max_removed,
                                   poll_s=spec.poll_s, max_seconds=spec.max_seconds,
                                   metrics_port=spec.metrics_port)
    assert isinstance(spec, ClientsSpec)
    import dataclasses
    from lab.core.clients import IPV6_ENDPOINTS, clients_for
    from lab.core.plan import DEFAULT_ENDPOINTS
    clients = clients_for(spec.first, spec.count, list(DEFAULT_ENDPOINTS), IPV6_ENDPOINTS)
    if spec.group:
        clients = [dataclasses.replace(c, group=spec.group) for c in clients]
    return workers.run_clients(clients=clients, zone=config.ZONE, resolver=spec.resolver,
                               authoritative=spec.authoritative, interval_s=spec.interval_s,
                               timeout_s=spec.timeout_s, max_seconds=spec.max_seconds,
                               metrics_port=spec.metrics_port, source=spec.source)


def cmd_run(args) -> int:
    from lab import results, suite
    items = [(p, suite.with_overrides(s, seed=args.seed, duration=args.duration,
                                      backend=args.backend))
             for p, s in suite.collect(args.files)]
    # One file named: its run is the destination. A directory (even of one file) or several
    # files: a suite, one subdirectory per file plus index.html, suite.json, junit.xml.
    single = len(args.files) == 1 and len(items) == 1 and not Path(args.files[0]).is_dir()
    if not single:
        # A suite runs each file only on the backends it lists (`backends:`); a file named
        # on its own runs wherever it is asked to.
        for path, s in items:
            if s.backend not in s.backends:
                _say(f"suite: {path} is not run on {s.backend} (its backends: "
                     f"{', '.join(s.backends)})")
        items = [(p, s) for p, s in items if s.backend in s.backends]
    if args.dry:
        for path, s in items:
            print(suite.plan_text(path, s))
        return 0
    out = Path(args.out) if args.out else results.default_dir()
    results.ensure_writable(out)
    names = [f"{p.stem} ({i}/{len(items)})" if len(items) > 1 else p.stem
             for i, (p, _) in enumerate(items, 1)]
    with _world(args) as world, _viewed(args) as views:
        run = _labelled(world, views, lambda i, s: names[i] if i < len(names) else "")
        if single:
            [(path, s)] = items
            rows = [suite.run_one(path, s, out, run, echo=_say)]
        else:
            rows = suite.run_suite(items, out, run, echo=_say)
    results.point_latest(out)
    if not single:
        print(f"suite: {sum(bool(r.summary['as_expected']) for r in rows)}/{len(rows)} as "
              f"expected; index at {out / 'index.html'}")
    return 0 if all(r.summary["as_expected"] for r in rows) and len(rows) == len(items) else 1


def _say(line: str) -> None:
    print(line, flush=True)


@contextlib.contextmanager
def _viewed(args):
    """The live view of the command's runs (lab/live.py), as --view and the terminal say."""
    from lab import live
    from lab.execute import observed
    mode = live.choose(getattr(args, "view", None), sim=getattr(args, "sim", False),
                       quiet=getattr(args, "quiet", False))
    with observed(live.RunViews(mode) if mode != "none" else None) as views:
        yield views


def _labelled(run, views, label):
    """``run`` that first tells the view which run of the command this is: ``label(i,
    scenario)`` for the i-th run (from 0)."""
    count = 0

    def labelled(s, where, experiment):
        nonlocal count
        if views is not None:
            views.label = label(count, s)
        count += 1
        return run(s, where, experiment)
    return labelled


@contextlib.contextmanager
def _world(args):
    """Where the runs of one command happen: ``run(scenario, out, experiment) -> summary``.
    --sim: the simulation (nothing to bring up, no lock); otherwise the real lab, brought up
    and locked for the whole command (``_lab_for_runs``)."""
    def echo(m: str) -> None:
        print(m, file=sys.stderr)
    if getattr(args, "sim", False):
        from lab.sim.run import simulate
        yield lambda s, where, experiment: simulate(s, where, echo=echo, experiment=experiment)
        return
    from lab.run import Runner
    stack = _stack(args)
    with _lab_for_runs(stack, args) as lease:
        yield lambda s, where, experiment: Runner(s, where, stack, echo=echo, lease=lease,
                                                  experiment=experiment).run()


def _live_run(stack) -> str | None:
    """The id of the run holding the lab's run lock, if the lab is up and one does."""
    from lab.errors import StackNotUp
    from lab.etcd import EtcdGateway
    from lab.faults import active_run
    try:
        return active_run(EtcdGateway(stack.address("plan-store")))
    except StackNotUp:
        return None


@contextlib.contextmanager
def _lab_for_runs(stack, args):
    """Hold the lab's run lock for the whole command (a suite's runs, a comparison's
    variants). A live run elsewhere is refused before anything is touched - not even
    `compose up`, which could recreate containers under it. The lab is brought up first and
    down after unless --no-up (someone else's stack) or --keep-up (for the dashboards); a
    command that was refused never takes the lab down."""
    from lab.faults import RunInProgress, RunLease
    from lab.etcd import EtcdGateway
    if not args.no_up:
        if live := _live_run(stack):
            raise RunInProgress(f"another run ({live}) is in progress on this lab; nothing "
                                "was changed: wait for it to finish")
        stack.up(build=True, grafana=None if args.keep_up else False)
    lease = RunLease(EtcdGateway(stack.address("plan-store")),
                     f"dnslab-{os.getpid()}-{uuid.uuid4().hex[:6]}").start()
    try:
        yield lease
    finally:
        try:
            lease.stop()
        except (LabError, TransientError):
            pass    # it expires by itself within its TTL
        if args.keep_up:
            ports = config.published_ports()
            print(f"dnslab: the lab stays up: Prometheus http://127.0.0.1:"
                  f"{ports['prometheus'][1]}, Grafana (if its image is here) http://127.0.0.1:"
                  f"{ports['grafana'][1]}; `dnslab down` removes it", file=sys.stderr)
        elif not args.no_up:
            stack.down()


def cmd_compare(args) -> int:
    import shlex

    from lab import compare, results, suite
    found = suite.collect([args.file])
    if len(found) != 1:
        raise LabError(f"{args.file}: compare takes one experiment file, not a directory")
    [(path, s)] = found
    plan = compare.variants(args.mitigations, s)
    for _, parts in plan:
        compare.scenario_for(s, parts)      # every variant checked before anything runs
    s = suite.with_overrides(s, seed=args.seed, duration=args.duration, backend=args.backend)
    out = Path(args.out) if args.out else results.default_dir("compare-")
    if not args.dry:
        results.ensure_writable(out)
    if args.dry:
        for name, parts in plan:
            print(suite.plan_text(path, compare.scenario_for(s, parts)).replace(
                f"{path}:", f"{path} [{name}]:", 1))
        return 0
    baseline = Path(args.baseline) if args.baseline else None
    if baseline is not None:
        compare.check_baseline(baseline, s, suite.identity(path),
                               world="simulation" if args.sim else "lab")
    order = [name for name, _ in plan]

    def label(_, s) -> str:
        name = "+".join(s.mitigations) or "none"
        at = order.index(name) + 1 if name in order else 0
        return f"{path.stem} variant {name} ({at}/{len(order)})"
    with _world(args) as world, _viewed(args) as views:
        run = _labelled(world, views, label)
        staging = results.stage(out, uuid.uuid4().hex[:6])
        rows = compare.run_variants(plan, s, path, staging, run, baseline, echo=_say)
        command = "dnslab " + " ".join(shlex.quote(a) for a in args.argv)
        compare.write(staging, experiment=str(path), s=s, command=command, rows=rows)
        results.publish(staging, out)
    results.point_latest(out)
    print((out / "comparison.md").read_text(), end="")
    print(f"compare: {out / 'comparison.json'}, comparison.md, comparison.html")
    done = all(r["verdict"] in ("hypothesis-violated", "hypothesis-held") for r in rows)
    return 0 if done and len(rows) == len(plan) else 1


def cmd_dashboards(args) -> int:
    from lab import dashboards
    return dashboards.main(check=args.check, out=args.out)


def cmd_diff(args) -> int:
    from lab import diff
    from lab.core.agreement import agree
    found = diff.diff(Path(args.real), Path(args.sim))
    print(diff.render(found))
    if args.json:
        Path(args.json).write_text(json.dumps(
            [{"run": name, "agrees": agree(rows), "rows": [r.to_json() for r in rows]}
             for name, rows in found], indent=2) + "\n")
    return 0 if all(agree(rows) for _, rows in found) else 1


def cmd_repair(args) -> int:
    import time as _time

    from lab.core.enactor import repair
    from lab.core.history import History
    from lab.eventlog import stdout_sink
    from lab.planstore.etcd import EtcdPlanStore
    from lab.backends import plans_backend
    stack = _stack(args)
    _recover(stack)
    store = EtcdPlanStore(stack.address("plan-store"))
    if args.backend == "powerdns":
        where = {"pdns_address": stack.address("pdns-auth"),
                 "pdns_api_key": stack.secret("pdns-api-key")}
    else:
        where = {"zone_store_address": stack.address("zone-store")}
    backend = plans_backend(args.backend, config.ZONE, empty_answer=args.empty_answer,
                            ttl=args.ttl, alias=args.alias, **where)
    history = History(_time.time, stdout_sink() if args.events else None)
    generation = repair(store, backend, history)
    if generation is None:
        raise LabError("no plan in the plan store to repair from; is the planner running?")
    print(f"repair: every endpoint now points at plan {generation}", file=sys.stderr)
    return 0


def cmd_healthcheck(args) -> int:
    try:
        with urllib.request.urlopen(args.url, timeout=2) as resp:
            return 0 if resp.status == 200 else 1
    except OSError as e:
        print(f"healthcheck: {args.url}: {e}", file=sys.stderr)
        return 1


def _env_backend() -> str | None:
    """$DNSLAB_BACKEND (the compose variable), empty meaning unset; a bad value is refused
    when the command line is parsed."""
    return os.environ.get("DNSLAB_BACKEND") or None


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="dnslab", description="DNS Chaos Lab")
    p.add_argument("--version", action="version", version=f"dnslab {__version__}")
    sub = p.add_subparsers(dest="command", required=True)

    s = sub.add_parser("up", help="build the images and start the lab (waits until healthy)")
    s.add_argument("--no-build", action="store_true", help="use the images already built")
    s.add_argument("--no-grafana", action="store_true", help="do not start Grafana")
    s.add_argument("-q", "--quiet", action="store_true")
    s.set_defaults(func=cmd_up)

    s = sub.add_parser("down", help="stop the lab and remove its containers, networks, volumes")
    s.add_argument("-q", "--quiet", action="store_true")
    s.set_defaults(func=cmd_down)

    s = sub.add_parser("build", help="build the lab's images")
    s.add_argument("-q", "--quiet", action="store_true")
    s.set_defaults(func=cmd_build)

    s = sub.add_parser("status", help="list the lab's containers and their health")
    s.set_defaults(func=cmd_status, quiet=True)

    s = sub.add_parser("keygen", help="generate missing per-lab secrets into DIRECTORY")
    s.add_argument("directory")
    s.set_defaults(func=cmd_keygen)

    s = sub.add_parser("prober", help="run a prober (inside the lab network)")
    s.add_argument("--name", action="append", default=None, help="name to resolve (repeatable)")
    s.add_argument("--resolver", default=os.environ.get("LAB_RESOLVER_ADDRESS"))
    s.add_argument("--authoritative", default=os.environ.get("LAB_AUTH_ADDRESS"))
    s.add_argument("--interval", type=float, default=1.0, help="seconds between rounds")
    s.add_argument("--timeout", type=float, default=1.0, help="seconds to wait for an answer")
    s.add_argument("--port", type=int, default=9100, help="metrics port")
    s.add_argument("--max-seconds", type=float, default=24 * 3600,
                   help="stop by itself after this long (default 24 h)")
    s.set_defaults(func=cmd_prober)

    s = sub.add_parser("smoke", help="write a record through the API and resolve it")
    s.add_argument("--timeout", type=float, default=15.0)
    s.add_argument("-q", "--quiet", action="store_true")
    s.set_defaults(func=cmd_smoke)

    s = sub.add_parser("run", help="run experiment files (or every *.yaml in a directory)")
    s.add_argument("files", nargs="+", metavar="FILE_OR_DIR")
    s.add_argument("--out", default=None,
                   help="results directory (default: a new results/<date-time>-<id>, and "
                        "results/latest points at it); one experiment writes there, several "
                        "write one subdirectory each plus index.html. Replaced whole when the "
                        "run ends")
    s.add_argument("--sim", action="store_true",
                   help="run in the deterministic simulation instead of the real lab (no "
                        "Docker; same outputs, marked world: simulation)")
    s.add_argument("--dry", action="store_true",
                   help="validate and print the plan of actions; touch no container")
    s.add_argument("--no-up", action="store_true",
                   help="use the lab as it is: neither start it first nor stop it after")
    s.add_argument("--keep-up", action="store_true",
                   help="leave the lab (and Grafana, if its image is here) running after the "
                        "run, for the dashboards; `dnslab down` removes it")
    s.add_argument("--duration", type=float, default=None,
                   help="override the experiment's duration_s (seconds the method runs)")
    s.add_argument("--seed", type=int, default=None, help="override the experiment's seed")
    s.add_argument("--backend", choices=BACKENDS, default=_env_backend(),
                   help="override the experiment's backend (default: $DNSLAB_BACKEND, else "
                        "each file's `backend`)")
    s.add_argument("--view", choices=("auto", "live", "plain", "none"), default=None,
                   help="how the run is shown while it works: live (a terminal display), "
                        "plain (a timestamped line every few seconds and on each notable "
                        "change), none; auto (default): live on a terminal, else plain (none "
                        "for --sim); --quiet alone means none")
    s.add_argument("-q", "--quiet", action="store_true")
    s.set_defaults(func=cmd_run)

    s = sub.add_parser("compare", help="run one experiment once per safeguard variant (same "
                                       "seed) and compare outage and cost")
    s.add_argument("file", metavar="FILE")
    s.add_argument("--mitigations", default="all",
                   help="all, or a comma-separated list of variants; a+b switches several on "
                        "together (the baseline `none` always runs first)")
    s.add_argument("--out", default=None, help="results directory (default "
                                                "results/compare-<date-time>)")
    s.add_argument("--sim", action="store_true",
                   help="run in the deterministic simulation instead of the real lab (no "
                        "Docker; same outputs, marked world: simulation)")
    s.add_argument("--dry", action="store_true", help="validate and print the variants' plans")
    s.add_argument("--baseline", default=None, metavar="DIR",
                   help="an earlier run of the same file, seed, backend and duration with no "
                        "safeguard (e.g. a suite's result directory): used as the `none` "
                        "variant instead of running it again")
    s.add_argument("--no-up", action="store_true",
                   help="use the lab as it is: neither start it first nor stop it after")
    s.add_argument("--keep-up", action="store_true",
                   help="leave the lab running after the runs (dashboards); `dnslab down`")
    s.add_argument("--seed", type=int, default=None)
    s.add_argument("--duration", type=float, default=None)
    s.add_argument("--backend", choices=BACKENDS, default=_env_backend())
    s.add_argument("--view", choices=("auto", "live", "plain", "none"), default=None,
                   help="how the run is shown while it works: live (a terminal display), "
                        "plain (a timestamped line every few seconds and on each notable "
                        "change), none; auto (default): live on a terminal, else plain (none "
                        "for --sim); --quiet alone means none")
    s.add_argument("-q", "--quiet", action="store_true")
    s.set_defaults(func=cmd_compare)

    from lab.search.command import add_parser as search_parser
    search_parser(sub, BACKENDS, _env_backend())

    s = sub.add_parser("dashboards", help="write grafana/dashboards/*.json from their Python "
                                          "source (Grafana's Foundation SDK); --check: fail "
                                          "if the committed JSON differs")
    s.add_argument("--check", action="store_true",
                   help="compare instead of writing; exit 1 and name the files that differ")
    s.add_argument("--out", default=None, metavar="DIR",
                   help="directory of the dashboards (default: the checkout's grafana/dashboards)")
    s.set_defaults(func=cmd_dashboards, quiet=True)

    s = sub.add_parser("diff", help="a real run (or suite) and its simulation side by side: "
                                    "verdict, invariants, emptied endpoints, outage per group")
    s.add_argument("real", help="results of the real run or suite")
    s.add_argument("sim", help="results of `dnslab run ... --sim` of the same files")
    s.add_argument("--json", default=None, metavar="FILE", help="also write the diff as JSON")
    s.set_defaults(func=cmd_diff, quiet=True)

    s = sub.add_parser("repair", help="operator repair: point every endpoint at the newest plan")
    s.add_argument("--ttl", type=int, default=5, help="TTL of the records written")
    s.add_argument("--events", action="store_true", help="print the repair events as JSON lines")
    s.add_argument("--alias", choices=("flattened", "cname"), default="flattened")
    s.add_argument("--empty-answer", choices=("nxdomain", "nodata"), default="nxdomain")
    s.add_argument("--backend", choices=BACKENDS, default=_env_backend() or "powerdns",
                   help="the backend to repair (default: $DNSLAB_BACKEND, else powerdns)")
    s.set_defaults(func=cmd_repair, quiet=True)

    def worker(name: str, help: str, func):
        """A worker command: the flags every worker shares, then its own."""
        w = sub.add_parser(name, help=f"worker: {help}")
        w.add_argument("--max-seconds", type=float, default=3600.0,
                       help="stop by itself after this long")
        w.add_argument("--metrics-port", type=int, default=None)
        w.set_defaults(func=func)
        return w

    s = worker("planner", "publish a plan generation every period", cmd_planner)
    s.add_argument("--store", default=os.environ.get("LAB_PLAN_STORE_ADDRESS"), required=False)
    s.add_argument("--seed", type=int, default=1)
    s.add_argument("--period", type=float, default=1.0)

    s = worker("enactor", "apply the newest plan, then clean up", cmd_enactor)
    s.add_argument("--name", required=True)
    s.add_argument("--store", default=os.environ.get("LAB_PLAN_STORE_ADDRESS"))
    s.add_argument("--backend", choices=BACKENDS, default="powerdns")
    s.add_argument("--auth", default=os.environ.get("LAB_AUTH_ADDRESS"),
                   help="PowerDNS address (powerdns backend)")
    s.add_argument("--zone-store", default=os.environ.get("LAB_ZONE_STORE_ADDRESS"),
                   help="CoreDNS's etcd address (coredns backend)")
    s.add_argument("--api-key-file", default=os.environ.get("PDNS_API_KEY_FILE",
                                                            "/run/secrets/pdns-api-key"))
    s.add_argument("--keep", type=int, default=5, help="generations clean-up keeps")
    s.add_argument("--empty-answer", choices=("nxdomain", "nodata"), default="nxdomain")
    s.add_argument("--ttl", type=int, default=5)
    s.add_argument("--alias", choices=("flattened", "cname"), default="flattened")
    s.add_argument("--poll", type=float, default=0.2)
    s.add_argument("--safeguards", default="none",
                   help="comma-separated mitigations (freshness-cas, cleanup-skips-active, "
                        "interlock, self-repair, fencing) or none")
    s.add_argument("--interlock-max-removed", type=float, default=0.5,
                   help="interlock: refuse a change removing more than this capacity fraction")

    s = worker("clients", "virtual clients resolving the endpoints", cmd_clients)
    s.add_argument("--first", type=int, default=0)
    s.add_argument("--count", type=int, default=26)
    s.add_argument("--source", default="prober")
    s.add_argument("--group", choices=("resolver", "direct"), default=None,
                   help="put every client in this group (default: alternate)")
    s.add_argument("--resolver", default=os.environ.get("LAB_RESOLVER_ADDRESS"))
    s.add_argument("--auth", default=os.environ.get("LAB_AUTH_ADDRESS"))
    s.add_argument("--interval", type=float, default=0.5)
    s.add_argument("--timeout", type=float, default=1.0)

    s = sub.add_parser("worker", help="worker: run what a spec the runner wrote says "
                                      "(lab/workerspec.py)")
    s.add_argument("--spec", required=True, help="the worker spec, JSON")
    s.set_defaults(func=cmd_worker)

    s = sub.add_parser("healthcheck", help="exit 0 when URL answers 200 (container healthchecks)")
    s.add_argument("url")
    s.set_defaults(func=cmd_healthcheck)
    return p


WORKER_COMMANDS = ("planner", "enactor", "clients", "prober", "worker")


def _stop_worker(signum, frame):
    """A worker is PID 1 in its container, where SIGTERM does nothing without a handler:
    without this, every `docker stop` waited out its whole timeout."""
    raise SystemExit(0)


def _one_line(e: Exception) -> str:
    return " ".join(str(e).split()) or type(e).__name__


def main(argv: list[str] | None = None) -> int:
    import signal
    try:   # as in lab/__main__.py: SIGINT is taken even when inherited ignored
        signal.signal(signal.SIGINT, signal.default_int_handler)
    except ValueError:
        pass
    args = parser().parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)
    if getattr(args, "backend", None) not in (None, *BACKENDS):
        print(f"dnslab: error: DNSLAB_BACKEND must be one of {', '.join(BACKENDS)} (or empty), "
              f"not {args.backend!r}", file=sys.stderr)
        return 2
    if args.command in WORKER_COMMANDS:
        signal.signal(signal.SIGTERM, _stop_worker)
    if args.command == "prober":
        if not args.name:
            args.name = [config.SEED_NAME]
        if not (args.resolver and args.authoritative):
            print("dnslab: error: prober needs --resolver and --authoritative addresses "
                  "(or LAB_RESOLVER_ADDRESS / LAB_AUTH_ADDRESS)", file=sys.stderr)
            return 2
    try:
        return args.func(args)
    except LabError as e:
        print(f"dnslab: error: {_one_line(e)}", file=sys.stderr)
        return 2
    except TransientError as e:   # a lab component (plan store, DNS API) does not answer
        print(f"dnslab: error: {_one_line(e)}; is the lab up? `dnslab status` shows its "
              "containers, `dnslab up` starts it", file=sys.stderr)
        return 2
    except OSError as e:          # a full disk, an unwritable directory
        where = f" at {e.filename}" if e.filename else ""
        print(f"dnslab: error: {e.strerror or e}{where}; free space there or choose another "
              "path", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("dnslab: interrupted", file=sys.stderr)
        return 130
