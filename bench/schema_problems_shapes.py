"""Hostile shapes of a large refused message: `shared.schema_problems.validate` (in pieces)
against whole validation (`model.model_validate_json`, main's path before it), best of 2.

    .venv/bin/python bench/schema_problems_shapes.py [SIZE ...]  # default 262143 2842187
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from functools import partial

from shared.schema_problems import Problems, validate
from shared.schemas import ScoredTransaction, Transaction


def _pad(body: bytes, size: int) -> bytes:
    return body[:-1] + b" " * (size - len(body)) + b"}"


def _repeat(prefix: bytes, item: bytes, size: int, close: bytes = b"}}") -> bytes:
    return _pad(prefix + b",".join([item] * ((size - len(prefix) - 5) // (len(item) + 1)))
                + close, size)


SHAPES: dict[str, Callable[[int], bytes]] = {
    "one attribute key, valid": lambda n: _repeat(b'{"attributes":{', b'"a":"v"', n),
    "one attribute key, bad": lambda n: _repeat(b'{"attributes":{', b'"a":[]', n),
    "one attribute key, distinct values": lambda n: _pad(b'{"attributes":{' + b",".join(
        b'"a":"%d"' % i for i in range(n // (12 if n < 10**6 else 14))) + b"}}", n),
    "one rule flag key": lambda n: _repeat(b'{"rule_flags":{', b'"a":true', n),
    "escaped attribute keys": lambda n: _repeat(b'{"attributes":{', b'"\\u0061":[]', n),
    "unknown NaN members": lambda n: _repeat(b"{", b'"z":NaN', n, b"}"),
    "whitespace between tokens": lambda n: _repeat(b"{", b' \n\t"z" \r: \n-Infinity \t', n, b"}"),
    "escaped known name": lambda n: _repeat(b"{", b'"\\u0061mount":"x"', n, b"}"),
    "unknown field of empty lists": lambda n: _pad(
        b'{"z":[' + b",".join([b"[]"] * ((n - 10) // 3)) + b"]}", n),
}


def _best(run: Callable[[], object]) -> tuple[float, object]:
    times, found = [], None
    for _ in range(2):
        start = time.perf_counter()
        found = run()
        times.append(time.perf_counter() - start)
    return min(times), found


def main() -> None:
    for size in [int(a) for a in sys.argv[1:]] or [262_143, 2_842_187]:
        for model in (Transaction, ScoredTransaction):
            for name, make in SHAPES.items():
                value = make(size)
                whole, w = _best(partial(validate, value, model, 10, whole_bytes=10**9))
                pieces, p = _best(partial(validate, value, model, 10))
                same = (isinstance(w, Problems) and isinstance(p, Problems)
                        and (w.first, w.count) == (p.first, p.count)) or w == p
                print(f"{size} {model.__name__} {name}: whole {whole:.3f} s, pieces "
                      f"{pieces:.3f} s, {pieces / whole:.1f}x, same reason {same}", flush=True)


if __name__ == "__main__":
    main()
