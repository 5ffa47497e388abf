"""The detector's metrics and health endpoint checks `Host` (leftover of the hostile probes,
2026-12-05): a DNS-rebinding page in a browser on the detector's machine could read
/metrics and /health, which answered any Host. The container's health check (`python -m
detector.health`) and scrapes by address or `localhost` are still served. The check is
the review page's (`shared.http_host`, tested in `tests/unit/test_http_host.py`)."""

from __future__ import annotations

import socket

import pytest

from auditstream.broker.process import free_port
from detector.health import probe, probe_url
from detector.metrics import Metrics


def _reply(port: int, path: str, hosts: list[str]) -> tuple[int, bytes]:
    request = f"GET {path} HTTP/1.0\r\n" + "".join(f"Host: {h}\r\n" for h in hosts) + "\r\n"
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(request.encode())
        out = b""
        while chunk := s.recv(65536):
            out += chunk
    head, _, body = out.partition(b"\r\n\r\n")
    return int(head.split()[1]), body


@pytest.mark.parametrize("path", ["/metrics", "/health"])
def test_the_metrics_endpoint_refuses_a_rebinding_page(path: str) -> None:
    port = free_port()
    Metrics(port, "127.0.0.1").batch(records=5, dead=0, seconds=0.01)
    for hosts, status in (([f"evil.example:{port}"], 421), ([], 421),
                          ([f"127.0.0.1:{port}", f"evil.example:{port}"], 400)):
        code, body = _reply(port, path, hosts)
        assert code == status, (hosts, body)
        assert b"detector_records" not in body and b"healthy" not in body
    for hosts in ([f"127.0.0.1:{port}"], [f"localhost:{port}"]):
        code, body = _reply(port, path, hosts)
        assert code in (200, 503) and (b"detector_records_total 5.0" in body
                                       if path == "/metrics" else b"healthy" in body)


def test_an_endpoint_on_every_address_serves_a_scrape_by_address_only() -> None:
    port = free_port()
    Metrics(port, "0.0.0.0")
    assert _reply(port, "/metrics", [f"192.0.2.7:{port}"])[0] == 200
    assert _reply(port, "/metrics", [f"prometheus-target.example:{port}"])[0] == 421


@pytest.mark.parametrize("bound", ["127.0.0.1", "0.0.0.0", "localhost"])
def test_the_containers_health_check_is_still_answered(bound: str) -> None:
    port = free_port()
    metrics = Metrics(port, bound)
    metrics.pulse.turned()
    verdict = probe(probe_url(bound, port))
    assert "421" not in verdict.line() and "unknown host" not in verdict.line()
    assert verdict.line().startswith(("healthy", "unhealthy: ")), verdict.line()
