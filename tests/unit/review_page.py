"""The review page of the unit tests: a cases file with a hostile row, and `review serve`'s
app on a loopback port with its reviews published to a list (`Running`)."""

from __future__ import annotations

import csv
import http.client
import threading
from pathlib import Path
from types import TracebackType
from urllib.parse import urlencode

from auditstream.review.server import Outcomes, ReviewApp, make_server
from shared.errors import KafkaUnreachableError
from shared.reviews import Review

PAYLOAD = '<img src=x onerror="alert(1)"></td><script>alert(2)</script>'
HEADER = ["rank", "case_id", "customer_id", "first_time", "last_time", "transactions",
          "total_amount", "score", "triggered_rules", "reasons_top3", "outcome"]


def cases_folder(folder: Path) -> Path:
    """`folder` with a cases.csv of three cases: a hostile one, an open one, a dismissed one."""
    folder.mkdir(exist_ok=True)
    with (folder / "cases.csv").open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(HEADER)
        w.writerow(["1", "case-a", PAYLOAD, "2025-01-01T00:00:00", "2025-01-01T01:00:00", "2",
                    "99.5", "0.97", "burst", f"amount 14x | {PAYLOAD}", ""])
        w.writerow(["2", "case-b", "C2", "t", "t", "1", "5", "0.9", "", "odd hour", ""])
        w.writerow(["3", "case-c", "C3", "t", "t", "1", "5", "0.8", "", "x", "dismissed"])
    return folder


class Running:
    """`review serve`'s app on a free loopback port, serving from a thread; a context manager
    (or `close`) stops it."""

    def __init__(self, exports: Path, fail: bool = False) -> None:
        self.published: list[Review] = []
        self.fail = fail
        self.app = ReviewApp(exports, "ana", self._publish, Outcomes())
        self.server = make_server(self.app, 0)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def _publish(self, review: Review) -> None:
        if self.fail:
            raise KafkaUnreachableError("no Kafka broker answered at 127.0.0.1:1")
        self.published.append(review)

    def request(self, method: str, path: str, body: dict[str, str] | None = None,
                headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], str]:
        conn = http.client.HTTPConnection("127.0.0.1", self.app.port, timeout=10)
        data = urlencode(body).encode() if body is not None else None
        hdrs = {"Host": f"127.0.0.1:{self.app.port}",
                "Origin": f"http://127.0.0.1:{self.app.port}",
                "Content-Type": "application/x-www-form-urlencoded", **(headers or {})}
        conn.request(method, path, body=data, headers={k: v for k, v in hdrs.items() if v})
        resp = conn.getresponse()
        out = resp.status, dict(resp.getheaders()), resp.read().decode()
        conn.close()
        return out

    def form(self, **kw: str) -> dict[str, str]:
        return {"token": self.app.token, "target": "case", "id": "case-a",
                "outcome": "confirmed", "note": "", **kw}

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def __enter__(self) -> Running:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

