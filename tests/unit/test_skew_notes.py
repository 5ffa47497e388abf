"""The upgrade note's wording, read in-process (`shared.skew`): the tests through
`python -m sink.health` judge it in a child interpreter, which a mutation run never reaches
(docs/mutation.md, "The watchdog, the zombie's check, the skew note")."""

from __future__ import annotations

from shared.skew import skew_note, unknown_fields_note, unknown_rules_note


def test_a_rule_in_one_row_is_one_row_and_a_rule_that_never_fired_fired_in_0() -> None:
    run = {"unknown_rules": {"velocity": 1, "geo_jump": 2, "night_owl": 1_234},
           "unknown_rules_fired": {"velocity": 1, "night_owl": 1_000}}
    assert unknown_rules_note(run) == (
        "scored messages' rule_flags hold rule(s) this sink does not know: 'velocity' (1 row, "
        "fired in 1), 'geo_jump' (2 rows, fired in 0), 'night_owl' (1,234 rows, fired in "
        "1,000); those rows are exported without a column for them, triggered_rules naming "
        "them where they fired (written by a newer detector? upgrade the sink to give them "
        "columns)")


def test_the_note_on_fields_and_rules_is_both_lines_joined() -> None:
    run = {"unknown_scored_fields": {"verdict_notes": 2}, "unknown_rules": {"velocity": 2},
           "unknown_rules_fired": {"velocity": 1}}
    fields, rules = unknown_fields_note(run), unknown_rules_note(run)
    assert fields.startswith("scored messages hold field(s) this sink does not know: "
                             "'verdict_notes' (2 rows)")
    assert rules.startswith("scored messages' rule_flags hold rule(s) this sink does not "
                            "know: 'velocity' (2 rows, fired in 1)")
    assert skew_note(run) == fields + "; " + rules
    assert skew_note({"unknown_rules": {"velocity": 2}}) == unknown_rules_note(
        {"unknown_rules": {"velocity": 2}})
    assert skew_note({}) == ""
