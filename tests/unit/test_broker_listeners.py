"""The local broker's extra listeners (SASL, TLS for tests), beside its own PLAINTEXT one;
without any, `auditstream broker`'s server.properties is as before."""

from __future__ import annotations

import socket
from collections.abc import Mapping, Sequence
from pathlib import Path

import pytest

from auditstream.broker import BrokerSettings, LocalBroker
from auditstream.broker.listeners import Listener
from auditstream.broker.process import free_port
from shared.errors import BrokerError


def _properties(path: Path) -> dict[str, str]:
    return dict(line.split("=", 1) for line in path.read_text().splitlines()
                if "=" in line and not line.startswith("#"))


def _written(tmp_path: Path, listeners: Sequence[Listener] = (),
             properties: Mapping[str, str] | None = None) -> dict[str, str]:
    broker = LocalBroker(BrokerSettings(home=tmp_path, port=9001, controller_port=9002),
                         listeners, properties)
    broker._write_config()
    return _properties(broker.config_file)


def test_without_extra_listeners_the_broker_listens_plaintext_only(tmp_path: Path) -> None:
    props = _written(tmp_path)
    assert props["listeners"] == "PLAINTEXT://127.0.0.1:9001,CONTROLLER://127.0.0.1:9002"
    assert props["advertised.listeners"] == "PLAINTEXT://127.0.0.1:9001"
    assert props["listener.security.protocol.map"] == "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT"
    assert props["inter.broker.listener.name"] == "PLAINTEXT"
    assert "Given to LocalBroker" not in (tmp_path / "server.properties").read_text()


def test_extra_listeners_and_their_settings_are_added(tmp_path: Path) -> None:
    props = _written(tmp_path, [Listener("SASL_PLAINTEXT", "SASL_PLAINTEXT", 9003),
                                Listener("TLS", "SSL", 9004)],
                     {"sasl.enabled.mechanisms": "PLAIN", "ssl.keystore.type": "PEM"})
    assert props["listeners"] == ("PLAINTEXT://127.0.0.1:9001,CONTROLLER://127.0.0.1:9002,"
                                  "SASL_PLAINTEXT://127.0.0.1:9003,TLS://127.0.0.1:9004")
    assert props["advertised.listeners"] == ("PLAINTEXT://127.0.0.1:9001,"
                                             "SASL_PLAINTEXT://127.0.0.1:9003,"
                                             "TLS://127.0.0.1:9004")
    assert props["listener.security.protocol.map"] == (
        "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT,SASL_PLAINTEXT:SASL_PLAINTEXT,TLS:SSL")
    assert props["inter.broker.listener.name"] == "PLAINTEXT"  # the probe's, as before
    assert props["sasl.enabled.mechanisms"] == "PLAIN" and props["ssl.keystore.type"] == "PEM"


@pytest.mark.parametrize(("listeners", "properties"), [
    ([Listener("A", "SSL", 1), Listener("A", "SASL_SSL", 2)], {}),  # a name twice
    ([], {"listeners": "SSL://127.0.0.1:1"}),  # the template's own key
    ([], {"ssl.keystore.location": "a\nlisteners=x"}),  # a second line smuggled in
])
def test_a_listener_or_property_the_template_cannot_take_is_refused(
    tmp_path: Path, listeners: list[Listener], properties: dict[str, str],
) -> None:
    with pytest.raises(ValueError):
        LocalBroker(BrokerSettings(home=tmp_path), listeners, properties)


@pytest.mark.parametrize(("name", "port"), [("PLAINTEXT", 1), ("CONTROLLER", 1),
                                            ("sasl", 1), ("SASL", 0), ("SASL", 65536)])
def test_a_listener_needs_a_name_of_its_own_and_a_tcp_port(name: str, port: int) -> None:
    with pytest.raises(ValueError):
        Listener(name, "SASL_PLAINTEXT", port)


def test_an_extra_listeners_port_in_use_is_named_before_the_start(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        broker = LocalBroker(BrokerSettings(home=tmp_path, port=free_port(),
                                            controller_port=free_port()),
                             [Listener("SASL_SSL", "SASL_SSL", port)])
        broker.settings.home.mkdir(exist_ok=True)
        with pytest.raises(BrokerError, match=f"127.0.0.1:{port} is already in use"):
            broker._check_ports()


def test_a_broker_on_free_ports_binds_loopback_on_two_distinct_free_ports(tmp_path: Path) -> None:
    broker = LocalBroker.on_free_ports(tmp_path / "kafka")
    s = broker.settings
    assert s.home == tmp_path / "kafka"
    assert s.host == "127.0.0.1"
    assert s.port != s.controller_port
    assert broker.bootstrap == f"127.0.0.1:{s.port}"
    for port in (s.port, s.controller_port):
        with socket.socket() as sock:  # free: nothing listens there, so it can be bound
            sock.bind(("127.0.0.1", port))
