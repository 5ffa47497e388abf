"""`auditstream generate` from the command line: files, determinism, argument errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from auditstream.cli import main
from shared.csv_io import iter_csv
from shared.schemas import CSV_FIELDS


def test_generate_writes_identical_historic_csv_for_the_same_arguments(tmp_path: Path) -> None:
    args = ["generate", "--customers", "20", "--days", "15", "--seed", "5",
            "--anomaly-rate", "burst=0.02", "--start", "2024-03-01"]
    assert main([*args, "--out", str(tmp_path / "a.csv")]) == 0
    assert main([*args, "--out", str(tmp_path / "b.csv")]) == 0
    data = (tmp_path / "a.csv").read_bytes()
    assert data == (tmp_path / "b.csv").read_bytes()
    assert data.decode().splitlines()[0] == ",".join(CSV_FIELDS)
    rows = [item for item in iter_csv(tmp_path / "a.csv") if isinstance(item, tuple)]
    assert rows and rows[0][1].timestamp.year == 2024
    assert any(tx.anomaly_type == "BURST" for _, tx in rows)


def test_generate_reference_recipe_from_the_cli(tmp_path: Path) -> None:
    assert main(["generate", "--recipe", "reference", "--out", str(tmp_path / "r.csv")]) == 0
    assert len((tmp_path / "r.csv").read_text().splitlines()) == 8_026  # header + 8,025


def test_generate_without_a_destination_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["generate"]) == 2
    assert "--out" in capsys.readouterr().err


def test_unknown_anomaly_type_is_a_usage_error() -> None:
    with pytest.raises(SystemExit):
        main(["generate", "--anomaly-rate", "FRAUD=0.1", "--out", "x.csv"])


def test_generate_extended_mix_writes_the_new_kinds_and_the_changes_sidecar(
    tmp_path: Path,
) -> None:
    from producer.generator import generate_with_changes, mix_config

    args = ["generate", "--mix", "extended", "--customers", "150", "--days", "60", "--seed", "3",
            "--out", str(tmp_path / "x.csv"), "--changes-out", str(tmp_path / "changes.csv")]
    assert main(args) == 0
    rows = [tx for item in iter_csv(tmp_path / "x.csv") if isinstance(item, tuple)
            for tx in [item[1]]]
    kinds = {tx.anomaly_type for tx in rows}
    assert {"ACCOUNT_TAKEOVER", "CARD_TESTING", "SPLIT_PAYMENT", "DORMANT_REACTIVATION"} <= kinds
    expected, changes = generate_with_changes(mix_config("extended", seed=3, customers=150,
                                                         days=60))
    assert [t.transaction_id for t in rows] == [t.transaction_id for t in expected]
    sidecar = (tmp_path / "changes.csv").read_text().splitlines()
    assert sidecar[0] == "customer_id,change,start,end"
    assert len(sidecar) == len(changes) + 1 > 1


def test_the_default_mix_is_the_same_with_or_without_the_mix_flag(tmp_path: Path) -> None:
    base = ["generate", "--customers", "20", "--days", "15", "--seed", "5"]
    assert main([*base, "--out", str(tmp_path / "a.csv")]) == 0
    assert main([*base, "--mix", "default", "--out", str(tmp_path / "b.csv")]) == 0
    assert (tmp_path / "a.csv").read_bytes() == (tmp_path / "b.csv").read_bytes()


@pytest.mark.parametrize("mix", ["default", "extended"])
def test_python_m_producer_generates_each_mix_from_its_settings(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, mix: str
) -> None:
    from producer.__main__ import _run
    from producer.settings import ProducerSettings

    out = tmp_path / f"{mix}.csv"
    monkeypatch.setenv("PRODUCER_MIX", mix)
    settings = ProducerSettings(customers=150, days=60, seed=4, out=out, publish=False)
    assert _run(settings) == 0
    kinds = {tx.anomaly_type for item in iter_csv(out) if isinstance(item, tuple)
             for tx in [item[1]]}
    assert ("ACCOUNT_TAKEOVER" in kinds) == (mix == "extended")


def test_sigterm_while_generate_writes_ends_it_like_ctrl_c_without_a_temporary_file(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # SIGTERM (timeout, systemd, a container stop) used to kill it where it stood: the
    # hidden temporary file of the CSV being written stayed behind for good.
    import os
    import signal

    import producer.cli
    from producer.generator import GeneratorConfig, generate

    txs = generate(GeneratorConfig(customers=10, days=5, seed=3))

    class Terminated(list):  # type: ignore[type-arg]
        passes = 0

        def __iter__(self):  # type: ignore[no-untyped-def]
            self.passes += 1  # the first pass counts the anomalies, the second writes
            for i, tx in enumerate(list.__iter__(self)):
                if self.passes == 2 and i == len(self) // 2:
                    os.kill(os.getpid(), signal.SIGTERM)  # halfway through the file
                yield tx

    monkeypatch.setattr(producer.cli, "make_transactions", lambda args: Terminated(txs))
    out = tmp_path / "out.csv"
    assert main(["generate", "--out", str(out)]) == 130
    assert capsys.readouterr().err.endswith("auditstream generate: interrupted\n")
    assert list(tmp_path.iterdir()) == []  # neither the file nor its temporary
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL  # restored afterwards


def test_sigterm_while_generate_still_generates_ends_it_like_ctrl_c(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # The README's exit 130 for `generate --out` on SIGTERM held only once writing began;
    # during the (longer) generation SIGTERM killed it by the signal (exit -15).
    import os
    import signal

    import producer.cli

    def terminated(args: object) -> list[object]:
        os.kill(os.getpid(), signal.SIGTERM)
        return []

    class Killed(Exception):
        """What the signal's default would do to the process, caught for the test."""

    def killed(signum: int, frame: object) -> None:
        raise Killed

    monkeypatch.setattr(producer.cli, "make_transactions", terminated)
    previous = signal.signal(signal.SIGTERM, killed)
    try:
        assert main(["generate", "--out", str(tmp_path / "out.csv")]) == 130
        assert signal.getsignal(signal.SIGTERM) is killed  # restored afterwards
    finally:
        signal.signal(signal.SIGTERM, previous)
    assert capsys.readouterr().err.endswith("auditstream generate: interrupted\n")
    assert list(tmp_path.iterdir()) == []
