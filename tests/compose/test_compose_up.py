"""`docker compose up` of the unmodified docker-compose.yml, end to end on a real engine.

A small demo stream (PRODUCER_CUSTOMERS/PRODUCER_DAYS, passed through by the compose file)
flows broker -> topic-init -> producer -> 3 detector replicas -> sink; the exports land in
./exports/compose-test (AUDITSTREAM_EXPORTS), owned by a host user that is not the image's
(AUDITSTREAM_UID/GID). Then every service container gets SIGTERM and must exit 0 within 10 s.
"""

from __future__ import annotations

import csv
import json
import os
import re
import shutil
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from confluent_kafka.admin import AdminClient

from tests.compose.stack import ROOT, Stack, docker, free_port, inspect, wait_exit

pytestmark = pytest.mark.compose

SEED = 42
CUSTOMERS = int(os.environ.get("AUDITSTREAM_COMPOSE_CUSTOMERS", "200"))
DAYS = int(os.environ.get("AUDITSTREAM_COMPOSE_DAYS", "30"))
DETECTORS = 3
WAIT_S = float(os.environ.get("AUDITSTREAM_COMPOSE_WAIT_S", "300"))
#: How long the detector replicas may take to share the partitions once the rows are out.
JOIN_WAIT_S = 120.0
#: How long a service may take to be healthy once the rows are out (checks every 15 s).
HEALTHY_WAIT_S = 90.0
EXPORTS = ROOT / "exports" / "compose-test"
#: The project image of every app service (one x-app definition in docker-compose.yml).
IMAGE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]["sink"]["image"]
# A host user that is neither root nor the image's uid 10001 (root may chown to anyone).
HOST_UID, HOST_GID = (4242, 4242) if os.getuid() == 0 else (os.getuid(), os.getgid())
KEY = ("transaction_id", "customer_id", "timestamp", "amount", "country", "channel",
       "device", "merchant_category", "is_anomaly", "anomaly_type")

Row = tuple[str, ...]


def say(msg: str) -> None:
    print(f"compose-test: {msg}", flush=True)


def row_key(row: dict[str, str]) -> Row:
    """The input columns of a row, in one format for the generated CSV and the export."""
    out = dict(row)
    out["timestamp"] = out["timestamp"].replace("T", " ")
    out["amount"] = f"{float(out['amount']):.2f}"
    return tuple(out[k] for k in KEY)


def read_rows(path: Path) -> list[Row]:
    with path.open(newline="") as fh:
        return [row_key(r) for r in csv.DictReader(fh)]


@pytest.fixture(scope="module")
def expected(tmp_path_factory: pytest.TempPathFactory) -> list[Row]:
    """The stream the producer container publishes, generated on the host from the same seed."""
    out = tmp_path_factory.mktemp("expected") / "transactions.csv"
    auditstream = Path(sys.executable).with_name("auditstream")
    subprocess.run([str(auditstream), "generate", "--seed", str(SEED),
                    "--customers", str(CUSTOMERS), "--days", str(DAYS), "--out", str(out)],
                   check=True, capture_output=True, cwd=ROOT)
    return read_rows(out)


def _rows_in_run_json() -> int:
    try:
        return int(json.loads((EXPORTS / "run.json").read_text())["rows"])
    except (OSError, ValueError, KeyError):
        return 0


def _wait_for_every_row(stack: Stack, total: int) -> None:
    deadline = time.monotonic() + WAIT_S
    last_say = 0.0
    sink = stack.containers("sink")[0]
    while True:
        rows = _rows_in_run_json()
        report = EXPORTS / "report.html"
        if rows == total and report.exists() and f'"rows":{total}' in report.read_text():
            return
        assert time.monotonic() < deadline, f"{rows} of {total} rows after {WAIT_S:.0f} s"
        assert inspect(sink, "{{.State.Running}}") == "true", stack.logs("sink")[-3000:]
        if time.monotonic() - last_say >= 10:
            say(f"{rows:,} of {total:,} rows in the exports so far")
            last_say = time.monotonic()
        time.sleep(1)


