"""Hostile messages under the size bound cost time and memory in proportion to their size
(hostile probe, 2026-12-06, thirteenth): a number whose digits a regular expression could
split two ways was quadratic, a scan for long digit runs retried at every digit cost ~500
steps a byte; the schema's list of problems was built twice for each refused message.

The cost tests run the code in a child process whose CPU time is capped (`_CAPPED`): the
regular expressions expose no step count, so the cap, 3-150x below the old cost and
far above the new, stands in for one.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError
from pydantic_core import InitErrorDetails

import detector.dlq as dlq
from detector.dlq import SCHEMA_ERROR, DecodeFailure, decode_record
from shared import fastcodec
from shared.codec import describe_validation_error
from shared.message_size import MAX_MESSAGE_BYTES
from shared.schemas import _NUMBER, Transaction, parse_amount
from tests.unit.test_fastcodec_scored import valid_scored

PROPERTY = settings(max_examples=300, deadline=None)

#: The number syntax as it was written before (an oracle on short texts: same language).
_OLD_NUMBER = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")

_CAPPED = """
import resource, sys
{imports}
value = sys.stdin.buffer.read()
used = resource.getrusage(resource.RUSAGE_SELF)
spent = int(used.ru_utime + used.ru_stime) + 1
resource.setrlimit(resource.RLIMIT_CPU, (spent + {seconds}, spent + {seconds} + 1))
{body}
"""


def _capped(imports: str, body: str, value: bytes, seconds: int = 5) -> str:
    """`body`'s output, run on `value` (stdin) with at most `seconds` of CPU after imports."""
    done = subprocess.run(
        [sys.executable, "-c", _CAPPED.format(imports=imports, body=body, seconds=seconds)],
        input=value, capture_output=True, timeout=120)
    assert done.returncode == 0, (done.returncode, done.stderr[-500:])  # -24: over the cap
    return done.stdout.decode()


def _transaction(**fields: Any) -> dict[str, Any]:
    return {"transaction_id": "t", "customer_id": "c", "timestamp": "2025-01-01T00:00:00",
            "amount": 1.0, "country": "DE", "channel": "web", "device": "d",
            "merchant_category": "m", **fields}


def test_an_amount_of_200000_digits_and_a_letter_is_refused_in_linear_time() -> None:
    """Before: `[0-9]+\\.?[0-9]*` tried every split of the digits (8,000: 1 s; this message
    about 10 minutes of the detector's CPU, the fast path and the schema each trying it)."""
    value = json.dumps(_transaction(amount="9" * 200_000 + "x")).encode()
    assert len(value) < MAX_MESSAGE_BYTES
    said = _capped("from detector.dlq import DecodeFailure, decode_record", """
try:
    decode_record(value)
except DecodeFailure as exc:
    print(exc.error_class, exc.message, sep="|")
""", value)
    assert said == f"{SCHEMA_ERROR}|amount: '{'9' * 40}…' is not a number\n"


def test_parse_amount_refuses_a_long_run_of_digits_in_linear_time() -> None:
    """The CSV reader's path (`replay`, `score`) shares `parse_amount`."""
    text = ("1" * 300_000 + "e").encode()
    said = _capped("from shared.schemas import parse_amount", """
try:
    parse_amount(value.decode())
except ValueError as exc:
    print(exc)
""", text)
    assert said == f"'{'1' * 40}…' is not a number\n"


@PROPERTY
@given(st.text(alphabet="0123456789.eE+-x _", max_size=14))
def test_the_number_syntax_is_the_one_it_was(text: str) -> None:
    assert bool(_NUMBER.fullmatch(text)) == bool(_OLD_NUMBER.fullmatch(text))


@pytest.mark.parametrize("text", ["1", "1.", ".5", "1.5", "-1e3", "+.5E-2", "12.5e+07"])
def test_plain_numbers_are_still_read(text: str) -> None:
    assert parse_amount(text) == float(text)


@pytest.mark.parametrize("text", [".", "1e", "e5", "1.2.3", "--1", "1e+", "+", "1_0", ". 5"])
def test_what_is_not_a_plain_number_is_still_refused(text: str) -> None:
    with pytest.raises(ValueError):
        parse_amount(text)


