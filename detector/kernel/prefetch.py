"""The next row's slot asked of memory while this row is scored: a hint, no value changes.

A row reads its customer's slot: a row of each of ~50 per-slot arrays, so ~50-70 cache
lines, which the customer left long before (a slot is ~4.4 KB and thousands of customers
take turns). Each is a miss the kernel waits for. `score_segment` knows the next row's
slot, so it asks for those lines (`llvm.prefetch`, read, kept close) a whole row ahead.
A prefetch reads nothing into the program: the same operations on the same values.
"""

from __future__ import annotations

from typing import Any

from detector.kernel.jit import NUMBA, jit

#: A cache line's bytes (x86-64 and most ARM).
LINE = 64

#: `prefetch_row(arr, c)`: every cache line of row `c` of the C-contiguous array `arr`
#: prefetched (compiled code only).
prefetch_row: Any
if NUMBA:
    from llvmlite import ir
    from numba.core import cgutils as _cgutils
    from numba.core import types
    from numba.extending import intrinsic

    cgutils: Any = _cgutils  # numba's helpers are untyped

    @intrinsic
    def _prefetch_row(typingctx: Any, arr: Any, c: Any) -> Any:  # pragma: no cover - compiled
        """`prefetch_row`'s typing and code."""
        if not isinstance(arr, types.Array) or not isinstance(c, types.Integer):
            return None

        def codegen(context: Any, builder: Any, signature: Any, args: Any) -> Any:
            aryty, cty = signature.args
            ary = context.make_array(aryty)(context, builder, args[0])
            i64, i32 = ir.IntType(64), ir.IntType(32)
            row = cgutils.unpack_tuple(builder, ary.strides, aryty.ndim)[0]
            at = builder.add(builder.ptrtoint(ary.data, i64),
                             builder.mul(context.cast(builder, args[1], cty, types.int64), row))
            ptr = ir.IntType(8).as_pointer()
            fn = cgutils.get_or_insert_function(
                builder.module, ir.FunctionType(ir.VoidType(), [ptr, i32, i32, i32]),
                "llvm.prefetch.p0")
            lines = builder.udiv(builder.add(row, ir.Constant(i64, LINE - 1)),
                                 ir.Constant(i64, LINE))
            with cgutils.for_range(builder, lines) as loop:
                line = builder.add(at, builder.mul(loop.index, ir.Constant(i64, LINE)))
                # read (0), keep in every level (3), data (1)
                builder.call(fn, [builder.inttoptr(line, ptr), ir.Constant(i32, 0),
                                  ir.Constant(i32, 3), ir.Constant(i32, 1)])
            return context.get_dummy_value()

        return types.void(arr, c), codegen

    prefetch_row = _prefetch_row
else:
    def _nothing(arr: Any, c: Any) -> None:
        """Without numba: nothing to ask."""

    prefetch_row = _nothing


@jit
def slot(s: Any, c: int) -> None:  # pragma: no cover - compiled
    """Slot `c`'s rows of every per-slot array of `s` (`slots.CustomerSlots`) prefetched
    (not its held events' block: finding it would wait for `pend_at`)."""
    prefetch_row(s.n, c)
    prefetch_row(s.amt, c)
    prefetch_row(s.amt_head, c)
    prefetch_row(s.amt_len, c)
    prefetch_row(s.last_t, c)
    prefetch_row(s.last_country, c)
    prefetch_row(s.rec_t, c)
    prefetch_row(s.rec_amt, c)
    prefetch_row(s.rec_cat, c)
    prefetch_row(s.rec_chan, c)
    prefetch_row(s.rec_len, c)
    prefetch_row(s.win_t, c)
    prefetch_row(s.win_amt, c)
    prefetch_row(s.win_cat, c)
    prefetch_row(s.win_chan, c)
    prefetch_row(s.win_len, c)
    prefetch_row(s.days_t, c)
    prefetch_row(s.days_amt, c)
    prefetch_row(s.days_cat, c)
    prefetch_row(s.days_chan, c)
    prefetch_row(s.days_len, c)
    prefetch_row(s.hours, c)
    prefetch_row(s.tab_code, c)
    prefetch_row(s.tab_count, c)
    prefetch_row(s.tab_len, c)
    prefetch_row(s.gap_log, c)
    prefetch_row(s.gap_mean, c)
    prefetch_row(s.gaps, c)
    prefetch_row(s.hops, c)
    prefetch_row(s.novel, c)
    prefetch_row(s.learnt, c)
    prefetch_row(s.exact, c)
    prefetch_row(s.fast, c)
    prefetch_row(s.ctx_code, c)
    prefetch_row(s.ctx_hour, c)
    prefetch_row(s.ctx_la, c)
    prefetch_row(s.ctx_head, c)
    prefetch_row(s.ctx_len, c)
    prefetch_row(s.pend_len, c)
    prefetch_row(s.pend_at, c)
    prefetch_row(s.wake_t, c)
    prefetch_row(s.wake_s, c)
    prefetch_row(s.explore, c)
    prefetch_row(s.rounds, c)
