"""`EXPORTS_SAMPLE_KEY` of blank space only is refused naming it (helper session 18,
bounds18). Before, `EXPORTS_SAMPLE_KEY=' '` was taken (an empty one was refused): an audit
sample keyed by a space, a key anyone guesses, with only the short-key warning; the docs
give blank no meaning (docs/assurance.md: a key of any length)."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from shared.entry import settings_error
from shared.errors import ExitCode
from sink.__main__ import main as sink_main
from sink.settings import ExportSettings


@pytest.mark.parametrize("key", [" ", "   ", "\t", " \n "])
def test_a_blank_sample_key_is_refused_naming_it(
        monkeypatch: pytest.MonkeyPatch, key: str) -> None:
    monkeypatch.setenv("EXPORTS_SAMPLE_KEY", key)
    with pytest.raises(ValidationError) as refused:
        ExportSettings()
    text = settings_error(refused.value)
    assert text is not None and text.startswith("invalid setting EXPORTS_SAMPLE_KEY: "), text
    assert "blank" in text


@pytest.mark.parametrize("key", ["k", " a key with spaces ", "x" * 64])
def test_a_sample_key_of_any_visible_text_is_still_taken(
        monkeypatch: pytest.MonkeyPatch, key: str) -> None:
    monkeypatch.setenv("EXPORTS_SAMPLE_KEY", key)
    assert ExportSettings().sample_key.get_secret_value() == key


def test_the_sink_with_a_blank_sample_key_stops_in_one_line_before_its_folder(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("EXPORTS_SAMPLE_KEY", " ")
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:1")
    monkeypatch.setenv("SINK_STARTUP_WAIT_S", "0.5")  # before: a broker wait, then exit 4
    assert sink_main(["--exports", str(tmp_path / "e")]) == ExitCode.USAGE
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(
        "python -m sink: error: invalid setting EXPORTS_SAMPLE_KEY: "), err
    assert not (tmp_path / "e").exists()
