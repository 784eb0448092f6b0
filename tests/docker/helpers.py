import os
import subprocess
import sys
import time

import requests

from lab import config


def prometheus_url() -> str:
    return f"http://127.0.0.1:{config.published_ports()['prometheus'][1]}"


def promql(expr: str, at: float | None = None) -> list[dict]:
    """Evaluate an instant PromQL query through Prometheus's HTTP API (now, or at ``at``)."""
    params = {"query": expr} if at is None else {"query": expr, "time": at}
    resp = requests.get(prometheus_url() + "/api/v1/query", params=params, timeout=5)
    resp.raise_for_status()
    body = resp.json()
    assert body["status"] == "success", body
    return body["data"]["result"]


def promql_range(expr: str, start: float, end: float, step: float = 2.0) -> list[dict]:
    """Evaluate PromQL over [start, end] through Prometheus's HTTP API (matrix result)."""
    resp = requests.get(prometheus_url() + "/api/v1/query_range",
                        params={"query": expr, "start": start, "end": end, "step": step},
                        timeout=15)
    body = resp.json()
    assert body.get("status") == "success", (expr, body)
    return body["data"]["result"]


def scalar(expr: str, at: float | None = None) -> float | None:
    result = promql(expr, at)
    return float(result[0]["value"][1]) if result else None


def wait_for(predicate, *, timeout_s: float, interval_s: float = 0.5, what: str = "condition"):
    deadline = time.monotonic() + timeout_s
    last = None
    while time.monotonic() < deadline:
        last = predicate()
        if last:
            return last
        time.sleep(interval_s)
    raise AssertionError(f"{what} not reached within {timeout_s} s (last: {last!r})")


def dnslab(*args, timeout=300, **env):
    return subprocess.run([sys.executable, "-m", "lab", *args], capture_output=True, text=True,
                          env={**os.environ, **env}, timeout=timeout)
