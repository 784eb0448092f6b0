"""Benchmark: endurance and fault campaign on the real lab (issue 17, item 6).

    .venv/bin/python benchmarks/endurance.py                      # all three parts
    .venv/bin/python benchmarks/endurance.py --only kills --count 20 --seed 1
    .venv/bin/python benchmarks/endurance.py --only components
    .venv/bin/python benchmarks/endurance.py --only soak --soak-s 600
    ... --out endurance.json                                      # every figure as JSON

The lab must be up (`dnslab up`); nothing here brings it up or down, and no other run may
hold the lab meanwhile (the Docker engine and the compose project are shared: take
/tmp/dnslab-docker.lock around it).

- ``kills``: one calibration run of tests/docker/interrupt.yaml (`dnslab run FILE --no-up`)
  gives the time each phase starts; then the runner is killed by SIGKILL, SIGTERM and SIGINT,
  ``--count`` times each, at a moment drawn by a seeded RNG inside a phase taken in turn
  (set-up, steady-state, inject, observe/recover, rollback). Each run writes over a copy of
  the calibration's results (a previous run's), so stale results show. After each kill the
  script waits for the run lease to lapse and runs the next `dnslab` command that recovers
  an abandoned run (`dnslab status`: lab/cli.py ``_recover`` -> lab/run.py
  ``recover_abandoned``), then counts faults left armed, workers left, containers left
  paused, a live run lock, and runs whose results are missing or stale. All must be 0.
- ``components``: a short run (steady-state.yaml, --duration 30) while the script restarts
  the plan store, the zone store (a CoreDNS run), the resolver, stops Prometheus (and starts
  it again) or kills a prober worker, through the Docker SDK and only containers labelled
  com.docker.compose.project=dnslab. Per case: the run's verdict and reason (does it name the
  component?), what its history (events.jsonl) holds after the failure (failed probes, the
  largest gap between probes), the same leftover checks once the run ended, and whether a
  container outside the lab changed state.
- ``soak``: two prober workers (52 virtual clients, 0.5 s interval, as an experiment starts
  them) for ``--soak-s`` seconds against a zone holding one plan, under the run lock; their
  resident memory (host /proc of the worker's process) every 10 s, growth from the first
  minute to the end (target < 5 %), and probes: expected by the rate, counted by each prober
  itself (its last log line) and recorded (probe events on its stdout, what a run records).

Every loop is bounded in count and time; a container the script stopped or restarted is
started again in a ``finally`` (also on Ctrl-C), and a runner it started is stopped.
"""

import argparse
import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

PROJECT_LABEL = "com.docker.compose.project=dnslab"
INTERRUPT = ROOT / "tests" / "docker" / "interrupt.yaml"
STEADY = ROOT / "experiments" / "steady-state.yaml"
SIGNALS = ("SIGKILL", "SIGTERM", "SIGINT")
# The campaign's phases and the runner's (lab/core/runloop.py Phase) in each. "pre-run" is
# the command before the run loop's first phase (imports, the run lock).
PHASE_GROUPS = {
    "set-up": ("pre-run", "setup", "start"),
    "steady-state": ("steady-state-before", "steady-state-after"),
    "inject": ("inject",),
    "observe/recover": ("observe", "repair", "recover"),
    "rollback": ("rollback", "decide"),
}
GROUP_OF = {phase: group for group, phases in PHASE_GROUPS.items() for phase in phases}
PHASE_LINE = re.compile(r"^run: (setup|start|steady-state-before|inject|observe|repair|recover|"
                        r"steady-state-after|rollback|decide)$")
DECIDED = ("hypothesis-held", "hypothesis-violated", "error", "aborted")


# -- pure helpers (tests/unit/test_endurance_plan.py) ------------------------------------------
@dataclass(frozen=True)
class Kill:
    index: int
    signal: str
    group: str          # the campaign phase aimed at
    at_s: float         # seconds after the runner process started


