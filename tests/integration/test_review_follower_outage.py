"""`auditstream review serve` while its broker is stopped and started again (the known defect
of the session of 2026-12-06): the page must say its reviews are not followed while the
broker is away, with since when, and follow them again once it is back; the process never
ends and logs no traceback. The test's own local broker (`own_broker`: it is stopped here).
"""

from __future__ import annotations

import calendar
import csv
import http.client
import os
import re
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest

from auditstream.broker import LocalBroker
from shared.settings import KafkaSettings
from tests import reviews_topic
from tests.integration.service_run import ROOT, running, wait_for
from tests.integration.test_sink_reviews_kafka import _publish

pytestmark = [pytest.mark.integration, pytest.mark.slow]

LAPSE = re.compile(r'<p class="lapse" id="lapse">reviews not followed since '
                   r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ): ([^<]*)</p>")


def _cases(folder: Path, ids: list[str]) -> Path:
    folder.mkdir()
    with (folder / "cases.csv").open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["rank", "case_id", "customer_id", "outcome"])
        w.writerows([str(i), c, f"C{i}", ""] for i, c in enumerate(ids))
    return folder


def _page(port: int) -> str:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    conn.request("GET", "/?all=1", headers={"Host": f"127.0.0.1:{port}"})
    resp = conn.getresponse()
    body = resp.read().decode()
    conn.close()
    assert resp.status == 200, body
    return body


def _until(check: Callable[[], bool], seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.5)
    return check()


def _closed(body: str, case: str) -> bool:
    row = re.search(rf'<tr class="([a-z]*)" data-id="{case}">', body)
    return row is not None and row.group(1) != ""


def test_the_page_says_its_reviews_are_not_followed_while_the_broker_is_away(
        tmp_path: Path, own_broker: LocalBroker) -> None:
    broker = own_broker
    kafka = KafkaSettings(bootstrap_servers=broker.bootstrap)
    topic = f"follow-{uuid.uuid4().hex[:8]}.reviews"
    reviews_topic.create(kafka, topic)
    exports = _cases(tmp_path / "exports", ["c0", "c1", "c2"])
    env = {**os.environ, "PYTHONPATH": str(ROOT), "KAFKA_BOOTSTRAP_SERVERS": broker.bootstrap,
           "AUDITSTREAM_REVIEWS_TOPIC": topic}
    log = tmp_path / "serve.log"
    with running(["auditstream", "review", "serve", "--exports", str(exports), "--port", "0",
                  "--reviewer", "ana"], env, log) as proc:
        wait_for(proc, log, "review page: http://", 60)
        found = re.search(r"review page: http://127\.0\.0\.1:(\d+)/", log.read_text())
        assert found is not None
        port = int(found.group(1))
        _publish(kafka, topic, [("case", "c0", "confirmed")])
        assert _until(lambda: _closed(_page(port), "c0"), 30), _page(port)
        assert LAPSE.search(_page(port)) is None

        stopped = time.time()
        broker.stop()
        assert _until(lambda: LAPSE.search(_page(port)) is not None, 60), \
            log.read_text()[-3000:]
        body = _page(port)
        lapse = LAPSE.search(body)
        assert lapse is not None and 'data-current="0"' in body
        since = calendar.timegm(time.strptime(lapse.group(1), "%Y-%m-%dT%H:%M:%SZ"))
        # since its last broker connection: as the broker went (statistics every second)
        assert stopped - 3 <= since <= time.time(), (lapse.group(0), stopped)
        assert _closed(body, "c0")  # what it read stays shown, said to be not current
        assert proc.poll() is None

        broker.start()
        _publish(kafka, topic, [("case", "c1", "dismissed")])
        assert _until(lambda: _closed(_page(port), "c1"), 120), log.read_text()[-3000:]
        assert _until(lambda: 'data-current="1"' in _page(port), 60), _page(port)
        assert LAPSE.search(_page(port)) is None
    text = log.read_text(errors="replace")  # `running` checked: exit 0, no traceback
    lines = [x for x in text.splitlines() if "reviews not followed since" in x]
    assert lines and all("; retrying" in x for x in lines), text[-3000:]
    assert "reviews followed again" in text
