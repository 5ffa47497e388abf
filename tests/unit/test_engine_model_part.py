"""A checkpoint's model record is encoded once a model, not at every checkpoint: the same
bytes as encoding it each time, across refits, a restore and a clone."""

from __future__ import annotations

import pytest

from detector.core import stateformat, stateparts
from detector.core.config import CoreConfig
from detector.core.engine import PartitionEngine
from tests.unit import cores
from tests.unit.kernel_rows import generated

CONFIG = CoreConfig(first_fit_after=100, refit_every=150, refit_delay=0, n_trees=10,
                    sample_size=256)


@pytest.fixture(params=cores.CORES)
def core(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    return cores.use(request.param, monkeypatch)


def encoded_each_time(engine: PartitionEngine) -> bytes:
    return stateparts._part(stateformat._model_doc(engine._model))


def test_the_model_record_is_encoded_once_a_model(core: str,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    made: list[str] = []
    model_part = stateparts.model_part

    def counted(model: object) -> bytes:
        made.append(getattr(model, "version", "none"))
        return model_part(model)  # type: ignore[arg-type]

    monkeypatch.setattr(stateparts, "model_part", counted)
    txs = generated(seed=3, customers=40, days=6)[:520]
    engine = PartitionEngine(CONFIG, 0)
    records = []
    for lo in range(0, len(txs), 40):
        engine.verdicts(txs[lo:lo + 40])
        record = engine.checkpoint().parts["model"]
        assert record == encoded_each_time(engine)
        records.append(record)
    # 13 checkpoints: none before the first fit (row 100), then forests 1, 2 and 3 (rows
    # 250 and 400): one encoding each
    assert made == ["none", "if-v1", "if-v2", "if-v3"]
    assert len(set(records)) == 4
    again = PartitionEngine.restore(engine.snapshot(), CONFIG)
    assert again.checkpoint().parts["model"] == records[-1]
    clone = engine.clone()
    assert clone.checkpoint().parts["model"] == records[-1]
    assert made == ["none", "if-v1", "if-v2", "if-v3", "if-v3"]  # the restored model's
