"""How long a message on the project's topics can be, declared once: the input's bound, and
the scored topic's, derived from it and from the verdict's declared bounds."""

from __future__ import annotations

from shared.columns import SCORED_ROW, VERDICT_FIELDS
from shared.schemas import MAX_VERDICT_ITEMS, MAX_VERDICT_TEXT_CHARS

#: Longest message read (bytes): about twice the longest transaction, every text at its
#: bound and each character written as a 12-byte escape (~134 KB; producers write ~45 KB at
#: most). Longer is refused unread: the schema's errors cost up to ~330 times a message's
#: size (a 1 MB message of 150,000 attributes: +330 MB and a second of the detector's time).
MAX_MESSAGE_BYTES = 262_144

#: Bytes of one character at its longest in JSON: a surrogate pair, `\ud83d\ude00`.
_CHAR_BYTES = 12
#: Bytes of a number at its longest as writers write one (`-1.7976931348623157e+308`: 24).
_NUMBER_BYTES = 32
_TEXT_BYTES = 2 + _CHAR_BYTES * MAX_VERDICT_TEXT_CHARS  # "…"
_VALUE_BYTES = {
    "text": _TEXT_BYTES,
    "list": 2 + MAX_VERDICT_ITEMS * (_TEXT_BYTES + 1),  # [ "…", … ]
    "flags": 2 + MAX_VERDICT_ITEMS * (_TEXT_BYTES + len(":false,")),  # { "…":false, … }
    "number": _NUMBER_BYTES, "int": _NUMBER_BYTES, "bool": len("false"),
}


def _longest_verdict() -> int:
    """Bytes of the verdict and provenance fields at their bounds, each name escaped too
    (`"\\u0073core":`: 6 bytes a character) and followed by a comma."""
    return sum(2 + 6 * len(f.name) + 1 + _VALUE_BYTES[f.kind] + 1
               for f in SCORED_ROW if f.name in VERDICT_FIELDS)


#: The verdict's fields at their bounds (~2.3 MB: 64 items of 1,000 wide characters in each
#: of the two lists and the rule flags; the detector writes a few hundred bytes).
MAX_VERDICT_BYTES = _longest_verdict()
#: Longest scored message the sink reads: the longest input the detector reads, the verdict
#: at its bounds, and room for a newer detector's fields as long as a whole input again (the
#: sink ignores fields it does not know: docs/sink.md, "Upgrades"). Longer is rejected
#: unread: the schema's errors cost up to ~285 times a message's size.
MAX_SCORED_MESSAGE_BYTES = 2 * MAX_MESSAGE_BYTES + MAX_VERDICT_BYTES