def phase_windows(starts: list[tuple[str, float]], end_s: float) -> dict[str, list]:
    """Per campaign phase, the windows [start, end) of a run, from the runner's phase lines
    ``(phase, seconds after the process started)`` in order, and when the process ended. The
    time before the first phase is ``pre-run`` (part of set-up)."""
    marks = [("pre-run", 0.0)] + [(p, t) for p, t in starts]
    windows: dict[str, list] = {g: [] for g in PHASE_GROUPS}
    for (phase, t0), (_, t1) in zip(marks, marks[1:] + [("end", end_s)]):
        if t1 > t0 and phase in GROUP_OF:
            windows[GROUP_OF[phase]].append((t0, t1))
    return windows


def plan_kills(windows: dict[str, list], signals=SIGNALS, count: int = 20,
               seed: int = 1) -> list[Kill]:
    """``count`` kills per signal, signals interleaved (a campaign cut short still has each),
    the phase aimed at taken in turn over the phases that have a window, the moment drawn
    uniformly (seeded) over that phase's windows."""
    rng = random.Random(seed)
    groups = [g for g in PHASE_GROUPS if sum(b - a for a, b in windows.get(g, ())) > 0]
    if not groups:
        raise ValueError("no phase has a window")
    kills = []
    for n in range(count):
        for k, sig in enumerate(signals):
            group = groups[(n * len(signals) + k) % len(groups)]
            spans = windows[group]
            x = rng.uniform(0, sum(b - a for a, b in spans))
            for a, b in spans:
                if x <= b - a:
                    at = a + x
                    break
                x -= b - a
            kills.append(Kill(len(kills), sig, group, round(at, 2)))
    return kills


def judge_results(sig: str, hit: str | None, exited_before: bool, summary: dict | None,
                  previous_id: str, returncode: int | None,
                  uninterrupted_verdict: str) -> tuple[bool, str]:
    """Are a killed run's results what they should be? (ok, why). ``hit``: the runner's
    phase when the signal came (None: before the run loop began); ``summary`` the
    destination's summary.json after the kill (it held a previous run's, ``previous_id``)."""
    new = summary is not None and summary.get("run_id") != previous_id
    untouched = summary is not None and summary.get("run_id") == previous_id
    if summary is None:
        return False, "summary.json missing (the previous results were removed)"
    if exited_before:
        return (new and summary.get("verdict") in DECIDED,
                "ended before the signal: its own decided summary" if new else
                "ended before the signal but left the previous summary (stale)")
    if hit is None:     # before the run loop: nothing ran, the previous results must stay
        return (untouched, "killed before the run began; previous results untouched" if untouched
                else "killed before the run began, yet the results changed")
    if sig == "SIGKILL":
        if new:     # killed after the results were published
            return summary.get("verdict") in DECIDED, "killed after publishing its own summary"
        return True, "killed outright: previous results untouched"
    if not new:
        return False, "stale: summary.json is the previous run's"
    verdict, reason = summary.get("verdict"), summary.get("reason") or ""
    if verdict == "aborted" and "interrupted" in reason:
        return returncode == 1, f"aborted ({reason}), exit {returncode}"
    if hit in ("rollback", "decide") and verdict == uninterrupted_verdict:
        return True, f"signal during the shielded rollback: decided {verdict}"
    return False, f"verdict {verdict!r} ({reason}) after {sig} in {hit}"


def growth_pct(a: float, b: float) -> float:
    return (b - a) / a * 100 if a else float("nan")


def probe_gap(times: list[float]) -> float:
    """The largest gap (s) between consecutive probe events."""
    times = sorted(times)
    return max((b - a for a, b in zip(times, times[1:])), default=0.0)


# -- the lab -------------------------------------------------------------------------------
def lab():
    from lab.stack import Stack
    return Stack(echo=None)


def dnslab_cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "lab", *args]


def etcd_of(stack):
    from lab.etcd import EtcdGateway
    return EtcdGateway(stack.address("plan-store"))


