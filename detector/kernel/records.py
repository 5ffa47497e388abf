"""Customers' checkpoint records written from their slots by compiled code
(docs/kernel.md (s)): the bytes of `stateparts.encode_fields` over `slots.field_rows`,
without a Python object per value.

A record is `CUSTOMER_MAGIC` and the JSON `{"seq":N,"fields":{...}}` of the customer's
encoded fields in `CustomerState.FIELDS` order, as orjson writes them. Here the floats of
every customer are gathered in the order the record reads them (`_gather`) and written by
orjson in one call over the array (its numpy floats are its Python floats' text, -inf and
NaN `null` as the records' codecs give them: a test compares them over millions of
random bits), so a list of floats, or an event's time and amount, is one run of that
text, commas included; the strings' JSON is orjson's for each code, made once per engine
(`Words`); the rest (the names, brackets, integers) is written by `_record`, which counts a
record's bytes and then writes them (the same walk, twice).
"""

from __future__ import annotations

from itertools import pairwise
from typing import Any, Final

import numpy as np
import orjson

from detector.core.state import CustomerState
from detector.core.stateparts import CUSTOMER_MAGIC
from detector.kernel.jit import jit, jit_inline
from detector.kernel.slots import STRINGS, TABLES


def _fragments() -> tuple[np.ndarray, np.ndarray, dict[str, int]]:
    """The constant text of a record: before the sequence number, then what comes before
    each field's value (its name) and after the last; by the field's name."""
    names = CustomerState.FIELDS
    text = [CUSTOMER_MAGIC + b'{"seq":']
    for i, name in enumerate(names):
        text.append((b',"fields":{' if i == 0 else b",") + orjson.dumps(name) + b":")
    text.append(b"}}")
    keys = ["head", *names, "end"]
    offsets = np.cumsum([0, *map(len, text)])
    return (np.frombuffer(b"".join(text), np.uint8).copy(), offsets.astype(np.int64),
            {k: i for i, k in enumerate(keys)})


FRAGMENTS, FRAGMENT_AT, _AT = _fragments()
F_HEAD: Final = _AT["head"]
F_END: Final = _AT["end"]
#: The fragment before each field's value (its name), in the order `_record` writes them
#: (compiled code reads them as constants).
_WRITTEN = ("amounts", "categories", "channels", "context", "countries", "days", "devices",
            "exact", "explore", "fast", "gap_log", "gap_mean", "gaps", "hops", "hours",
            "ipnets", "last_country", "last_t", "learnt", "n", "novel", "pending", "recent",
            "rounds", "wake", "window")
if _WRITTEN != CustomerState.FIELDS:
    raise ImportError("detector.kernel.records writes the fields in another order than "
                      "CustomerState.FIELDS: write the new ones in _record and _gather")
(F_AMOUNTS, F_CATEGORIES, F_CHANNELS, F_CONTEXT, F_COUNTRIES,
 F_DAYS, F_DEVICES, F_EXACT, F_EXPLORE, F_FAST,
 F_GAP_LOG, F_GAP_MEAN, F_GAPS, F_HOPS, F_HOURS,
 F_IPNETS, F_LAST_COUNTRY, F_LAST_T, F_LEARNT, F_N,
 F_NOVEL, F_PENDING, F_RECENT, F_ROUNDS, F_WAKE,
 F_WINDOW) = (_AT[name] for name in _WRITTEN)
#: Each table's index in the slots' tables (`slots.TABLES`).
T_COUNTRIES, T_CATEGORIES, T_CHANNELS, T_DEVICES, T_IPNETS = range(len(TABLES))
if TABLES != ("countries", "categories", "channels", "devices", "ipnets"):
    raise ImportError("detector.kernel.records reads the slots' tables in another order")
_COMMA, _COLON = ord(","), ord(":")
_OPEN, _CLOSE, _BRACE, _UNBRACE = ord("["), ord("]"), ord("{"), ord("}")
_MINUS, _ZERO = ord("-"), ord("0")


