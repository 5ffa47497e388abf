"""`demo --review` regenerates the stream's labels in-process; a type its small stream could
not place is named as the demo's, with the demo's options (walk through the docs,
2026-12-06: `demo --customers 20 --days 10 --review` printed `auditstream generate:
warning: ...; give more --customers or --days, or a lower --anomaly-rate NEW_COUNTRY=RATE`,
an option `demo` refuses, under the name of a command the user did not run)."""

from __future__ import annotations

import argparse

import pytest

from auditstream.review.demo import generated_labels


def test_a_shortfall_is_named_as_the_demos_with_its_own_options(
        capsys: pytest.CaptureFixture[str]) -> None:
    labels = generated_labels(argparse.Namespace(seed=42, customers=20, days=10))
    assert labels  # the labels themselves are unchanged
    lines = capsys.readouterr().err.splitlines()
    assert lines and all(line.startswith("auditstream demo: warning: NEW_COUNTRY: ")
                         for line in lines), lines
    assert all(line.endswith("give more --customers or --days (docs/producer.md, Anomaly "
                             "rates)") for line in lines), lines
