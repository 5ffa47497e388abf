"""`ensure_libs`: Kafka's jars resolved once per version, safe with two fetches at once."""

from __future__ import annotations

import os
import sys
import threading
from pathlib import Path

import pytest

from auditstream.broker.libs import ensure_libs
from shared.errors import BrokerError

# A stand-in for `mvn dependency:copy-dependencies`: it counts its runs, takes a while (as
# a download does) and writes one jar into -DoutputDirectory, or fails if told to.
FAKE_MVN = """#!{python}
import os, sys, time
from pathlib import Path
args = sys.argv[1:]
with open(os.environ["FAKE_MVN_LOG"], "a") as log:
    log.write(" ".join(args) + "\\n")
if os.environ.get("FAKE_MVN_FAIL"):
    print("no network", file=sys.stderr)
    sys.exit(1)
time.sleep(float(os.environ.get("FAKE_MVN_SLEEP", "0")))
out = Path(next(a for a in args if a.startswith("-DoutputDirectory=")).split("=", 1)[1])
out.mkdir(parents=True, exist_ok=True)
(out / "kafka_2.13-9.9.9.jar").write_bytes(b"jar")
"""


@pytest.fixture
def fake_mvn(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    mvn = bin_dir / "mvn"
    mvn.write_text(FAKE_MVN.format(python=sys.executable))
    mvn.chmod(0o755)
    java = bin_dir / "java"  # only looked up, never run
    java.write_text("#!/bin/sh\n")
    java.chmod(0o755)
    log = tmp_path / "mvn.log"
    log.touch()
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("FAKE_MVN_LOG", str(log))
    return log


def _runs(log: Path) -> int:
    return len(log.read_text().splitlines())


def test_the_jars_are_resolved_once_then_taken_from_the_cache(
    tmp_path: Path, fake_mvn: Path
) -> None:
    libs = tmp_path / "cache" / "libs-9.9.9"
    assert ensure_libs(libs, "9.9.9") == libs
    assert ensure_libs(libs, "9.9.9") == libs
    assert _runs(fake_mvn) == 1
    assert (libs / "kafka_2.13-9.9.9.jar").read_bytes() == b"jar"
    assert (libs / ".complete").read_text() == "9.9.9\n"
    assert [p.name for p in libs.parent.iterdir() if p.is_dir()] == ["libs-9.9.9"]


def test_two_fetches_at_once_resolve_once_and_never_swap_the_folder_under_each_other(
    tmp_path: Path, fake_mvn: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two first-time fetches (two `broker start`s, two test sessions) used to both run
    mvn, and the slower one deleted the folder the faster one had finished, and perhaps
    started a broker from, to swap in its own. The second now waits for the first."""
    monkeypatch.setenv("FAKE_MVN_SLEEP", "0.6")
    libs = tmp_path / "cache" / "libs-9.9.9"
    results: list[Path | BaseException] = []
    inodes: set[int] = set()

    def fetch() -> None:
        try:
            results.append(ensure_libs(libs, "9.9.9"))
            inodes.add(libs.stat().st_ino)
        except BaseException as exc:  # reported by the assertion below
            results.append(exc)

    threads = [threading.Thread(target=fetch) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert results == [libs, libs]
    assert _runs(fake_mvn) == 1
    assert len(inodes) == 1  # the folder the first fetch finished is the one that stays
    assert (libs / ".complete").exists()


def test_a_failed_resolve_leaves_nothing_behind_and_a_later_one_succeeds(
    tmp_path: Path, fake_mvn: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    libs = tmp_path / "cache" / "libs-9.9.9"
    monkeypatch.setenv("FAKE_MVN_FAIL", "1")
    with pytest.raises(BrokerError, match=r"(?s)could not resolve.*no network"):
        ensure_libs(libs, "9.9.9")
    assert not libs.exists()
    assert [p for p in libs.parent.iterdir() if p.is_dir()] == []
    monkeypatch.delenv("FAKE_MVN_FAIL")
    assert ensure_libs(libs, "9.9.9") == libs
    assert _runs(fake_mvn) == 2


def test_a_folder_left_without_its_marker_is_resolved_again(
    tmp_path: Path, fake_mvn: Path
) -> None:
    """A fetch killed after moving the jars in but before its marker: not trusted."""
    libs = tmp_path / "cache" / "libs-9.9.9"
    libs.mkdir(parents=True)
    (libs / "kafka_2.13-0.0.1.jar").write_bytes(b"half")
    assert ensure_libs(libs, "9.9.9") == libs
    assert sorted(p.name for p in libs.iterdir()) == [".complete", "kafka_2.13-9.9.9.jar"]


def test_maven_is_told_to_fail_on_a_checksum_that_does_not_match(
    tmp_path: Path, fake_mvn: Path
) -> None:
    """Maven only warns of a jar whose checksum does not match Maven Central's (its default
    checksum policy): a jar corrupted or altered on the way was cached and run."""
    ensure_libs(tmp_path / "cache" / "libs-9.9.9", "9.9.9")
    assert "--strict-checksums" in fake_mvn.read_text().split()


def test_a_fetch_killed_midway_leaves_no_staging_folder_after_the_next(
    tmp_path: Path, fake_mvn: Path
) -> None:
    """A fetch killed while mvn downloads (Ctrl-C twice, kill -9, a reboot) left its staging
    folder of half-downloaded jars for ever; the next fetch, holding the lock, removes it."""
    libs = tmp_path / "cache" / "kafka-9.9.9" / "libs"  # BrokerSettings.libs_dir's layout
    dead = libs.parent / "libs-x1y2_3z4"  # the staging folder of a killed fetch
    (dead / "libs").mkdir(parents=True)
    (dead / "libs" / "kafka_2.13-9.9.9.jar").write_bytes(b"trunc")
    (dead / "pom.xml").write_text("<project/>")
    other = tmp_path / "cache" / "kafka-9.9.8" / "libs"  # another version's: not touched
    other.mkdir(parents=True)
    assert ensure_libs(libs, "9.9.9") == libs
    assert sorted(p.name for p in libs.parent.iterdir()) == ["libs", "libs.lock"]
    assert other.is_dir()
    assert (libs / "kafka_2.13-9.9.9.jar").read_bytes() == b"jar"


def test_the_broker_image_s_maven_fallback_checks_checksums_too() -> None:
    dockerfile = (Path(__file__).parents[2] / "docker/kafka/Dockerfile").read_text()
    calls = [line for line in dockerfile.splitlines() if line.strip().startswith("mvn ")]
    assert calls and all("--strict-checksums" in line for line in calls), calls
