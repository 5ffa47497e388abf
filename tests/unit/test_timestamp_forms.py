"""Which timestamp texts are accepted, and as what, by each of the three decoders: the
schema (`Transaction`), the detector's fast decoder (`shared.fastcodec`) and the CSV
reader's row parser (`shared.csv_rows`). They must agree exactly (docs/producer.md,
"timestamp")."""

from __future__ import annotations

from datetime import datetime

import orjson
import pytest
from pydantic import ValidationError

from shared import fastcodec
from shared.csv_rows import row_parser
from shared.schemas import CSV_FIELDS, Transaction
from tests.poison_corpus import valid_fields

_CSV = row_parser({name: i for i, name in enumerate(CSV_FIELDS)}, [])
_ROW = ["1", "c1", "", "10.5", "CH", "app", "pc", "food", "", "", ""]


def _schema(text: str) -> datetime | str:
    try:
        return Transaction.model_validate({**valid_fields(), "timestamp": text}).timestamp
    except ValidationError as exc:
        return str(exc.errors()[0]["msg"])


def _fast(text: str) -> datetime | None:
    rec = fastcodec.decode_record(orjson.dumps({**valid_fields(), "timestamp": text}))
    return None if rec is None else rec.timestamp


def _csv(text: str) -> datetime | str:
    row = list(_ROW)
    row[CSV_FIELDS.index("timestamp")] = text
    try:
        ts: datetime = _CSV(row)["timestamp"]
    except ValueError as exc:
        return str(exc).removeprefix("timestamp: ")
    return ts


def _every_decoder(text: str) -> datetime | str:
    """The one result all three give (a datetime, or the schema's reason), else fails."""
    schema, fast, csv = _schema(text), _fast(text), _csv(text)
    assert csv == schema, (text, csv, schema)
    if isinstance(schema, datetime):
        assert fast in (schema, None), (text, fast, schema)  # None: the schema decides
    else:
        assert fast is None, (text, fast, schema)
    return schema


@pytest.mark.parametrize(("text", "expected"), [
    # .NET's "o" format: 7 digits, a tenth of a microsecond
    ("2026-01-01T10:00:00.1234567Z", datetime(2026, 1, 1, 10, 0, 0, 123456)),
    ("2026-01-01T10:00:00.1234567+01:00", datetime(2026, 1, 1, 9, 0, 0, 123456)),
    ("2026-01-01 10:00:00.123456789012", datetime(2026, 1, 1, 10, 0, 0, 123456)),
    # truncated, never rounded: rounding would carry into the next second, day or year
    ("2026-12-31T23:59:59.9999999", datetime(2026, 12, 31, 23, 59, 59, 999999)),
    ("2100-12-31T23:59:59.9999999", datetime(2100, 12, 31, 23, 59, 59, 999999)),
    ("2026-01-01T10:00:00.0000009", datetime(2026, 1, 1, 10, 0, 0, 0)),
])
def test_a_fraction_finer_than_a_microsecond_is_truncated_alike_by_every_decoder(
    text: str, expected: datetime,
) -> None:
    assert _every_decoder(text) == expected