def leftovers(stack) -> dict:
    """What tests/docker/test_interrupts.py checks: paused containers of the project, worker
    containers of any run, faults in the channel, a live run lock."""
    from lab.faults import EtcdFaults, active_run
    from lab.runtime import Workers
    out = {"paused": sorted(c.name for c in stack.client.containers.list(
        filters={"label": PROJECT_LABEL, "status": "paused"})),
        "workers": sorted(c.name for c in Workers(stack.client, run_id="check", net_prefix="",
                                                  scoped=False).all())}
    try:
        etcd = etcd_of(stack)
        out["faults"] = [f"{f.kind.value}:{f.target}" for f in EtcdFaults(etcd).active()]
        out["run_lock"] = active_run(etcd)
    except Exception as e:
        out["faults"], out["run_lock"] = [f"? {e}"], f"? {e}"
    return out


def left_count(left: dict) -> dict:
    return {"faults": len(left["faults"]), "workers": len(left["workers"]),
            "paused": len(left["paused"]), "run_lock": int(bool(left["run_lock"]))}


def wait_no_run(stack, timeout_s: float) -> float:
    """Seconds until no run holds the lock (bounded)."""
    from lab.faults import active_run
    began = time.monotonic()
    while time.monotonic() - began < timeout_s:
        try:
            if active_run(etcd_of(stack)) is None:
                break
        except Exception:
            pass
        time.sleep(0.5)
    return round(time.monotonic() - began, 1)


def others(client) -> dict:
    """States of containers outside the lab (by id)."""
    out = {}
    for c in client.containers.list(all=True, sparse=True):
        labels = c.attrs.get("Labels") or {}
        if labels.get("com.docker.compose.project") != "dnslab":
            out[c.id[:12]] = ((c.attrs.get("Names") or ["?"])[0].lstrip("/"), c.attrs.get("State"))
    return out


def touched(before: dict, after: dict) -> list[str]:
    return [f"{before[k][0]}: {before[k][1]} -> {after.get(k, ('', 'gone'))[1]}"
            for k in before if after.get(k) != before[k]]


def _default_sigint() -> None:
    """The runner starts as a terminal's would, with SIGINT at its default, even when this
    script runs in the background of a shell (which ignores SIGINT for its background
    jobs, and children inherit that): else a SIGINT in the runner's first ~0.1 s, before
    dnslab installs its own handler, would be lost."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


class Runner:
    """`dnslab run ...` as a child process; its phase lines timestamped as they come."""

    def __init__(self, args: list[str]):
        self.began = time.monotonic()
        self.proc = subprocess.Popen(dnslab_cmd("run", *args, "--view", "none"), cwd=ROOT,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                     text=True, start_new_session=True,
                                     preexec_fn=_default_sigint)
        self.phases: list[tuple[str, float]] = []
        self.tail: list[str] = []
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self):
        for line in self.proc.stderr:
            line = line.rstrip("\n")
            if m := PHASE_LINE.match(line):
                self.phases.append((m.group(1), time.monotonic() - self.began))
            self.tail = (self.tail + [line])[-20:]

    def phase(self) -> str | None:
        return self.phases[-1][0] if self.phases else None

    def wait_phase(self, name: str, timeout_s: float) -> bool:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline and self.proc.poll() is None:
            if any(p == name for p, _ in self.phases):
                return True
            time.sleep(0.1)
        return any(p == name for p, _ in self.phases)

    def wait(self, timeout_s: float) -> int | None:
        try:
            return self.proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            return None

    def stop(self):
        """Ctrl-C or a crash in the benchmark: let the run roll back, then make sure."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            if self.wait(90) is None:
                self.proc.kill()
                self.wait(10)
        self.thread.join(5)


def read_summary(out: Path) -> dict | None:
    try:
        return json.loads((out / "summary.json").read_text())
    except (OSError, ValueError):
        return None


def recover(stack):
    from lab.run import recover_abandoned
    try:
        return recover_abandoned(stack, echo=lambda m: None)
    except Exception as e:
        return [f"recovery failed: {e}"]


