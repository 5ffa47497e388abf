"""The producer's rate has a lower bound, declared on its field (`PRODUCER_RATE`) and taken
by `replay --rate`: one message an hour, the longest the pacing waits for one row
(`producer.pacing.MAX_WAIT_S`, `--speed`'s bound). Before (fixes19): any positive rate was
taken, and `PRODUCER_RATE=1e-300` waited 1e300 s between two messages, for ever, with no
word."""

from __future__ import annotations

import math
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from auditstream.cli import main
from producer import pacing
from producer.settings import MIN_RATE, ProducerSettings
from shared.entry import settings_error
from shared.errors import ExitCode

#: The bound and one float either side of it.
BELOW, ABOVE = math.nextafter(MIN_RATE, 0.0), math.nextafter(MIN_RATE, 1.0)


def test_the_slowest_rate_waits_the_pacings_longest_wait_for_a_row() -> None:
    assert MIN_RATE * pacing.MAX_WAIT_S == 1.0
    pacer = pacing.Pacer(rate=MIN_RATE)
    assert pacer.delay(0, datetime(2025, 1, 1), now=0.0) == 0.0
    assert pacer.delay(1, datetime(2025, 1, 1), now=0.0) == pacing.MAX_WAIT_S


@pytest.mark.parametrize("value", [MIN_RATE, ABOVE, 1.0])
def test_a_rate_at_or_above_the_bound_is_taken(
        monkeypatch: pytest.MonkeyPatch, value: float) -> None:
    monkeypatch.setenv("PRODUCER_RATE", repr(value))
    assert ProducerSettings().rate == value


@pytest.mark.parametrize("value", [BELOW, 1e-300, 5e-324])
def test_a_rate_below_the_bound_is_refused_naming_the_variable(
        monkeypatch: pytest.MonkeyPatch, value: float) -> None:
    monkeypatch.setenv("PRODUCER_RATE", repr(value))
    with pytest.raises(ValidationError) as refused:
        ProducerSettings()
    text = settings_error(refused.value)
    assert text is not None and text.startswith("invalid setting PRODUCER_RATE: "), text
    assert "greater than or equal to 0.0002777" in text, text


@pytest.mark.parametrize(("value", "taken"), [
    (repr(BELOW), False), ("1e-300", False), (repr(MIN_RATE), True), (repr(ABOVE), True)])
def test_replay_rate_takes_the_same_bound(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
        value: str, taken: bool) -> None:
    data = tmp_path / "in.csv"
    data.write_text("transaction_id,customer_id,timestamp,amount,country,channel,device,"
                    "merchant_category,ip\n1,c1,2025-01-01 00:00:00,1.0,CH,app,pc,fuel,\n")
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:1")  # nothing listens
    monkeypatch.setenv("KAFKA_STARTUP_WAIT_S", "0.2")
    code: Any
    try:
        code = main(["replay", str(data), "--rate", value])
    except SystemExit as exc:  # argparse's refusal
        code = exc.code
    err = capsys.readouterr().err
    if taken:  # on to the broker, which none answers here
        assert code == ExitCode.KAFKA_UNREACHABLE, err
    else:
        assert code == ExitCode.USAGE, err
        assert err.strip().splitlines()[-1].endswith(
            f"argument --rate: must be at least 0.000277778, not {value}"), err