class Words:
    """The JSON text of each code's string (orjson's), for one engine's `Codes`, extended
    as codes are added (they never change)."""

    def __init__(self) -> None:
        self._parts: list[bytes] = []
        self.text = np.zeros(0, np.uint8)
        self.at = np.zeros(1, np.int64)

    def update(self, values: list[str]) -> None:
        if len(values) > len(self._parts):
            self._parts.extend(map(orjson.dumps, values[len(self._parts):]))
            self.text = np.frombuffer(b"".join(self._parts), np.uint8)
            self.at = np.cumsum([0, *map(len, self._parts)]).astype(np.int64)


@jit_inline
def _put(out: Any, o: int, src: Any, a: int, b: int, write: bool) -> int:  # pragma: no cover
    if write:
        out[o:o + b - a] = src[a:b]
    return o + b - a


@jit_inline
def _byte(out: Any, o: int, x: int, write: bool) -> int:  # pragma: no cover - compiled
    if write:
        out[o] = x
    return o + 1


@jit
def _int(out: Any, o: int, x: int, write: bool) -> int:  # pragma: no cover - compiled
    """`x` (any integer type) in decimal."""
    v = np.int64(x)  # an int8's -128 has no int8 opposite
    if v < 0:
        o = _byte(out, o, _MINUS, write)
        u = np.uint64(-(v + 1)) + np.uint64(1)  # the int64 minimum too
    else:
        u = np.uint64(v)
    ten = np.uint64(10)
    digits = 1
    rest = u // ten
    while rest:
        digits += 1
        rest //= ten
    if write:
        for i in range(digits - 1, -1, -1):
            out[o + i] = np.uint64(_ZERO) + u % ten
            u //= ten
    return o + digits


@jit_inline
def _frag(out: Any, o: int, frag: Any, fat: Any, k: int, write: bool) -> int:  # pragma: no cover
    return _put(out, o, frag, fat[k], fat[k + 1], write)


@jit_inline
def _word(out: Any, o: int, code: int, words: Any, wat: Any,
          write: bool) -> int:  # pragma: no cover - compiled
    return _put(out, o, words, wat[code], wat[code + 1], write)


@jit_inline
def _float(out: Any, o: int, ftxt: Any, fa: Any, fb: Any, f: int,
           write: bool) -> int:  # pragma: no cover - compiled
    """The `f`-th float of the gathered ones, as orjson wrote it."""
    return _put(out, o, ftxt, fa[f], fb[f], write)


@jit
def _events(out: Any, o: int, t: Any, amt: Any, cat: Any, chan: Any, m: int, c: int,
            ftxt: Any, fa: Any, fb: Any, f: int, words: Any, wat: Any,
            write: bool) -> tuple[int, int]:  # pragma: no cover - compiled
    o = _byte(out, o, _OPEN, write)
    for j in range(m):
        if j:
            o = _byte(out, o, _COMMA, write)
        o = _byte(out, o, _OPEN, write)
        o = _put(out, o, ftxt, fa[f], fb[f + 1], write)  # "t,amount": one run of the text
        f += 2
        o = _byte(out, o, _COMMA, write)
        o = _word(out, o, cat[c, j], words, wat, write)
        o = _byte(out, o, _COMMA, write)
        o = _word(out, o, chan[c, j], words, wat, write)
        o = _byte(out, o, _CLOSE, write)
    return _byte(out, o, _CLOSE, write), f


@jit
def _table(out: Any, o: int, s: Any, c: int, i: int, words: Any, wat: Any,
           write: bool) -> int:  # pragma: no cover - compiled
    o = _byte(out, o, _BRACE, write)
    for j in range(s.tab_len[c, i]):
        if j:
            o = _byte(out, o, _COMMA, write)
        o = _word(out, o, s.tab_code[c, i, j], words, wat, write)
        o = _byte(out, o, _COLON, write)
        o = _int(out, o, s.tab_count[c, i, j], write)
    return _byte(out, o, _UNBRACE, write)


