"""The experiment loader against hostile files: every one is accepted or refused with one
`dnslab: error:` line naming the file and line, through `dnslab run FILE --dry`, each in
under a second (a functional bound of --dry, not a benchmark); then one regression test per
refusal the loader owes."""

import math
import os
import re
import resource
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from lab import cli, scenario
from lab.experiment_yaml import MAX_BYTES, MAX_DEPTH
from lab.report import render_junit
from tests.support import hostile_experiments

SEED = 20251020
CASES = hostile_experiments.cases(SEED)
SHIPPED = sorted(Path("experiments").glob("*.yaml"))
DRY_BOUND_S = 1.0


@pytest.fixture(autouse=True)
def no_backend_override(monkeypatch):
    monkeypatch.delenv("DNSLAB_BACKEND", raising=False)


def dry(path: Path, capsys) -> tuple[int, str, str, float]:
    """`dnslab run PATH --dry` in this process: exit code, stdout, stderr, CPU seconds (the
    claim is the work done, no expansion or hang: the wall clock of a loaded CI machine
    would also count time spent waiting for a core)."""
    began = time.process_time()
    code = cli.main(["run", str(path), "--dry"])
    took = time.process_time() - began
    out, err = capsys.readouterr()
    return code, out, err, took


def refusal(path: Path, err: str) -> str:
    """The one error line, checked for shape: `dnslab: error: FILE:LINE: ...`."""
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert lines[0].isprintable(), lines[0]
    assert re.match(rf"dnslab: error: {re.escape(str(path))}:\d+: \S", lines[0]) or \
        lines[0].startswith(f"dnslab: error: {path}: larger than"), lines[0]
    return lines[0]


def test_the_generator_is_large_varied_and_deterministic():
    assert len(CASES) >= 500
    assert len({c.name for c in CASES}) == len(CASES)
    assert [c.data for c in hostile_experiments.cases(SEED)] == [c.data for c in CASES]
    assert [c.data for c in hostile_experiments.cases(SEED + 1)] != [c.data for c in CASES]
    families = {re.sub(r"^\d+-", "", c.name).split("-")[0] for c in CASES}
    assert {"deleted", "duplicated", "wrongtype", "number", "truncated", "deep", "alias",
            "control", "unicode", "bom", "binary", "tabs", "long", "multidoc", "root", "tag",
            "unknown", "timeline", "cross", "fault"} <= families


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_hostile_file_is_accepted_or_refused_in_one_line(tmp_path, capsys, case):
    path = tmp_path / f"{case.name}.yaml"
    path.write_bytes(case.data)
    code, out, err, took = dry(path, capsys)   # any other exception fails the test here
    assert took < DRY_BOUND_S, f"--dry took {took:.2f} s"
    assert code in (0, 2), (code, out, err)
    if code == 2:
        refusal(path, err)
        assert out == ""
        assert case.expect != hostile_experiments.ACCEPTED, err
        return
    assert err == "" and out.startswith(f"{path}: "), (out, err)
    assert case.expect != hostile_experiments.REFUSED, out
    s = scenario.load(path)
    junit = render_junit([{"title": s.title, "backend": s.backend, "as_expected": False,
                           "expected": s.expect, "verdict": "error", "reason": s.title}])
    ET.fromstring(junit.encode())   # whatever an accepted title holds, junit.xml parses


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.name)
def test_shipped_experiments_are_accepted_unchanged(path, capsys):
    before = path.read_bytes()
    code, out, err, took = dry(path, capsys)
    assert (code, err) == (0, "") and out.startswith(f"{path}: ") and took < DRY_BOUND_S
    assert path.read_bytes() == before


def test_a_suite_dry_run_of_the_shipped_directory(capsys):
    assert cli.main(["run", "experiments", "--dry"]) == 0
    out, _ = capsys.readouterr()
    assert sum(line.startswith("experiments/") for line in out.splitlines()) == len(SHIPPED)


def test_alias_bomb_in_a_real_process_is_one_line_and_quick(tmp_path):
    bomb = next(c for c in CASES if c.name.endswith("alias-billion-laughs"))
    path = tmp_path / "bomb.yaml"
    path.write_bytes(bomb.data)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    proc = subprocess.run([sys.executable, "-m", "lab", "run", str(path), "--dry"],
                          capture_output=True, text=True, timeout=60,
                          env={k: v for k, v in os.environ.items() if k != "DNSLAB_BACKEND"})
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    assert cpu < 5, cpu     # the child's CPU seconds, interpreter start included
    assert proc.returncode == 2 and proc.stdout == "" and "Traceback" not in proc.stderr
    assert "anchors" in refusal(path, proc.stderr)


# -- one regression test per refusal ----------------------------------------------------
RACE = Path("experiments/dynamodb-race.yaml")


