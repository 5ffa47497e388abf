"""Which timestamp texts are accepted, and as what, by each of the three decoders: the
schema (`Transaction`), the detector's fast decoder (`shared.fastcodec`) and the CSV
reader's row parser (`shared.csv_rows`). They must agree exactly (docs/producer.md,
"timestamp")."""

from __future__ import annotations

import re
from datetime import datetime, timedelta

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
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


@pytest.mark.parametrize("text", [
    "2026-W49-1T10:00:00Z", "2026-W49-1 10:00:00", "2026W491T100000", "2026-W49-1",  # weeks
    "2026-01-01", "2026-01-01T10", "2026-01-01T10:00", "20260101T100000",  # parts missing
    "2026-01-01T1000", "2026-01-01x10:00:00", "2026-01-01_10:00:00",  # other separators
    "2026-01-01T10:00:00,5", "2026-01-01T10:00:00.Z",  # a fraction not `.` and digits
    "2026-01-01T10:00:00+0100", "2026-01-01T10:00:00+01", "2026-01-01T10:00:00+01:00:30",
    "2026-01-01T10:00:00+01:00:30.5", "2026-01-01T10:00:00+05:60", "2026-01-01T10:00:00+05:99",
])
def test_an_iso_8601_form_rfc_3339_does_not_have_is_refused_by_every_decoder(text: str
                                                                              ) -> None:
    """`datetime.fromisoformat` reads week dates, basic formats, any separator, `,`
    fractions and offsets like `+01` or `+05:99`; the contract is RFC 3339's date-time
    (a hostile probe, 2026-12-05: `2026-W49-1T10:00:00Z` was read as 2026-11-30)."""
    reason = _every_decoder(text)
    assert isinstance(reason, str) and "not an RFC 3339 date-time" in reason, reason


@pytest.mark.parametrize(("text", "expected"), [
    ("2026-01-01T10:00:00", datetime(2026, 1, 1, 10)),
    ("2026-01-01 10:00:00", datetime(2026, 1, 1, 10)),  # RFC 3339's note: a space for T
    ("2026-01-01t10:00:00z", datetime(2026, 1, 1, 10)),  # RFC 3339: t and z in any case
    (" 2026-01-01T10:00:00Z\t", datetime(2026, 1, 1, 10)),  # edge space, as ever
    ("2026-01-01T10:00:00.5+01:00", datetime(2026, 1, 1, 9, 0, 0, 500000)),
    ("2026-01-01T10:00:00-23:59", datetime(2026, 1, 2, 9, 59)),
    ("2026-01-01T10:00:00-00:00", datetime(2026, 1, 1, 10)),
])
def test_rfc_3339_date_times_and_the_documented_leniencies_are_accepted(
    text: str, expected: datetime,
) -> None:
    assert _every_decoder(text) == expected


@pytest.mark.parametrize(("text", "expected"), [
    # RFC 3339 section 5.7: a leap second is 23:59:60 UTC on a month's last day (the last
    # one so far: 2016-12-31); kept as the last microsecond of that day's 23:59:59
    ("2016-12-31T23:59:60Z", datetime(2016, 12, 31, 23, 59, 59, 999999)),
    ("2016-12-31T23:59:60", datetime(2016, 12, 31, 23, 59, 59, 999999)),
    ("2016-12-31 23:59:60.5z", datetime(2016, 12, 31, 23, 59, 59, 999999)),
    ("2015-06-30T23:59:60Z", datetime(2015, 6, 30, 23, 59, 59, 999999)),
    ("1990-12-31T15:59:60-08:00", datetime(1990, 12, 31, 23, 59, 59, 999999)),  # its 5.8
    ("2017-01-01T05:29:60+05:30", datetime(2016, 12, 31, 23, 59, 59, 999999)),
    ("2100-12-31T23:59:60Z", datetime(2100, 12, 31, 23, 59, 59, 999999)),  # the last day
    ("2025-02-28T23:59:60Z", datetime(2025, 2, 28, 23, 59, 59, 999999)),  # any month's end
])
def test_a_leap_second_is_the_last_microsecond_of_its_second_59(
    text: str, expected: datetime,
) -> None:
    """A system keeping true UTC writes the leap second as :60 (a broken upstream to
    Python, whose datetime has no such second): refused before 2026-12-06 as `is not a
    date-time (expected YYYY-MM-DD HH:MM:SS)`, the transaction lost."""
    assert _every_decoder(text) == expected


