"""The review page over real HTTP on 127.0.0.1 (the publish step injected: no broker here).

The Kafka side of the page is tested in tests/browser/test_review_page.py.
"""

from __future__ import annotations

import base64
import csv
import hashlib
import json
import re
import socket
import time
from datetime import UTC, datetime
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import quote, urlencode

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from auditstream.review.page import Case, read_cases, render
from auditstream.review.server import Outcomes
from shared.errors import ExitCode
from shared.reviews import Review
from tests.loopback import raw
from tests.unit.review_page import PAYLOAD, Running, cases_folder


def test_binds_loopback_only(page: Running) -> None:
    assert page.server.server_address[0] == "127.0.0.1"


def test_queue_lists_open_cases_escaped_with_a_button_per_outcome(page: Running) -> None:
    status, headers, body = page.request("GET", "/")
    assert status == 200
    assert "script-src" not in headers["Content-Security-Policy"]  # default-src 'none'
    assert "default-src 'none'" in headers["Content-Security-Policy"]
    assert headers["X-Frame-Options"] == "DENY"
    assert re.findall(r'data-id="([^"]+)"', body) == ["case-a", "case-b"]  # case-c reviewed
    assert PAYLOAD not in body and "<script>" not in body and "<img" not in body
    assert "&lt;img src=x onerror=&quot;alert(1)&quot;&gt;" in body
    assert body.count('data-outcome="confirmed"') == 2
    assert body.count('data-outcome="unclear"') == 2
    assert 'id="open-count">2<' in body


def test_marking_a_case_publishes_it_and_takes_it_off_the_queue(page: Running) -> None:
    status, headers, _ = page.request("POST", "/review", page.form(note="called <b>"))
    assert status == 303 and headers["Location"].startswith("/?done=")
    [review] = page.published
    assert (review.target, review.id, review.outcome, review.reviewer, review.note) == (
        "case", "case-a", "confirmed", "ana", "called <b>")
    _, _, body = page.request("GET", headers["Location"])
    assert re.findall(r'data-id="([^"]+)"', body) == ["case-b"]
    assert "case case-a marked confirmed" in body
    _, _, everything = page.request("GET", "/?all=1")
    assert re.findall(r'data-id="([^"]+)"', everything) == ["case-a", "case-b", "case-c"]


@pytest.mark.parametrize("headers", [
    {"Origin": "http://evil.example"},
    {"Origin": "null"},
    {"Origin": "", "Referer": "http://evil.example/form"},
    {"Origin": "", "Referer": ""},
])
def test_a_post_from_another_origin_is_refused(page: Running, headers: dict[str, str]) -> None:
    status, _, body = page.request("POST", "/review", page.form(), headers)
    assert status == 403 and "cross-origin" in body
    assert page.published == []


def test_same_origin_by_referer_alone_is_accepted(page: Running) -> None:
    headers = {"Origin": "", "Referer": f"http://localhost:{page.app.port}/"}
    status, _, _ = page.request("POST", "/review", page.form(),
                                {"Host": f"localhost:{page.app.port}", **headers})
    assert status == 303 and len(page.published) == 1


def test_a_post_without_the_page_token_is_refused(page: Running) -> None:
    status, _, _ = page.request("POST", "/review", page.form(token="guess"))
    assert status == 403 and page.published == []


def test_a_rebound_host_name_is_refused_even_for_reading(page: Running) -> None:
    status, _, body = page.request("GET", "/", headers={"Host": f"evil.example:{page.app.port}"})
    assert status == 421 and "case-a" not in body


@pytest.mark.parametrize("form", [{"id": "case-zz"}, {"outcome": "maybe"},
                                  {"target": "transaction"}])
def test_unknown_case_or_outcome_is_400(page: Running, form: dict[str, str]) -> None:
    status, _, _ = page.request("POST", "/review", page.form(**form))
    assert status == 400 and page.published == []


def test_a_broker_failure_is_a_503_page_and_the_case_stays_open(tmp_path: Path) -> None:
    running = Running(cases_folder(tmp_path / "ex"), fail=True)
    try:
        status, _, body = running.request("POST", "/review", running.form())
        assert status == 503 and "no Kafka broker answered" in body
        _, _, queue = running.request("GET", "/")
        assert re.findall(r'data-id="([^"]+)"', queue) == ["case-a", "case-b"]
    finally:
        running.close()