def refused(tmp_path, text: str | bytes, capsys) -> str:
    path = tmp_path / "x.yaml"
    path.write_bytes(text.encode() if isinstance(text, str) else text)
    code, out, err, took = dry(path, capsys)
    assert code == 2 and took < DRY_BOUND_S, (code, out, err)
    return refusal(path, err)


def race_text(**lines: str) -> str:
    """The shipped race with top-level lines replaced (``key="value text"``)."""
    text = RACE.read_text()
    for key, value in lines.items():
        text, n = re.subn(rf"(?m)^{key}:.*$", lambda _: f"{key}: {value}", text)
        assert n == 1, key
    return text


def test_over_the_size_cap_is_refused_naming_the_cap(tmp_path, capsys):
    text = RACE.read_text()
    at_cap = text + "#" * (MAX_BYTES - len(text.encode()) - 1) + "\n"
    assert len(at_cap.encode()) == MAX_BYTES
    (tmp_path / "ok.yaml").write_text(at_cap)
    assert dry(tmp_path / "ok.yaml", capsys)[0] == 0
    message = refused(tmp_path, at_cap + "\n", capsys)
    assert "x.yaml: larger than 256 KiB" in message


def test_alias_is_refused_quickly_without_expanding(tmp_path, capsys):
    laughs = ["a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    laughs += [f"{chr(98 + n)}: &{chr(98 + n)} [" + ", ".join([f"*{chr(97 + n)}"] * 10) + "]"
               for n in range(9)]
    began = time.process_time()          # CPU seconds: the work, not the machine's load
    message = refused(tmp_path, race_text() + "\n".join(laughs) + "\n", capsys)
    assert time.process_time() - began < 0.5
    assert re.search(r"x\.yaml:\d+: field 'a': YAML anchors .* not supported", message)


def test_duplicate_key_names_both_lines(tmp_path, capsys):
    text = race_text()
    first = text.splitlines().index("seed: 1") + 1
    message = refused(tmp_path, text + "seed: 2\n", capsys)
    second = len(text.splitlines()) + 1
    assert f"x.yaml:{second}: field 'seed': given twice (first at " in message
    assert f"x.yaml:{first})" in message


def test_duplicate_key_inside_a_fault(tmp_path, capsys):
    text = race_text().replace("{at_s: 0, kind: delay", "{at_s: 0, at_s: 1, kind: delay")
    assert "faults[0].at_s: given twice" in refused(tmp_path, text, capsys)


@pytest.mark.parametrize("nesting", [MAX_DEPTH + 1, 100_000])
def test_deep_nesting_is_refused_without_recursion(tmp_path, capsys, nesting):
    text = race_text() + "x: " + "[" * nesting + "]" * nesting + "\n"
    message = refused(tmp_path, text, capsys)
    # libyaml refuses very deep flows itself, while scanning ahead
    assert f"nested deeper than {MAX_DEPTH} levels" in message or \
        "not valid YAML (exceeded maximum nesting depth)" in message


@pytest.mark.parametrize("value,words", [
    ("9" * 5000, "a number written with 5000 characters"),   # past int('9' * 4301)'s limit
    ("1.0e+999", "must be a finite number"),
    (".nan", "must be a finite number"),
    ("-.inf", "must be a finite number"),
    ("100000", "must be at most 86400"),
    ("-3", "must be more than 0"),
])
def test_huge_and_odd_numbers_are_refused_in_one_line(tmp_path, capsys, value, words):
    message = refused(tmp_path, race_text(duration_s=value), capsys)
    assert "duration_s" in message and words in message


def test_steady_state_of_zero_is_refused(tmp_path, capsys):
    message = refused(tmp_path, race_text(steady_state_s="0"), capsys)
    assert "field 'steady_state_s' must be more than 0" in message


@pytest.mark.parametrize("title", ['"bell \\x07"', '"esc \\x1b[31m"', '"del \\x7f"',
                                   '"csi \\x9b"', '"tab\\tinside"', '"two\\nlines"',
                                   '"\\u202eevil"'])
def test_control_character_in_title_is_refused(tmp_path, capsys, title):
    message = refused(tmp_path, race_text(title=title), capsys)
    assert "'title'" in message and re.search(r"U\+[0-9A-F]{4}", message)


def test_raw_control_byte_is_refused_by_line(tmp_path, capsys):
    text = race_text(title="bad \x1b title")
    line = text.splitlines().index("title: bad \x1b title") + 1
    assert f"x.yaml:{line}: not valid YAML" in refused(tmp_path, text, capsys)


def test_fault_after_the_duration_is_refused(tmp_path, capsys):
    text = race_text(duration_s="4")
    line = next(i for i, row in enumerate(text.splitlines(), 1) if "after: 0, at_s: 5" in row)
    message = refused(tmp_path, text, capsys)
    assert message.endswith(
        f"x.yaml:{line}: faults[1].at_s: starts at least 5 s into the method (faults[0].at_s "
        "0 s + faults[1].at_s 5 s), which is not before the run's duration_s (4 s); shorten "
        "at_s or lengthen duration_s")


