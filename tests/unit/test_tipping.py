"""`dnslab search FILE --find tipping-point`: the smallest DNS outage that tips the file's
fleet into collapse (simulation), and the file's own race set against it."""

import json
import subprocess
import sys
from pathlib import Path

from lab.core.cascade import CascadeParams
from lab.search.tipping import tipping_point

ROOT = Path(__file__).resolve().parents[2]


def test_the_default_fleet_tips_between_15_and_17_s_and_longer_outages_all_tip():
    p = CascadeParams()
    r = tipping_point(lambda outage_s: p, seed=1, max_outage_s=60.0, tolerance_s=0.5,
                      renew_period_s=p.renew_period_s, lease_ttl_s=p.lease_ttl_s,
                      window_s=p.window_s)
    assert 15.0 <= r["tipping_outage_s"] <= 17.0, r
    assert r["monotone"]
    below = [t for t in r["tried"] if t["outage_s"] < r["tipping_outage_s"] - 0.01]
    above = [t for t in r["tried"] if t["outage_s"] >= r["tipping_outage_s"] - 0.01]
    assert below and above and not any(t["metastable"] for t in below)
    assert all(t["metastable"] for t in above)


def test_admission_control_never_tips_within_the_range():
    p = CascadeParams(remediations=frozenset({"admission-control"}))
    r = tipping_point(lambda outage_s: p, seed=1, max_outage_s=60.0, tolerance_s=0.5,
                      renew_period_s=p.renew_period_s, lease_ttl_s=p.lease_ttl_s,
                      window_s=p.window_s)
    assert r["tipping_outage_s"] is None and r["monotone"]
    assert max(t["outage_s"] for t in r["tried"]) == 60.0


def test_the_command_sets_the_files_race_against_the_tipping_point(tmp_path):
    out = tmp_path / "tip"
    proc = subprocess.run([sys.executable, "-m", "lab", "search",
                           "experiments/dynamodb-cascade.yaml", "--find", "tipping-point",
                           "--max-outage", "60", "--out", str(out)],
                          capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    doc = json.loads((out / "tipping.json").read_text())
    [row] = doc["variants"]
    assert row["variant"] == "none" and 15.0 <= row["tipping_outage_s"] <= 17.0
    # The race keeps DNS from the fleet past the tipping point (the resolver's negative
    # cache alone holds the empty answer 30 s), and its run ends metastable.
    assert row["race"]["fleet_dns_outage_s"] > row["tipping_outage_s"]
    assert row["margin_s"] > 0 and row["race"]["metastable"] is True
    assert "| none | " in (out / "tipping.md").read_text()


def test_a_file_without_a_cascade_is_refused_in_one_line(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "lab", "search",
                           "experiments/dynamodb-race.yaml", "--find", "tipping-point",
                           "--out", str(tmp_path / "x")],
                          capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert proc.returncode == 2
    [line] = proc.stderr.strip().splitlines()
    assert "needs a cascade: section" in line
