"""Generation rate: `auditstream generate` defaults (realistic) and the reference recipe.

    .venv/bin/python bench/generate_bench.py

Prints rows/s for building the transactions and for writing the historic CSV (no Kafka).
"""

from __future__ import annotations

import os
import platform
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from producer.generator import GeneratorConfig, generate
from producer.reference_recipe import ReferenceConfig, generate_reference
from shared.csv_io import write_transactions_csv
from shared.schemas import Transaction


def _bench(label: str, make: Callable[[], list[Transaction]], out: Path) -> None:
    cpu, wall = time.process_time(), time.perf_counter()
    txs = make()
    gen_wall, gen_cpu = time.perf_counter() - wall, time.process_time() - cpu
    wall = time.perf_counter()
    write_transactions_csv(txs, out)
    write_wall = time.perf_counter() - wall
    n = len(txs)
    print(f"{label}: {n:,} rows; generate {gen_wall:.2f} s = {n / gen_wall:,.0f} rows/s "
          f"(CPU {gen_cpu:.2f} s); write CSV {write_wall:.2f} s = {n / write_wall:,.0f} rows/s; "
          f"{out.stat().st_size / 1e6:.1f} MB")


def main() -> None:
    print(f"generate_bench {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {os.cpu_count()} cores, "
          f"Python {platform.python_version()}, load average {os.getloadavg()[0]:.1f}")
    with tempfile.TemporaryDirectory(prefix="generate-bench-") as tmp:
        out = Path(tmp) / "out.csv"
        _bench("realistic defaults (1,000 customers, 90 days)",
               lambda: generate(GeneratorConfig()), out)
        _bench("reference recipe (8,000 rows)", lambda: generate_reference(ReferenceConfig()), out)
        _bench("reference recipe (500,000 rows)",
               lambda: generate_reference(ReferenceConfig(transactions=500_000)), out)


if __name__ == "__main__":
    main()
