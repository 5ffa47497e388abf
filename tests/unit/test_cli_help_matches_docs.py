"""Each command's `--help` says what the docs say: the same options, settings and defaults.

Found walking the README and docs/ word by word (2026-12-06): `broker --help` named six of
its eight settings (not BROKER_CACHE_DIR, BROKER_START_TIMEOUT), docs/detector.md's synopsis
three of `detect`'s six options, and `generate`, `detect` and `demo` printed no default for
options whose default the docs give.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from auditstream.broker.settings import BrokerSettings
from auditstream.cli import main
from detector.settings import DetectorSettings
from shared.settings import env_names

ROOT = Path(__file__).resolve().parents[2]


def _help(capsys: pytest.CaptureFixture[str], *command: str) -> str:
    with pytest.raises(SystemExit) as stop:
        main([*command, "--help"])
    assert stop.value.code == 0
    return " ".join(capsys.readouterr().out.split())  # argparse wraps lines


def _option_help(text: str, option: str) -> str:
    """The help of one option: from its flag to the next option's."""
    after = text.split(f" {option} ", 1)[1]
    return re.split(r" --[a-z]", after, maxsplit=1)[0]


def test_broker_help_names_every_broker_setting(capsys: pytest.CaptureFixture[str]) -> None:
    text = _help(capsys, "broker")
    assert sorted(n for n in env_names(BrokerSettings) if n not in text) == []


DETECT_OPTIONS = {"--group": "group_id", "--instance-id": "instance_id",
                  "--metrics-port": "metrics_port", "--batch-size": "batch_size",
                  "--snapshot-every": "snapshot_every", "--recovery-policy": "recovery_policy"}


@pytest.mark.parametrize("option", sorted(DETECT_OPTIONS))
def test_detect_help_names_the_setting_each_option_overrides(
        option: str, capsys: pytest.CaptureFixture[str]) -> None:
    field = DETECT_OPTIONS[option]
    assert f"DETECTOR_{field.upper()}" in _option_help(_help(capsys, "detect"), option)


@pytest.mark.parametrize("option", ["--batch-size", "--snapshot-every", "--recovery-policy"])
def test_detect_help_gives_the_settings_default(
        option: str, capsys: pytest.CaptureFixture[str]) -> None:
    default = DetectorSettings.model_fields[DETECT_OPTIONS[option]].default
    assert f"default {default}" in _option_help(_help(capsys, "detect"), option)


def test_the_detector_synopsis_names_every_detect_option() -> None:
    doc = (ROOT / "docs" / "detector.md").read_text(encoding="utf-8")
    synopsis = doc.split("    auditstream detect ", 1)[1].split("    python -m detector", 1)[0]
    assert [o for o in DETECT_OPTIONS if o not in synopsis] == []


@pytest.mark.parametrize(("option", "default"), [
    ("--seed", "default 42"), ("--days", "default 90"), ("--start", "default 2025-01-01"),
])
def test_generate_help_gives_the_documented_default(
        option: str, default: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert default in _option_help(_help(capsys, "generate"), option)


@pytest.mark.parametrize(("option", "default"), [
    ("--seed", "default 42"), ("--partitions", "default 4"), ("--exports", "default exports"),
    ("--timeout", "default 1800"),
])
def test_demo_help_gives_the_default(
        option: str, default: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert default in _option_help(_help(capsys, "demo"), option)


@pytest.mark.parametrize(("action", "option", "default"), [
    ("sample", "--seed", "default 11"),  # docs/dashboard.md, "The sample snapshot": seed 11
    ("screenshots", "--exports", "default: the committed sample"),
    ("screenshots", "--out", "default docs/img"),
    ("screenshots", "--pbix", "default dashboard_anomalies.pbix"),
])
def test_dashboard_help_gives_the_default(
        action: str, option: str, default: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert default in _option_help(_help(capsys, "dashboard", action), option)


def _readme_codes(command: str) -> set[int]:
    """The codes 1 to 7 whose row of the README's exit-code table names `command` (70 and
    130 are every command's)."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    codes = set()
    for row in re.findall(r"^\| (\d) \| `[A-Z_]+` \|.*$", readme, flags=re.M):
        line = next(x for x in readme.splitlines() if x.startswith(f"| {row} | `"))
        names = line.rsplit(" | ", 1)[1]
        if f"`{command}`" in names or f"`{command} " in names or names.strip(" |") == "all":
            codes.add(int(row))
    return codes - {0}


@pytest.mark.parametrize("command", [("replay",), ("score",), ("review", "import")])
def test_a_help_listing_exit_codes_lists_those_the_readme_gives_it(
        command: tuple[str, ...], capsys: pytest.CaptureFixture[str]) -> None:
    text = _help(capsys, *command)
    listed = {int(c) for c in re.findall(r"\b(\d+): ", text.split("Exit 0:", 1)[1])}
    assert sorted(_readme_codes(" ".join(command)) - listed) == []


@pytest.mark.parametrize("command", [("replay",), ("score",), ("review", "import")])
def test_a_help_listing_exit_codes_lists_the_interruption(
        command: tuple[str, ...], capsys: pytest.CaptureFixture[str]) -> None:
    """130 is every command's but `detect`'s and `sink`'s (README, "Exit codes"): `replay
    --help` listed it, `score --help` and `review import --help` stopped at 5 and 6."""
    assert "130: interrupted" in _help(capsys, *command).split("Exit 0:", 1)[1]