# -- kills ---------------------------------------------------------------------------------
def kills(args, work: Path, stack) -> dict:
    target = Path(args.kill_file).resolve()
    print(f"== kills: calibration run of {target}", flush=True)
    calibration = work / "calibration"
    r = Runner([str(target), "--no-up", "--out", str(calibration), *kill_duration(args)])
    try:
        code = r.wait(400)
    finally:
        r.stop()
    end_s = time.monotonic() - r.began
    base = read_summary(calibration)
    if base is None:
        raise SystemExit(f"calibration run left no summary (exit {code}):\n" + "\n".join(r.tail))
    windows = phase_windows(r.phases, end_s)
    print(f"  {base['verdict']} in {end_s:.0f} s (exit {code}); phases at " + ", ".join(
        f"{p} {t:.1f}s" for p, t in r.phases), flush=True)
    plan = plan_kills(windows, SIGNALS, args.count, args.seed)
    deadline = time.monotonic() + args.kills_budget_s
    rows = PARTIAL.setdefault("kills", [])      # kept if the campaign is cut short
    others_before = others(stack.client)
    for kill in plan:
        if time.monotonic() > deadline:
            print(f"  time budget ({args.kills_budget_s:.0f} s) spent after {len(rows)} kills",
                  flush=True)
            break
        try:
            rows.append(one_kill(kill, work, stack, calibration, base,
                                 [*kill_duration(args)], target))
        except BaseException:      # cut short: nothing of the killed run may stay behind
            wait_no_run(stack, 25)
            recover(stack)
            raise
        row = rows[-1]
        print(f"  #{kill.index:<3} {kill.signal:7} aim {kill.group:15} at {kill.at_s:6.1f}s "
              f"hit {row['hit'] or 'pre-run':19} exit {row['exit']!s:4} "
              f"left(before/after recovery) {sum(row['left_before'].values())}/"
              f"{sum(row['left_after'].values())} results {'ok' if row['results_ok'] else 'BAD'}"
              f" ({row['results_why']})", flush=True)
    others_after = others(stack.client)
    table = {}
    for sig in SIGNALS:
        mine = [x for x in rows if x["signal"] == sig]
        table[sig] = {
            "kills": len(mine),
            "faults_left": sum(x["left_after"]["faults"] for x in mine),
            "workers_left": sum(x["left_after"]["workers"] for x in mine),
            "paused_left": sum(x["left_after"]["paused"] for x in mine),
            "run_lock_left": sum(x["left_after"]["run_lock"] for x in mine),
            "results_bad": sum(not x["results_ok"] for x in mine),
            "left_before_recovery": sum(sum(x["left_before"].values()) > 0 for x in mine),
            "recovered_by_next_command": sum(x["recovered"] for x in mine),
            "phases_hit": {g: sum(GROUP_OF.get(x["hit"] or "pre-run") == g for x in mine)
                           for g in PHASE_GROUPS},
        }
    print("\n  signal   kills faults workers paused lock results-bad | left-before "
          "recovered | phases hit (" + ", ".join(PHASE_GROUPS) + ")")
    for sig, t in table.items():
        print(f"  {sig:8} {t['kills']:5} {t['faults_left']:6} {t['workers_left']:7} "
              f"{t['paused_left']:6} {t['run_lock_left']:4} {t['results_bad']:11} | "
              f"{t['left_before_recovery']:11} {t['recovered_by_next_command']:9} | "
              + " ".join(str(v) for v in t["phases_hit"].values()))
    return {"calibration": {"verdict": base["verdict"], "seconds": round(end_s, 1),
                            "phases": r.phases, "windows": windows, "exit": code},
            "count": args.count, "seed": args.seed, "planned": len(plan), "done": len(rows),
            "table": table, "rows": rows, "other_containers_touched":
            touched(others_before, others_after)}


