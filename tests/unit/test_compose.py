"""docker-compose.yml and docker/ checked as data and scripts, without a Docker engine.

The stack itself runs end to end under `make compose-test` (tests/compose/); these checks
keep the file portable (Compose v2 and Debian's 1.29) and in step with the settings classes
and the non-Docker broker.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import struct
import subprocess
import tempfile
import threading
import time
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from docker.utils.build import exclude_paths
from pydantic_settings import BaseSettings

from auditstream.broker.process import _SERVER_PROPERTIES
from auditstream.broker.settings import BrokerSettings
from detector.health import LAG_EVERY_S, PROBE_TIMEOUT_S
from detector.settings import DetectorSettings
from producer.settings import ProducerSettings
from shared.errors import ExitCode
from shared.health import NO_BROKER_S
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
    assert set(compose) - {"services", "volumes"} <= {"x-app", "x-kafka-env", "x-app-health"}


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
    # The project's version, never `latest`: an image built from another checkout (or
    # pulled under that name) is not taken for this one's.
    version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    assert svc["image"] == f"auditstream:{version}"
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


def _interpolated(value: str) -> str:
    """A compose value with each `${NAME:-default}` replaced by its default."""
    return re.sub(r"\$\{[A-Z0-9_]+:-([^}]*)\}", r"\1", value)


def test_every_published_port_is_on_loopback_only(compose: dict[str, Any]) -> None:
    # `9092:9092` would publish on every interface of the host, to anyone who can reach it.
    published = {name: [_interpolated(str(p)) for p in svc.get("ports", [])]
                 for name, svc in compose["services"].items()}
    assert published["kafka"], published
    bad = {name: ports for name, ports in published.items()
           if any(not re.fullmatch(r"127\.0\.0\.1:\d+:\d+", p) for p in ports)}
    assert bad == {}


#: The services that run once and end: never restarted (the producer's SIGTERM exit is 130).
ONE_SHOT = {"topic-init", "producer"}
#: Docker's `on-failure:N` is the only bound Compose can put on a restart loop (N >= 1: Docker
#: reads `on-failure:0` as no limit).
BOUNDED = re.compile(r"on-failure:([1-9][0-9]*)")


@pytest.mark.parametrize("service", ["kafka", "topic-init", "detector", "sink", "producer"])
def test_no_service_restarts_forever_on_a_permanent_error(
    compose: dict[str, Any], service: str
) -> None:
    # Docker restarts on every non-zero exit; it cannot skip exit 2 (configuration) or 7
    # (poison pill) as systemd's RestartPreventExitStatus does. `always`, `unless-stopped`
    # and a bare `on-failure` would restart such a container forever.
    policy = compose["services"][service]["restart"]
    if service in ONE_SHOT:
        assert policy == "no"
        return
    match = BOUNDED.fullmatch(policy)
    assert match, policy
    assert 1 <= int(match[1]) <= 10
    assert set(compose["services"]) == {"kafka", *ONE_SHOT, "detector", "sink"}


@pytest.mark.parametrize("service", ["kafka", "topic-init", "detector", "sink", "producer"])
def test_every_service_runs_without_privileges(compose: dict[str, Any], service: str) -> None:
    svc = compose["services"][service]
    assert svc["cap_drop"] == ["ALL"]
    assert "no-new-privileges:true" in svc["security_opt"]
    assert "privileged" not in svc and "cap_add" not in svc
    assert svc.get("user", "kafka") not in ("0", "root") and not svc.get(
        "user", "").startswith(("0:", "root"))


def test_detector_keeps_its_poison_pill_count_where_any_uid_writes(
    compose: dict[str, Any]
) -> None:
    # AUDITSTREAM_UID is any host uid; Docker gives a uid the image does not know HOME=/, so
    # the default ~/.local/state/... is unwritable and the count (which turns a crash loop
    # into exit 7) would be lost at each restart. /tmp is writable by any uid in the image
    # and kept as long as the container, whose host name is the transactional id.
    env = compose["services"]["detector"]["environment"]
    state_dir = env["DETECTOR_STATE_DIR"]
    assert DetectorSettings.model_fields["state_dir"].default.parts[0] == "~"
    assert state_dir.startswith("/tmp/")
    assert "volumes" not in compose["services"]["detector"]


# --- The detector's and the sink's health checks (shared/health.py) -----------------------

def _seconds(value: str) -> float:
    found = re.fullmatch(r"(\d+)s", value)
    assert found, value
    return float(found[1])


@pytest.mark.parametrize(("service", "settings_cls"), sorted(SERVICES.items()))
def test_a_service_without_a_broker_turns_unhealthy_before_its_start_up_wait_ends(
    compose: dict[str, Any], service: str, settings_cls: type[BaseSettings]
) -> None:
    svc = compose["services"][service]
    if service == "producer":  # runs once: no health to speak of
        assert "healthcheck" not in svc
        return
    check = svc["healthcheck"]
    # Exec form, as the service's own user (no shell, no root): its own module asks it.
    assert check["test"] == ["CMD", "python", "-m", f"{service}.health"]
    interval, retries = _seconds(check["interval"]), check["retries"]
    assert _seconds(check["timeout"]) > PROBE_TIMEOUT_S  # the check says why, not Docker
    # The lag is unknown NO_BROKER_S after the last connection, noted within LAG_EVERY_S
    # (the sink's heartbeat: SINK_ROLLUP_INTERVAL_S, 5 s), then `retries` failing checks.
    noted = LAG_EVERY_S if service == "detector" else SinkSettings().rollup_interval_s
    worst = NO_BROKER_S + noted + interval + (retries - 1) * interval
    assert worst <= settings_cls.model_fields["startup_wait_s"].default, worst
    # A loop that never starts (no broker at start) is unhealthy before its wait ends too.
    assert _seconds(check["start_period"]) + retries * interval < \
        settings_cls.model_fields["startup_wait_s"].default


def test_the_detectors_health_endpoint_stays_inside_its_container(
    compose: dict[str, Any]
) -> None:
    detector = compose["services"]["detector"]
    assert int(detector["environment"]["DETECTOR_METRICS_PORT"]) > 0
    # 127.0.0.1 in the replica's own network namespace: neither set otherwise nor published.
    assert "DETECTOR_METRICS_HOST" not in detector["environment"]
    assert DetectorSettings.model_fields["metrics_host"].default == "127.0.0.1"
    assert "ports" not in detector and "expose" not in detector


# --- The broker's health check: docker/kafka/ready.sh -------------------------------------

READY = ROOT / "docker/kafka/ready.sh"


def test_broker_health_check_is_a_kafka_request(compose: dict[str, Any]) -> None:
    check = compose["services"]["kafka"]["healthcheck"]
    assert check["test"] == ["CMD", "/opt/kafka/ready.sh", "19092"]
    assert "COPY docker/kafka/run.sh docker/kafka/ready.sh /opt/kafka/" in (
        ROOT / "docker/kafka/Dockerfile").read_text()
    assert os.access(READY, os.X_OK)
    # Its own bound on the reply stays below compose's timeout, so it reports, not compose.
    assert "${READY_TIMEOUT_S:-4}" in READY.read_text()
    assert check["timeout"] == "5s"


def _fake_broker(reply: str) -> tuple[int, list[bytes], threading.Thread]:
    """A listener on a free loopback port: `reply` is "answer" (an ApiVersions v0 response
    with the request's correlation id), "other" (another correlation id), "silent" (accepts,
    reads, never answers: a bound port not yet serving) or "close" (hangs up)."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    received: list[bytes] = []

    def serve() -> None:
        conn, _ = server.accept()
        with conn, server:
            conn.settimeout(10)
            data = b""
            while len(data) < 14 and (chunk := conn.recv(64)):
                data += chunk
            received.append(data)
            if reply == "close":
                return
            if reply in ("answer", "other"):
                (corr,) = struct.unpack(">i", data[8:12])
                corr = corr if reply == "answer" else corr + 1
                # Response header v0 (correlation id), error code 0, an empty api_keys array.
                body = struct.pack(">ihi", corr, 0, 0)
                conn.sendall(struct.pack(">i", len(body)) + body)
            time.sleep(3)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    return server.getsockname()[1], received, thread