def test_an_old_cases_file_without_case_id_reviews_transactions(tmp_path: Path) -> None:
    (tmp_path / "cases.csv").write_text("rank,transaction_id,reasons_top3\n1,T1,x\n")
    [case] = read_cases(tmp_path / "cases.csv")
    assert (case.target, case.id, case.key) == ("transaction", "T1", "transaction:T1")
    html = render([case], {}, token="t", reviewer="r", exports=tmp_path)
    assert 'name="target" value="transaction"' in html


def test_the_sinks_last_figures_are_shown_escaped(page: Running) -> None:
    _, _, before = page.request("GET", "/")
    assert "The sink has not counted any review yet." in before
    run = {"written_at": "<b>2025</b>", "assurance": {
        "reviewed_cases": 3, "reviewed_precision": {"estimate": 2 / 3, "low": 0.2077,
                                                    "high": 0.9385},
        "implied_recall": None}}
    (page.app.exports / "run.json").write_text(json.dumps(run))
    _, _, body = page.request("GET", "/")
    assert 'id="reviewed-cases">3<' in body
    assert 'id="reviewed-precision">66.7% [20.8%, 93.8%]<' in body
    assert 'id="implied-recall">n/a<' in body
    assert "&lt;b&gt;2025&lt;/b&gt;" in body


def test_the_queue_repeats_only_its_own_confirmation_from_the_address(page: Running) -> None:
    _, _, body = page.request("GET", "/?done=Call%20%2B1%20555%20to%20unlock")
    assert "Call +1 555" not in body and 'id="message"' not in body
    _, _, body = page.request("GET", "/?done=case%20case-a%20marked%20dismissed")
    assert 'id="message">case case-a marked dismissed<' in body


@pytest.mark.parametrize("length", ["abc", "-5", str(16 * 1024 + 1)])
def test_a_bad_or_huge_body_length_is_400(page: Running, length: str) -> None:
    status, _, _ = page.request("POST", "/review", page.form(), {"Content-Length": length})
    assert status == 400 and page.published == []


def test_a_reviewer_name_over_its_limit_is_400_not_a_crash(tmp_path: Path) -> None:
    running = Running(cases_folder(tmp_path / "ex"))
    running.app.reviewer = "r" * 129
    try:
        status, _, body = running.request("POST", "/review", running.form())
        assert status == 400 and "reviewer" in body and running.published == []
    finally:
        running.close()


@pytest.mark.parametrize("note", ["two\nlines", "x\u2028y", "\x85", "gpj.\u202eexe"])
def test_a_note_with_a_control_character_is_400_and_nothing_is_published(
        page: Running, note: str) -> None:
    status, _, body = page.request("POST", "/review", page.form(note=note))
    assert status == 400 and "note: must not contain control characters" in body
    assert page.published == []
    _, _, queue = page.request("GET", "/")
    assert re.findall(r'data-id="([^"]+)"', queue) == ["case-a", "case-b"]


@pytest.mark.parametrize("reviewer", ["ana\nbob", "ana\x07", "\u202eana", "r" * 129])
def test_serve_refuses_a_bad_reviewer_before_it_serves(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
    reviewer: str,
) -> None:
    import auditstream.review.server as server
    from auditstream.cli import main

    served: list[tuple[object, ...]] = []

    def serve(*args: object) -> int:  # the real one would serve until stopped
        served.append(args)
        return 0

    monkeypatch.setattr(server, "serve", serve)
    code = main(["review", "serve", "--exports", str(cases_folder(tmp_path / "ex")), "--port", "0",
                 "--reviewer", reviewer])
    err = capsys.readouterr().err
    assert (code, served) == (ExitCode.USAGE, [])
    assert err.splitlines() == [err.rstrip("\n")]
    assert err.startswith("auditstream review: error: --reviewer "), err


# Hostile probe of 2026-12-05: raw requests a browser would not send, or a local user would.

def _head(reply: bytes) -> tuple[str, dict[str, str]]:
    status, *lines = reply.split(b"\r\n\r\n")[0].decode().split("\r\n")
    return status, dict(line.split(": ", 1) for line in lines)


