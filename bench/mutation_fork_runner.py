r"""Run named mutmut mutants without mutmut's runner: for a round whose `mutmut run` cannot
finish its stats and clean passes in time on the loaded machine (2026-12-07: over 20 min).

Run in `mutants/` after `mutmut run` has generated it: pytest collects the given tests once,
then each mutant runs in a fork of that process (`MUTANT_UNDER_TEST` set, as mutmut's
children) through the collected tests in order until the first failure (mutmut's `-x`).
Appends `name killed|survived seconds [first failing test]` to OUT, one line a mutant.

    cd mutants && python ../bench/mutation_fork_runner.py NAMES OUT \
        -p tests.unit.mutmut_fast_first TESTS...
"""

from __future__ import annotations

import os
import sys
import time
from typing import Any

import pytest
from _pytest.runner import runtestprotocol


class _Loop:
    def __init__(self, names: list[str], out: str) -> None:
        self.names, self.out = names, out

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtestloop(self, session: Any) -> bool:
        items = session.items
        with open(self.out, "a", encoding="utf-8") as out:
            for name in self.names:
                t0 = time.monotonic()
                r, w = os.pipe()
                pid = os.fork()
                if pid == 0:
                    os.close(r)
                    os.environ["MUTANT_UNDER_TEST"] = name
                    devnull = os.open(os.devnull, os.O_WRONLY)
                    os.dup2(devnull, 1)
                    os.dup2(devnull, 2)
                    failed = ""
                    for i, item in enumerate(items):
                        nxt = items[i + 1] if i + 1 < len(items) else None
                        if any(rep.failed for rep in runtestprotocol(item, nextitem=nxt,
                                                                     log=False)):
                            failed = item.nodeid
                            break
                    os.write(w, failed.encode())
                    os._exit(0)
                os.close(w)
                got = b""
                while chunk := os.read(r, 4096):
                    got += chunk
                os.close(r)
                os.waitpid(pid, 0)
                verdict = "killed" if got else "survived"
                out.write(f"{name} {verdict} {time.monotonic() - t0:.1f}s {got.decode()}\n")
                out.flush()
        return True


def main(argv: list[str]) -> int:
    with open(argv[0], encoding="utf-8") as f:
        names = [n for n in f.read().split() if n]
    sys.path.insert(0, os.getcwd())
    os.environ.setdefault("AUDITSTREAM_CORE", "python")
    return int(pytest.main(["-q", "-p", "no:cacheprovider", "-p", "no:randomly", *argv[2:]],
                           plugins=[_Loop(names, argv[1])]))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
