"""Resolve Apache Kafka's jars from Maven Central once, cached per version."""

from __future__ import annotations

import fcntl
import logging
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from importlib import resources
from pathlib import Path

from shared.errors import BrokerError
from shared.names import shown
from shared.outputs import as_output_error

log = logging.getLogger(__name__)

JAVA_HINT = "Install a Java 17+ runtime (e.g. `apt-get install openjdk-17-jre-headless`)."


def require_tool(name: str, hint: str) -> str:
    """The path of `name` on PATH, or a `BrokerError` that says how to get it."""
    path = shutil.which(name)
    if path is None:
        raise BrokerError(f"`{name}` was not found on PATH. {hint}")
    return path


def make_folder(folder: Path, setting: str, value: Path) -> None:
    """Create `folder` (under the `setting` folder `value`): a file in its way is a
    `BrokerError` (exit 2), a place that takes no folder (`/proc`) an `OutputError` (exit 5),
    in one line naming it."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError):
        in_way = next((p for p in (folder, *folder.parents) if p.exists() and not p.is_dir()),
                      folder)
        raise BrokerError(f"{setting}={shown(value)}: {shown(in_way)} is a file, not a "
                          f"folder; give {setting} a folder") from None
    except OSError as exc:
        raise as_output_error(OSError(exc.errno, exc.strerror, str(folder))) from exc


def ensure_libs(libs_dir: Path, kafka_version: str, cache_dir: Path | None = None) -> Path:
    """Return a folder holding every runtime jar of `kafka_2.13:<version>`, fetching it once
    (into `cache_dir`, BROKER_CACHE_DIR, which a failure to make it names).

    Two fetches at once (two `broker start`s, two test sessions on a fresh machine) take
    turns: the second finds the first's jars instead of resolving again and swapping its
    own folder in under a broker that may already run from the first's."""
    marker = libs_dir / ".complete"
    if marker.exists():
        return libs_dir
    mvn = require_tool("mvn", "Install Apache Maven (e.g. `apt-get install maven`) to fetch Kafka.")
    require_tool("java", JAVA_HINT)
    make_folder(libs_dir.parent, "BROKER_CACHE_DIR",
                libs_dir.parent.parent if cache_dir is None else cache_dir)
    with exclusive(libs_dir.with_name(libs_dir.name + ".lock"), f"a fetch of {libs_dir}"):
        if marker.exists():
            return libs_dir
        _resolve(mvn, libs_dir, kafka_version)
        marker.write_text(kafka_version + "\n")
    return libs_dir


@contextmanager
def exclusive(lock_file: Path, what: str) -> Iterator[None]:
    """An exclusive `flock` on `lock_file` (held by `what`), waited for; the kernel releases
    it however its holder ends, so a killed fetch or start never blocks the next one."""
    fd = os.open(lock_file, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    try:
        if not _try_lock(fd):
            log.info("%s is running in another process; waiting for it", what)
            fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def _try_lock(fd: int) -> bool:
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


def _resolve(mvn: str, libs_dir: Path, kafka_version: str) -> None:
    """Resolve the jars into a staging folder, then move it to `libs_dir` (lock held).

    A staging folder found here belongs to a fetch killed midway (they are only made under
    the lock): its half-downloaded jars are removed. `--strict-checksums`: a jar whose
    checksum does not match Maven Central's fails the fetch (Maven's default only warns)."""
    prefix = f"{libs_dir.name}-"  # `libs-<random>` beside `libs`
    for dead in libs_dir.parent.glob(prefix + "*"):
        if dead.is_dir() and not dead.is_symlink():
            shutil.rmtree(dead, ignore_errors=True)
    staging = Path(tempfile.mkdtemp(prefix=prefix, dir=libs_dir.parent))
    pom = staging / "pom.xml"
    pom.write_bytes(resources.files("auditstream.broker").joinpath("pom.xml").read_bytes())
    log.info("resolving Apache Kafka %s jars from Maven Central into %s", kafka_version, libs_dir)
    cmd = [
        mvn, "-B", "-q", "--strict-checksums", "-f", str(pom), f"-Dkafka.version={kafka_version}",
        "dependency:copy-dependencies", "-DincludeScope=runtime",
        f"-DoutputDirectory={staging / 'libs'}",
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    jars = list((staging / "libs").glob("kafka_2.13-*.jar"))
    if proc.returncode != 0 or not jars:
        shutil.rmtree(staging, ignore_errors=True)
        tail = "\n".join((proc.stdout + proc.stderr).splitlines()[-20:])
        raise BrokerError(
            f"mvn could not resolve org.apache.kafka:kafka_2.13:{kafka_version} "
            f"(exit {proc.returncode}). Check network access to Maven Central.\n{tail}"
        )
    if libs_dir.exists():  # left by a fetch killed before its marker: not trusted
        shutil.rmtree(libs_dir)
    (staging / "libs").rename(libs_dir)
    shutil.rmtree(staging, ignore_errors=True)
