"""A run's post-event summary: its milestones and the time between them, in short English
sentences, from the history alone (pure).

Milestones, each only when the history shows it (never invented):

- ``fault-started``: a fault took effect (one per fault);
- ``stale-plan-applied``: the first time an enactor applied an older plan over a newer one;
- ``impact``: a clean-up deleted a plan some endpoint pointed at, so it had no addresses;
- ``first-failed-probe-<group>``: the first failed probe each client group saw;
- ``first-page``: the first page (a firing ``paged`` event, from Alertmanager);
- ``automation-stuck``: the first enactor stuck on an endpoint whose plan is gone;
- ``operator-repair`` or ``self-repair``: what put the emptied endpoints' records back;
- ``dns-answering``: every emptied endpoint answers direct probes with addresses again;
- ``last-client-recovered-<group>``: the last client of a group that failed got an answer
  again (``t`` None: some were still failing when the history ends).

Times are history times; reports and summary.json show them relative to ``run_start``, the
first event of the history.
"""

from dataclasses import dataclass

from lab.core.checkers import never_delete_active_plan
from lab.core.history import Event, Kind

GROUPS = ("direct", "resolver")
REPAIRS = ("operator-repair", "self-repair")

OUTCOME_WORDS = {"nodata": "no addresses (NODATA)", "nxdomain": "NXDOMAIN",
                 "servfail": "SERVFAIL", "refused": "REFUSED", "timeout": "no answer (timeout)",
                 "malformed": "a malformed answer", "error": "an error", "ok": "addresses"}


@dataclass(frozen=True)
class Milestone:
    name: str
    t: float | None     # history time; None: it had not happened when the history ends
    text: str


@dataclass(frozen=True)
class Duration:
    name: str
    start: str          # milestone names
    end: str
    seconds: float

    @property
    def text(self) -> str:
        return f"{self.name}: {span(self.seconds)}"

    def to_json(self) -> dict:
        return {"name": self.name, "from": self.start, "to": self.end,
                "s": round(self.seconds, 3)}


def run_start(events: list[Event]) -> float:
    """The run's time zero: its first event (the runner's setup phase in a real run)."""
    return min((e.t for e in events), default=0.0)


def relative(t: float, t0: float) -> str:
    """``+21.4 s``: a history time as seconds since the run started."""
    return f"{t - t0:+.1f} s"


def span(d: float) -> str:
    """A duration for a sentence: ``8.0 s``, or ``18 ms`` below a second."""
    return f"{d:.1f} s" if abs(d) >= 1 else f"{d * 1000:.0f} ms"


def words(items: list[str]) -> str:
    items = [str(i) for i in items]
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def outcome_words(outcome: str | None) -> str:
    return OUTCOME_WORDS.get(outcome or "", str(outcome))


def _failed(e: Event) -> bool:
    return e.kind is Kind.PROBE and e.data.get("outcome") != "ok"


def first_page(events: list[Event]) -> Event | None:
    """The first page: a firing alert Alertmanager sent to the lab's pager."""
    return next((e for e in sorted(events, key=lambda e: e.t)
                 if e.kind is Kind.PAGED and e.data.get("status") == "firing"), None)


def _page_subject(e: Event) -> str:
    labels = e.data.get("labels") or {}
    about = [labels[k] for k in ("endpoint", "group", "enactor") if labels.get(k)]
    return str(e.data.get("alert", "an alert")) + (f" ({words(about)})" if about else "")


def _impact(events: list[Event]) -> dict | None:
    """The first deletion of an active plan: {t, source, generation, endpoints}."""
    v = never_delete_active_plan(events)
    return v.first_violation if v.held is False else None


def _since(t: float, since: float | None, what: str) -> str:
    if since is None:
        return ""
    d = t - since
    return f" ({span(d)} after {what})" if d >= 0 else f" ({span(-d)} before {what})"


def milestones(events: list[Event], counted: set[int] | None = None) -> list[Milestone]:
    """The run's milestones in time order (those that never happened last, ``t`` None).
    ``counted``: the failed probes that count (``id()``s); None counts every failed probe.
    (A run's summary counts the failures the run explains: ``milestones_of(fold)``.)"""
    from lab.core.fold import fold
    ids = counted
    return milestones_of(fold(events, (lambda e: True) if ids is None else
                              (lambda e: id(e) in ids)))


