"""An audit sample drawn with the repository's public default key says so, once per writer.

Before: with `EXPORTS_SAMPLE_KEY` unset the sink and `score` drew the sample with the key
written in the repository, silently, so anyone holding the transaction ids could tell which
non-flagged rows the auditors would be shown (and which never). The docs said "set a secret
one"; nothing at run time did.
"""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from sink.offline import ExportWriter
from sink.settings import ExportSettings
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
    settings = ExportSettings(sample_key="k3y-of-our-own")
    if writer == "sink":
        SinkWriter(tmp_path, "transactions.scored", settings).close()
    else:
        ExportWriter(tmp_path, settings)
    assert _warnings(caplog) == []
    assert "k3y-of-our-own" not in caplog.text
