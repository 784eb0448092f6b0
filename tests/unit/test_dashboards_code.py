"""`dnslab dashboards`: the committed grafana/dashboards/*.json are what lab/dashboards.py
generates with Grafana's Foundation SDK, `--check` says which file is not, and the output
does not change from one generation to the next."""

import json
import shutil
import sys
from pathlib import Path

import pytest

from lab import cli, dashboards

ROOT = Path(__file__).resolve().parents[2]
COMMITTED = ROOT / "grafana" / "dashboards"


@pytest.fixture
def copy(tmp_path):
    """The committed dashboards, copied where a test may alter them."""
    out = tmp_path / "dashboards"
    shutil.copytree(COMMITTED, out)
    return out


def test_check_passes_on_the_checkout(capsys):
    assert cli.main(["dashboards", "--check"]) == 0
    assert capsys.readouterr().err == ""


def test_check_fails_and_names_an_altered_file(copy, capsys):
    path = copy / "lab-health.json"
    d = json.loads(path.read_text())
    d["panels"][0]["targets"][0]["expr"] = "up == 0"
    path.write_text(json.dumps(d, indent=2, sort_keys=True) + "\n")
    assert cli.main(["dashboards", "--check", "--out", str(copy)]) == 1
    lines = capsys.readouterr().err.splitlines()
    assert lines == [f"dnslab dashboards: {path} differs from its source; run "
                     "`dnslab dashboards`"]


def test_check_names_the_committed_path_of_a_file_that_differs(monkeypatch, tmp_path, capsys):
    """The message names the file as the checkout spells it (grafana/dashboards/x.json)."""
    root = tmp_path / "checkout"
    shutil.copytree(ROOT / "grafana", root / "grafana")
    (root / "grafana/dashboards/blast-radius.json").write_text("{}\n")
    monkeypatch.setattr(dashboards.config, "repo_root", lambda: root)
    assert dashboards.main(check=True, out=None) == 1
    assert capsys.readouterr().err.splitlines() == [
        "dnslab dashboards: grafana/dashboards/blast-radius.json differs from its source; "
        "run `dnslab dashboards`"]


def test_check_names_missing_and_extra_files(copy, capsys):
    (copy / "blast-radius.json").unlink()
    (copy / "hand-made.json").write_text("{}\n")
    assert dashboards.main(check=True, out=str(copy)) == 1
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 2
    assert "blast-radius.json is missing; run `dnslab dashboards`" in err[0]
    assert "hand-made.json has no source in lab/dashboards.py" in err[1]


def test_writing_reproduces_the_committed_files_byte_for_byte(tmp_path):
    out = tmp_path / "new"
    assert dashboards.main(check=False, out=str(out)) == 0
    written = {p.name: p.read_bytes() for p in out.glob("*.json")}
    assert written == {p.name: p.read_bytes() for p in COMMITTED.glob("*.json")}
    assert all(b.endswith(b"}\n") and b"\n  \"" in b for b in written.values())
    assert dashboards.render(ROOT) == dashboards.render(ROOT)      # deterministic
    assert dashboards.main(check=True, out=str(out)) == 0


def test_without_the_sdk_one_line_names_the_extra(monkeypatch, tmp_path, capsys):
    monkeypatch.setitem(sys.modules, "grafana_foundation_sdk", None)   # as if not installed
    assert dashboards.main(check=True, out=str(tmp_path)) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "pip install -e '.[dashboards]'" in err