@pytest.mark.parametrize("request_bytes", [
    b"PUT / HTTP/1.0\r\n\r\n", b"OPTIONS / HTTP/1.0\r\n\r\n",
    b"GARBAGE<script>\r\n\r\n", b"GET /" + b"a" * 70_000 + b" HTTP/1.0\r\n\r\n",
    b"GET / HTTP/1.0\r\n" + b"".join(b"X-%d: y\r\n" % i for i in range(120)) + b"\r\n",
])
def test_every_error_page_carries_the_security_headers(
        page: Running, request_bytes: bytes) -> None:
    # The stdlib's own error pages (unknown method, bad request line, URI too long) went
    # out without the CSP, nosniff and frame headers of every other page.
    status, headers = _head(raw(page.app.port, request_bytes))
    assert status.split()[1] in {"400", "414", "431", "501"}
    assert headers["Content-Security-Policy"].startswith("default-src 'none'")
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["X-Frame-Options"] == "DENY"
    assert headers["Content-Type"] == "text/html; charset=utf-8"


def test_head_is_the_page_without_its_body(page: Running) -> None:
    host = f"127.0.0.1:{page.app.port}".encode()
    reply = raw(page.app.port, b"HEAD / HTTP/1.0\r\nHost: " + host + b"\r\n\r\n")
    status, headers = _head(reply)
    assert status.split()[1] == "200" and int(headers["Content-Length"]) > 0
    assert reply.endswith(b"\r\n\r\n")  # headers only
    rebound = raw(page.app.port, b"HEAD / HTTP/1.0\r\nHost: evil.example\r\n\r\n")
    assert _head(rebound)[0].split()[1] == "421"


def test_an_idle_connection_is_closed_and_never_blocks_another_client(tmp_path: Path) -> None:
    running = Running(cases_folder(tmp_path / "ex"))
    running.app.timeout_s = 0.5
    try:
        with socket.create_connection(("127.0.0.1", running.app.port), timeout=5) as idle:
            idle.sendall(b"GET / HT")  # and then nothing: one byte a minute, or never
            assert running.request("GET", "/")[0] == 200  # another client is served
            start = time.monotonic()
            assert idle.recv(100) == b""  # the server hung up on it
            assert time.monotonic() - start < 4
    finally:
        running.close()


def test_a_post_whose_body_never_arrives_is_dropped(tmp_path: Path) -> None:
    running = Running(cases_folder(tmp_path / "ex"))
    running.app.timeout_s = 0.5
    host = f"127.0.0.1:{running.app.port}"
    try:
        with socket.create_connection(("127.0.0.1", running.app.port), timeout=5) as s:
            s.sendall(f"POST /review HTTP/1.0\r\nHost: {host}\r\nOrigin: http://{host}\r\n"
                      f"Content-Length: 100\r\n\r\ntoken=".encode())
            assert s.recv(100) == b""
        assert running.published == []
    finally:
        running.close()


def test_the_confirmation_from_the_address_must_name_a_listed_case(page: Running) -> None:
    # The pattern let 128 characters of a link's choosing through, e.g. a fake
    # "session expired: sign in at http://evil.example" between `case` and `marked`.
    spoof = quote("case ZZ. Session expired: sign in again at http://evil.example/ "
                  "marked confirmed")
    _, _, body = page.request("GET", f"/?done={spoof}")
    assert "evil.example" not in body and 'id="message"' not in body
    _, _, body = page.request("GET", f"/?done={quote('case case-zz marked unclear')}")
    assert 'id="message"' not in body
    _, _, body = page.request("GET", f"/?done={quote('case case-b marked unclear')}")
    assert 'id="message">case case-b marked unclear<' in body


@pytest.mark.parametrize("chars, status", [(1999, 303), (2000, 303), (2001, 400)])
def test_a_note_over_its_limit_is_refused_as_review_import_refuses_it(
        page: Running, chars: int, status: int) -> None:
    # The page cut a longer note to 2,000 characters and published the rest silently.
    got, _, body = page.request("POST", "/review", page.form(note="n" * chars))
    assert got == status
    if status == 400:
        assert "note" in body and page.published == []
    else:
        assert [r.note for r in page.published] == ["n" * chars]