def _with_note(note: str) -> bytes:
    """A valid scored row with a field the sink does not know, holding `note`."""
    return json.dumps({**valid_scored(), "note": note}).encode()


def _runs(run: int, size: int) -> str:
    return ("9" * run + " ") * (size // (run + 1))


def test_a_scored_message_of_long_digit_runs_is_read_in_linear_time() -> None:
    """Before: `[0-9]{1000}` was tried at each digit of each 999-digit run, about 500 steps
    a byte (12 s of CPU here, 0.7 s a megabyte; a capped child is killed after 3 to 4)."""
    value = _with_note(_runs(999, 16_000_000))
    said = _capped("from shared.fastcodec import decode_scored", """
rec = decode_scored(value)
print(type(rec).__name__, rec.transaction_id, rec.source_offset)
""", value, seconds=3)
    assert said == "LenientScoredRecord t1 7\n"


@pytest.mark.parametrize(("run", "fast"), [(999, True), (1000, False), (1001, False)])
def test_a_run_of_1000_digits_in_an_unknown_field_is_left_to_the_schema(
        run: int, fast: bool) -> None:
    value = _with_note("x" + "7" * run + "x")
    rec = fastcodec.decode_scored(value)
    assert (rec is not None) == fast
    if rec is not None:
        assert (rec.transaction_id, rec.amount) == ("t1", 12.5)


@PROPERTY
@given(st.lists(st.tuples(st.sampled_from([0, 1, 998, 999, 1000, 1001]),
                          st.sampled_from([b" ", b"x", b".", b"\xff"])), max_size=6))
def test_the_long_digit_scan_finds_exactly_the_runs_of_1000(parts: list[tuple[int, bytes]]
                                                            ) -> None:
    value = b"".join(b"5" * run + sep for run, sep in parts)
    longest = max((len(r) for r in re.split(rb"[^0-9]", value)), default=0)
    assert fastcodec._long_digits(value) == (longest >= 1000)


class _CountingError(ValidationError):
    """A `ValidationError` counting how often its list of problems is built."""

    built = 0

    def errors(self, *args: Any, **kwargs: Any) -> Any:
        _CountingError.built += 1
        return super().errors(*args, **kwargs)


class _CountingSchema:
    """`Transaction`, raising its errors as a `_CountingError`."""

    @staticmethod
    def model_validate_json(value: bytes) -> Transaction:
        try:
            return Transaction.model_validate_json(value)
        except ValidationError as exc:
            details = [InitErrorDetails(type=e["type"], loc=e["loc"], input=e["input"])
                       for e in exc.errors()]
            raise _CountingError.from_exception_data(exc.title, details) from None


def test_a_refused_message_builds_the_schemas_list_of_problems_once(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Before: once for the error class, once for the reason (20-30 ms and 14 MiB a time
    for a message of 24,000 unknown fields)."""
    value = json.dumps({f"{i:06x}": 0 for i in range(20_000)}).encode()
    with pytest.raises(ValidationError) as schema:
        Transaction.model_validate_json(value)
    expected = describe_validation_error(schema.value)
    monkeypatch.setattr(dlq, "Transaction", _CountingSchema)
    _CountingError.built = 0
    with pytest.raises(DecodeFailure) as info:
        decode_record(value)
    assert _CountingError.built == 1
    assert (info.value.error_class, info.value.message) == (SCHEMA_ERROR, expected)
    assert expected.endswith("000001: Extra inputs are not permitted; and 19998 more")


@pytest.mark.parametrize("at", [0, 1, 65_536 - 1_000, 65_536 - 999, 65_536 - 500, 65_535,
                                65_536, 2 * 65_536 - 3])
@pytest.mark.parametrize("run", [999, 1000, 1001])
def test_a_digit_run_across_the_scans_windows_is_found_whole(at: int, run: int) -> None:
    """The scan reads 64 KiB windows overlapping by 999 bytes (`_SCAN_WINDOW`): a run that
    starts anywhere near a window's edge is found when it is 1,000 long, never when 999."""
    assert fastcodec._SCAN_WINDOW == 65_536
    value = b"x" * at + b"7" * run + b"x" * 5
    assert fastcodec._long_digits(value) == (run >= 1000)