def _ready(port: int) -> tuple[subprocess.CompletedProcess[str], float]:
    started = time.monotonic()
    proc = subprocess.run([str(READY), str(port)], capture_output=True, text=True, timeout=30,
                          env={"PATH": os.environ["PATH"], "READY_TIMEOUT_S": "1"}, check=False)
    return proc, time.monotonic() - started


def test_ready_passes_when_the_broker_answers_an_api_versions_request() -> None:
    port, received, thread = _fake_broker("answer")
    proc, _ = _ready(port)
    thread.join(10)
    assert proc.returncode == 0, proc.stderr
    # The request as Kafka's protocol defines it (ApiVersionsRequest.json, header v1): size
    # 10, api key 18, version 0 (every broker answers it), a correlation id, client id null.
    size, key, version, _corr, client_id = struct.unpack(">ihhih", received[0])
    assert (size, key, version, client_id) == (10, 18, 0, -1)
    assert len(received[0]) == 4 + size


@pytest.mark.parametrize("reply", ["silent", "close", "other"])
def test_ready_fails_when_the_port_is_open_but_no_kafka_answers(reply: str) -> None:
    # The old check (`exec 3<>/dev/tcp/...`) passed on any open port: a broker bound but not
    # yet serving, or something else listening there.
    port, _, thread = _fake_broker(reply)
    proc, seconds = _ready(port)
    thread.join(10)
    assert proc.returncode == 1
    assert f"no Kafka reply on 127.0.0.1:{port}" in proc.stderr
    assert seconds < 5  # READY_TIMEOUT_S=1 bounds the wait for a reply


def test_ready_fails_when_nothing_listens() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # free once closed
    proc, _ = _ready(port)
    assert proc.returncode != 0


