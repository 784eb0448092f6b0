"""`dnslab search FILE`: the file's set-up, schedules from its fault space instead of its
scripted faults; per safeguard variant with --mitigations. Writes search.json, search.md,
search.html and, for each violation found, found-<violation>.yaml (its shrunk schedule as an
experiment file, replayed once in the full simulation) under --out."""

import dataclasses
import os
import shlex
import sys
import uuid
from pathlib import Path

from lab.errors import LabError
from lab.search.names import STRATEGIES, VIOLATIONS

ANY = "any"
CLIENT_SIDE = ("serve-stale",)     # mitigations outside the control plane


def finds(spec: str) -> tuple[str, ...]:
    if spec == ANY:
        return tuple(VIOLATIONS)
    names = tuple(v.strip() for v in spec.split(",") if v.strip())
    if not names or (bad := [n for n in names if n not in VIOLATIONS]):
        raise LabError(f"--find {spec!r}: use {', '.join(VIOLATIONS)}, a comma-separated list "
                       f"of them, or {ANY}")
    return names


def space_for(s, args):
    from lab.core.faultspace import FaultSpace
    space = s.search or FaultSpace()
    changes = {k: getattr(args, k) for k in ("window_s", "max_seconds", "max_faults")
               if getattr(args, k, None) is not None}
    if changes:
        space = dataclasses.replace(space, **changes)
        if space.window_s <= 0 or space.max_seconds <= 0 or space.max_faults < 1:
            raise LabError("--window, --max-seconds must be more than 0 and --max-faults at "
                           "least 1")
    return space


def progress_view(args, variants: int):
    """The search's progress (lab/live.py: SearchView), fed by the engine's ``progress``
    callback: a live display on a terminal; by default nothing in CI logs or pipes
    (``--view plain`` prints a line every few seconds and at each new find)."""
    from lab import live
    view = getattr(args, "view", None)
    if view in (None, "auto") and os.environ.get("CI"):
        view = "none"
    mode = live.choose(view, sim=True, quiet=args.quiet, stream=sys.stderr)
    if mode == "none":
        return None
    return live.SearchView(mode, budget=args.budget or 10000, time_s=args.time,
                           variants=variants)


def run(args) -> int:
    from lab import compare, results, suite
    from lab.search import dist, report, tipping
    from lab.search.engine import search
    [(path, s)] = _one(args.file)
    s = suite.with_overrides(s, seed=None, duration=None, backend=args.backend)
    if args.find == tipping.TIPPING:
        plan = compare.variants(args.mitigations, s) if args.mitigations else \
            [("+".join(s.mitigations) or "none", tuple(s.mitigations))]
        out = Path(args.out) if args.out else results.default_dir("search-")
        results.ensure_writable(out)
        return tipping.run(args, s, path, plan, out,
                           "dnslab " + " ".join(shlex.quote(a) for a in args.argv))
    space = space_for(s, args)
    want = finds(args.find)
    if args.budget is not None and args.budget < 1:
        raise LabError(f"--budget {args.budget}: give at least 1 schedule")
    if args.depth < 1:
        raise LabError(f"--depth {args.depth}: PCT's depth is at least 1")
    plan = compare.variants(args.mitigations, s) if args.mitigations else \
        [("+".join(s.mitigations) or "none", tuple(s.mitigations))]
    campaign = len(plan) > 1
    out = Path(args.out) if args.out else results.default_dir("search-")
    results.ensure_writable(out)
    command = "dnslab " + " ".join(shlex.quote(a) for a in args.argv)
    runner = dist.executor(workers=args.workers, cluster=args.cluster)
    staging = results.stage(out, uuid.uuid4().hex[:6])
    variants, failed = [], False
    searched: dict[tuple, object] = {}
    show = progress_view(args, len(plan))
    try:
        for i, (name, parts) in enumerate(plan):
            if show:
                show.variant(i)
            # Serve-stale acts in the clients' resolver only: its control plane is that of
            # the same variant without it, whose search is reused (the emitted file differs).
            plane = tuple(sorted(m for m in parts if m not in CLIENT_SIDE))
            if plane in searched:
                r = dataclasses.replace(searched[plane], variant=name, mitigations=parts)
                r.same_as = searched[plane].variant
            else:
                r = search(s, space, strategy=args.strategy, depth=args.depth,
                           seed=args.seed, budget=args.budget or 10000, time_s=args.time,
                           mitigations=parts, variant=name, find=want,
                           exhaust=args.exhaust or campaign, executor=runner, progress=show)
                searched[plane] = r
            where = staging / name if campaign else staging
            where.mkdir(parents=True, exist_ok=True)
            concluded = []
            if not args.no_shrink:
                for v, found in r.found.items():
                    c = report.conclude(s, space, found, parts, where, source=path,
                                        robust=not campaign)
                    c["file"] = str(out / Path(c["file"]).relative_to(staging))
                    failed |= not c["replay_sim"]["as_expected"]
                    concluded.append(c)
            failed |= r.errors > 0
            variants.append(report.variant_json(r, concluded))
            if not args.quiet:
                print(f"search [{name}]: {r.explored} schedules in {r.elapsed_s:.1f} s "
                      f"({r.rate:.0f}/s, {getattr(runner, 'workers', 1)} worker(s)): "
                      + (", ".join(f"{v} first at #{f.index}" for v, f in r.found.items())
                         or "nothing found"), file=sys.stderr)
    finally:
        if show:
            show.close()
        runner.close()
    doc = {"file": str(path), **suite.identity(path), "command": command,
           "strategy": args.strategy, "depth": args.depth, "seed": args.seed,
           "budget": args.budget or 10000, "time_s": args.time, "find": list(want),
           "space": space_json(space, s), "variants": variants}
    report.write(staging, doc)
    results.publish(staging, out)
    results.point_latest(out)
    print((out / "search.md").read_text(), end="")
    print(f"search: {out / 'search.json'}, search.md, search.html")
    return 1 if failed else 0