@pytest.fixture(scope="module")
def stack(expected: list[Row]) -> Iterator[Stack]:
    if EXPORTS.exists():
        shutil.rmtree(EXPORTS)
    EXPORTS.mkdir(parents=True)
    os.chown(EXPORTS, HOST_UID, HOST_GID)
    env = {
        "AUDITSTREAM_EXPORTS": str(EXPORTS),
        "AUDITSTREAM_UID": str(HOST_UID),
        "AUDITSTREAM_GID": str(HOST_GID),
        # Not 9092: the host may run its own broker there.
        "AUDITSTREAM_KAFKA_PORT": str(free_port()),
        "AUDITSTREAM_PIP_FROM": os.environ.get("AUDITSTREAM_PIP_FROM", "wheelhouse"),
        "PRODUCER_SEED": str(SEED),
        "PRODUCER_CUSTOMERS": str(CUSTOMERS),
        "PRODUCER_DAYS": str(DAYS),
    }
    s = Stack(project=f"auditstream-test-{os.getpid()}", env=env)
    say(f"{' '.join(s.cmd)} -p {s.project}; {len(expected):,} transactions "
        f"({CUSTOMERS} customers, {DAYS} days); exports in {EXPORTS.relative_to(ROOT)}")
    try:
        started = time.monotonic()
        # The other services use the same image as the sink (one x-app definition).
        s.compose("build", "kafka", "sink", timeout=1800)
        say(f"images built in {time.monotonic() - started:.0f} s")
        started = time.monotonic()
        s.compose("up", "-d", "--scale", f"detector={DETECTORS}")
        _wait_for_every_row(s, len(expected))
        say(f"every row exported {time.monotonic() - started:.0f} s after `up`")
        yield s
    finally:
        (ROOT / "exports" / "compose-test.log").write_text(
            s.compose("logs", "--no-color", check=False).stdout)
        s.compose("down", "-v", "--remove-orphans", check=False)
        for path in [EXPORTS, *EXPORTS.rglob("*")]:  # back to whoever ran the test
            os.chown(path, os.getuid(), os.getgid())


def test_topic_init_and_producer_finish_with_exit_0(stack: Stack) -> None:
    for service in ("topic-init", "producer"):
        (container,) = stack.containers(service)
        assert inspect(container, "{{.State.Status}} {{.State.ExitCode}}") == "exited 0", \
            stack.logs(service)[-3000:]


def test_every_transaction_is_exported_once(stack: Stack, expected: list[Row]) -> None:
    days = sorted((EXPORTS / "scored").glob("transactions_scored_*.csv"))
    exported = [row for day in days for row in read_rows(day)]
    say(f"{len(exported):,} rows counted in ./{EXPORTS.relative_to(ROOT)}/scored/ "
        f"({len(days)} day files; {len(expected):,} transactions published)")
    assert not (EXPORTS / "transactions_scored.csv").exists()  # EXPORTS_SINGLE_FILE is off
    ids = Counter(r[0] for r in exported)
    assert [i for i, n in ids.items() if n > 1] == []
    assert sorted(exported) == sorted(expected)


def test_run_json_and_report_cover_every_row(stack: Stack, expected: list[Row]) -> None:
    run = json.loads((EXPORTS / "run.json").read_text())
    assert run["rows"] == len(expected)
    assert run["rows_unscored"] == 0 and run["rows_rejected"] == 0
    assert run["rows_anomalous"] == sum(r[KEY.index("is_anomaly")] == "True" for r in expected)
    assert set(run["input_offsets"]) == {"0", "1", "2", "3"}
    report = (EXPORTS / "report.html").read_text()
    assert report.lstrip().lower().startswith("<!doctype html")
    assert f'"rows":{len(expected)}' in report


def test_exports_belong_to_the_host_user(stack: Stack) -> None:
    owners = {(p.name, p.stat().st_uid, p.stat().st_gid) for p in EXPORTS.iterdir()}
    assert {(uid, gid) for _, uid, gid in owners} == {(HOST_UID, HOST_GID)}, owners


def _restored_partitions(container: str) -> set[int]:
    found = re.findall(r"partition (\d+) restored", docker("logs", container).stderr)
    return {int(p) for p in found}


