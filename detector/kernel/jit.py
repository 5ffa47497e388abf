"""numba's `njit`, with its cache on, or the plain function where numba is missing (the
modules still import: their docs, and tests that skip outside CI).

numba keys a cached function on its own file's contents only, so a cached function
calling one of another file runs the other's old code after that file changed, and a
constant read from another module stays frozen at its old value (measured:
tests/unit/test_kernel_jit.py). The kernel's cache therefore lives in a directory named by
a digest of every module of this package and of the core beside it (`SOURCES`), whose
constants the kernel reads: any edit starts a fresh cache. It is per user
(`AUDITSTREAM_KERNEL_CACHE`, else `$NUMBA_CACHE_DIR/auditstream-kernel`, else the user's
cache directory), never beside the installed modules, which may be read-only.

numba would also file each function under a digest of its folder's absolute path, so the
same sources at another path (the integration tests' frozen copies, another checkout)
compiled everything again: ~45 s of CPU a process, minutes on a loaded machine, longer
than the fault suite lets a detector run between kills. Since the directory is already
named by the sources' contents, the folder's name alone files them (`_Locator`); numba
still checks each file's contents against its index before using an entry.

A cache folder this user cannot write (a Docker image's, built by another user; a read-only
install) is read as it is: numba would refuse it, and with it every function, on import.
What is compiled then is run without being kept, said once by a warning. A folder that
cannot be made at all (a file in its way; a home folder this user cannot write) is a
temporary one for the process, said once: it compiles the kernel at each start. A damaged
cache file (cut short by a full disk or a crash) is a miss, said once: its index is
removed and the function compiled and saved anew, where numba raised in every process.

numba counts references to each array with an atomic add (`lock xadd`), ~650 a row in the
kernel, so that threads running compiled code without the GIL may share arrays. No kernel
function releases the GIL (`jit` never passes `nogil` or `parallel`; a test checks every
dispatcher), so two threads never count the same array at once, and the counts are plain
adds here (`plain_refcounts`): the engine ~10 % faster (docs/kernel.md (q)). numba's own
switch for this (`nrtdynmod._disable_atomicity`) returns the count before the decrement,
so nothing it allocates is ever freed (measured): not used.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import importlib.util
import os
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal, TypeVar, cast

F = TypeVar("F", bound=Callable[..., Any])

#: Whether numba is installed.
NUMBA = importlib.util.find_spec("numba") is not None
HERE = Path(__file__).resolve().parent
#: The folders whose modules the compiled functions read: this package, and the core's
#: constants (`detector/core`; absent beside a copy of this module in a test).
SOURCES = (HERE, HERE.parent / "core")


def sources_digest(folders: tuple[Path, ...] = SOURCES) -> str:
    """SHA-256 of the modules of `folders` (folder, names and bytes, by name)."""
    digest = hashlib.sha256()
    for folder in folders:
        digest.update(folder.name.encode() + b"\0")
        for path in sorted(folder.glob("*.py")):
            digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def cache_dir() -> str:
    """Where the kernel's compiled functions are cached (see the module docstring)."""
    base = os.environ.get("AUDITSTREAM_KERNEL_CACHE")
    if not base:
        numba_dir = os.environ.get("NUMBA_CACHE_DIR")
        if numba_dir:
            base = os.path.join(numba_dir, "auditstream-kernel")
        else:
            home = os.environ.get("XDG_CACHE_HOME") or os.path.join(Path.home(), ".cache")
            base = os.path.join(home, "auditstream", "kernel")
    return os.path.join(base, sources_digest()[:16])


#: A cache of other sources (an older or another checkout) is removed once untouched this long.
STALE_S = 7 * 86400


