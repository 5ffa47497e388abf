"""An audit sample drawn with the repository's public default key, or a key short enough
to guess, says so, once per writer.

Before: with `EXPORTS_SAMPLE_KEY` unset the sink and `score` drew the sample with the key
written in the repository, silently, so anyone holding the transaction ids could tell which
non-flagged rows the auditors would be shown (and which never). The docs said "set a secret
one"; nothing at run time did. Nor did anything warn of a key like "k1": the checkpoint
keeps each sampled row's draw, from which a short key can be guessed offline.
"""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from sink.offline import ExportWriter
from sink.settings import MIN_SAMPLE_KEY, ExportSettings
from sink.writer import SinkWriter


def _warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING
            and "EXPORTS_SAMPLE_KEY" in r.getMessage()]


@pytest.mark.parametrize("writer", ["sink", "score"])
def test_the_public_default_key_is_one_warning(
    writer: str, tmp_path: Path, caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("EXPORTS_SAMPLE_KEY", raising=False)
    caplog.set_level(logging.WARNING)
    settings = ExportSettings()
    if writer == "sink":
        SinkWriter(tmp_path, "transactions.scored", settings).close()
    else:
        ExportWriter(tmp_path, settings)
    assert _warnings(caplog) == [
        "EXPORTS_SAMPLE_KEY is not set: the audit sample is drawn with the public default key, "
        "so anyone with the transaction ids can predict it; set a secret one (docs/assurance.md)"]


@pytest.mark.parametrize("writer", ["sink", "score"])
def test_a_key_of_ones_own_is_no_warning_and_never_logged(
    writer: str, tmp_path: Path, caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    settings = ExportSettings(sample_key="k3y-of-our-own-16+")
    if writer == "sink":
        SinkWriter(tmp_path, "transactions.scored", settings).close()
    else:
        ExportWriter(tmp_path, settings)
    assert _warnings(caplog) == []
    assert "k3y-of-our-own-16+" not in caplog.text


@pytest.mark.parametrize(("length", "warned"), [
    (MIN_SAMPLE_KEY - 1, True), (MIN_SAMPLE_KEY, False), (MIN_SAMPLE_KEY + 1, False)])
@pytest.mark.parametrize("writer", ["sink", "score"])
def test_a_key_shorter_than_the_minimum_is_one_warning_without_the_key(
    writer: str, length: int, warned: bool, tmp_path: Path, caplog: pytest.LogCaptureFixture,
) -> None:
    key = "s3cr3t-k3y-xyzw0"[:length].ljust(length, "q")
    caplog.set_level(logging.DEBUG)
    settings = ExportSettings(sample_key=key)
    if writer == "sink":
        SinkWriter(tmp_path, "transactions.scored", settings).close()
    else:
        ExportWriter(tmp_path, settings)
    assert _warnings(caplog) == ([
        "EXPORTS_SAMPLE_KEY has fewer than 16 characters: whoever can read the exports "
        "folder's checkpoint (it keeps each sampled row's draw) could guess it offline and "
        "then predict the sample; use at least 16 random characters (docs/assurance.md)"]
        if warned else [])
    assert key not in caplog.text