def test_detector_replicas_share_the_partitions(stack: Stack) -> None:
    # The replicas start together but join the group one by one: the first may hold all four
    # partitions (and score every row of this small stream) before the others' join makes the
    # group rebalance. Each must get its share within JOIN_WAIT_S of the rows being exported.
    replicas = stack.containers("detector")
    assert len(replicas) == DETECTORS
    started = time.monotonic()
    while True:
        owned = {c: _restored_partitions(c) for c in replicas}
        if all(owned.values()) or time.monotonic() - started > JOIN_WAIT_S:
            break
        time.sleep(1)
    say(f"partitions restored per detector replica: {sorted(map(sorted, owned.values()))}, "
        f"after waiting {time.monotonic() - started:.0f} s")
    idle = {c[:12]: docker("logs", c).stderr[-2000:] for c, parts in owned.items() if not parts}
    assert not idle, idle
    assert set().union(*owned.values()) == {0, 1, 2, 3}


def test_every_detector_replica_runs_the_compiled_core(stack: Stack) -> None:
    # The image's build stage compiles the core with mypyc; a build that no longer matches
    # the installed sources would fall back to Python silently, with only this line to tell.
    # The row loop runs in the kernel (numba), the default.
    kinds = {}
    for container in stack.containers("detector"):
        proc = docker("logs", container)
        found = re.findall(r"detection core ([^\n]*)\)$", proc.stdout + proc.stderr, re.M)
        kinds[container[:12]] = found
    say(f"detection core per detector replica: {kinds}")
    assert len(kinds) == DETECTORS
    assert all(found and set(found) == {"kernel (numba), the rest compiled (mypyc)"}
               for found in kinds.values()), kinds


def test_the_detector_replicas_compiled_nothing(stack: Stack) -> None:
    # The image compiles the kernel into its cache at build (Dockerfile): a replica that
    # compiled at its start (~1 min of CPU, the group waiting) would have written there.
    cache = docker("run", "--rm", "--entrypoint", "sh", IMAGE, "-c",
                   'echo "$AUDITSTREAM_KERNEL_CACHE"; find "$AUDITSTREAM_KERNEL_CACHE" '
                   "-name '*.nbi' | wc -l").stdout.split()
    assert len(cache) == 2 and int(cache[1]) > 0, cache
    changed = {container[:12]: [line for line in docker("diff", container).stdout.splitlines()
                                if cache[0] in line]
               for container in stack.containers("detector")}
    say(f"kernel cache {cache[0]}: {cache[1]} indexes; written by the replicas: {changed}")
    assert len(changed) == DETECTORS
    assert not any(changed.values()), changed


def test_every_detector_replica_can_keep_its_poison_pill_count(stack: Stack) -> None:
    # The replicas run as the host user (AUDITSTREAM_UID), a uid the image does not know, so
    # Docker gives them HOME=/: the default ~/.local/state is not writable there and the count
    # that stops a crash loop with exit 7 would not survive a restart (DETECTOR_STATE_DIR).
    script = ("import os; from detector.settings import DetectorSettings; "
              "d = DetectorSettings().state_dir.expanduser(); "
              "d.mkdir(parents=True, exist_ok=True); "
              "print(os.environ.get('HOME'), d, os.access(d, os.W_OK))")
    found = {c[:12]: docker("exec", c, "python", "-c", script).stdout.split()
             for c in stack.containers("detector")}
    say(f"HOME, poison-pill state dir, writable, per detector replica: {found}")
    assert len(found) == DETECTORS
    assert all(out[-1] == "True" for out in found.values()), found


def test_the_image_ships_no_c_compiler(stack: Stack) -> None:
    # The compiler is only in the build stage: the image that runs carries none of it.
    proc = docker("run", "--rm", "--entrypoint", "sh", IMAGE, "-c",
                  "command -v gcc cc x86_64-linux-gnu-gcc || true")
    assert proc.stdout.strip() == "", proc.stdout


def test_broker_answers_on_the_chosen_loopback_port(stack: Stack) -> None:
    port = stack.env["AUDITSTREAM_KAFKA_PORT"]
    admin = AdminClient({"bootstrap.servers": f"127.0.0.1:{port}"})
    topics = admin.list_topics(timeout=15).topics
    assert {"transactions", "transactions.scored", "transactions.dlq"} <= set(topics)
    assert len(topics["transactions"].partitions) == 4