@jit
def _ints(out: Any, o: int, row: Any, write: bool) -> int:  # pragma: no cover - compiled
    o = _byte(out, o, _OPEN, write)
    for j in range(len(row)):
        if j:
            o = _byte(out, o, _COMMA, write)
        o = _int(out, o, row[j], write)
    return _byte(out, o, _CLOSE, write)


@jit
def _floats(out: Any, o: int, m: int, ftxt: Any, fa: Any, fb: Any, f: int,
            write: bool) -> tuple[int, int]:  # pragma: no cover - compiled
    o = _byte(out, o, _OPEN, write)
    if m:  # the floats and their commas: one run of the text
        o = _put(out, o, ftxt, fa[f], fb[f + m - 1], write)
    return _byte(out, o, _CLOSE, write), f + m


@jit
def _entry(out: Any, o: int, codes: Any, hour: int, ftxt: Any, fa: Any, fb: Any, f: int,
           words: Any, wat: Any, write: bool) -> int:  # pragma: no cover - compiled
    """A context entry or a held event up to its log amount (the `f`-th float): "[", its
    strings (`codes`), its hour."""
    o = _byte(out, o, _OPEN, write)
    for i in range(STRINGS):
        o = _word(out, o, codes[i], words, wat, write)
        o = _byte(out, o, _COMMA, write)
    o = _int(out, o, hour, write)
    o = _byte(out, o, _COMMA, write)
    return _float(out, o, ftxt, fa, fb, f, write)


@jit
def _gather(s: Any, cs: Any, out: Any) -> int:  # pragma: no cover - compiled
    """The floats of slots `cs` into `out`, in the order `_record` writes them; how many."""
    f = 0
    for c in cs:
        head, cap = s.amt_head[c], s.amt.shape[1]
        for j in range(s.amt_len[c]):
            out[f] = s.amt[c, (head + j) % cap]
            f += 1
        head, cap = s.ctx_head[c], s.ctx_la.shape[1]
        for j in range(s.ctx_len[c]):
            out[f] = s.ctx_la[c, (head + j) % cap]
            f += 1
        for j in range(s.days_len[c]):
            out[f] = s.days_t[c, j]
            out[f + 1] = s.days_amt[c, j]
            f += 2
        for j in range(s.explore.shape[1]):
            out[f] = s.explore[c, j]
            f += 1
        out[f] = s.gap_log[c]
        out[f + 1] = s.gap_mean[c]
        out[f + 2] = s.last_t[c]
        f += 3
        b = s.pend_at[c]
        for j in range(s.pend_len[c]):
            out[f] = s.pend_r[b, j]
            out[f + 1] = s.pend_la[b, j]
            f += 2
            if not s.pend_bare[b, j]:
                out[f] = s.pend_w[b, j, 0]
                out[f + 1] = s.pend_w[b, j, 1]
                f += 2
        for j in range(s.rec_len[c]):
            out[f] = s.rec_t[c, j]
            out[f + 1] = s.rec_amt[c, j]
            f += 2
        out[f] = s.wake_t[c]
        out[f + 1] = s.wake_s[c]
        f += 2
        for j in range(s.win_len[c]):
            out[f] = s.win_t[c, j]
            out[f + 1] = s.win_amt[c, j]
            f += 2
    return f


