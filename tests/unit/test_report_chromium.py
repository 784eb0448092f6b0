"""report.html rendered by headless Chromium (Debian's package): the screenshot must show
the plotted timeline — both client groups' series, the shaded fault window, the applied
generation steps — not just a page. Skips without Chromium, except in CI
(DNSLAB_REQUIRE_DOCKER=1, where scripts/test installs it), where it fails."""

import os
import shutil
import subprocess

import pytest

from lab.core.blast import summarize
from lab.core.history import Event, Kind
from lab.report import COLORS, ENDPOINT_COLORS, render_html

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def history():
    events = [Event(0.0, "runner", Kind.PHASE, {"phase": "setup"})]
    for g in range(1, 41):
        events.append(Event(g, "planner", Kind.PLAN_PUBLISHED, {"generation": g}))
        events.append(Event(g + 0.1, "enactor-b", Kind.ENDPOINT_APPLIED,
                            {"endpoint": "dynamodb.us-east-1", "generation": g, "previous": g - 1}))
    events.append(Event(10, "faults", Kind.FAULT_STARTED, {"fault": "delay", "target": "enactor-a",
                                                            "step": "after-freshness-check"}))
    events.append(Event(22, "faults", Kind.FAULT_ENDED, {"fault": "delay", "target": "enactor-a",
                                                          "step": "after-freshness-check"}))
    for i in range(0, 400):
        t = i * 0.1
        for group, bad_from, bad_to in (("direct", 22, 30), ("resolver", 25, 36)):
            bad = bad_from <= t < bad_to
            events.append(Event(t, "clients-1", Kind.PROBE, {
                "client": f"{group}-{i % 4}", "group": group, "endpoint": "dynamodb.us-east-1",
                "outcome": "nxdomain" if bad else "ok"}))
    return sorted(events, key=lambda e: e.t)


def hex_rgb(color: str) -> tuple[int, int, int]:
    return tuple(int(color[i:i + 2], 16) for i in (1, 3, 5))


def count_near(img, rgb, tolerance=40) -> int:
    return sum(1 for px in img.getdata()
               if all(abs(a - b) <= tolerance for a, b in zip(px[:3], rgb)))


def test_chromium_screenshot_shows_the_timeline(tmp_path):
    if not CHROMIUM:
        if os.environ.get("DNSLAB_REQUIRE_DOCKER") == "1":
            pytest.fail("chromium is not installed; scripts/test installs Debian's package")
        pytest.skip("chromium is not installed")
    from PIL import Image
    events = history()
    page = tmp_path / "report.html"
    page.write_text(render_html(summarize(events, backend="powerdns", seed=1, title="t"), events))
    shot = tmp_path / "shot.png"
    subprocess.run([CHROMIUM, "--headless=new", "--no-sandbox", "--disable-gpu",
                    "--hide-scrollbars", f"--screenshot={shot}", "--window-size=1000,1100",
                    page.as_uri()], check=True, capture_output=True, timeout=120)
    img = Image.open(shot).convert("RGB")
    assert img.size == (1000, 1100)
    found = {name: count_near(img, rgb) for name, rgb in [
        ("resolver series", hex_rgb(COLORS["resolver"])),
        ("direct series", hex_rgb(COLORS["direct"])),
        ("endpoint generation", hex_rgb(ENDPOINT_COLORS[0])),
        ("fault window", (252, 236, 191))]}
    assert all(n > 150 for n in found.values()), found