def milestones_of(f) -> list[Milestone]:
    """The milestones of a folded history (``lab.core.fold.Fold``, closed)."""
    out: list[Milestone] = []
    for e in f.retained:
        if e.kind is Kind.FAULT_STARTED:
            d = e.data
            what = f"{d.get('fault')} on {d.get('target')}"
            if d.get("step"):
                what += f" at {d['step']}"
            if d.get("seconds"):
                what += f" for {d['seconds']:g} s"
            out.append(Milestone("fault-started", e.t, f"fault: {what} took effect."))

    st = f.structure
    stale = st.applied_generation_monotonic()
    if stale.held is False:
        v = stale.first_violation
        out.append(Milestone("stale-plan-applied", v["t"],
                             f"{v['source']} applied plan {v['generation']} to {v['endpoint']} "
                             f"after plan {v['previous']}: an older plan over a newer one."))

    v = st.never_delete_active_plan()
    impact = v.first_violation if v.held is False else None
    t_empty = impact["t"] if impact else None
    if impact:
        they = "the endpoint" if len(impact["endpoints"]) == 1 else "those endpoints"
        out.append(Milestone("impact", t_empty,
                             f"{impact['source']} deleted plan {impact['generation']} while "
                             f"{words(impact['endpoints'])} pointed at it; {they} answered with "
                             "no addresses."))

    for group in GROUPS:
        g = f.groups.get(group)
        first = g.first if g else None
        if first:
            out.append(Milestone(f"first-failed-probe-{group}", first.t,
                                 f"first failed probe ({group}): {first.data.get('client')} got "
                                 f"{outcome_words(first.data.get('outcome'))} for "
                                 f"{first.data.get('endpoint')}"
                                 f"{_since(first.t, t_empty, 'impact')}."))

    page = first_page(f.retained)
    if page:
        out.append(Milestone("first-page", page.t, f"paged: {_page_subject(page)}"
                             f"{_since(page.t, t_empty, 'impact')}."))

    if impact:
        out += _after_impact(f, impact)
    out += _recoveries(f, out)
    return sorted(out, key=lambda m: (m.t is None, m.t or 0.0))


def _after_impact(f, impact: dict) -> list[Milestone]:
    t_empty = impact["t"]
    st = f.structure
    out = []
    fix = st.first_fix
    until = fix.t if fix else float("inf")
    stuck = [e for e in st.stuck_after.values() if t_empty <= e.t < until]
    if stuck:
        e, others = stuck[0], sorted({s.source for s in stuck} - {stuck[0].source})
        out.append(Milestone("automation-stuck", e.t,
                             f"automation stuck: {e.source} cannot apply plan "
                             f"{e.data.get('generation')} because {e.data.get('endpoint')} points "
                             f"at deleted plan {e.data.get('missing')}"
                             + (f"; {words(others)} stuck too" if others else "")
                             + f"{_since(e.t, t_empty, 'impact')}."))
    if fix is None:
        return out
    if fix.kind is Kind.REPAIRED:
        repaired = [e for e in f.retained if e.kind is Kind.REPAIRED and e.t >= fix.t
                    and e.data.get("generation") == fix.data.get("generation")]
        out.append(Milestone("operator-repair", fix.t,
                             f"operator repair: pointed "
                             f"{words(sorted({e.data['endpoint'] for e in repaired}))} at plan "
                             f"{fix.data.get('generation')}{_since(fix.t, t_empty, 'impact')}."))
        repair = "the repair"
    else:
        out.append(Milestone("self-repair", fix.t,
                             f"self-repair: {fix.source} applied plan {fix.data.get('generation')} "
                             f"to {fix.data.get('endpoint')}{_since(fix.t, t_empty, 'impact')}."))
        repair = "the self-repair"
    answered = _dns_answering(f, t_empty)
    if answered is not None:
        t, eps = answered
        out.append(Milestone("dns-answering", t,
                             f"DNS answering again: direct probes of {words(eps)} got addresses"
                             f"{_since(t, fix.t, repair)}."))
    return out


def _dns_answering(f, t_empty: float) -> tuple[float, list[str]] | None:
    """When every emptied endpoint that direct clients probe and saw fail answered them with
    addresses again, after what put its records back: (time, those endpoints)."""
    seen = sorted(ep for ep, (failed, _) in f.answering.items() if failed)
    if not seen:
        return None
    last = t_empty
    for endpoint in seen:
        ok = f.answering[endpoint][1]
        if ok is None:
            return None
        last = max(last, ok)
    return last, seen


