"""docker-compose.yml and docker/ checked as data and scripts, without a Docker engine.

The stack itself runs end to end under `make compose-test` (tests/compose/); these checks
keep the file portable (Compose v2 and Debian's 1.29) and in step with the settings classes
and the non-Docker broker.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic_settings import BaseSettings

from auditstream.broker.process import _SERVER_PROPERTIES
from auditstream.broker.settings import BrokerSettings
from detector.settings import DetectorSettings
from producer.settings import ProducerSettings
from shared.errors import ExitCode
from shared.settings import KafkaSettings, TopicSettings, env_names
from sink.settings import SinkSettings

ROOT = Path(__file__).resolve().parents[2]
SERVICES: dict[str, type[BaseSettings]] = {
    "producer": ProducerSettings,
    "detector": DetectorSettings,
    "sink": SinkSettings,
}
APP_SERVICES = ("topic-init", *sorted(SERVICES))


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    data = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    assert isinstance(data, dict)
    return data


def test_file_is_accepted_by_compose_1_29_and_v2(compose: dict[str, Any]) -> None:
    # docker-compose 1.29 rejects a top-level `name:`; v2 warns about `version:`.
    assert set(compose) - {"services", "volumes"} <= {"x-app"}


def test_broker_is_built_from_the_jars_of_auditstream_broker(compose: dict[str, Any]) -> None:
    kafka = compose["services"]["kafka"]
    assert kafka["build"] == {"context": ".", "dockerfile": "docker/kafka/Dockerfile"}
    assert kafka["image"] == f"auditstream-kafka:{BrokerSettings().kafka_version}"
    dockerfile = (ROOT / "docker/kafka/Dockerfile").read_text()
    assert f"ARG KAFKA_VERSION={BrokerSettings().kafka_version}" in dockerfile
    assert "COPY auditstream/broker/pom.xml auditstream/broker/log4j2.properties" in dockerfile
    assert kafka["init"] is True


def test_broker_is_published_on_loopback_on_a_chosen_port(compose: dict[str, Any]) -> None:
    kafka = compose["services"]["kafka"]
    assert kafka["ports"] == ["127.0.0.1:${AUDITSTREAM_KAFKA_PORT:-9092}:9092"]
    assert kafka["environment"]["KAFKA_HOST_PORT"] == "${AUDITSTREAM_KAFKA_PORT:-9092}"


def _properties(text: str) -> dict[str, str]:
    return dict(line.split("=", 1) for line in text.splitlines()
                if "=" in line and not line.startswith("#"))


def test_broker_container_runs_the_local_brokers_settings() -> None:
    shared = (ROOT / "auditstream/broker/single-node.properties").read_text()
    assert _properties(shared)["transaction.state.log.replication.factor"] == "1"
    local = _properties(_SERVER_PROPERTIES)
    script = (ROOT / "docker/kafka/run.sh").read_text()
    container = _properties(script[script.index("<<PROPS"):script.index("\nPROPS\n")])
    # Both add the one shared file; only where they listen is their own (containers reach
    # it as kafka:19092, the host on 9092), and neither repeats a shared setting.
    assert 'cat /opt/kafka/config/single-node.properties >>"$conf"' in script
    assert "auditstream/broker/single-node.properties /opt/kafka/config/" in (
        ROOT / "docker/kafka/Dockerfile").read_text()
    assert container.keys() == local.keys()
    assert not container.keys() & _properties(shared).keys()


@pytest.mark.parametrize("service", APP_SERVICES)
def test_app_services_share_one_image_built_offline_if_asked(
    compose: dict[str, Any], service: str
) -> None:
    svc = compose["services"][service]
    assert svc["build"] == {"context": ".", "args": {
        "PIP_FROM": "${AUDITSTREAM_PIP_FROM:-pypi}", "CORE": "${AUDITSTREAM_IMAGE_CORE:-compiled}"}}
    assert svc["image"] == "auditstream:latest"
    # tini as PID 1 passes SIGTERM on; a bare PID 1 ignores signals it has no handler for.
    assert svc["init"] is True
    assert svc["user"] == "${AUDITSTREAM_UID:-10001}:${AUDITSTREAM_GID:-10001}"


def test_image_compiles_the_core_with_the_dev_tools() -> None:
    # The image's build stage and docker/wheelhouse.sh read the `compile` extra; the host's
    # `make core` uses dev, which includes it: one declaration, so both build alike.
    meta = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    extras = meta["optional-dependencies"]
    assert [r.split(">")[0] for r in extras["compile"]] == ["mypy", "setuptools"]
    assert f"{meta['name']}[compile]" in extras["dev"]
    assert not {r.split(">")[0] for r in extras["dev"]} & {"mypy", "setuptools"}


@pytest.mark.parametrize("service", sorted(SERVICES))
def test_service_runs_its_module_after_topic_init(compose: dict[str, Any], service: str) -> None:
    svc = compose["services"][service]
    assert svc["command"] == ["python", "-m", service]
    # Started after the topics exist, stopped before the broker (stop runs dependents first).
    assert svc["depends_on"] == {"kafka": {"condition": "service_healthy"},
                                 "topic-init": {"condition": "service_completed_successfully"}}


def test_topic_init_waits_for_a_healthy_broker(compose: dict[str, Any]) -> None:
    init = compose["services"]["topic-init"]
    assert init["depends_on"] == {"kafka": {"condition": "service_healthy"}}
    assert init["command"] == ["python", "/opt/auditstream/docker/init_topics.py"]
    assert set(init["environment"]) <= env_names(KafkaSettings) | env_names(TopicSettings)
    assert init["restart"] == "no"


@pytest.mark.parametrize(("service", "settings_cls"), sorted(SERVICES.items()))
def test_service_environment_is_read_by_its_settings(
    compose: dict[str, Any], service: str, settings_cls: type[BaseSettings]
) -> None:
    env = set(compose["services"][service]["environment"])
    assert env <= env_names(settings_cls), env - env_names(settings_cls)
    assert "KAFKA_BOOTSTRAP_SERVERS" in env


def test_producer_defaults_are_the_demo_stream(compose: dict[str, Any]) -> None:
    env = compose["services"]["producer"]["environment"]
    defaults = ProducerSettings.model_fields
    assert env["PRODUCER_SEED"] == f"${{PRODUCER_SEED:-{defaults['seed'].default}}}"
    assert env["PRODUCER_DAYS"] == f"${{PRODUCER_DAYS:-{defaults['days'].default}}}"
    assert env["PRODUCER_CUSTOMERS"] == "${PRODUCER_CUSTOMERS:-1000}"  # generate's default
    assert compose["services"]["producer"]["restart"] == "no"


def test_sink_exports_land_in_the_project_exports_folder(compose: dict[str, Any]) -> None:
    sink = compose["services"]["sink"]
    target = sink["environment"]["SINK_EXPORTS_DIR"]
    assert sink["volumes"] == [f"${{AUDITSTREAM_EXPORTS:-./exports}}:{target}"]


def test_detector_can_scale_out(compose: dict[str, Any]) -> None:
    detector = compose["services"]["detector"]
    # `--scale detector=N`: no fixed container name, host name, port or instance id; each
    # replica's transactional id comes from its own host name.
    assert not {"container_name", "hostname", "ports"} & set(detector)
    assert "DETECTOR_INSTANCE_ID" not in detector["environment"]
    assert DetectorSettings.model_fields["instance_id"].default_factory is not None


@pytest.fixture
def folder() -> Iterator[Path]:
    """An exports folder any user can reach (pytest's tmp_path is private to its owner)."""
    parent = Path(tempfile.mkdtemp(prefix="auditstream-entrypoint-"))
    parent.chmod(0o755)
    (parent / "exports").mkdir()
    yield parent / "exports"
    (parent / "exports").chmod(0o755)
    shutil.rmtree(parent)


def _run_entrypoint(folder: Path) -> subprocess.CompletedProcess[str]:
    """docker/entrypoint.sh as a user who may not write to `folder` (uid 4242 under root)."""
    cmd = [str(ROOT / "docker/entrypoint.sh"), "echo", "started"]
    if os.getuid() == 0:
        setpriv = shutil.which("setpriv")
        if setpriv is None:
            pytest.skip("needs setpriv to drop root")
        cmd = [setpriv, "--reuid=4242", "--regid=4242", "--clear-groups", *cmd]
    env = {"PATH": os.environ["PATH"], "SINK_EXPORTS_DIR": str(folder)}
    return subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)


def test_entrypoint_says_what_to_run_when_exports_are_not_writable(folder: Path) -> None:
    folder.chmod(0o555)
    proc = _run_entrypoint(folder)
    assert proc.returncode == ExitCode.OUTPUT_UNWRITABLE
    assert proc.stdout == "" and "Traceback" not in proc.stderr
    owner = f"{os.getuid()}:{os.getgid()}"
    assert f"owned by uid:gid {owner} with mode 555" in proc.stderr
    assert f"AUDITSTREAM_UID={os.getuid()} AUDITSTREAM_GID={os.getgid()} docker compose up" \
        in proc.stderr
    assert re.search(r"sudo chown -R \d+:\d+ \./exports", proc.stderr)
    assert list(folder.iterdir()) == []


def test_entrypoint_runs_the_command_when_exports_are_writable(folder: Path) -> None:
    folder.chmod(0o777)
    proc = _run_entrypoint(folder)
    assert (proc.returncode, proc.stdout, proc.stderr) == (0, "started\n", "")
    assert list(folder.iterdir()) == []  # the write probe is removed