@jit
def _record(s: Any, c: int, seq: int, out: Any, o: int, f: int, frag: Any, fat: Any,
            ftxt: Any, fa: Any, fb: Any, words: Any, wat: Any,
            write: bool) -> tuple[int, int]:  # pragma: no cover - compiled
    """Slot `c`'s record numbered `seq` into `out` from `o` (or only counted), its floats
    from the `f`-th gathered one; the record's end and the next float."""
    o = _frag(out, o, frag, fat, F_HEAD, write)
    o = _int(out, o, seq, write)
    o = _frag(out, o, frag, fat, F_AMOUNTS, write)
    o, f = _floats(out, o, s.amt_len[c], ftxt, fa, fb, f, write)
    o = _frag(out, o, frag, fat, F_CATEGORIES, write)
    o = _table(out, o, s, c, T_CATEGORIES, words, wat, write)
    o = _frag(out, o, frag, fat, F_CHANNELS, write)
    o = _table(out, o, s, c, T_CHANNELS, words, wat, write)
    o = _frag(out, o, frag, fat, F_CONTEXT, write)
    o = _byte(out, o, _OPEN, write)
    head, cap = s.ctx_head[c], s.ctx_la.shape[1]
    for j in range(s.ctx_len[c]):
        k = (head + j) % cap
        if j:
            o = _byte(out, o, _COMMA, write)
        o = _entry(out, o, s.ctx_code[c, k], s.ctx_hour[c, k], ftxt, fa, fb, f, words, wat,
                   write)
        f += 1
        o = _byte(out, o, _CLOSE, write)
    o = _byte(out, o, _CLOSE, write)
    o = _frag(out, o, frag, fat, F_COUNTRIES, write)
    o = _table(out, o, s, c, T_COUNTRIES, words, wat, write)
    o = _frag(out, o, frag, fat, F_DAYS, write)
    o, f = _events(out, o, s.days_t, s.days_amt, s.days_cat, s.days_chan, s.days_len[c], c,
                   ftxt, fa, fb, f, words, wat, write)
    o = _frag(out, o, frag, fat, F_DEVICES, write)
    o = _table(out, o, s, c, T_DEVICES, words, wat, write)
    o = _frag(out, o, frag, fat, F_EXACT, write)
    o = _int(out, o, s.exact[c], write)
    o = _frag(out, o, frag, fat, F_EXPLORE, write)
    o, f = _floats(out, o, s.explore.shape[1], ftxt, fa, fb, f, write)
    o = _frag(out, o, frag, fat, F_FAST, write)
    o = _int(out, o, s.fast[c], write)
    o = _frag(out, o, frag, fat, F_GAP_LOG, write)
    o = _float(out, o, ftxt, fa, fb, f, write)
    o = _frag(out, o, frag, fat, F_GAP_MEAN, write)
    o = _float(out, o, ftxt, fa, fb, f + 1, write)
    o = _frag(out, o, frag, fat, F_GAPS, write)
    o = _int(out, o, s.gaps[c], write)
    o = _frag(out, o, frag, fat, F_HOPS, write)
    o = _int(out, o, s.hops[c], write)
    o = _frag(out, o, frag, fat, F_HOURS, write)
    o = _ints(out, o, s.hours[c], write)
    o = _frag(out, o, frag, fat, F_IPNETS, write)
    o = _table(out, o, s, c, T_IPNETS, words, wat, write)
    o = _frag(out, o, frag, fat, F_LAST_COUNTRY, write)
    o = _word(out, o, s.last_country[c], words, wat, write)
    o = _frag(out, o, frag, fat, F_LAST_T, write)
    o = _float(out, o, ftxt, fa, fb, f + 2, write)
    f += 3
    o = _frag(out, o, frag, fat, F_LEARNT, write)
    o = _int(out, o, s.learnt[c], write)
    o = _frag(out, o, frag, fat, F_N, write)
    o = _int(out, o, s.n[c], write)
    o = _frag(out, o, frag, fat, F_NOVEL, write)
    o = _int(out, o, s.novel[c], write)
    o = _frag(out, o, frag, fat, F_PENDING, write)
    o = _byte(out, o, _OPEN, write)
    b = s.pend_at[c]
    for j in range(s.pend_len[c]):
        if j:
            o = _byte(out, o, _COMMA, write)
        o = _byte(out, o, _OPEN, write)
        o = _float(out, o, ftxt, fa, fb, f, write)
        o = _byte(out, o, _COMMA, write)
        o = _entry(out, o, s.pend_code[b, j], s.pend_hour[b, j], ftxt, fa, fb, f + 1, words,
                   wat, write)
        f += 2
        if not s.pend_bare[b, j]:
            o = _byte(out, o, _COMMA, write)
            o = _float(out, o, ftxt, fa, fb, f, write)
            o = _byte(out, o, _COMMA, write)
            o = _float(out, o, ftxt, fa, fb, f + 1, write)
            f += 2
        o = _byte(out, o, _CLOSE, write)
        o = _byte(out, o, _CLOSE, write)
    o = _byte(out, o, _CLOSE, write)
    o = _frag(out, o, frag, fat, F_RECENT, write)
    o, f = _events(out, o, s.rec_t, s.rec_amt, s.rec_cat, s.rec_chan, s.rec_len[c], c,
                   ftxt, fa, fb, f, words, wat, write)
    o = _frag(out, o, frag, fat, F_ROUNDS, write)
    o = _ints(out, o, s.rounds[c], write)
    o = _frag(out, o, frag, fat, F_WAKE, write)
    o = _byte(out, o, _OPEN, write)
    o = _float(out, o, ftxt, fa, fb, f, write)
    o = _byte(out, o, _COMMA, write)
    o = _float(out, o, ftxt, fa, fb, f + 1, write)
    f += 2
    o = _byte(out, o, _CLOSE, write)
    o = _frag(out, o, frag, fat, F_WINDOW, write)
    o, f = _events(out, o, s.win_t, s.win_amt, s.win_cat, s.win_chan, s.win_len[c], c,
                   ftxt, fa, fb, f, words, wat, write)
    o = _frag(out, o, frag, fat, F_END, write)
    return o, f