def kill_duration(args) -> list[str]:
    """``--kill-duration-s``: the method of every kill run (and its calibration) that long,
    so a campaign of 60 kills fits in half an hour; the faults are in place all along."""
    return ["--duration", str(args.kill_duration_s)] if args.kill_duration_s else []


def one_kill(kill: Kill, work: Path, stack, calibration: Path, base: dict,
             extra: list[str] = (), target: Path = INTERRUPT) -> dict:
    out = work / f"kill-{kill.index:03d}"
    shutil.copytree(calibration, out)          # a previous run's results, to go stale
    sig = getattr(signal, kill.signal)
    r = Runner([str(target), "--no-up", "--out", str(out), *extra])
    exited_before, hit = False, None
    try:
        while time.monotonic() - r.began < kill.at_s and r.proc.poll() is None:
            time.sleep(0.02)
        hit = r.phase()
        if r.proc.poll() is None:
            r.proc.send_signal(sig)
        else:
            exited_before = True
        code = r.wait(120)
    finally:
        r.stop()
    code = r.proc.returncode
    left_before = left_count(leftovers(stack))
    lease_wait = wait_no_run(stack, 25)
    status = subprocess.run(dnslab_cmd("status"), cwd=ROOT, capture_output=True, text=True,
                            timeout=180)
    after = leftovers(stack)
    left_after = left_count(after)
    if any(left_after.values()):      # a finding: clean up so the next kill starts clean
        recover(stack)
    summary = read_summary(out)
    ok, why = judge_results(kill.signal, hit, exited_before, summary, base["run_id"], code,
                            base["verdict"])
    partial = list(work.glob(f".{out.name}.partial-*"))
    if kill.signal == "SIGKILL" and hit is not None and not exited_before:
        # the killed run's history stays in its staging directory, whole but for the last line
        lines = (partial[0] / "events.jsonl").read_text().splitlines() if partial else []
        try:
            for line in lines[:-1]:
                json.loads(line)
        except ValueError:
            ok, why = False, why + "; staging events.jsonl corrupt before its last line"
    return {**asdict(kill), "hit": hit, "exited_before": exited_before, "exit": code,
            "left_before": left_before, "lease_wait_s": lease_wait,
            "recovered": "recovered from an interrupted run" in status.stderr,
            "status_exit": status.returncode, "left_after": left_after,
            "left_after_names": after if any(left_after.values()) else None,
            "results_ok": ok, "results_why": why,
            "verdict": summary and summary.get("verdict"),
            "reason": summary and summary.get("reason"),
            "runner_tail": r.tail[-3:] if not ok else None}


# -- components ----------------------------------------------------------------------------
@dataclass(frozen=True)
class Case:
    name: str
    backend: str
    service: str         # compose service, or "worker:NAME" for a run's worker
    action: str          # restart | stop-start | kill
    after_inject_s: float
    words: tuple         # how a reason would name the component


CASES = (
    Case("plan-store restarted", "powerdns", "plan-store", "restart", 8, ("plan store", "plan-store", "etcd", "run lock")),
    Case("zone-store restarted", "coredns", "zone-store", "restart", 8, ("zone store", "zone-store", "etcd", "coredns")),
    Case("resolver restarted", "powerdns", "recursor", "restart", 8, ("resolver", "recursor")),
    Case("prometheus stopped", "powerdns", "prometheus", "stop-start", 5, ("prometheus",)),
    Case("prober killed", "powerdns", "worker:clients-1", "kill", 8, ("clients-1", "prober")),
)


def container_of(stack, service: str):
    if service.startswith("worker:"):
        labels = [PROJECT_LABEL, "dnslab.worker=1",
                  f"com.docker.compose.service={service.split(':', 1)[1]}"]
    else:
        labels = [PROJECT_LABEL, f"com.docker.compose.service={service}",
                  "com.docker.compose.oneoff=False"]
    found = stack.client.containers.list(all=True, filters={"label": labels})
    if not found:
        raise RuntimeError(f"no container of the lab for {service}")
    return found[0]