@pytest.mark.parametrize("text", [
    "2016-12-30T23:59:60Z",  # not a month's last day
    "2016-12-31T22:59:60Z", "2016-12-31T23:58:60Z",  # not 23:59 UTC
    "2016-12-31T23:59:60+01:00",  # 22:59:60 UTC
    "2024-02-28T23:59:60Z",  # 2024 is a leap year: February ends on the 29th
    "2016-12-31T23:59:61Z", "2016-12-31T23:60:00Z",
])
def test_a_second_60_that_is_no_leap_second_is_refused_by_every_decoder(text: str) -> None:
    reason = _every_decoder(text)
    assert isinstance(reason, str) and "not a date-time" in reason, reason


def test_a_leap_second_outside_the_years_allowed_is_out_of_range() -> None:
    assert _every_decoder("1969-12-31T23:59:60Z") == (
        "1969-12-31T23:59:59 is out of range (years 1970-2100, UTC)")


@pytest.mark.parametrize("text", ["x", "", "2026-13-01T10:00:00", "2026-02-30 10:00:00",
                                  "2026-01-01T24:00:00", "2026-01-01T23:59:60"])
def test_text_that_is_no_date_time_at_all_keeps_its_reason(text: str) -> None:
    reason = _every_decoder(text)
    assert isinstance(reason, str) and "RFC 3339" not in reason


#: RFC 3339 section 5.6's date-time, written from its ABNF alone (no code of the project):
#: with the note's space for `T`, and the documented leniency of no zone (UTC).
_RFC3339 = re.compile(r"(\d{4})-(\d\d)-(\d\d)[Tt ](\d\d):(\d\d):(\d\d)(?:\.(\d+))?"
                      r"(?:[Zz]|([+-])(\d\d):(\d\d))?", re.ASCII)


def _reference(text: str) -> datetime | None:
    m = _RFC3339.fullmatch(text.strip())
    if m is None:
        return None
    y, mo, d, h, mi, s, frac, sign, oh, om = m.groups()
    leap = s == "60"  # section 5.7: only at 23:59:60 UTC on a month's last day
    try:
        value = datetime(int(y), int(mo), int(d), int(h), int(mi), 59 if leap else int(s),
                         int((frac or "0")[:6].ljust(6, "0")))
    except ValueError:
        return None
    if sign:
        if int(oh) > 23 or int(om) > 59:
            return None
        offset = timedelta(hours=int(oh), minutes=int(om))
        value = value - offset if sign == "+" else value + offset
    if leap:
        if (value.hour, value.minute) != (23, 59) or (value + timedelta(days=1)).day != 1:
            return None
        value = value.replace(microsecond=999999)
    return value if datetime(1970, 1, 1) <= value < datetime(2101, 1, 1) else None


def _two(low: int, high: int) -> st.SearchStrategy[str]:
    return st.integers(low, high).map(lambda n: f"{n:02d}")


_DATES = st.one_of(
    st.builds(lambda y, m, d, dash: f"{y:04d}{dash}{m}{dash}{d}", st.integers(1969, 2101),
              _two(0, 13), _two(0, 32), st.sampled_from(["-", "-", ""])),
    st.builds(lambda y, w, d: f"{y:04d}-W{w}-{d}", st.integers(1970, 2100), _two(1, 53),
              st.integers(1, 7)),
    st.builds(lambda y, n: f"{y:04d}-{n:03d}", st.integers(1970, 2100), st.integers(1, 366)),
)
_TIMES = st.builds(
    lambda h, m, s, colon, parts: colon.join([h, m, s][:parts]), _two(0, 24), _two(0, 60),
    _two(0, 60), st.sampled_from([":", ":", ""]), st.sampled_from([3, 3, 2, 1]))
_FRACTIONS = st.one_of(st.just(""), st.builds(
    lambda point, digits: point + digits, st.sampled_from([".", ".", ","]),
    st.text("0123456789", max_size=9)))
_ZONES = st.one_of(
    st.sampled_from(["", "Z", "z", "+00:00", "-00:00"]),
    st.builds(lambda sign, h, m, colon, parts: sign + colon.join([h, m, "30"][:parts]),
              st.sampled_from("+-"), _two(0, 24), _two(0, 99), st.sampled_from([":", ""]),
              st.sampled_from([2, 2, 1, 3])))


@settings(max_examples=500, deadline=None)
@given(_DATES, st.sampled_from(["T", " ", "t", "x", ""]), _TIMES, _FRACTIONS, _ZONES,
       st.sampled_from(["", " ", "\t"]))
def test_what_every_decoder_accepts_is_exactly_rfc_3339(
    date: str, sep: str, time: str, fraction: str, zone: str, edge: str,
) -> None:
    text = edge + date + sep + time + fraction + zone + edge
    result = _every_decoder(text)
    expected = _reference(text)
    if expected is None:
        assert isinstance(result, str), (text, result)
    else:
        assert result == expected, (text, result)