@jit
def _write_all(s: Any, cs: Any, seqs: Any, out: Any, ends: Any, frag: Any, fat: Any,
               ftxt: Any, fa: Any, fb: Any, words: Any, wat: Any,
               write: bool) -> int:  # pragma: no cover - compiled
    """Every record of `cs` (numbered `seqs`) one after the other: their ends into
    `ends` (counting), or the bytes into `out` (writing); the floats read."""
    o = f = 0
    for i in range(len(cs)):
        o, f = _record(s, cs[i], seqs[i], out, o, f, frag, fat, ftxt, fa, fb, words, wat,
                       write)
        if not write:
            ends[i] = o
    return f


def _most_floats(s: Any, n: int) -> int:
    """The floats `n` customers hold at most (the slots' capacities)."""
    events = s.rec_t.shape[1] + 2 * s.win_t.shape[1]
    each: int = (s.amt.shape[1] + s.ctx_la.shape[1] + 2 * events + s.explore.shape[1] + 3
                 + 4 * s.pend_r.shape[1] + 2)
    return n * each


def records(s: Any, slots: Any, cs: np.ndarray, seqs: np.ndarray,
            words: Words) -> list[bytes]:
    """The checkpoint records of the customers in slots `cs` (`s`: the slots or their
    structref; `slots` the tuple, whose capacities size the buffers), numbered `seqs`:
    `stateparts.encode_fields` of their `slots.field_rows`, byte for byte."""
    if not len(cs):
        return []
    floats = np.empty(_most_floats(slots, len(cs)), np.float64)
    n = _gather(s, cs, floats)
    text = np.frombuffer(orjson.dumps(floats[:n], option=orjson.OPT_SERIALIZE_NUMPY),
                         np.uint8)
    commas = np.flatnonzero(text == _COMMA)
    fa = np.concatenate(([1], commas + 1))  # after "[" and after each comma
    fb = np.concatenate((commas, [len(text) - 1]))  # before each comma and the "]"
    ends = np.empty(len(cs), np.int64)
    _write_all(s, cs, seqs, np.empty(0, np.uint8), ends, FRAGMENTS, FRAGMENT_AT, text, fa, fb,
               words.text, words.at, False)
    out = np.empty(int(ends[-1]), np.uint8)
    read = _write_all(s, cs, seqs, out, ends, FRAGMENTS, FRAGMENT_AT, text, fa, fb,
                      words.text, words.at, True)
    if read != n:
        raise AssertionError(f"checkpoint records: {read} floats written, {n} gathered")
    data = out.tobytes()
    return [data[a:b] for a, b in pairwise([0, *ends.tolist()])]