def restore(stack, service: str) -> str:
    """The component running again (and healthy, bounded), whatever happened."""
    if service.startswith("worker:"):
        return "worker (removed by the run's rollback)"
    c = container_of(stack, service)
    c.reload()
    if c.status == "paused":
        c.unpause()
    elif c.status != "running":
        c.start()
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        c.reload()
        health = c.attrs.get("State", {}).get("Health", {}).get("Status")
        if c.status == "running" and health in (None, "healthy"):
            return f"running, {health or 'no health check'}"
        time.sleep(1)
    return f"{c.status}, {c.attrs.get('State', {}).get('Health', {}).get('Status')} after 120 s"


def components(args, work: Path, stack) -> dict:
    rows = []
    for case in CASES:
        print(f"== components: {case.name} ({case.backend})", flush=True)
        rows.append(one_case(case, work, stack, args))
        row = rows[-1]
        print(f"  at +{row['done_at_s']}s after the method began: {row['action_result']}; "
              f"run {row['verdict']} ({row['reason']}), exit {row['exit']}\n"
              f"  names the component: {row['names_component']}; after the failure: "
              f"{row['probes_after']} probes, {row['failed_after']} failed, largest probe gap "
              f"{row['largest_gap_s']} s, phases {row['phases']}\n"
              f"  rollback: left {row['left']}; component now {row['restored']}; "
              f"other containers changed: {row['other_containers_touched'] or 'none'}",
              flush=True)
    return {"cases": rows}


def one_case(case: Case, work: Path, stack, args) -> dict:
    out = work / ("component-" + re.sub(r"[^a-z]+", "-", case.name))
    before = others(stack.client)
    r = Runner([str(STEADY), "--no-up", "--duration", str(args.component_duration_s),
                "--backend", case.backend, "--out", str(out)])
    action_result, done_wall, done_at = "not done", None, None
    try:
        if not r.wait_phase("inject", 240):
            action_result = f"not done: the run never reached inject ({r.tail[-2:]})"
        else:
            inject_at = dict((p, t) for p, t in r.phases)["inject"]
            while time.monotonic() - r.began < inject_at + case.after_inject_s:
                time.sleep(0.05)
            c = container_of(stack, case.service)
            done_wall, done_at = time.time(), round(time.monotonic() - r.began - inject_at, 1)
            if case.action == "restart":
                c.restart(timeout=10)
                action_result = f"restarted {c.name}"
            elif case.action == "kill":
                c.kill()
                action_result = f"killed {c.name}"
            else:
                c.stop(timeout=10)
                time.sleep(args.prometheus_down_s)
                c.start()
                action_result = f"stopped {c.name} for {args.prometheus_down_s:g} s, started"
        r.wait(args.component_duration_s + 240)
    finally:
        r.stop()
        restored = restore(stack, case.service)
    wait_no_run(stack, 25)
    left = leftovers(stack)
    after = others(stack.client)
    if any(left_count(left).values()):
        recover(stack)
    summary = read_summary(out) or {}
    reason = summary.get("reason") or ""
    probes, failed = [], 0
    events = out / "events.jsonl"
    if events.exists() and done_wall is not None:
        for line in events.open():
            e = json.loads(line)
            if e.get("kind") == "probe" and e["t"] >= done_wall:
                probes.append(e["t"])
                failed += e.get("outcome") != "ok"
    return {"case": case.name, "backend": case.backend, "action_result": action_result,
            "done_at_s": done_at, "exit": r.proc.returncode,
            "verdict": summary.get("verdict", "no summary"), "reason": reason,
            "names_component": any(w in reason.lower() for w in case.words),
            "probes_after": len(probes), "failed_after": failed,
            "largest_gap_s": round(probe_gap(probes), 2),
            "phases": [p for p, _ in r.phases], "left": left_count(left),
            "restored": restored, "other_containers_touched": touched(before, after),
            "runner_tail": r.tail[-4:]}


