"""The one `Host` check of the local endpoints (`shared.http_host`: `review serve`'s page,
the detector's metrics and health; `tests/unit/test_detector_metrics_host.py`)."""

from __future__ import annotations

import string

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared.http_host import host_refusal, names_this_server

PORT = 9464


@pytest.mark.parametrize("host", [
    f"127.0.0.1:{PORT}", f"localhost:{PORT}", f"LocalHost:{PORT}", f"[::1]:{PORT}",
    f"10.1.2.3:{PORT}", f"detector-1:{PORT}", f" 127.0.0.1:{PORT} "])
def test_a_host_naming_this_server_is_served(host: str) -> None:
    assert names_this_server(host, PORT, ("detector-1",))
    assert host_refusal([host], PORT, ("detector-1",)) is None


@pytest.mark.parametrize("host", [
    f"evil.example:{PORT}", f"localhost.evil.example:{PORT}", f"127.0.0.1:{PORT + 1}",
    f"127.0.0.1:{PORT - 1}", "127.0.0.1", "localhost", f"::1:{PORT}", f"[evil]:{PORT}",
    f"[127.0.0.1]:{PORT}", f"127.0.0.1.evil.example:{PORT}", "", f":{PORT}",
    f"detector-2:{PORT}", f"127.0.0.1:0{PORT}"])
def test_a_host_naming_another_server_is_refused(host: str) -> None:
    assert not names_this_server(host, PORT, ("detector-1",))
    refused = host_refusal([host], PORT, ("detector-1",))
    assert refused is not None and int(refused[0]) == 421


def test_none_or_two_hosts_are_refused() -> None:
    ours = f"127.0.0.1:{PORT}"
    assert host_refusal([], PORT) == (421, "unknown host name")
    for hosts in ([ours, ours], [ours, "evil.example"]):
        assert host_refusal(hosts, PORT) == (400, "more than one Host")


_LABEL = st.text(string.ascii_lowercase + string.digits + "-", min_size=1, max_size=12)


@given(st.lists(_LABEL, min_size=1, max_size=4).map(".".join), st.integers(1, 65535))
def test_a_name_not_an_address_nor_localhost_is_refused(name: str, port: int) -> None:
    """What a rebinding page sends: its own host name, whatever it is, at any port."""
    served = names_this_server(f"{name}:{port}", port)
    assert served == (name == "localhost" or _is_ipv4(name))  # digits and dots: an address


def _is_ipv4(name: str) -> bool:
    import ipaddress

    try:
        ipaddress.IPv4Address(name)
    except ValueError:
        return False
    return True
