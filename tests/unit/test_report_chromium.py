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


class Browser:
    """Headless Chromium driven over its DevTools pipe (fd 3 in, fd 4 out): the test reads
    the page's rendered text (``innerText``: what CSS leaves visible), clicks, and takes a
    screenshot. The page itself has no script; only the test evaluates any."""

    def __init__(self, width=1200, height=1600):
        import fcntl
        to_chrome, self._write = os.pipe()
        self._read, from_chrome = os.pipe()

        def fds():   # in the child: the pipe ends Chromium expects, at 3 and 4
            a, b = fcntl.fcntl(to_chrome, fcntl.F_DUPFD, 10), fcntl.fcntl(from_chrome,
                                                                          fcntl.F_DUPFD, 10)
            os.dup2(a, 3)
            os.dup2(b, 4)

        self.proc = subprocess.Popen(
            [CHROMIUM, "--headless=new", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
             "--remote-debugging-pipe", f"--window-size={width},{height}", "about:blank"],
            preexec_fn=fds, close_fds=False, stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL)
        os.close(to_chrome)
        os.close(from_chrome)
        self._buf, self._id, self.session = b"", 0, None

    def call(self, method, session=True, **params):
        import json
        import select
        self._id += 1
        msg = {"id": self._id, "method": method, "params": params}
        if session and self.session:
            msg["sessionId"] = self.session
        os.write(self._write, json.dumps(msg).encode() + b"\0")
        while True:
            while b"\0" not in self._buf:
                ready, _, _ = select.select([self._read], [], [], 60)
                assert ready, f"chromium did not answer {method}"
                chunk = os.read(self._read, 1 << 20)
                assert chunk, "chromium closed its pipe"
                self._buf += chunk
            raw, self._buf = self._buf.split(b"\0", 1)
            reply = json.loads(raw)
            if reply.get("id") == self._id:
                assert "error" not in reply, reply
                return reply["result"]

    def open(self, url):
        import time
        target = self.call("Target.createTarget", session=False, url=url)["targetId"]
        self.session = self.call("Target.attachToTarget", session=False, targetId=target,
                                 flatten=True)["sessionId"]
        for _ in range(400):
            if self.eval("location.href + ' ' + document.readyState") == f"{url} complete":
                return
            time.sleep(0.05)
        raise AssertionError(f"{url} did not load")

    def eval(self, expression):
        reply = self.call("Runtime.evaluate", expression=expression, returnByValue=True)
        assert "exceptionDetails" not in reply, reply["exceptionDetails"]
        return reply["result"].get("value")

    def screenshot(self, path):
        import base64
        data = self.call("Page.captureScreenshot", format="png")["data"]
        path.write_bytes(base64.b64decode(data))

    def close(self):
        try:
            self.call("Browser.close", session=False)
        except AssertionError:
            pass
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        os.close(self._write)
        os.close(self._read)


def race_on_the_host_clock(tmp_path):
    """The simulated race, moved onto a real run's clock (epoch seconds), with the page
    Alertmanager would have sent 3.2 s after the endpoint emptied."""
    import dataclasses

    from lab.scenario import load
    from lab.sim.run import simulate
    from tests.unit.test_timeline import EPOCH, RACE, page
    summary = simulate(load(RACE), tmp_path / "sim", echo=lambda m: None)
    from lab.eventlog import read_events
    events = [dataclasses.replace(e, t=e.t + EPOCH)
              for e in read_events(tmp_path / "sim" / "events.jsonl")]
    t_empty = summary["emptied"]["t"] + EPOCH
    events.append(page(t_empty + 3.2, endpoint="dynamodb.us-east-1"))
    return sorted(events, key=lambda e: e.t)


def test_chromium_renders_the_post_event_summary_in_relative_time(tmp_path):
    import re
    if not CHROMIUM:
        if os.environ.get("DNSLAB_REQUIRE_DOCKER") == "1":
            pytest.fail("chromium is not installed; scripts/test installs Debian's package")
        pytest.skip("chromium is not installed")
    from PIL import Image, ImageStat
    events = race_on_the_host_clock(tmp_path)
    summary = summarize(events, backend="powerdns", seed=1, title="race", world="lab",
                        expected="outage")
    assert summary["time_to_page_s"] == 3.2
    page = tmp_path / "report.html"
    page.write_text(render_html(summary, events))
    browser = Browser()
    try:
        browser.open(page.as_uri())
        text = browser.eval("document.body.innerText")
        # The post-event summary, in seconds since the run started.
        assert "What happened" in text
        assert re.search(r"\+2\d\.\d s\s+enactor-\w deleted plan \d+ while .*dynamodb\.us-east-1 "
                         r".*pointed at it; those endpoints answered with no addresses\.", text)
        assert re.search(r"\+2\d\.\d s\s+paged: EndpointHasNoAddresses \(dynamodb\.us-east-1\) "
                         r"\(3\.2 s after impact\)\.", text)
        assert "Time to page: 3.2 s after the endpoint emptied" in text
        assert re.search(r"\+\d+\.\d s\s+operator repair: pointed ", text)
        assert "last resolver client recovered" in text
        # No clock time, no raw mappings anywhere a reader can see.
        assert not re.search(r"\d{10}", text), re.search(r".{60}\d{10}.{20}", text)
        assert "{'" not in text and '{"' not in text
        # The events table filters by source without a script in the page: pick one source.
        rows = "[...document.querySelectorAll('tr.ev')].filter(r => r.offsetParent !== null)"
        everything = browser.eval(f"{rows}.length")
        label = browser.eval("[...document.querySelectorAll('.events label')]"
                             ".find(l => l.textContent.startsWith('operator ')).htmlFor")
        browser.eval(f"document.getElementById('{label}').click()")
        shown = browser.eval(f"{rows}.map(r => r.cells[1].textContent)")
        assert set(shown) == {"operator"} and 0 < len(shown) < everything
        browser.eval("document.getElementById('src-all').click()")
        shot = tmp_path / "report.png"   # kept in the test's tmp dir
        browser.screenshot(shot)
    finally:
        browser.close()
    assert shot.stat().st_size > 20_000
    img = Image.open(shot).convert("RGB")
    assert img.width == 1200 and img.height > 1000
    assert len(img.getcolors(maxcolors=1 << 16) or range(1 << 16)) > 50    # not one colour
    assert max(hi - lo for lo, hi in ImageStat.Stat(img).extrema) > 200
