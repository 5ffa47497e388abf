"""docker-compose.yml cannot run here (no Docker engine), so its contract is checked as data."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic_settings import BaseSettings

from detector.settings import DetectorSettings
from producer.settings import ProducerSettings
from shared.settings import env_names
from sink.settings import SinkSettings

ROOT = Path(__file__).resolve().parents[2]
SERVICES: dict[str, type[BaseSettings]] = {
    "producer": ProducerSettings,
    "detector": DetectorSettings,
    "sink": SinkSettings,
}


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    data = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    assert isinstance(data, dict)
    return data


def test_broker_is_apache_kafka_4_in_kraft_mode(compose: dict[str, Any]) -> None:
    kafka = compose["services"]["kafka"]
    image, tag = kafka["image"].split(":")
    assert image == "apache/kafka" and tag.split(".")[0] == "4"
    assert kafka["environment"]["KAFKA_PROCESS_ROLES"] == "broker,controller"
    assert all(p.startswith("127.0.0.1:") for p in kafka["ports"])


@pytest.mark.parametrize("service", sorted(SERVICES))
def test_service_runs_its_module_from_the_one_image(
    compose: dict[str, Any], service: str
) -> None:
    svc = compose["services"][service]
    assert svc["build"] == "."
    assert svc["command"] == ["python", "-m", service]
    assert svc["depends_on"]["topic-init"]["condition"] == "service_completed_successfully"


@pytest.mark.parametrize(("service", "settings_cls"), sorted(SERVICES.items()))
def test_service_environment_is_read_by_its_settings(
    compose: dict[str, Any], service: str, settings_cls: type[BaseSettings]
) -> None:
    env = set(compose["services"][service]["environment"])
    assert env <= env_names(settings_cls), env - env_names(settings_cls)
    assert "KAFKA_BOOTSTRAP_SERVERS" in env


def test_sink_exports_land_in_the_project_exports_folder(compose: dict[str, Any]) -> None:
    sink = compose["services"]["sink"]
    target = sink["environment"]["SINK_EXPORTS_DIR"]
    assert f"./exports:{target}" in sink["volumes"]


def test_detector_can_scale_out(compose: dict[str, Any]) -> None:
    detector = compose["services"]["detector"]
    # `--scale detector=N` needs no fixed container name, host port or per-instance id.
    assert "container_name" not in detector and "ports" not in detector


def test_topic_init_creates_the_pipeline_topics(compose: dict[str, Any]) -> None:
    script = compose["services"]["topic-init"]["command"][0]
    for topic in ("transactions", "transactions.scored", "transactions.dlq"):
        assert topic in script
