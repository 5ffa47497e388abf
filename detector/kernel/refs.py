"""The kernel's state as numba structrefs: one reference per argument instead of one per
array.

A function numba does not inline that takes a `NamedTuple` of arrays increfs and decrefs
every array of it at each call, and `inline="always"` does not remove it: ~380 ns a call
with `slots.CustomerSlots`' 49 arrays, ~260 ns inlined, against ~2 ns with one structref
(measured: bench/kernel_learning_bench.py, docs/kernel.md (g)). A structref made from the
same arrays (`as_ref`) shares their memory: Python keeps the tuple (its converters,
checkpoints), the kernel takes the structref; the kernel's functions, written against
attribute access (`s.pend_len[c]`), compile for either.
"""

from __future__ import annotations

from typing import Any

from numba import types
from numba.experimental import structref

from detector.kernel.calibration import CalibrationArrays
from detector.kernel.hold import Due
from detector.kernel.jit import jit
from detector.kernel.knobs import KernelKnobs
from detector.kernel.population import PopulationArrays
from detector.kernel.slots import CustomerSlots


class _Fields(types.StructRef):
    def preprocess_fields(self, fields: Any) -> Any:
        unliteral: Any = types.unliteral
        return tuple((name, unliteral(typ)) for name, typ in fields)


@structref.register
class SlotsRef(_Fields):
    """`CustomerSlots` as a structref type."""


@structref.register
class PopulationRef(_Fields):
    """`PopulationArrays` as a structref type."""


@structref.register
class CalibrationRef(_Fields):
    """`CalibrationArrays` as a structref type."""


@structref.register
class KnobsRef(_Fields):
    """`KernelKnobs` as a structref type."""


@structref.register
class DueRef(_Fields):
    """`hold.Due` as a structref type."""


class Slots(structref.StructRefProxy):
    """A `CustomerSlots` the kernel takes (`as_ref`)."""


class PopulationProxy(structref.StructRefProxy):
    """A `PopulationArrays` the kernel takes (`as_ref`)."""


class CalibrationProxy(structref.StructRefProxy):
    """A `CalibrationArrays` the kernel takes (`as_ref`)."""


class KnobsProxy(structref.StructRefProxy):
    """A `KernelKnobs` the kernel takes (`as_ref`)."""


class DueProxy(structref.StructRefProxy):
    """A `hold.Due` the kernel takes (`as_ref`)."""


_PROXIES: dict[Any, tuple[Any, Any]] = {
    CustomerSlots: (Slots, SlotsRef),
    PopulationArrays: (PopulationProxy, PopulationRef),
    CalibrationArrays: (CalibrationProxy, CalibrationRef),
    KernelKnobs: (KnobsProxy, KnobsRef),
    Due: (DueProxy, DueRef),
}
_define: Any = structref.define_proxy
for _tuple, (_proxy, _ref) in _PROXIES.items():
    _define(_proxy, _ref, list(_tuple._fields))


@jit
def _slots(*arrays: Any) -> Any:
    return Slots(*arrays)  # type: ignore[no-untyped-call]


@jit
def _population(*arrays: Any) -> Any:
    return PopulationProxy(*arrays)  # type: ignore[no-untyped-call]


@jit
def _calibration(*arrays: Any) -> Any:
    return CalibrationProxy(*arrays)  # type: ignore[no-untyped-call]


@jit
def _knobs(*arrays: Any) -> Any:
    return KnobsProxy(*arrays)  # type: ignore[no-untyped-call]


@jit
def _due(*arrays: Any) -> Any:
    return DueProxy(*arrays)  # type: ignore[no-untyped-call]


#: Each tuple's constructor, compiled and cached as the kernel's functions are: the
#: proxy class called from Python compiled one per process, uncached (4.7 s of a warm
#: process's first `KernelRows`, measured at load 4; 0.4 s loaded from the cache).
_MAKE: dict[Any, Any] = {CustomerSlots: _slots, PopulationArrays: _population,
                         CalibrationArrays: _calibration, KernelKnobs: _knobs, Due: _due}


def as_ref(state: Any) -> Any:
    """`state` (one of the kernel's tuples of arrays) as its structref, sharing its
    arrays' memory. Make a new one after the tuple's arrays are replaced (grown)."""
    return _MAKE[type(state)](*state)
