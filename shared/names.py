"""A path as a message names it: on one line, and unambiguous.

A file name may hold any byte but `/` and NUL: a line break (`a\\nb.csv` made a two-line
error, and a log or CSV cell of it two rows), a right-to-left override (which shows the
rest of the line backwards), a byte that is not UTF-8. `shown` leaves an ordinary name as
it is and writes any other as bash's `$'...'` quoting writes it (as `ls` does), which a
shell turns back into the very name: `$'a\\nb.csv'`.
"""

from __future__ import annotations

import os
import re

from shared.schemas import CONTROL_CHARACTERS

#: What makes a name other than ordinary: a control character by the project's rule (line
#: breaks, bidirectional overrides), a byte that is not UTF-8 (decoded as a lone surrogate),
#: and the backslash and quote, so that an ordinary name never looks like a quoted one
#: (every quoted one holds a backslash; an ordinary one holds none).
_ODD = re.compile(f"{CONTROL_CHARACTERS.pattern[:-1]}\\udc80-\\udcff\\\\']")
_SHORT = {"\n": "\\n", "\t": "\\t", "\r": "\\r", "\\": "\\\\", "'": "\\'"}


def shown(path: str | os.PathLike[str]) -> str:
    """`path` for a message: as it is when ordinary, else `$'...'` with each odd character
    escaped (`\\n`, `\\t`, `\\r`, `\\\\`, `\\'`, or its UTF-8 bytes as `\\xHH`)."""
    try:
        raw = os.fsencode(path)
    except UnicodeEncodeError:  # a lone surrogate no byte decodes to (a JSON "\ud800")
        raw = os.fspath(path).encode("utf-8", "surrogatepass")
    text = raw.decode("utf-8", "surrogateescape")
    if _ODD.search(text) is None:
        return text
    return "$'" + _ODD.sub(_escaped, text) + "'"


def _escaped(found: re.Match[str]) -> str:
    char = found.group()
    if char in _SHORT:
        return _SHORT[char]
    return "".join(f"\\x{b:02x}" for b in char.encode("utf-8", "surrogateescape"))