def _recoveries(f, so_far: list[Milestone]) -> list[Milestone]:
    """Per client group: when the last client that failed got an answer again."""
    answering = next((m for m in so_far if m.name == "dns-answering"), None)
    out = []
    for group in GROUPS:
        recovered, stuck = f.recoveries(group)
        name = f"last-client-recovered-{group}"
        if stuck:
            out.append(Milestone(name, None, f"{stuck} {group} client(s) still failing when "
                                             "the history ends."))
        elif recovered:
            t, client = max(recovered)
            out.append(Milestone(name, t, f"last {group} client recovered: {client} got "
                                          f"addresses again"
                                          + (_since(t, answering.t, "DNS answered again")
                                             if answering else "") + "."))
    return out


DURATIONS = (
    ("time to page", "impact", "first-page"),
    ("impact to first failed direct probe", "impact", "first-failed-probe-direct"),
    ("impact to first failed resolver probe", "impact", "first-failed-probe-resolver"),
    ("impact to automation stuck", "impact", "automation-stuck"),
    ("impact to repair", "impact", REPAIRS),
    ("repair to DNS answering again", REPAIRS, "dns-answering"),
    ("endpoint without addresses", "impact", "dns-answering"),
    ("DNS answering again to last direct client recovered", "dns-answering",
     "last-client-recovered-direct"),
    ("DNS answering again to last resolver client recovered", "dns-answering",
     "last-client-recovered-resolver"),
    ("impact to last resolver client recovered", "impact", "last-client-recovered-resolver"),
)


def durations(ms: list[Milestone]) -> list[Duration]:
    """The time between milestones that both happened."""
    at = {m.name: m for m in ms if m.t is not None and m.name != "fault-started"}

    def find(names):
        names = (names,) if isinstance(names, str) else names
        return next((at[n] for n in names if n in at), None)

    out = []
    for label, a, b in DURATIONS:
        start, end = find(a), find(b)
        if start and end:
            out.append(Duration(label, start.name, end.name, end.t - start.t))
    return out


def time_to_page_s(events: list[Event], impact: dict | None = None) -> float | None:
    """The first page minus the moment an endpoint emptied; None without either.
    ``impact``: the first deletion of an active plan when already known (a fold's)."""
    if impact is None:
        impact = _impact(sorted(events, key=lambda e: e.t))
    page = first_page(events)
    if impact is None or page is None:
        return None
    return round(page.t - impact["t"], 3)


def to_json(ms: list[Milestone], t0: float) -> list[dict]:
    """summary.json's ``timeline``: each milestone with its time since the run started and
    since the impact (None when it did not happen, or there was no impact)."""
    impact = next((m.t for m in ms if m.name == "impact"), None)
    return [{"name": m.name,
             "t_s": None if m.t is None else round(m.t - t0, 3),
             "after_impact_s": None if m.t is None or impact is None else round(m.t - impact, 3),
             "text": m.text} for m in ms]


def describe_violation(name: str, v: dict | None, t0: float) -> str:
    """An invariant's first violation (``checkers.Verdict.first_violation``) as a sentence."""
    if not v:
        return ""
    if "error" in v:
        return f"could not decide: {v['error']}"
    when = f"at {relative(v['t'], t0)}: " if isinstance(v.get("t"), (int, float)) else ""
    if name == "applied-generation-monotonic":
        return (f"{when}{v.get('source')} applied plan {v.get('generation')} to "
                f"{v.get('endpoint')} after plan {v.get('previous')}")
    if "endpoints" in v and "source" in v:
        return (f"{when}{v['source']} deleted plan {v.get('generation')} while "
                f"{words(v['endpoints'])} pointed at it")
    if "endpoints" in v:
        return (f"{when}plan {v.get('generation')} was deleted while {words(v['endpoints'])} "
                "pointed at it: no addresses left")
    if "outcome" in v:
        return (f"{when}{v.get('seen_by')} got {outcome_words(v['outcome'])} for "
                f"{v.get('endpoint')} from the authoritative server")
    return when + "; ".join(f"{k} {val}" for k, val in v.items() if k != "t")