def prune(current: str, now: float, stale_s: float = STALE_S) -> list[str]:
    """Remove the caches beside `current` (other digests of the sources) not modified for
    `stale_s` seconds: each edit or upgrade starts a new one of ~12 MB. A process still
    running from such sources only recompiles what it has not loaded. The paths removed."""
    import shutil

    base = os.path.dirname(current)
    removed: list[str] = []
    try:
        entries = list(os.scandir(base))
    except OSError:
        return removed
    for entry in entries:
        try:
            if entry.path != current and entry.is_dir(follow_symlinks=False) \
                    and now - entry.stat(follow_symlinks=False).st_mtime > stale_s:
                shutil.rmtree(entry.path, ignore_errors=True)
                removed.append(entry.path)
        except OSError:
            continue
    return removed


def jit(fn: F) -> F:
    """`fn` compiled in nopython mode, cached (`cache_dir`), no `fastmath`: reassociating a
    float sum would break parity with the core (docs/kernel.md "Parity")."""
    return _jit(fn, "never")


def jit_inline(fn: F) -> F:
    """`jit`, with `fn`'s body inlined into each kernel function calling it (numba's
    `inline="always"`, at numba's IR level)."""
    return _jit(fn, "always")


def _jit(fn: F, inline: Literal["never", "always"]) -> F:
    if not NUMBA:
        return fn
    from numba import config, njit

    config.CACHE_DIR = _CACHE  # type: ignore[attr-defined]  # read when a cache is made
    dispatcher: Any = njit(inline=inline)(fn)
    dispatcher._cache = _function_cache()(fn)  # what `cache=True` sets, filed by folder name
    return cast(F, dispatcher)


@functools.cache
def _function_cache() -> Any:
    """numba's `FunctionCache`, filing a function under its folder's name only (the
    module docstring says why); made once, on the first `jit`."""
    from numba.core.caching import CompileResultCacheImpl, FunctionCache, UserProvidedCacheLocator

    class _Locator(UserProvidedCacheLocator):
        @classmethod
        def get_suitable_cache_subpath(cls, py_file: str) -> str:
            return os.path.basename(os.path.dirname(os.path.abspath(py_file)))

        def ensure_cache_path(self) -> None:
            """numba's check, except that a cache folder this user cannot write is read as
            it is, and one that cannot be made (a file in its way, a home folder that
            cannot be written) is a temporary folder for this process, said once: numba
            would refuse either, and every function with it, on import."""
            try:
                super().ensure_cache_path()  # type: ignore[no-untyped-call]
            except OSError as exc:
                path = self.get_cache_path()  # type: ignore[no-untyped-call]
                if os.path.isdir(path):
                    return
                self._cache_path = os.path.join(_fallback(exc), os.path.basename(path))
                super().ensure_cache_path()  # type: ignore[no-untyped-call]

    class _Impl(CompileResultCacheImpl):
        _locator_classes = [_Locator]  # noqa: RUF012 (numba's own attribute)

    class _Cache(FunctionCache):
        _impl_class = _Impl

        def load_overload(self, sig: Any, target_context: Any) -> Any:
            """numba's, except that a damaged index or data file (cut short by a full disk
            or a crash, overwritten) is a miss: its index is removed, so the function
            compiles and is saved anew, where numba raised in every process after."""
            try:
                return super().load_overload(sig, target_context)  # type: ignore[no-untyped-call]
            except Exception as exc:  # any failure to read a cache is a reason to compile
                self._discard(exc)
                return None

        def save_overload(self, sig: Any, data: Any) -> None:
            """numba's, except that a cache that cannot be written is said once, not
            raised: the function compiled runs all the same, and compiles again in the
            next process. A damaged index found here is removed and the save made again."""
            try:
                self._save(sig, data)
            except OSError as exc:
                if not _UNSAVED:
                    _warn(f"the detection kernel compiled code it cannot keep in "
                          f"{_CACHE} ({exc.strerror or exc}): every process will "
                          "compile it again; free space there or make it writable "
                          "to this user (or set AUDITSTREAM_KERNEL_CACHE), then run "
                          "`python -m detector.kernel.warm`")
                _UNSAVED.append(str(sig))

        def _save(self, sig: Any, data: Any) -> None:
            try:
                super().save_overload(sig, data)  # type: ignore[no-untyped-call]
            except OSError:
                raise
            except Exception as exc:  # the index it adds to could not be read
                self._discard(exc)
                super().save_overload(sig, data)  # type: ignore[no-untyped-call]

        def _discard(self, exc: Exception) -> None:
            index = self._cache_file._index_path
            with contextlib.suppress(OSError):
                os.unlink(index)
            if not _DAMAGED:
                _warn(f"the detection kernel's cache held a damaged file "
                      f"({type(exc).__name__}: {exc}) beside {index}: it is "
                      "compiled anew and replaced")
            _DAMAGED.append(index)

    return _Cache


