import stat

from lab.config import SECRETS
from lab.keygen import generate


def test_generates_each_secret_once_and_private(tmp_path):
    assert generate(tmp_path) == list(SECRETS)
    first = {n: (tmp_path / n).read_text() for n in SECRETS}
    for name, value in first.items():
        assert len(value) >= 32
        mode = stat.S_IMODE((tmp_path / name).stat().st_mode)
        assert mode & 0o077 == 0, f"{name} is readable by others: {oct(mode)}"
    assert generate(tmp_path) == []
    assert {n: (tmp_path / n).read_text() for n in SECRETS} == first


def test_two_labs_get_different_secrets(tmp_path):
    generate(tmp_path / "a")
    generate(tmp_path / "b")
    for name in SECRETS:
        assert (tmp_path / "a" / name).read_text() != (tmp_path / "b" / name).read_text()
