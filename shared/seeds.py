"""A seed's one range, for every command line and setting that takes one.

numpy seeds scikit-learn's forests with 32 bits: a seed outside 0 to 2^32 - 1 would wrap
onto one inside (2^32 + 42 gives 42's forests), two seeds one result without a word. So
every seed is refused outside it; inside it, a seed gives what it always gave. The
settings' type is `shared.schemas.Seed` (the detection core imports only that module).
"""

from __future__ import annotations

import argparse

SEED_MAX = 2**32 - 1


def seed_arg(text: str) -> int:
    """The argparse type of every `--seed`: one usage line (exit 2) outside the range."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if not 0 <= value <= SEED_MAX:
        raise argparse.ArgumentTypeError(
            f"must be from 0 to {SEED_MAX} (2^32 - 1; a seed beyond would wrap), not {text}")
    return value
