"""The pager (lab/pager.py): Alertmanager's webhook notifications become `paged` events; a
hostile or malformed request is refused with 400 and never kills it."""

import json
import threading
import urllib.error
import urllib.request
from http.server import ThreadingHTTPServer

import pytest
from prometheus_client.parser import text_string_to_metric_families

from lab.core.history import Kind
from lab.pager import BadNotification, Pager, events_of, handler_for, rfc3339

# The shape Alertmanager 0.25 posts (webhook payload version 4), trimmed.
NOTIFICATION = {
    "receiver": "pager", "status": "firing", "version": "4",
    "groupKey": '{}/{severity="page"}:{alertname="EndpointHasNoAddresses"}',
    "truncatedAlerts": 0, "groupLabels": {"alertname": "EndpointHasNoAddresses"},
    "commonLabels": {"alertname": "EndpointHasNoAddresses", "severity": "page"},
    "commonAnnotations": {}, "externalURL": "http://alertmanager:9093",
    "alerts": [{
        "status": "firing",
        "labels": {"alertname": "EndpointHasNoAddresses", "endpoint": "dynamodb.us-east-1",
                   "severity": "page", "lab": "dnslab"},
        "annotations": {"summary": "dynamodb.us-east-1 answers with no addresses"},
        "startsAt": "2026-11-28T14:35:01.123456789Z", "endsAt": "0001-01-01T00:00:00Z",
        "generatorURL": "http://prometheus:9090/graph", "fingerprint": "a1b2c3d4e5f60708"}],
}


def test_a_notification_becomes_one_paged_event_per_alert_stamped_on_arrival():
    [e] = events_of(json.dumps(NOTIFICATION).encode(), now=1795000000.5)
    assert (e.t, e.source, e.kind) == (1795000000.5, "alertmanager", Kind.PAGED)
    assert e.data["alert"] == "EndpointHasNoAddresses" and e.data["status"] == "firing"
    assert e.data["severity"] == "page" and e.data["labels"]["endpoint"] == "dynamodb.us-east-1"
    assert e.data["starts_at"] == pytest.approx(rfc3339("2026-11-28T14:35:01Z") + 0.123456789)
    assert e.data["ends_at"] is None


@pytest.mark.parametrize("text,expected", [
    ("2026-11-28T14:35:01Z", 1795876501.0),
    ("2026-11-28T14:35:01.5Z", 1795876501.5),
    ("2026-11-28T15:35:01.25+01:00", 1795876501.25),
    ("2026-11-28T13:35:01-01:00", 1795876501.0),
])
def test_times_in_every_form_alertmanager_writes(text, expected):
    assert rfc3339(text) == pytest.approx(expected)


def _mutated(**changes):
    doc = json.loads(json.dumps(NOTIFICATION))
    alert = doc["alerts"][0]
    for key, value in changes.items():
        target = doc if key in doc and key != "status" else alert
        target[key] = value
    return json.dumps(doc).encode()


@pytest.mark.parametrize("body", [
    b"", b"not json", b"\xff\xfe", b"[]", b'{"version": "3", "alerts": []}',
    json.dumps({**NOTIFICATION, "version": "4", "alerts": []}).encode(),
    json.dumps({**NOTIFICATION, "alerts": "x"}).encode(),
    json.dumps({**NOTIFICATION, "alerts": [1]}).encode(),
    json.dumps({**NOTIFICATION, "alerts": [{"status": "firing"}] * 1001}).encode(),
    _mutated(labels={"severity": "page"}),
    _mutated(labels={"alertname": 7}),
    _mutated(labels={"alertname": "x" * 1000}),
    _mutated(labels={"alertname": "A", **{f"l{i}": "v" for i in range(100)}}),
    _mutated(status="pending"),
    _mutated(startsAt="yesterday"),
    _mutated(startsAt=12),
])
def test_hostile_or_malformed_notifications_are_refused(body):
    with pytest.raises(BadNotification):
        events_of(body, now=0.0)


@pytest.fixture
def server():
    events = []
    pager = Pager(events.append, clock=lambda: 42.0)
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler_for(pager, log=lambda m: None))
    httpd.daemon_threads = True
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}", events
    httpd.shutdown()
    httpd.server_close()


def _post(url: str, body: bytes) -> int:
    req = urllib.request.Request(url, data=body, method="POST",
                                 headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=5) as resp:
            return resp.status
    except urllib.error.HTTPError as e:
        return e.code
    except (urllib.error.URLError, ConnectionError):
        # An oversized body is answered and the connection closed before it is read: the
        # client may see the reset before the answer.
        return 400


def test_over_http_pages_are_recorded_refusals_counted_and_the_pager_keeps_serving(server):
    url, events = server
    assert _post(url + "/page", json.dumps(NOTIFICATION).encode()) == 200
    assert _post(url + "/page", b"{broken") == 400
    assert _post(url + "/page", b"x" * ((1 << 20) + 1)) == 400
    resolved = json.loads(json.dumps(NOTIFICATION))
    resolved["alerts"][0]["status"] = "resolved"
    resolved["alerts"][0]["endsAt"] = "2026-11-28T14:36:00Z"
    assert _post(url + "/page", json.dumps(resolved).encode()) == 200
    assert [(e.data["alert"], e.data["status"], e.t) for e in events] == [
        ("EndpointHasNoAddresses", "firing", 42.0), ("EndpointHasNoAddresses", "resolved", 42.0)]
    with urllib.request.urlopen(url + "/metrics", timeout=5) as resp:
        text = resp.read().decode()
    samples = {(s.name, tuple(sorted(s.labels.items()))): s.value
               for f in text_string_to_metric_families(text) for s in f.samples}
    assert samples[("dnslab_pages_total", (("alert", "EndpointHasNoAddresses"),
                                           ("status", "firing")))] == 1
    assert samples[("dnslab_pager_rejected_total", ())] == 1   # the oversized body is not parsed
    with urllib.request.urlopen(url + "/health", timeout=5) as resp:
        assert resp.status == 200
