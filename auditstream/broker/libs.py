"""Resolve Apache Kafka's jars from Maven Central once, cached per version."""

from __future__ import annotations

import logging
import shutil
import subprocess
import tempfile
from importlib import resources
from pathlib import Path

from shared.errors import BrokerError

log = logging.getLogger(__name__)

JAVA_HINT = "Install a Java 17+ runtime (e.g. `apt-get install openjdk-17-jre-headless`)."


def require_tool(name: str, hint: str) -> str:
    """The path of `name` on PATH, or a `BrokerError` that says how to get it."""
    path = shutil.which(name)
    if path is None:
        raise BrokerError(f"`{name}` was not found on PATH. {hint}")
    return path


def ensure_libs(libs_dir: Path, kafka_version: str) -> Path:
    """Return a folder holding every runtime jar of `kafka_2.13:<version>`, fetching it once."""
    marker = libs_dir / ".complete"
    if marker.exists():
        return libs_dir
    mvn = require_tool("mvn", "Install Apache Maven (e.g. `apt-get install maven`) to fetch Kafka.")
    require_tool("java", JAVA_HINT)
    libs_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix="libs-", dir=libs_dir.parent))
    pom = staging / "pom.xml"
    pom.write_bytes(resources.files("auditstream.broker").joinpath("pom.xml").read_bytes())
    log.info("resolving Apache Kafka %s jars from Maven Central into %s", kafka_version, libs_dir)
    cmd = [
        mvn, "-B", "-q", "-f", str(pom), f"-Dkafka.version={kafka_version}",
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
    if libs_dir.exists():
        shutil.rmtree(libs_dir)
    (staging / "libs").rename(libs_dir)
    shutil.rmtree(staging, ignore_errors=True)
    marker.write_text(kafka_version + "\n")
    return libs_dir
