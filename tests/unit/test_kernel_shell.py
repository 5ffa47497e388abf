"""detector/kernel/rows.py's Python around the compiled loop: the strings coded a column at
a time (`KernelRows._encode`) give every string the code the row-by-row coding gave it
(new strings in order of arrival: by row, then country, device, network, channel,
category), with `features.ipnet` of each address (`_networks`, a memo)."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from detector.core.config import CoreConfig
from detector.core.features import ipnet
from detector.kernel import rows as kr
from detector.kernel.codes import Codes
from tests.ci import IN_CI
from tests.unit.kernel_rows import generated

if not IN_CI:  # in CI a missing numba fails the run, never skips
    pytest.importorskip("numba", reason="numba is a dev dependency (pip install -e '.[dev]')")


def _row_by_row(codes: Codes, batch: list[Any]) -> np.ndarray:
    """The coding `_encode` replaced: each row's five strings in turn."""
    out = np.empty((len(batch), 5), np.int32)
    for i, tx in enumerate(batch):
        out[i] = [codes.code(tx.country), codes.code(tx.device), codes.code(ipnet(tx.ip)),
                  codes.code(tx.channel), codes.code(tx.merchant_category)]
    return out


def _same(txs: list[Any], size: int) -> None:
    shell = kr.KernelRows(CoreConfig())
    codes = Codes()
    codes.code("")  # as KernelRows' first
    for lo in range(0, len(txs), size):
        batch = txs[lo:lo + size]
        want = _row_by_row(codes, batch)
        got = shell._encode(batch)
        assert got.dtype == np.int32 and got.flags.c_contiguous
        assert got.tolist() == want.tolist(), lo
        assert shell.codes.values == codes.values, lo


def test_generated_rows() -> None:
    _same(generated(seed=3, customers=80, days=6), 500)


def _tx(country: str, device: str, ip: str, channel: str, category: str) -> Any:
    return SimpleNamespace(country=country, device=device, ip=ip, channel=channel,
                           merchant_category=category)


def test_new_strings_in_several_columns_and_rows() -> None:
    """A string new in a batch under several columns takes its code where it first
    arrives, row before column; repeated, empty and IPv6 addresses too."""
    txs = [
        _tx("CH", "web", "10.0.0.1", "web", "CH"),
        _tx("x", "CH", "", "x", "food"),
        _tx("FR", "food", "2001:db8:1:2::1", "10.0.0", "FR"),
        _tx("10.0.0", "a", "10.0.0.9", "b", "a"),
        _tx("CH", "web", "10.0.0.1", "web", "CH"),
        _tx("b", "2001:db8:1", "1.2.3", "FR", "z"),
    ]
    for size in (1, 2, 3, 6):
        _same(txs * 2, size)


def test_networks_memo() -> None:
    ips = ["10.1.2.3", "", "2001:db8:1:2::1", "1.2.3", "10.1.2.3", "::1"]
    assert kr._networks(ips) == [ipnet(ip) for ip in ips]
    assert kr._networks(ips) == [ipnet(ip) for ip in ips]  # from the memo
    kr._NETWORKS["10.1.2.3"] = "10.1.2"
    full = dict.fromkeys((f"k{i}" for i in range(kr._NETS + 1)), "")
    kr._NETWORKS.update(full)
    try:
        assert kr._networks(["9.9.9.9"]) == ["9.9.9"]  # a miss clears a full memo
        assert len(kr._NETWORKS) == 1
    finally:
        kr._NETWORKS.clear()


_WORDS = st.sampled_from(["", "CH", "FR", "x", "web", "10.0.0", "10.0.0.1", "2001:db8:1"])


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(_WORDS, _WORDS, _WORDS, _WORDS, _WORDS), max_size=40),
       st.integers(1, 12))
def test_any_batches_code_every_string_as_row_by_row(rows: list[tuple[str, ...]],
                                                      size: int) -> None:
    """Strings shared between columns and batches, new ones anywhere in a batch: each takes
    the code the row-by-row coding gave it (`_encode` looks every string up once, then
    codes the new ones by their first row and column)."""
    _same([_tx(*row) for row in rows], size)
