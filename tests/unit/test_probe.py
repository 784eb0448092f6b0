import pytest

from lab.core.probe import Outcome, classify


@pytest.mark.parametrize("rcode,addresses,expected", [
    ("NOERROR", 2, Outcome.OK),
    ("NOERROR", 0, Outcome.NODATA),
    ("NXDOMAIN", 0, Outcome.NXDOMAIN),
    ("SERVFAIL", 0, Outcome.SERVFAIL),
    ("REFUSED", 0, Outcome.REFUSED),
    ("NOTIMP", 0, Outcome.ERROR),
    (None, 0, Outcome.ERROR),
])
def test_classify_by_rcode_and_addresses(rcode, addresses, expected):
    assert classify(rcode, addresses) is expected


def test_timeout_and_malformed_win_over_rcode():
    assert classify(None, 0, timed_out=True) is Outcome.TIMEOUT
    assert classify("NOERROR", 3, malformed=True) is Outcome.MALFORMED


def test_only_ok_counts_as_success():
    assert [o for o in Outcome if not o.failed] == [Outcome.OK]
