"""The review page in headless Chromium against a running pipeline and the real broker.

generate -> replay -> detector -> sink (kept running, refreshing every second); the page
(`auditstream review serve`'s server, in this process) lists the sink's cases. The test
opens it, marks a case, finds the review on the topic, and sees the sink's reviewed
precision change on the page after the sink's next refresh. Some customer ids carry an
HTML/script payload: they must show as text and run nothing. A form on another origin
posting to the page is refused.

Needs Debian's `chromium` (skips without it, fails with CI=true) and a broker.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest

from auditstream.review.publish import ReviewPublisher
from auditstream.review.server import Outcomes, ReviewApp, TopicFollower, make_server
from dashboard.browser import Chromium, find_chromium
from shared.reviews import Review
from shared.settings import KafkaSettings, TopicSettings
from tests.ci import unavailable
from tests.integration.detector_harness import Topics
from tests.integration.pipeline_harness import (
    Service,
    base_env,
    detector,
    freeze_sources,
    generate_csv,
    replay,
    sink,
    wait_until,
)
from tests.integration.topic_reader import read_all

pytestmark = [pytest.mark.integration, pytest.mark.slow]

PAYLOAD = '<img src=x onerror="alert(1)"><script>alert(2)</script>'
CORE_ENV = {"DETECTOR_CORE__FIRST_FIT_AFTER": "300", "DETECTOR_CORE__REFIT_EVERY": "400",
            "DETECTOR_CORE__N_TREES": "20"}


def _run(folder: Path) -> dict[str, object]:
    try:
        data = json.loads((folder / "run.json").read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


@dataclass
class Pipeline:
    exports: Path
    reviews_topic: str
    services: list[Service]
    rows: int


@pytest.fixture(scope="module")
def pipeline(kafka: KafkaSettings, tmp_path_factory: pytest.TempPathFactory
             ) -> Iterator[Pipeline]:
    if find_chromium() is None:
        unavailable("no chromium on PATH (apt-get install chromium)")
    tmp = tmp_path_factory.mktemp("review-page")
    base = f"test-review-page-{os.getpid()}-{int(time.time())}"
    topics = Topics(base, 2).create(kafka)
    env = {**base_env(kafka, topics, CORE_ENV, freeze_sources(tmp / "src")),
           "AUDITSTREAM_REVIEWS_TOPIC": f"{base}-reviews", "SINK_ROLLUP_INTERVAL_S": "1"}
    labelled = tmp / "generated.csv"
    n = generate_csv(labelled, env, seed=7, customers=60, days=20)
    frame = pd.read_csv(labelled, dtype=str, keep_default_na=False)
    # Every customer whose id ends in 3 or 7 gets a script payload in their id.
    marked = frame["customer_id"].str[-1].isin(["3", "7"])
    frame.loc[marked, "customer_id"] = PAYLOAD + frame.loc[marked, "customer_id"]
    source = tmp / "payments.csv"
    frame.to_csv(source, index=False)
    exports = tmp / "exports"
    services = [sink(env, exports, tmp).start(), detector("a", env, tmp).start()]

    def alive() -> None:
        for s in services:
            assert s.alive(), s.logs()[-3000:]

    try:
        assert replay(source, env, tmp).start().wait(120) == 0
        wait_until(lambda: _run(exports).get("rows") == n, 240, "all rows rolled up", alive)
        yield Pipeline(exports, f"{base}-reviews", services, n)
    finally:
        codes = [s.terminate() for s in services]
    assert codes == [0, 0]


@dataclass
class Page:
    url: str
    browser: Chromium
    app: ReviewApp


@pytest.fixture(scope="module")
def page(pipeline: Pipeline, kafka: KafkaSettings) -> Iterator[Page]:
    topics = TopicSettings(reviews_topic=pipeline.reviews_topic)
    publisher = ReviewPublisher(kafka, topics, flush_timeout_s=10)
    outcomes = Outcomes()
    follower = TopicFollower(kafka, topics.reviews_topic, outcomes)
    follower.start()

    def publish(review: Review) -> None:
        publisher.publish([review])

    app = ReviewApp(pipeline.exports, "browser test", publish, outcomes)
    server = make_server(app, 0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        with Chromium() as browser:
            yield Page(f"http://127.0.0.1:{app.port}/", browser, app)
    finally:
        server.shutdown()
        server.server_close()
        follower.stopping.set()
        follower.join(5)


def _text(page: Page, selector: str) -> str:
    return str(page.browser.evaluate(f"document.querySelector({selector!r}).textContent"))


def test_queue_shows_every_open_case_and_payloads_only_as_text(
    page: Page, pipeline: Pipeline,
) -> None:
    page.browser.open(page.url)
    cases = pd.read_csv(pipeline.exports / "cases.csv", dtype=str, keep_default_na=False)
    ids = page.browser.evaluate(
        "Array.from(document.querySelectorAll('#queue tbody tr')).map(r => r.dataset.id)")
    assert ids == cases["case_id"].tolist()
    cells = page.browser.evaluate(
        "Array.from(document.querySelectorAll('#queue td')).map(td => td.textContent)")
    assert any(c.startswith(PAYLOAD) for c in cells), "no case of a customer with a payload"
    assert page.browser.evaluate("document.querySelectorAll('img, script').length") == 0
    assert page.browser.dialogs == []


def test_marking_a_case_publishes_it_and_the_sinks_precision_follows(
    page: Page, pipeline: Pipeline, kafka: KafkaSettings,
) -> None:
    page.browser.open(page.url)
    open_before = int(_text(page, "#open-count"))
    assert _text(page, "#reviewed-cases") == "0"
    case = str(page.browser.evaluate("document.querySelector('#queue tbody tr').dataset.id"))
    with page.browser.page.expect_navigation():
        page.browser.page.fill(f'tr[data-id="{case}"] input[name=note]', "checked by browser")
        page.browser.page.click(f'tr[data-id="{case}"] button[data-outcome="confirmed"]')
    page.browser.wait_for("document.body && document.body.dataset.ready")
    assert _text(page, "#message") == f"case {case} marked confirmed"
    assert int(_text(page, "#open-count")) == open_before - 1
    assert case not in page.browser.evaluate(
        "Array.from(document.querySelectorAll('#queue tbody tr')).map(r => r.dataset.id)")

    [msg] = read_all(kafka, pipeline.reviews_topic, 1, expected=1)
    value = json.loads(msg.value() or b"")
    assert msg.key() == f"case:{case}".encode()
    assert (value["outcome"], value["reviewer"], value["note"]) == (
        "confirmed", "browser test", "checked by browser")

    deadline = time.monotonic() + 60
    while _text(page, "#reviewed-cases") != "1":  # the sink's next refresh
        assert time.monotonic() < deadline, "the sink never counted the review"
        time.sleep(1)
        page.browser.open(page.url)
    assert _text(page, "#reviewed-precision").startswith("100.0% [")
    assert page.browser.dialogs == []


def test_a_form_on_another_origin_cannot_record_an_outcome(
    page: Page, pipeline: Pipeline, tmp_path: Path,
) -> None:
    attack = tmp_path / "attack.html"
    attack.write_text(
        f'<form id="f" method="post" action="{page.url}review">'
        f'<input name="token" value="{page.app.token}"><input name="target" value="case">'
        '<input name="id" value="x"><input name="outcome" value="dismissed"></form>'
        '<script>document.getElementById("f").submit()</script>')
    page.browser.page.goto(attack.as_uri())
    page.browser.page.wait_for_url(f"{page.url}review")
    assert "cross-origin request refused" in page.browser.page.content()
