"""How much one `generate` may make, declared once for both recipes (pure).

Everything is generated in memory before a row is written: about 1.8 KB per row at the
peak (1,000,000 rows: 1.8 GB, 80 s on a loaded 2-core machine) and 1.4 KB per customer.
Past these bounds a careless `--customers 1000000000` ran for minutes towards tens of GB;
it is refused at once instead. The days must fall in the schema's 1970-2100 too, checked
before generating, not on the generated rows.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from producer.naming import Naming, OptionsRefused
from shared.schemas import MAX_TIMESTAMP, MIN_TIMESTAMP

#: Expected rows of one run (about 9 GB at the peak).
MAX_ROWS = 5_000_000
#: Customers of one run (about 1.4 GB and 8 minutes for their habits alone).
MAX_CUSTOMERS = 1_000_000


def check_size(customers: int, expected_rows: float, asked: Callable[[Naming], str]) -> None:
    """`OptionsRefused` unless `customers` and `expected_rows` fit; `asked` names the
    options (with their values) the rows come from, in a caller's words."""
    if customers > MAX_CUSTOMERS:
        raise OptionsRefused(lambda name: (
            f"too many customers: {name('--customers', str(customers))}, at most "
            f"{MAX_CUSTOMERS:,} (everything is generated in memory first)"))
    if not expected_rows <= MAX_ROWS:  # NaN fails too
        raise OptionsRefused(lambda name: (
            f"too many rows: about {expected_rows:,.0f} from {asked(name)}, at most "
            f"{MAX_ROWS:,} (about 1.8 KB of memory each while generating)"))


def check_span(start: datetime, days: int) -> None:
    """`ValueError` unless every day from `start` (naive UTC) falls in 1970-2100."""
    if start.tzinfo is not None:
        raise ValueError(f"start must be a naive UTC time, not {start.isoformat()}")
    first = start.date().isoformat()  # `%Y` writes the year 1 as `1`
    if start < MIN_TIMESTAMP:
        raise OptionsRefused(lambda name: f"{name('--start', first)} is before 1970-01-01: "
                             "every day must fall in 1970-2100 (UTC)")
    if days * 86_400 > (MAX_TIMESTAMP - start).total_seconds():
        try:
            last = (start + timedelta(days=days - 1)).date().isoformat()
        except OverflowError:
            last = "a day past the year 9999"
        raise OptionsRefused(lambda name: f"{name('--start', first)} and "
                             f"{name('--days', str(days))} end on {last}, after 2100-12-31: "
                             "every day must fall in 1970-2100 (UTC)")