def test_unwritable_exports_folder_says_what_to_run(
    stack: Stack, tmp_path: Path
) -> None:
    folder = tmp_path / "exports"
    folder.mkdir(mode=0o755)  # owned by the host user running the test, not by uid 10001
    unset = ("AUDITSTREAM_UID", "AUDITSTREAM_GID")  # the image's default user, 10001
    env = {k: v for k, v in {**os.environ, **stack.env}.items() if k not in unset}
    env["AUDITSTREAM_EXPORTS"] = str(folder)
    proc = stack.compose("run", "--rm", "--no-deps", "-T", "sink", check=False, timeout=120,
                         env=env)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 5, out
    assert "Traceback" not in out
    me = f"{os.getuid()}:{os.getgid()}"
    assert f"owned by uid:gid {me} with mode 755" in out, out
    assert f"AUDITSTREAM_UID={os.getuid()} AUDITSTREAM_GID={os.getgid()} docker compose up" in out
    assert "sudo chown -R 10001:10001 ./exports" in out
    assert list(folder.iterdir()) == []


def test_broker_is_healthy_by_a_kafka_reply_and_every_service_is_unprivileged(
    stack: Stack
) -> None:
    # The health check is docker/kafka/ready.sh (a Kafka request answered), not a TCP connect.
    (broker,) = stack.containers("kafka")
    assert inspect(broker, "{{.State.Health.Status}}") == "healthy"
    assert inspect(broker, "{{json .Config.Healthcheck.Test}}") == \
        '["CMD","/opt/kafka/ready.sh","19092"]'
    for service in ("kafka", "sink", "detector"):
        for container in stack.containers(service):
            assert '"ALL"' in inspect(container, "{{json .HostConfig.CapDrop}}"), service
            assert "no-new-privileges:true" in inspect(
                container, "{{json .HostConfig.SecurityOpt}}"), service
            assert inspect(container, "{{.HostConfig.RestartPolicy.Name}}:"
                           "{{.HostConfig.RestartPolicy.MaximumRetryCount}}") == \
                "on-failure:5", service


def _health(container: str) -> tuple[str, str]:
    """Docker's health status of `container` and the output of its last check."""
    state = json.loads(inspect(container, "{{json .State.Health}}"))
    log = state.get("Log") or [{}]
    return state["Status"], str(log[-1].get("Output", "")).strip()


def test_the_detectors_and_the_sink_become_healthy(stack: Stack) -> None:
    # Their checks (detector.health, sink.health) say healthy only for a loop that turns,
    # knows its lag through a broker connection and is caught up or moving (shared.health).
    containers = {c: s for s in ("detector", "sink") for c in stack.containers(s)}
    assert len(containers) == DETECTORS + 1
    deadline = time.monotonic() + HEALTHY_WAIT_S
    while True:
        found = {c: _health(c) for c in containers}
        if all(status == "healthy" for status, _ in found.values()) \
                or time.monotonic() > deadline:
            break
        time.sleep(1)
    say("health: " + "; ".join(f"{containers[c]} {c[:12]} {status} ({out})"
                               for c, (status, out) in found.items()))
    assert {c: status for c, (status, _) in found.items()} == dict.fromkeys(found, "healthy")
    assert all(out == "healthy: caught up (0 messages waiting)" for _, out in found.values())


def test_a_detector_without_a_broker_is_not_healthy(stack: Stack) -> None:
    # Alone in a project of its own (--no-deps: no broker there), it waits for one: its
    # loop never starts, so its check fails, and Docker never says healthy.
    lone = Stack(project=f"{stack.project}-nobroker", env=stack.env)
    try:
        lone.compose("up", "-d", "--no-deps", "detector")
        (container,) = lone.containers("detector")
        deadline = time.monotonic() + HEALTHY_WAIT_S
        while (found := _health(container))[1] == "":  # its first check: 15 s after start
            assert time.monotonic() < deadline, found
            time.sleep(1)
        proc = subprocess.run(["docker", "exec", container, "python", "-m", "detector.health"],
                              capture_output=True, text=True, timeout=60, check=False)
        say(f"a detector without a broker: Docker says {found}; the check: "
            f"exit {proc.returncode}, {proc.stdout.strip()!r}")
        assert found == ("starting", "unhealthy: its loop has not started (starting, or "
                                     "waiting for the broker)")
        assert (proc.returncode, proc.stdout) == (
            1, "unhealthy: its loop has not started (starting, or waiting for the broker)\n")
    finally:
        lone.compose("down", "-v", "--remove-orphans", check=False)


