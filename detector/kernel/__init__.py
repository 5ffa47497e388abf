"""The compiled columnar kernel (issue 14 item 2; the plan: docs/kernel.md).

Per-customer state as struct-of-arrays slots, updated row by row in arrival order by numba
functions that give the very floats the core (`detector.core`) gives. Each module owns the
arrays of the state fields it reads and writes (a `NamedTuple` of arrays that numba takes
as one argument), their allocation, and their converters from and to `CustomerState`
fields, so a field is declared once. Strings reach the kernel as codes (`codes.Codes`).

The engine runs its row loop here (`rows.KernelRows`, the shell, around
`segment.score_segment`, one compiled call per batch segment) unless `AUDITSTREAM_CORE` asks
for the core's own: the same verdicts and checkpoints to the byte
(tests/unit/test_kernel_engine.py, `bench/core_parity.py --check`). `warm` compiles it into
its cache ahead of any engine (docs/kernel.md (m)).
"""