# --- Every setting that is not a default says why -----------------------------------------

SETTING = re.compile(r"^\s*([A-Za-z][\w.]*)\s*[=:]")


def _uncommented(lines: list[str], is_setting: Any) -> list[str]:
    """The settings in `lines` neither commented at their end nor in a run of settings that a
    comment line opens (a comment may speak for the few lines right under it)."""
    bad, covered = [], False
    for line in lines:
        stripped = line.strip()
        if stripped.startswith("#"):
            covered = True
        elif is_setting(line):
            if not covered and " #" not in line:
                bad.append(stripped)
        else:
            covered = False
    return bad


def _settings_defaults() -> dict[str, str]:
    """Every service environment variable's default, as compose would spell it."""
    out: dict[str, str] = {}
    classes: list[type[BaseSettings]] = [KafkaSettings, TopicSettings, *SERVICES.values()]
    for cls in classes:
        prefix = str(cls.model_config.get("env_prefix", "")).upper()
        for name, field in cls.model_fields.items():
            if field.default is not None and not callable(field.default):
                out[prefix + name.upper()] = str(field.default)
    return out


def test_every_kafka_setting_says_why() -> None:
    script = (ROOT / "docker/kafka/run.sh").read_text()
    props = script[script.index("<<PROPS"):script.index("\nPROPS\n")].splitlines()[1:]
    shared = (ROOT / "auditstream/broker/single-node.properties").read_text().splitlines()
    for lines in (props, shared):
        assert _uncommented(lines, lambda line: "=" in line and SETTING.match(line)) == []


def _environment_lines(text: str) -> list[str]:
    """The lines of every `environment:` mapping (and the x-kafka-env fragment), with the
    comments among them; a line outside one ends a run of commented settings."""
    out: list[str] = []
    header: int | None = None  # the indentation of the open block's header
    for line in text.splitlines():
        indent = len(line) - len(line.lstrip())
        if header is not None and line.strip() and not line.lstrip().startswith("#") \
                and indent <= header:
            header = None
            out.append("")
        if re.match(r"^\s*(environment|x-kafka-env):", line):
            header = indent
            out.append("")
        elif header is not None:
            out.append(line)
    return out


def test_every_compose_environment_value_that_is_not_a_default_says_why() -> None:
    defaults = _settings_defaults()
    assert defaults["AUDITSTREAM_PARTITIONS"] == "4"  # the lookup works
    lines = _environment_lines((ROOT / "docker-compose.yml").read_text())

    def needs_why(line: str) -> bool:
        found = re.match(r"^\s+([A-Z][A-Z0-9_]+):\s*(.*?)\s*(#.*)?$", line)
        if not found:
            return False
        value = _interpolated(found[2]).strip('"')
        return defaults.get(found[1]) != value

    assert _uncommented(lines, needs_why) == []


# --- The build context: .dockerignore -----------------------------------------------------


def _context(root: Path) -> set[str]:
    """The files docker-compose 1.29 sends as the build context (docker-py's own matcher,
    which reads .dockerignore as the engine does)."""
    patterns = [line.strip() for line in (ROOT / ".dockerignore").read_text().splitlines()]
    return set(exclude_paths(str(root), [p for p in patterns if p and not p.startswith("#")]))


SECRETS = [".env", "docker/prod.env", "certs/ca.pem", "certs/client.key", "kafka.keystore.jks",
           "client.p12", "secrets/id_ed25519", ".venv/bin/python", ".git/config",
           "exports/scored/transactions_scored_2025-01-01.csv", "exports/run.json",
           "mutants/detector/core/model.py", "detector/__pycache__/app.cpython-311.pyc",
           "detector/core/_compiled/x.so", "tests/unit/test_x.py"]


def test_build_context_leaves_out_secrets_state_and_exports(tmp_path: Path) -> None:
    for rel in [*SECRETS, "pyproject.toml", "detector/app.py"]:
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text("x")
    context = _context(tmp_path)
    assert {"pyproject.toml", "detector/app.py"} <= context
    assert sorted(set(SECRETS) & context) == []


def test_build_context_keeps_what_the_dockerfiles_copy() -> None:
    context = _context(ROOT)
    copied = ["pyproject.toml", "README.md", "docker/entrypoint.sh", "docker/init_topics.py",
              "docker/kafka/run.sh", "docker/kafka/ready.sh", "auditstream/broker/pom.xml",
              "auditstream/broker/log4j2.properties", "auditstream/broker/single-node.properties",
              "docker/wheelhouse/.gitignore", "docker/kafka/libs/.gitignore"]
    assert [f for f in copied if f not in context] == []
    packages = ["auditstream", "shared", "producer", "detector", "sink", "dashboard"]
    sources = {str(p.relative_to(ROOT)) for pkg in packages for p in (ROOT / pkg).rglob("*.py")
               if "__pycache__" not in p.parts and "_compiled" not in p.parts}
    assert sorted(sources - context) == []