def test_a_formula_looking_note_is_published_as_written(page: Running) -> None:
    # Guarding is the exports' job (reviews_log.csv); the record keeps the reviewer's text.
    note = '=HYPERLINK("http://evil.example","x")'
    assert page.request("POST", "/review", page.form(note=note))[0] == 303
    assert [r.note for r in page.published] == [note]


@pytest.mark.parametrize("damage", [b"case_id,reasons_top3\nc1,\xff\xfe bad\n", None])
def test_an_unreadable_cases_file_is_a_503_page_not_a_dropped_connection(
        page: Running, damage: bytes | None) -> None:
    cases = page.app.exports / "cases.csv"
    if damage is None:  # a folder at the name (read as no cases before 2026-12-06)
        cases.unlink()
        cases.mkdir()
    else:
        cases.write_bytes(damage)
    status, headers, body = page.request("GET", "/")
    assert status == 503 and "cases.csv" in body
    assert headers["X-Content-Type-Options"] == "nosniff"
    status, _, body = page.request("POST", "/review", page.form())
    assert status == 503 and "cases.csv" in body and page.published == []


def test_a_cases_file_saved_back_by_excel_with_semicolons_is_a_503_not_no_open_cases(
        page: Running) -> None:
    """An auditor saves cases.csv in place from Excel where the decimal mark is a comma: `;`
    between cells, a BOM, CRLF (hostile probe, 2026-12-06, fourteenth). Its header named no
    id column as read with commas, so the page said "No open cases." over every open case,
    200, and a review was refused as of an unknown case."""
    cases = page.app.exports / "cases.csv"
    with cases.open(newline="", encoding="utf-8") as fh:
        rows = list(csv.reader(fh))
    with cases.open("w", newline="", encoding="utf-8-sig") as fh:
        csv.writer(fh, delimiter=";", lineterminator="\r\n").writerows(rows)
    status, _, body = page.request("GET", "/")
    assert status == 503 and "separated by semicolons, not commas" in body, body
    assert "No open cases" not in body
    status, _, body = page.request("POST", "/review", page.form())
    assert status == 503 and "cases.csv" in body and page.published == []


@pytest.mark.parametrize("header", [["case_id"], ["transaction_id"], ["rank", "case_id"]])
def test_a_cases_file_of_either_id_column_and_no_rows_is_no_open_cases(
        page: Running, header: list[str]) -> None:
    (page.app.exports / "cases.csv").write_text(",".join(header) + "\n", encoding="utf-8")
    status, _, body = page.request("GET", "/")
    assert status == 200 and "No open cases" in body


def test_the_policy_allows_the_pages_own_style_and_no_other(page: Running) -> None:
    # `style-src 'unsafe-inline'` let any injected <style> or style= attribute apply.
    _, headers, body = page.request("GET", "/")
    policy = dict(part.strip().split(" ", 1) for part in
                  headers["Content-Security-Policy"].split(";"))
    [style] = re.findall(r"<style>(.*?)</style>", body, re.DOTALL)
    digest = base64.b64encode(hashlib.sha256(style.encode()).digest()).decode()
    assert policy["style-src"] == f"'sha256-{digest}'"
    assert "unsafe" not in headers["Content-Security-Policy"]


@settings(max_examples=60, deadline=None)
@given(text=st.text(min_size=1, max_size=40))
def test_no_exported_text_adds_markup_to_the_page(text: str) -> None:
    # Whatever a customer id, a reason or a case id holds, the page's tags stay its own.
    case = Case("case", text, {"customer_id": text, "reasons_top3": f"{text} | x",
                               "triggered_rules": text, "outcome": text})
    plain = Case("case", "c", {"customer_id": "c", "reasons_top3": "x", "triggered_rules": "r",
                               "outcome": "z"})

    def tags(one: Case) -> list[tuple[str, list[str]]]:
        found: list[tuple[str, list[str]]] = []

        class Tags(HTMLParser):
            def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
                if tag != "li":  # one per reason: the text's own " | " splits it
                    found.append((tag, sorted(k for k, _ in attrs)))

        Tags().feed(render([one], {}, token="t", reviewer="r", exports=Path("ex"),
                           show_all=True))
        return found

    assert tags(case) == tags(plain)


