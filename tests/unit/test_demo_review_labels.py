"""The demo's shortfall warnings (a type its small stream could not place as often as its rate
asks): named as the demo's, with the demo's options, and said once, as the demo publishes
its stream, with or without `--review`.

Walking the docs (2026-12-06): `demo --customers 20 --days 10 --review` printed
`auditstream generate: warning: ...; give more --customers or --days, or a lower
--anomaly-rate NEW_COUNTRY=RATE`, an option `demo` refuses, under the name of a command the
user did not run (the labels regenerated in-process with generate's entry). And the plain
demo said nothing (helper session 17, 2026-12-07): it ran `generate --publish` with its
stderr captured and dropped on success. The broker test:
`tests/integration/test_demo_warnings.py`."""

from __future__ import annotations

import argparse
import subprocess
from pathlib import Path
from typing import Any

import pytest

import auditstream.demo as demo
import producer.cli
from auditstream.review.demo import generated_labels
from shared.errors import AuditstreamError

#: What `generate` says of the small demo stream below (seed 42, 20 customers, 10 days).
WARNING = "auditstream demo: warning: NEW_COUNTRY: "
ENDING = "give more --customers or --days (docs/producer.md, Anomaly rates)"


def generate(args: list[str]) -> None:
    """`auditstream generate ARGS`' transactions, made in-process (its warnings on stderr)."""
    parser = argparse.ArgumentParser()
    producer.cli.register(parser.add_subparsers())
    producer.cli.make_transactions(parser.parse_args(["generate", *args]))


@pytest.mark.parametrize(("for_demo", "named"), [
    (None, "auditstream generate: warning: NEW_COUNTRY: "), ("1", WARNING),
    ("0", "auditstream generate: warning: NEW_COUNTRY: ")])
def test_generate_run_by_the_demo_names_the_demo_and_its_options(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
        for_demo: str | None, named: str) -> None:
    if for_demo is None:
        monkeypatch.delenv(producer.cli.DEMO_ENV, raising=False)
    else:
        monkeypatch.setenv(producer.cli.DEMO_ENV, for_demo)
    generate(["--seed", "42", "--customers", "20", "--days", "10"])
    lines = [line for line in capsys.readouterr().err.splitlines() if "warning:" in line]
    assert len(lines) == 1 and lines[0].startswith(named), lines
    assert lines[0].endswith(ENDING if for_demo == "1" else
                             "or a lower --anomaly-rate NEW_COUNTRY=RATE (docs/producer.md, "
                             "Anomaly rates)"), lines


def test_review_regenerates_the_labels_without_saying_the_warnings_again(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv(producer.cli.DEMO_ENV, "1")  # not even so
    labels = generated_labels(argparse.Namespace(seed=42, customers=20, days=10))
    assert labels  # the labels themselves are unchanged
    assert capsys.readouterr().err == ""


def publish_with(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, said: str,
                 code: int = 0) -> tuple[demo.Demo, dict[str, Any]]:
    """A demo whose `generate --publish` child writes `said` to its stderr and exits `code`;
    the child's call as it was made."""
    monkeypatch.chdir(tmp_path)
    run = demo.Demo(argparse.Namespace(exports=tmp_path / "exports", partitions=1, seed=42,
                                       customers=20, days=10))
    run.logs.mkdir(parents=True)
    call: dict[str, Any] = {}

    def child(cmd: list[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
        call.update(kwargs, cmd=cmd)
        kwargs["stderr"].write(said)
        return subprocess.CompletedProcess(cmd, code, stdout="", stderr=None)

    monkeypatch.setattr(subprocess, "run", child)
    monkeypatch.setattr(demo, "_topic_size", lambda bootstrap, topic: 532)
    return run, call


def test_the_plain_demo_shows_the_warnings_of_the_generate_it_runs(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    warning = f"{WARNING}0 rows (0.00% of 532), not the 1 its rate 0.25% asks: ...; {ENDING}"
    said = (f"{warning}\ngenerated 532 transactions (7 anomalies, 1.32%) in 0.3 s\n"
            "sent 532 of 532 in 0.10 s (5,320 rows/s)\n")
    run, call = publish_with(monkeypatch, tmp_path, said)
    assert run._publish({"KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:9"}) == 532
    assert call["env"][producer.cli.DEMO_ENV] == "1"
    assert capsys.readouterr().err.splitlines() == [warning]
    assert (run.logs / "generate.log").read_text() == said  # the rest in its log


def test_a_failed_publish_still_names_what_generate_said(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    run, _ = publish_with(monkeypatch, tmp_path, "auditstream generate: error: no broker\n", 4)
    with pytest.raises(AuditstreamError) as info:
        run._publish({"KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:9"})
    assert str(info.value) == ("publishing failed (exit 4):\n"
                               "auditstream generate: error: no broker\n")
