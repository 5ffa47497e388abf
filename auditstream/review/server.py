"""The local review page: stdlib `http.server` on 127.0.0.1, one publisher, the topic followed.

Safe by default: it binds 127.0.0.1 only; every request must name this server in `Host`
(a DNS-rebinding page names its own host: `shared.http_host`); a POST must come from this
page (`Origin`, or `Referer` when a browser sends no Origin, is this server) and carry the
page's random token, so a form on another site cannot record an outcome. Responses forbid scripts,
framing and sniffing, error pages included. A connection idle for `REQUEST_TIMEOUT_S` is
closed (one thread per connection: a slow client blocks nobody, and cannot hold a thread
for ever). The queue's "open" state is the reviews topic read from the start
(last outcome per key) plus the cases file's own `outcome` column.
"""

from __future__ import annotations

import contextlib
import csv
import hmac
import logging
import re
import secrets
import signal
import sys
import threading
from collections.abc import Callable
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import FrameType
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

from pydantic import ValidationError

from auditstream.review.demo import read_run
from auditstream.review.follower import Outcomes as Outcomes  # callers import it here
from auditstream.review.follower import TopicFollower as TopicFollower
from auditstream.review.page import CSS_HASH, Case, read_cases, render, render_error
from auditstream.review.publish import ReviewPublisher
from shared.codec import describe_validation_error
from shared.entry import port_in_use_is
from shared.errors import AuditstreamError, UsageError
from shared.exports_folder import CASES_FILE
from shared.http_host import host_refusal
from shared.names import shown
from shared.reviews import OUTCOMES, Review, now_utc
from shared.settings import KafkaSettings, TopicSettings

log = logging.getLogger(__name__)

HOST = "127.0.0.1"
MAX_BODY = 16 * 1024
#: Seconds a connection may stay silent (request line, headers, body) before it is closed.
REQUEST_TIMEOUT_S = 10.0
HEADERS = {
    "Content-Security-Policy": f"default-src 'none'; style-src '{CSS_HASH}'; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    # same-origin: our own POSTs keep their Origin/Referer, nothing leaks elsewhere.
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}


class ReviewApp:
    """What the handler needs: the exports, the reviewer, a publisher, the outcomes."""

    def __init__(self, exports: Path, reviewer: str,
                 publish: Callable[[Review], None], outcomes: Outcomes) -> None:
        self.exports, self.reviewer, self.publish, self.outcomes = (
            Path(exports), reviewer, publish, outcomes)
        self.token = secrets.token_urlsafe(32)
        self.port = 0
        self.timeout_s = REQUEST_TIMEOUT_S

    def allowed_hosts(self) -> set[str]:
        return {f"{HOST}:{self.port}", f"localhost:{self.port}"}


#: The only message the queue repeats from its address: what the last POST did, naming a
#: listed case (so a link cannot make the page show text of someone else's choosing).
_DONE = re.compile(r"(case|transaction) (.{1,128}) marked (confirmed|dismissed|unclear)",
                   re.DOTALL)


def _message(text: str, cases: list[Case]) -> str:
    found = _DONE.fullmatch(text)
    known = found is not None and any((c.target, c.id) == found.group(1, 2) for c in cases)
    return text if known else ""


class CasesUnreadable(Exception):
    """cases.csv or run.json exists but cannot be read (damaged, not UTF-8, no permission,
    no regular file)."""


def _read_cases(exports: Path) -> list[Case]:
    path = exports / CASES_FILE
    try:
        return read_cases(path)
    except UsageError as exc:  # a FIFO, folder or link at the name: named as such
        raise CasesUnreadable(str(exc)) from None
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise CasesUnreadable(f"cannot read {shown(path)}: {exc}") from None
    except ValueError as exc:  # a header naming no id column: says so itself
        raise CasesUnreadable(str(exc)) from None


def _read_run(exports: Path) -> dict[str, Any]:
    try:
        return read_run(exports)
    except UsageError as exc:  # a FIFO there waited for ever: the request never answered
        raise CasesUnreadable(str(exc)) from None


def check_exports(exports: Path) -> None:
    """Refuse (exit 2, before Kafka is waited for or a port bound) an exports folder whose
    cases.csv or run.json is no regular file (`open_regular`); damage the sink may yet
    repair is a 503 page per request instead."""
    with contextlib.suppress(OSError, ValueError, csv.Error):  # damage: a 503 page
        read_cases(exports / CASES_FILE)
    read_run(exports)


def make_server(app: ReviewApp, port: int) -> ThreadingHTTPServer:
    with port_in_use_is(f"port {port} is in use (another `review serve`?); stop it, or "
                        "give another --port (0: any free port)"):
        server = ThreadingHTTPServer((HOST, port), _handler(app))
    app.port = server.server_address[1]
    return server