def _warn(message: str) -> None:
    """`message` as a RuntimeWarning in one line: Python's own format adds the source line of
    the `warnings.warn` call, a second line on stderr that said nothing to the user."""
    warnings.warn_explicit(message, RuntimeWarning, "auditstream kernel cache", 0)


#: The signatures this process compiled but could not save (`_Cache.save_overload`).
_UNSAVED: list[str] = []
#: The index files this process found damaged and removed (`_Cache._discard`).
_DAMAGED: list[str] = []


#: The temporary cache folder of this process, once the kernel's could not be made.
_FALLBACK: list[str] = []


def _fallback(exc: OSError) -> str:
    """A temporary cache folder for this process (removed at its exit), made and said once
    when the kernel's cannot be made."""
    import atexit
    import shutil
    import tempfile

    if _FALLBACK:
        return _FALLBACK[0]
    folder = tempfile.mkdtemp(prefix="auditstream-kernel-")
    _FALLBACK.append(folder)
    atexit.register(shutil.rmtree, folder, True)
    _warn(f"the detection kernel's cache folder {_CACHE} cannot be made "
          f"({exc.strerror or exc}): this process compiles the kernel into a "
          "temporary folder and keeps nothing (a minute or more at each start); set "
          "AUDITSTREAM_KERNEL_CACHE to a folder this user may write, then run "
          "`python -m detector.kernel.warm`")
    return folder


#: Set (not "0"): numba's atomic reference counts are kept (`plain_refcounts`).
ATOMIC = "AUDITSTREAM_KERNEL_ATOMIC"


def plain_refcounts() -> bool:
    """numba's reference counts as plain (not atomic) adds in everything compiled after
    this, where numba's runtime is not set up yet (it links its counting functions into
    each function compiled); True if so. Once set up, numba's atomic counts stay (correct,
    slower). A cached function keeps the counts it was compiled with: both are correct
    while the GIL is held (see the module docstring). The change is the process's: a
    program that loads the kernel and runs numba code of its own in threads without the
    GIL sets `AUDITSTREAM_KERNEL_ATOMIC=1` to keep numba's."""
    from llvmlite import ir
    from numba.core.runtime import nrtdynmod
    from numba.core.runtime.nrt import rtsys

    if rtsys._init or os.environ.get(ATOMIC, "").strip() not in ("", "0"):
        return False
    word = nrtdynmod._word_type

    def define(module: Any, op: str, ordering: str) -> Any:
        """numba's `nrt_atomic_add`/`_sub` (the new count), without the atomic."""
        fn = ir.Function(module, ir.FunctionType(word, [word.as_pointer()]),
                         name=f"nrt_atomic_{op}")
        [ptr] = fn.args
        builder = ir.IRBuilder(fn.append_basic_block())
        count = getattr(builder, op)(builder.load(ptr), ir.Constant(word, 1))
        builder.store(count, ptr)
        builder.ret(count)
        return fn

    nrtdynmod._define_atomic_inc_dec = define
    return True


_CACHE = cache_dir()
#: Whether this process compiles the kernel with plain reference counts (`plain_refcounts`).
PLAIN_REFCOUNTS = plain_refcounts() if NUMBA else False
if NUMBA:
    import time

    prune(_CACHE, time.time())
