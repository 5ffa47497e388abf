"""What a folder holds, for tests that prove a command left it as it was."""

from __future__ import annotations

import os
from pathlib import Path


def tree(folder: Path) -> dict[str, bytes]:
    """Every file and link under `folder` by its path relative to it (with "/"): a file's
    bytes, a link's target (the link not followed, so a broken one counts too)."""
    return {p.relative_to(folder).as_posix(): (
        os.readlink(p).encode() if p.is_symlink() else p.read_bytes())
        for p in sorted(folder.rglob("*")) if p.is_file() or p.is_symlink()}