def _handler(app: ReviewApp) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        server_version = "auditstream-review"
        sys_version = ""
        # A bad request line gets a status line and headers too, not a bare HTTP/0.9 body.
        default_request_version = "HTTP/1.0"

        def setup(self) -> None:
            super().setup()
            self.connection.settimeout(app.timeout_s)  # per read: a silent client is dropped

        def handle(self) -> None:
            try:
                super().handle()
            except OSError:  # a body that stopped coming (timeout), a client gone mid-request
                self.close_connection = True

        def send_error(self, code: int, message: str | None = None,
                       explain: str | None = None) -> None:
            """The stdlib's error replies (unknown method, bad request line, URI or headers
            too long) as our own page, with the security headers of every other page."""
            self.close_connection = True
            text = message or HTTPStatus(code).phrase
            extra = {"Connection": "close"}
            if code == HTTPStatus.NOT_IMPLEMENTED:
                extra["Allow"] = "GET, HEAD, POST"
            self._send(code, render_error(code, text), extra)

        def log_message(self, format: str, *args: object) -> None:
            log.info("%s %s", self.address_string(), format % args)

        def _send(self, status: int, body: str, extra: dict[str, str] | None = None) -> None:
            data = body.encode()
            self.send_response(status)
            for k, v in {**HEADERS, "Content-Type": "text/html; charset=utf-8",
                         "Content-Length": str(len(data)), **(extra or {})}.items():
                self.send_header(k, v)
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(data)

        def _host_ok(self) -> bool:
            refused = host_refusal(self.headers.get_all("Host") or [], app.port)
            if refused is None:
                return True
            status, why = refused
            if status == HTTPStatus.MISDIRECTED_REQUEST:
                why += "; open the address the command printed"
            self._send(status, render_error(int(status), why))
            return False

        def do_GET(self) -> None:
            if not self._host_ok():
                return
            url = urlsplit(self.path)
            if url.path != "/":
                self._send(HTTPStatus.NOT_FOUND, render_error(404, "no such page"))
                return
            query = parse_qs(url.query)
            try:
                cases, run = _read_cases(app.exports), _read_run(app.exports)
            except CasesUnreadable as exc:
                self._send(HTTPStatus.SERVICE_UNAVAILABLE, render_error(503, str(exc)))
                return
            self._send(HTTPStatus.OK, render(
                cases, app.outcomes.snapshot(), token=app.token, reviewer=app.reviewer,
                exports=app.exports, show_all=query.get("all") == ["1"],
                message=_message((query.get("done") or [""])[0], cases), run=run,
                lapse=app.outcomes.not_current(), heard=app.outcomes.heard_line()))

        do_HEAD = do_GET  # `_send` leaves the body out

        def do_POST(self) -> None:
            if not self._host_ok():
                return
            if not self._same_origin():
                self._send(HTTPStatus.FORBIDDEN, render_error(403, "cross-origin request refused"))
                return
            try:
                length = int(self.headers.get("Content-Length") or 0)
            except ValueError:
                length = -1
            if urlsplit(self.path).path != "/review" or not 0 < length <= MAX_BODY:
                self._send(HTTPStatus.BAD_REQUEST, render_error(400, "bad request"))
                return
            form = {k: v[0] for k, v in parse_qs(self.rfile.read(length).decode(
                errors="replace"), keep_blank_values=True).items()}
            if not hmac.compare_digest(form.get("token", ""), app.token):
                self._send(HTTPStatus.FORBIDDEN, render_error(403, "stale or missing form token; "
                                                              "reload the page"))
                return
            self._review(form)

        def _same_origin(self) -> bool:
            origins = {f"http://{h}" for h in app.allowed_hosts()}
            origin = self.headers.get("Origin")
            if origin is not None:
                return origin in origins
            referer = urlsplit(self.headers.get("Referer", ""))
            return f"{referer.scheme}://{referer.netloc}" in origins

        def _review(self, form: dict[str, str]) -> None:
            try:
                cases = {(c.target, c.id) for c in _read_cases(app.exports)}
            except CasesUnreadable as exc:
                self._send(HTTPStatus.SERVICE_UNAVAILABLE, render_error(503, str(exc)))
                return
            target, ident, outcome = form.get("target", ""), form.get("id", ""), form.get(
                "outcome", "")
            if (target, ident) not in cases or outcome not in OUTCOMES:
                self._send(HTTPStatus.BAD_REQUEST,
                           render_error(400, "unknown case or outcome (is cases.csv newer?)"))
                return
            try:
                review = Review(target=target, id=ident, outcome=outcome,
                                reviewer=app.reviewer, reviewed_at=now_utc(),
                                note=form.get("note", ""))
                app.publish(review)
            except ValidationError as exc:  # e.g. a reviewer name over its limit
                self._send(HTTPStatus.BAD_REQUEST,
                           render_error(400, describe_validation_error(exc)))
                return
            except AuditstreamError as exc:
                self._send(HTTPStatus.SERVICE_UNAVAILABLE, render_error(503, str(exc)))
                return
            app.outcomes.put_own(review)
            done = f"{target} {ident} marked {outcome}"
            self._send(HTTPStatus.SEE_OTHER, "", {"Location": f"/?done={quote(done)}"})

    return Handler


def serve(exports: Path, port: int, reviewer: str, kafka: KafkaSettings,
          topics: TopicSettings) -> int:
    """Run the page until Ctrl-C or SIGTERM (exit 0 on SIGTERM)."""
    publisher = ReviewPublisher(kafka, topics, flush_timeout_s=10.0, who="the review page")
    outcomes = Outcomes()
    follower = TopicFollower(kafka, topics.reviews_topic, outcomes, topics.reviews_passed)
    follower.start()

    def publish(review: Review) -> None:
        publisher.publish([review])

    app = ReviewApp(exports, reviewer, publish, outcomes)
    server = make_server(app, port)

    def stop(signum: int, frame: FrameType | None) -> None:
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    print(f"review page: http://{HOST}:{app.port}/ (reviews go to {topics.reviews_topic}; "
          "Ctrl-C to stop)", flush=True)
    sys.stdout.flush()
    try:
        server.serve_forever()
    finally:
        server.server_close()
        follower.stopping.set()
        follower.join(5)
    return 0
