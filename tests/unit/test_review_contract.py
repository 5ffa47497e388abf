"""The review record (shared/reviews.py): key, JSON value, validation, topic settings."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from shared.errors import SchemaError
from shared.reviews import (
    MAX_NOTE_CHARS,
    OUTCOMES,
    REVIEWS_PARTITIONS,
    REVIEWS_TOPIC_CONFIG,
    Review,
    decode_review,
    encode_review,
    review_key,
)
from shared.schemas import CONTROL_CHARACTERS, CONTROL_RULE, MAX_ID_CHARS
from shared.settings import TopicSettings


def _review(**kw: object) -> Review:
    base: dict[str, object] = {"target": "case", "id": "case-0123456789abcdef",
                               "outcome": "confirmed", "reviewer": "ana",
                               "reviewed_at": datetime(2025, 3, 1, 9, 30, tzinfo=UTC),
                               "note": "card shared with a relative"}
    return Review.model_validate({**base, **kw})


def test_key_names_target_and_id_and_value_is_the_documented_json() -> None:
    key, value = encode_review(_review())
    assert key == b"case:case-0123456789abcdef"
    assert json.loads(value) == {
        "schema_version": 1, "target": "case", "id": "case-0123456789abcdef",
        "outcome": "confirmed", "reviewer": "ana", "reviewed_at": "2025-03-01T09:30:00Z",
        "note": "card shared with a relative"}


def test_a_case_and_a_transaction_with_one_id_have_different_keys() -> None:
    assert review_key("case", "X1") != review_key("transaction", "X1")
    assert _review(target="transaction", id="X1").key == "transaction:X1"


def test_times_are_utc_naive_taken_as_utc_aware_converted() -> None:
    assert _review(reviewed_at=datetime(2025, 3, 1, 9, 30)).reviewed_at == datetime(
        2025, 3, 1, 9, 30, tzinfo=UTC)
    cet = timezone(timedelta(hours=1))
    assert _review(reviewed_at=datetime(2025, 3, 1, 10, 30, tzinfo=cet)).reviewed_at == datetime(
        2025, 3, 1, 9, 30, tzinfo=UTC)


@pytest.mark.parametrize("bad, field", [
    ({"outcome": "confirmd"}, "outcome"),
    ({"target": "customer"}, "target"),
    ({"id": " "}, "id"),
    ({"id": "x" * (MAX_ID_CHARS + 1)}, "id"),
    ({"id": "case-\x00"}, "id"),
    ({"note": "n" * (MAX_NOTE_CHARS + 1)}, "note"),
    ({"schema_version": 0}, "schema_version"),  # 2, a newer release's: the test below
    ({"extra": "field"}, "extra"),
])
def test_decoding_refuses_each_bad_field_by_name(bad: dict[str, object], field: str) -> None:
    doc = json.loads(encode_review(_review())[1])
    with pytest.raises(SchemaError, match=f"^{field}: "):
        decode_review(json.dumps({**doc, **bad}))


@pytest.mark.parametrize("extra", [{}, {"evidence": "doc-7"}, {"outcome": "escalated"}])
def test_a_later_schema_version_is_a_newer_releases_review_whatever_it_holds(
        extra: dict[str, object]) -> None:
    """Not a bad field (a reader would skip it for good): `NewerReviewError` naming both
    versions, so the sink and the page hold its partition at it (docs/review.md, "Rollbacks")."""
    from shared.reviews import REVIEW_SCHEMA_VERSION, NewerReviewError

    doc = json.loads(encode_review(_review())[1])
    with pytest.raises(NewerReviewError, match=(
            f"^a review of schema version {REVIEW_SCHEMA_VERSION + 1}, written by a newer "
            f"auditstream release; this release reads version {REVIEW_SCHEMA_VERSION}$")):
        decode_review(json.dumps({**doc, **extra, "schema_version": REVIEW_SCHEMA_VERSION + 1}))


def test_limits_hold_at_the_boundary() -> None:
    assert _review(id="x" * MAX_ID_CHARS).id == "x" * MAX_ID_CHARS
    assert len(_review(note="n" * MAX_NOTE_CHARS).note) == MAX_NOTE_CHARS


#: Refused in every review text (the transaction schema's rule), each range at both ends;
#: the characters either side are accepted.
CONTROLS = ["\x00", "\t", "\n", "\r", "\x1f", "\x7f", "\x80", "\x85", "\x9f", "\u2028",
            "\u2029", "\u202a", "\u202e", "\u2066", "\u2069"]
NOT_CONTROLS = ["~", "\u00a0", "\u2027", "\u202f", "\u2065", "\u206a", "\u200f"]


@pytest.mark.parametrize("field", ["reviewer", "note", "id"])
@pytest.mark.parametrize("char", CONTROLS)
def test_review_text_refuses_control_characters_by_field(field: str, char: str) -> None:
    doc = json.loads(encode_review(_review())[1])
    with pytest.raises(SchemaError) as info:
        decode_review(json.dumps({**doc, field: "a" + char + "b"}))
    assert str(info.value) == f"{field}: {CONTROL_RULE}"
    with pytest.raises(ValidationError) as built:
        _review(**{field: "a" + char + "b"})
    [error] = built.value.errors()
    assert (error["loc"], error["msg"]) == ((field,), CONTROL_RULE)


@pytest.mark.parametrize("field", ["reviewer", "note", "id"])
@pytest.mark.parametrize("char", NOT_CONTROLS)
def test_review_text_takes_the_neighbours(field: str, char: str) -> None:
    assert getattr(_review(**{field: "a" + char + "b"}), field) == "a" + char + "b"


def test_the_reviewer_is_stripped_before_the_rule_and_the_note_is_not() -> None:
    assert _review(reviewer="\t\u2028ana\x85\n").reviewer == "ana"
    for note in ("note\n", "\u2028note", "note\x85"):
        with pytest.raises(ValueError, match="note"):
            _review(note=note)


#: Review text as hypothesis draws it: any code point but surrogates and the refused ones.
review_text = st.characters(exclude_categories=["Cs"]).filter(
    lambda c: not CONTROL_CHARACTERS.match(c))


@given(target=st.sampled_from(["case", "transaction"]), outcome=st.sampled_from(OUTCOMES),
       ident=st.text(review_text, min_size=1, max_size=MAX_ID_CHARS).filter(
           lambda s: s.strip() == s != ""),
       reviewer=st.text(review_text, max_size=50).map(str.strip),
       note=st.text(review_text, max_size=300),
       when=st.datetimes(min_value=datetime(1970, 1, 2), max_value=datetime(2100, 1, 1)))
def test_encode_then_decode_is_the_identity(target: str, outcome: str, ident: str,
                                            reviewer: str, note: str, when: datetime) -> None:
    r = _review(target=target, outcome=outcome, id=ident, reviewer=reviewer, note=note,
                reviewed_at=when.replace(microsecond=0))
    key, value = encode_review(r)
    assert decode_review(value) == r
    assert key.decode() == f"{target}:{ident}"


def test_the_topic_is_compacted_with_one_partition_and_a_setting_for_its_name(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert REVIEWS_TOPIC_CONFIG["cleanup.policy"] == "compact"
    assert int(REVIEWS_TOPIC_CONFIG["min.compaction.lag.ms"]) == 7 * 24 * 3600 * 1000
    assert REVIEWS_PARTITIONS == 1
    assert TopicSettings().reviews_topic == "transactions.reviews"
    monkeypatch.setenv("AUDITSTREAM_REVIEWS_TOPIC", "audit.reviews")
    assert TopicSettings().reviews_topic == "audit.reviews"