def test_fault_without_after_beyond_the_duration(tmp_path, capsys):
    text = race_text(duration_s="30").replace("{at_s: 0, kind: delay", "{at_s: 40, kind: delay")
    assert ": faults[0].at_s: 40 s is not before the run's duration_s (30 s); shorten at_s " \
           "or lengthen duration_s" in refused(tmp_path, text, capsys)


def test_duration_override_rechecks_the_faults():
    race = scenario.load(RACE)
    assert race.with_duration(300).duration_s == 300 and race.with_duration(8.5).faults
    with pytest.raises(scenario.ScenarioError) as e:
        race.with_duration(8)
    message = str(e.value)
    assert message.startswith(f"{RACE}:") and "faults[2].at_s" in message
    assert "(8 s, from --duration)" in message and "give a longer --duration" in message
    for bad in (0, -1, math.nan, math.inf, 10**9, True):
        with pytest.raises(scenario.ScenarioError, match="--duration"):
            race.with_duration(bad)


def test_prober_containers_fit_below_the_stale_resolver_and_planner():
    from lab import run
    last = run.FIRST_PROBER_HOST + scenario.MAX_PROBER_CONTAINERS - 1
    assert last < run.STALE_RESOLVER_HOST < run.PLANNER_HOST
    assert run.FIRST_PROBER_HOST + scenario.MAX_PROBER_CONTAINERS == run.STALE_RESOLVER_HOST


@pytest.mark.parametrize("lines,words", [
    ({"prober_containers": "9"}, "field 'prober_containers' must be at most 8"),
    ({"clients": "3", "prober_containers": "4"}, "must be at least 'prober_containers'"),
    ({"clients": "5", "prober_containers": "4"}, "fill only 3 of 4 containers"),
    ({"client_interval_s": "6"}, "field 'steady_state_s' (5 s) must be at least "
                                 "client_interval_s (6 s)"),
    ({"enactors": "[enactor-a, enactor-b]"}, "faults[3].target: must name one of the run's "
                                             "enactors (enactor-a, enactor-b), not 'enactor-c'"),
])
def test_fields_that_cannot_work_together_are_refused(tmp_path, capsys, lines, words):
    assert words in refused(tmp_path, race_text(**lines), capsys)


@pytest.mark.parametrize("fault,words", [
    ("{at_s: 1, kind: delay, target: enactor-a, step: before-cleanup, seconds: 0}",
     "faults[0].seconds: a delay needs more than 0 seconds"),
    ("{at_s: 1, kind: delay, target: enactor-a, step: before-cleanup}",
     "faults[0].seconds: a delay needs more than 0 seconds"),
    ("{at_s: 1, kind: pause, target: enactor-a}", "faults[0].seconds: a pause needs more"),
    ("{at_s: 1, kind: lose-lock, target: enactor-a, times: 0}", "faults[0].times: must be at"),
    ("{at_s: 1, kind: delay, target: enactor-a, step: before-cleanup, seconds: 1, "
     "endpoint: dynamodb.us-east-1}", "faults[0].endpoint: applies only to lose-lock"),
    ("{at_s: 1, kind: pause, target: enactor-a, seconds: 1, count: 2}",
     "faults[0].count: applies only to planner-burst"),
    ("{at_s: 1, kind: planner-burst, count: 2, seconds: 3}",
     "faults[0].seconds: applies only to delay, pause and kill"),
    ("{at_s: 1, kind: kill, target: enactor-a, times: 2}", "faults[0].times: applies only"),
    ("{at_s: 1, kind: kill, target: enactor-a, after: 0}", "faults[0].after: must be the "
                                                          "index of an earlier fault"),
])
def test_faults_that_would_never_happen_are_refused(tmp_path, capsys, fault, words):
    text = "title: t\nexpect: hold\nfaults:\n  - " + fault + "\n"
    message = refused(tmp_path, text, capsys)
    assert words in message and "x.yaml:4: " in message


def test_unknown_field_suggests_the_near_one(tmp_path, capsys):
    message = refused(tmp_path, race_text() + "duraton_s: 3\n", capsys)
    assert "unknown field 'duraton_s'; did you mean 'duration_s'?" in message


def test_shipped_faults_keep_their_meaning():
    race = scenario.load(RACE)
    assert [(f.at_s, f.after, f.fault.seconds) for f in race.faults] == \
        [(0.0, None, 12.0), (5.0, 0, 10.0), (8.0, 0, 6.0), (8.0, 0, 6.0)]
    assert race == scenario.load(RACE) and race.origin is not None
