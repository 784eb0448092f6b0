"""A worker's followers remember only recent lines (lab/runtime.py RecentLines): enough to
skip what a restarted worker's log replays, bounded over a long run."""

import time

from lab.runtime import RecentLines


def test_a_line_seen_within_the_window_is_skipped_and_old_ones_are_forgotten():
    recent = RecentLines(window_s=60.0)
    assert recent.seen_or_add(hash(b'{"t": 1}')) is False
    assert recent.seen_or_add(hash(b'{"t": 1}')) is True        # replayed after a restart
    assert recent.seen_or_add(hash(b'{"t": 2}')) is False
    short = RecentLines(window_s=0.05)
    for i in range(1000):
        short.seen_or_add(i)
    time.sleep(0.1)
    short.seen_or_add(-1)
    assert len(short) == 1                                      # bounded: the rest expired
    assert short.seen_or_add(5) is False