def space_json(space, s) -> dict:
    return {"kinds": [k.value for k in space.kinds],
            "targets": list(space.targets) or [*s.enactors, "planner"],
            "steps": list(space.steps), "window_s": space.window_s,
            "max_seconds": space.max_seconds, "max_faults": space.max_faults,
            "max_burst": space.max_burst, "max_lock_losses": space.max_lock_losses,
            "method_s": space.method_s}


def _one(file: str):
    from lab import suite
    found = suite.collect([file])
    if len(found) != 1:
        raise LabError(f"{file}: search takes one experiment file, not a directory")
    return found


def add_parser(sub, backends, default_backend) -> None:
    s = sub.add_parser("search", help="search fault timings for schedules that break the "
                                      "file's invariants; shrink and replay what breaks")
    s.add_argument("file", metavar="FILE")
    s.add_argument("--budget", type=int, default=None,
                   help="schedules to try per variant (default 10000)")
    s.add_argument("--time", type=float, default=None, metavar="S",
                   help="stop after S seconds per variant (results then depend on speed)")
    s.add_argument("--seed", type=int, default=1, help="the search's seed (default 1)")
    s.add_argument("--strategy", choices=STRATEGIES, default="random")
    s.add_argument("--depth", type=int, default=3,
                   help="pct: the bug depth d (d-1 priority change points; default 3)")
    s.add_argument("--mitigations", default=None,
                   help="all, or a comma-separated list of variants (a+b together): one "
                        "search per variant, `none` first (default: the file's own)")
    s.add_argument("--find", default="empty-endpoint",
                   help=f"what to stop at: {', '.join(VIOLATIONS)}, a list, or {ANY} "
                        "(default empty-endpoint); or tipping-point: the smallest DNS outage "
                        "that tips the file's fleet (cascade:) into collapse")
    s.add_argument("--max-outage", type=float, default=300.0, metavar="S",
                   help="tipping-point: the longest outage tried (default 300 s)")
    s.add_argument("--tolerance", type=float, default=0.5, metavar="S",
                   help="tipping-point: bisect to within S seconds (default 0.5)")
    s.add_argument("--exhaust", action="store_true",
                   help="run the whole budget even after a find (always, with several "
                        "variants)")
    s.add_argument("--no-shrink", action="store_true", help="report finds without shrinking")
    s.add_argument("--window", dest="window_s", type=float, default=None, metavar="S",
                   help="faults start within S seconds of injection (default: the file's "
                        "search.window_s, else 20)")
    s.add_argument("--max-seconds", dest="max_seconds", type=float, default=None,
                   metavar="S", help="longest delay, pause or kill downtime (default 15)")
    s.add_argument("--max-faults", dest="max_faults", type=int, default=None,
                   help="most faults per schedule (default 4)")
    s.add_argument("--workers", type=int, default=None,
                   help="run trials on a local Dask cluster of N processes")
    s.add_argument("--cluster", default=None, metavar="tcp://HOST:PORT",
                   help="run trials on a running Dask scheduler's workers")
    s.add_argument("--out", default=None,
                   help="results directory (default results/search-<date-time>)")
    s.add_argument("--backend", choices=backends, default=default_backend)
    s.add_argument("--view", choices=("auto", "live", "plain", "none"), default=None,
                   help="progress while it searches: live (a terminal display), plain (a "
                        "line every few seconds and at each find), none; auto (default): "
                        "live on a terminal, else none")
    s.add_argument("-q", "--quiet", action="store_true")
    s.set_defaults(func=run)