# -- soak ----------------------------------------------------------------------------------
def worker_rss_mb(client, name: str) -> float | None:
    """Resident memory of the worker's Python process, from the host's /proc."""
    try:
        top = client.api.top(name)
    except Exception:
        return None
    titles = top["Titles"]
    pid_col, cmd_col = titles.index("PID"), titles.index("CMD")
    for proc in top["Processes"]:
        if "worker" in proc[cmd_col] and "init" not in proc[cmd_col].split()[0]:
            try:
                with open(f"/proc/{proc[pid_col]}/status") as f:
                    for line in f:
                        if line.startswith("VmRSS:"):
                            return int(line.split()[1]) / 1024
            except OSError:
                return None
    return None


def soak(args, work: Path, stack) -> dict:
    from lab import config, workerspec
    from lab.backends import SERVICES, plans_backend
    from lab.core.clients import client_blocks
    from lab.core.history import History
    from lab.core.memory import MemoryPlanStore
    from lab.core.plan import DEFAULT_ENDPOINTS
    from lab.core.planner import Planner
    from lab.eventlog import parse_line
    from lab.faults import RunLease
    from lab.run import FIRST_PROBER_HOST, METRICS_PORT
    from lab.runtime import Workers
    from lab.workerspec import ClientsSpec

    clients, probers, interval = 52, 2, 0.5
    seconds = args.soak_s
    print(f"== soak: {probers} prober workers, {clients} clients every {interval} s, "
          f"{seconds:g} s", flush=True)
    services = SERVICES["powerdns"]
    auth, resolver = stack.address(services.server), stack.address(services.resolver)
    run_id = f"endurance-soak-{os.getpid()}"
    lease = RunLease(etcd_of(stack), run_id).start()     # no run starts meanwhile
    workers = Workers(stack.client, run_id=run_id, net_prefix=auth.rsplit(".", 1)[0])
    samples: dict[str, list] = {}
    try:
        backend = plans_backend("powerdns", config.ZONE, empty_answer="nxdomain", ttl=5,
                                pdns_address=auth, pdns_api_key=stack.secret("pdns-api-key"))
        plan = Planner(MemoryPlanStore(), History(time.time), random.Random(1)).publish()
        backend.reset(DEFAULT_ENDPOINTS, 5)
        for endpoint in plan.endpoints:
            backend.apply(endpoint, plan, previous=None)
        names = []
        for j, (first, count) in enumerate(client_blocks(clients, probers)):
            name = f"soak-clients-{j + 1}"
            spec = ClientsSpec(first=first, count=count, resolver=resolver, authoritative=auth,
                               source=name, interval_s=interval, timeout_s=1.0,
                               max_seconds=seconds, metrics_port=METRICS_PORT)
            workers.start(name, ["worker", "--spec", workerspec.to_json(spec)],
                          FIRST_PROBER_HOST + j, {})
            names.append(name)
            samples[name] = []
        began = time.monotonic()
        full = {n: f"{config.PROJECT}-worker-{n}" for n in names}
        while time.monotonic() - began < seconds + 60:
            t = round(time.monotonic() - began)
            running = 0
            for n in names:
                c = workers.get(n)
                if c.status == "running":
                    running += 1
                    if (mb := worker_rss_mb(stack.client, full[n])) is not None:
                        samples[n].append((t, round(mb, 2)))
            if not running:
                break
            time.sleep(10)
        figures = {}
        for n in names:
            c = workers.get(n)
            err = c.logs(stdout=False, stderr=True).decode("utf-8", "replace")
            m = re.findall(r"stopping after (\d+) probes", err)
            recorded = 0
            for line in c.logs(stdout=True, stderr=False).splitlines():
                e = parse_line(line)
                if e is not None and e.kind.value == "probe":
                    recorded += 1
            s = samples[n]
            first_min = next((mb for t, mb in s if t >= 60), s[0][1] if s else None)
            figures[n] = {
                "rss_first_mb": s[0][1] if s else None, "rss_after_1min_mb": first_min,
                "rss_end_mb": s[-1][1] if s else None,
                "growth_pct": round(growth_pct(first_min, s[-1][1]), 2) if s else None,
                "samples": s, "counted_by_prober": int(m[-1]) if m else None,
                "recorded": recorded,
                "exit": c.attrs["State"].get("ExitCode")}
        expected = clients * seconds / interval
        sent = sum(f["counted_by_prober"] or 0 for f in figures.values())
        recorded = sum(f["recorded"] for f in figures.values())
        for n, f in figures.items():
            print(f"  {n}: RSS {f['rss_first_mb']} MB at start, {f['rss_after_1min_mb']} MB "
                  f"after 1 min, {f['rss_end_mb']} MB at the end: growth "
                  f"{f['growth_pct']} % (target < 5 %); probes counted by the prober "
                  f"{f['counted_by_prober']}, recorded {f['recorded']}, exit {f['exit']}")
        print(f"  probes: expected by the rate {expected:.0f}, counted by the probers {sent}, "
              f"recorded {recorded} ({recorded / expected * 100:.2f} % of expected)", flush=True)
        return {"seconds": seconds, "clients": clients, "interval_s": interval,
                "probers": figures, "expected": expected, "counted_by_probers": sent,
                "recorded": recorded, "max_growth_pct": max(
                    (f["growth_pct"] for f in figures.values() if f["growth_pct"] is not None),
                    default=None)}
    finally:
        workers.remove_all()
        try:
            lease.stop()
        except Exception:
            pass