def test_a_permanent_error_is_restarted_5_times_then_left_exited(
    stack: Stack, tmp_path: Path
) -> None:
    # Docker restarts on any non-zero exit code and cannot skip some (systemd's
    # RestartPreventExitStatus): `on-failure:5` ends the loop. An exports folder the image's
    # user cannot write is a permanent error that fails at once (exit 5), without Kafka.
    folder = tmp_path / "exports"
    folder.mkdir(mode=0o755)  # owned by the host user running the test, not by uid 10001
    unset = ("AUDITSTREAM_UID", "AUDITSTREAM_GID")
    env = {k: v for k, v in {**os.environ, **stack.env}.items() if k not in unset}
    env["AUDITSTREAM_EXPORTS"] = str(folder)
    loop = Stack(project=f"{stack.project}-restarts", env={})
    try:
        loop.compose("up", "-d", "--no-deps", "sink", env=env)
        (container,) = loop.compose("ps", "-q", "sink", env=env).stdout.split()
        template = "{{.State.Status}} {{.State.ExitCode}} {{.RestartCount}}"
        deadline = time.monotonic() + 120
        while (state := inspect(container, template)) != "exited 5 5":
            assert time.monotonic() < deadline, state
            time.sleep(0.5)
        time.sleep(5)  # a 6th restart would come within 3.2 s (Docker's backoff doubles)
        state = inspect(container, template)
        runs = docker("logs", container).stderr.count("is not writable by this container")
        say(f"sink with an unwritable exports folder: status, exit, restarts = {state}; "
            f"{runs} runs logged")
        assert state == "exited 5 5"
        assert runs == 6
    finally:
        loop.compose("down", "-v", "--remove-orphans", check=False, env=env)


def test_sigterm_stops_each_service_with_exit_0_within_10s(stack: Stack) -> None:
    # Last: it stops the stack. Consumers first, the broker they talk to last.
    results = {}
    for service in ("sink", "detector", "kafka"):
        for container in stack.containers(service):
            name = inspect(container, "{{.Name}}").lstrip("/")
            assert inspect(container, "{{.State.Running}}") == "true", name
            assert inspect(container, "{{.HostConfig.Init}}") == "true", name  # tini is PID 1
            docker("kill", "--signal", "TERM", container)
            results[name] = wait_exit(container, 10.0)
    say("SIGTERM -> exit code, seconds: "
        + ", ".join(f"{n} {c} {s:.1f}" for n, (c, s) in sorted(results.items())))
    assert {n: c for n, (c, _) in results.items()} == dict.fromkeys(results, 0)


def test_compose_stop_while_rows_flow_stops_every_service_with_exit_0(
    stack: Stack, expected: list[Row]
) -> None:
    # After the test above: the same containers again, with the full demo stream flowing in,
    # then `stop` (what `down` does first) while the sink appends. Services must stop before
    # the broker (depends_on kafka), or they hang waiting for it until killed (exit 137).
    demo = {**os.environ, **stack.env, "PRODUCER_SEED": "7", "PRODUCER_CUSTOMERS": "1000",
            "PRODUCER_DAYS": "90"}
    stack.compose("up", "-d", "--scale", f"detector={DETECTORS}", env=demo)
    deadline = time.monotonic() + WAIT_S
    while _rows_in_run_json() < len(expected) + 20_000:
        assert time.monotonic() < deadline, f"{_rows_in_run_json()} rows"
        time.sleep(0.5)
    started = time.monotonic()
    stack.compose("stop", "-t", "10")
    seconds = time.monotonic() - started
    codes = {inspect(c, "{{.Name}}").lstrip("/"): inspect(c, "{{.State.ExitCode}}")
             for service in ("sink", "detector", "kafka") for c in stack.containers(service)}
    say(f"`stop` during the stream ({_rows_in_run_json():,} rows): {seconds:.1f} s, "
        f"exit codes {sorted(codes.items())}")
    # Exit 0 means no container needed the SIGKILL that follows `-t 10`; the services and then
    # the broker stop one after the other, so the whole `stop` may take up to twice that.
    assert codes == dict.fromkeys(codes, "0")
    assert seconds < 20
