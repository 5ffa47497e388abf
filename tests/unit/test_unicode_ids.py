"""Customer and transaction ids are compared as their code points, as written: no Unicode
normalization, no case folding (hostile probe, 2026-12-06, fourteenth; docs/producer.md,
"Input rules"). The same name in NFC and in NFD (`Zoë` as one code point or as `e` and a
combining diaeresis: macOS file names, some databases), or with a zero-width space, is two
customers, each with its own history, partition and cases; and each id's 128-character
bound counts the code points of the form written."""

from __future__ import annotations

import csv
import unicodedata
from pathlib import Path

import pytest
from pydantic import ValidationError

from auditstream.cli import main
from shared.csv_io import write_transactions_csv
from shared.partitioning import partition_for
from shared.schemas import MAX_ID_CHARS, Transaction
from tests.poison_corpus import valid_fields
from tests.unit.test_core_engine import stream

NFC = unicodedata.normalize("NFC", "Zoë")
NFD = unicodedata.normalize("NFD", "Zoë")
ZERO_WIDTH = "Zo\u200bë"


def test_the_forms_of_one_name_are_other_ids_to_every_reader() -> None:
    assert (NFC, len(NFC), len(NFD)) == ("Zo\u00eb", 3, 4) and NFC != NFD
    ids = {Transaction.model_validate({**valid_fields(), "customer_id": c}).customer_id
           for c in (NFC, NFD, ZERO_WIDTH)}
    assert ids == {NFC, NFD, ZERO_WIDTH}  # kept as written, three ids
    # Kafka's key is the id's UTF-8 bytes: the forms may land on other partitions
    assert len({c.encode() for c in (NFC, NFD, ZERO_WIDTH)}) == 3
    assert len({partition_for(c, 64) for c in (NFC, NFD, ZERO_WIDTH)}) == 3


@pytest.mark.parametrize(("name", "accepted"), [
    (unicodedata.normalize("NFC", "é") * MAX_ID_CHARS, True),  # 128 code points
    (unicodedata.normalize("NFD", "é") * (MAX_ID_CHARS // 2), True),  # 64 letters, 128
    (unicodedata.normalize("NFD", "é") * (MAX_ID_CHARS // 2) + "x", False),  # 129
    (unicodedata.normalize("NFC", "é") * (MAX_ID_CHARS // 2 + 1), True),  # the same 65
    (unicodedata.normalize("NFD", "é") * (MAX_ID_CHARS // 2 + 1), False),  # letters: 130
    ("\U0001F600" * MAX_ID_CHARS, True),  # 128 code points, 256 UTF-16 units, 512 bytes
])
def test_the_id_bound_counts_the_code_points_of_the_form_written(name: str,
                                                                 accepted: bool) -> None:
    try:
        Transaction.model_validate({**valid_fields(), "customer_id": name})
    except ValidationError:
        assert not accepted
    else:
        assert accepted


def _scored(rows: list[Transaction], path: Path) -> list[dict[str, str]]:
    write_transactions_csv(rows, path / "in.csv")
    assert main(["score", str(path / "in.csv"), "--out", str(path / "out")]) == 0
    out: list[dict[str, str]] = []
    for day in sorted((path / "out" / "scored").glob("*.csv")):
        with day.open(newline="", encoding="utf-8") as fh:
            out += list(csv.DictReader(fh))
    return out


def test_score_scores_the_nfc_and_nfd_forms_of_a_name_as_two_customers(tmp_path: Path
                                                                       ) -> None:
    """Two customers' rows named `Zoë` in NFC and in NFD score exactly as under two unlike
    names: neither form's history is the other's."""
    rows = stream(n=300, customers=6, seed=3)
    a, b = sorted({r.customer_id for r in rows})[:2]

    def renamed(second: str) -> list[Transaction]:
        names = {a: NFC, b: second}
        return [r.model_copy(update={"customer_id": names.get(r.customer_id, r.customer_id)})
                for r in rows]

    (tmp_path / "forms").mkdir()
    (tmp_path / "names").mkdir()
    forms = _scored(renamed(NFD), tmp_path / "forms")
    names = _scored(renamed("someone else"), tmp_path / "names")
    assert {r["customer_id"] for r in forms} >= {NFC, NFD}  # as written, byte for byte
    unlike = [(f["transaction_id"], f["score"], n["score"]) for f, n in zip(forms, names,
              strict=True) if {**f, "customer_id": ""} != {**n, "customer_id": ""}]
    assert unlike == []
