"""Generated malformed experiment files: each gives one clear line naming the file, line and
field (ExperimentError), never a traceback; valid mutations still load. (Hand-made attacks:
tests/unit/test_loader_hostile.py.)"""

import copy
import math
import re

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lab import scenario

BASE = yaml.safe_load(open("experiments/dynamodb-race.yaml").read())
FIELDS = [k for k in BASE if k not in ("faults", "description")]
FAULT_FIELDS = ["at_s", "after", "kind", "target", "seconds", "step", "endpoint", "times", "count"]

junk = st.one_of(
    st.none(), st.booleans(), st.integers(-10**12, 10**12), st.floats(allow_nan=True),
    st.text(max_size=30), st.lists(st.integers(), max_size=3),
    st.dictionaries(st.text(max_size=5), st.integers(), max_size=2),
    st.sampled_from([math.inf, -1, 0, "enactor-q", "after-freshness-check", "pause", 1e300]))


@st.composite
def malformed(draw):
    doc = copy.deepcopy(BASE)
    how = draw(st.sampled_from(["drop", "retype", "unknown", "fault", "fault-unknown",
                                "faults-shape", "document"]))
    if how == "drop":
        key = draw(st.sampled_from(["title", "expect"]))
        del doc[key]
        return how, key, yaml.safe_dump(doc)
    if how == "retype":
        key = draw(st.sampled_from(FIELDS))
        doc[key] = draw(junk)
        return how, key, yaml.safe_dump(doc)
    if how == "unknown":
        key = draw(st.text("abcdefghijklmnopqrstuvwxyz_", min_size=3, max_size=12)
                   .filter(lambda k: k not in BASE and k not in scenario._SIMPLE))
        doc[key] = draw(junk)
        return how, key, yaml.safe_dump(doc)
    if how == "fault":
        i = draw(st.integers(0, len(doc["faults"]) - 1))
        key = draw(st.sampled_from(FAULT_FIELDS))
        doc["faults"][i][key] = draw(junk)
        return how, f"faults[{i}]", yaml.safe_dump(doc)
    if how == "fault-unknown":
        i = draw(st.integers(0, len(doc["faults"]) - 1))
        doc["faults"][i]["bogus_" + draw(st.text("xyz", min_size=1, max_size=4))] = 1
        return how, f"faults[{i}]", yaml.safe_dump(doc)
    if how == "faults-shape":
        doc["faults"] = draw(st.one_of(st.integers(), st.text(max_size=5),
                                       st.lists(junk, min_size=1, max_size=3)))
        return how, "faults", yaml.safe_dump(doc)
    text = draw(st.one_of(st.text(max_size=80), st.binary(max_size=40).map(
        lambda b: b.decode("latin-1")), junk.map(yaml.safe_dump)))
    return how, None, text


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                   HealthCheck.filter_too_much])
@given(malformed())
def test_malformed_experiment_gives_one_line_naming_the_field(tmp_path_factory, case):
    how, field, text = case
    path = tmp_path_factory.mktemp("fuzz") / "exp.yaml"
    path.write_text(text)
    try:
        scenario.load(path)
    except scenario.ExperimentError as e:
        message = str(e)
        assert message.isprintable() and re.match(rf"{re.escape(str(path))}:\d+: ", message), \
            message
        if field is not None:
            assert field in message, (how, field, message)
        return
    # Some mutations are still valid (e.g. a new seed): then they must load cleanly.
    assert how in ("retype", "fault", "document"), how


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=200))
def test_any_bytes_load_or_give_one_line(tmp_path_factory, data):
    path = tmp_path_factory.mktemp("bytes") / "exp.yaml"
    path.write_bytes(data)
    try:
        scenario.load(path)
    except scenario.ExperimentError as e:
        assert str(e).isprintable() and re.match(rf"{re.escape(str(path))}:\d+: ", str(e)), e
