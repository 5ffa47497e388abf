"""`python -m producer` (the compose stack's producer, settings from PRODUCER_*) names its
own settings when a rate its rows cannot fill is warned of, as `auditstream generate` names
its options. Before: the container's log said `auditstream generate: warning: ...; give more
--customers or --days`, a command and options the container does not have (found walking
the docs, 2026-12-06)."""

from __future__ import annotations

from pathlib import Path

import pytest

from producer import generator
from producer.__main__ import _run
from producer.settings import ProducerSettings


def test_the_containers_warning_names_its_entry_and_settings(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "tx.csv"
    settings = ProducerSettings(mode="generate", mix="extended", customers=30, days=20,
                                publish=False, out=out)
    assert _run(settings) == 0
    warned = [line for line in capsys.readouterr().err.splitlines() if "warning:" in line]
    expected = generator.generate_all(generator.mix_config(
        "extended", seed=42, customers=30, days=20)).shortfalls
    assert expected  # 30 customers over 20 days cannot hold every extended kind
    assert len(warned) == len(expected)
    for line, s in zip(warned, expected, strict=True):
        assert line.startswith(f"python -m producer: warning: {s.kind}: ")
        assert line.endswith("give more PRODUCER_CUSTOMERS or PRODUCER_DAYS "
                             "(docs/producer.md, Anomaly rates)")
        assert "--" not in line  # no option of a command line it does not have
    assert out.is_file()