PARTIAL: dict = {}


def _sigterm(signum, frame):
    raise KeyboardInterrupt("SIGTERM")     # the finally blocks restore what was faulted


def main() -> int:
    signal.signal(signal.SIGTERM, _sigterm)
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--only", choices=("kills", "components", "soak"), action="append",
                   help="run only this part (repeatable); default all three")
    p.add_argument("--count", type=int, default=20, help="kills per signal")
    p.add_argument("--seed", type=int, default=1, help="seed of the kill moments")
    p.add_argument("--kills-budget-s", type=float, default=3 * 3600,
                   help="stop planning new kills after this many seconds")
    p.add_argument("--kill-file", default=str(INTERRUPT),
                   help="the experiment each kill interrupts (default tests/docker/"
                        "interrupt.yaml, 90 s; benchmarks/kill-target.yaml: 18 s)")
    p.add_argument("--kill-duration-s", type=float, default=None,
                   help="method length of the kill runs (default: the file's 90 s)")
    p.add_argument("--component-duration-s", type=float, default=30)
    p.add_argument("--prometheus-down-s", type=float, default=10)
    p.add_argument("--soak-s", type=float, default=600)
    p.add_argument("--work", default=None, help="directory for the runs' results")
    p.add_argument("--out", default=None, help="write every figure here as JSON")
    args = p.parse_args()
    parts = args.only or ["kills", "components", "soak"]
    work = Path(args.work or tempfile.mkdtemp(prefix="dnslab-endurance-"))
    work.mkdir(parents=True, exist_ok=True)
    stack = lab()
    figures = {"started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "work": str(work)}
    print(f"endurance campaign: {', '.join(parts)}; results of the runs in {work}", flush=True)
    try:
        for part in ("kills", "components", "soak"):
            if part in parts:
                figures[part] = {"kills": kills, "components": components,
                                 "soak": soak}[part](args, work, stack)
    finally:
        if PARTIAL:
            figures["partial"] = PARTIAL
        if args.out:
            Path(args.out).write_text(json.dumps(figures, indent=1, default=str) + "\n")
            print(f"figures in {args.out}")
    bad = 0
    if "kills" in figures:
        bad += sum(t["faults_left"] + t["workers_left"] + t["paused_left"] + t["run_lock_left"]
                   + t["results_bad"] for t in figures["kills"]["table"].values())
    if "soak" in figures and (figures["soak"]["max_growth_pct"] or 0) >= 5:
        bad += 1
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