def test_a_request_naming_two_hosts_is_refused(page: Running) -> None:
    # RFC 9112 3.2: a request with more than one Host is answered 400; the check read the
    # first one only, so `Host: 127.0.0.1:PORT` then `Host: evil.example` was served.
    ours = f"127.0.0.1:{page.app.port}".encode()
    for hosts in ([ours, b"evil.example"], [b"evil.example", ours], [ours, ours]):
        request = b"GET / HTTP/1.0\r\n" + b"".join(b"Host: " + h + b"\r\n" for h in hosts)
        status, headers = _head(raw(page.app.port, request + b"\r\n"))
        assert status.split()[1] == "400", hosts
        assert headers["X-Content-Type-Options"] == "nosniff"


@pytest.mark.parametrize("size, status", [(16 * 1024 - 1, 303), (16 * 1024, 303),
                                          (16 * 1024 + 1, 400)])
def test_a_form_body_at_its_size_limit(page: Running, size: int, status: int) -> None:
    form = page.form()
    pad = size - len(urlencode({**form, "pad": ""}))
    body = {**form, "pad": "p" * pad}
    assert len(urlencode(body)) == size
    assert page.request("POST", "/review", body)[0] == status
    assert len(page.published) == (status == 303)


def test_a_review_published_right_after_the_pages_own_is_not_hidden_by_it(
    tmp_path: Path,
) -> None:
    """`review serve` and `review import` at once (probe of 2026-12-06): the follower read
    the page's review and an import's later one before the page noted its own, and the
    page then showed its own (`confirmed`) for good, while the topic, the sink and
    cases.csv had the import's `dismissed`. The topic's order decides now."""
    running = Running(cases_folder(tmp_path / "ex"))
    imported = Review(target="case", id="case-a", outcome="dismissed", reviewer="bo",
                      reviewed_at=datetime(2026, 12, 6, 10, tzinfo=UTC))

    def publish(review: Review) -> None:
        running.published.append(review)
        running.app.outcomes.put(review)  # the follower reads the page's review,
        running.app.outcomes.put(imported)  # then the import's, published right after it

    running.app.publish = publish
    try:
        status, _, _ = running.request("POST", "/review", running.form())
        assert status == 303 and [r.outcome for r in running.published] == ["confirmed"]
        _, _, body = running.request("GET", "/?all=1")
        assert re.findall(r'<tr class="(\w*)" data-id="case-a"', body) == ["dismissed"]
    finally:
        running.close()


def test_the_pages_own_review_shows_at_once_until_the_follower_reads_it() -> None:
    """The page's mark before the follower has read it, and after; a broker that never
    delivers it to the follower leaves the page's own shown."""
    own = Review(target="case", id="c", outcome="confirmed", reviewer="ana",
                 reviewed_at=datetime(2026, 12, 6, 10, tzinfo=UTC))
    later = own.model_copy(update={"outcome": "unclear"})
    outcomes = Outcomes()
    outcomes.put_own(own)
    assert outcomes.snapshot() == {"case:c": "confirmed"}
    outcomes.put(own)  # the follower reaches it
    outcomes.put(later)
    assert outcomes.snapshot() == {"case:c": "unclear"}
    outcomes.put_own(own)  # noted late, already read: the topic's order stands
    assert outcomes.snapshot() == {"case:c": "unclear"}


def test_the_page_says_which_cases_file_it_shows_and_who_reviews_escaped(
        tmp_path: Path) -> None:
    (tmp_path / "cases.csv").write_text("rank,case_id\n1,c1\n")
    [case] = read_cases(tmp_path / "cases.csv")
    html = render([case], {}, token="t", reviewer="<ana & bo>", exports=tmp_path)
    assert (f"<code>{tmp_path / 'cases.csv'}</code>; reviewing as "
            '<b id="reviewer">&lt;ana &amp; bo&gt;</b>.') in html


def test_a_cases_csv_saved_with_a_byte_order_mark_and_case_id_first_lists_its_cases(
        tmp_path: Path) -> None:
    """Excel's "CSV UTF-8" starts with a BOM: with `case_id` the first column, its name is
    still `case_id` and the case is listed (not "no cases")."""
    (tmp_path / "cases.csv").write_bytes(b"\xef\xbb\xbfcase_id,rank\r\nc1,1\r\n")
    assert [(c.target, c.id, c.cells) for c in read_cases(tmp_path / "cases.csv")] == [
        ("case", "c1", {"case_id": "c1", "rank": "1"})]
