"""One partition's detector: features, rules, model and reasons, in arrival order.

`PartitionEngine.process` is a pure function of everything the engine has seen: how the
stream is cut into batches never changes an output (features are updated row by row; the
model is called once per batch segment between fit points), and `restore(snapshot())`
carries on exactly where the snapshotted engine stood.
"""

from __future__ import annotations

import pickle
import zlib
from collections.abc import Sequence
from typing import Any

import numpy as np

from detector.core.config import CoreConfig
from detector.core.evidence import components, model_strength, noisy_or
from detector.core.features import FEATURE_NAMES, event_seconds, learn, observe
from detector.core.model import RULES_ONLY, FeatureSample, FittedModel, fit, next_fit_point
from detector.core.rules import RULES, apply_rules
from detector.core.state import CustomerTable, Population
from shared.schemas import ScoredTransaction, Transaction

SNAPSHOT_FORMAT = 1
#: A row some rule flags scores at least this: rules are precise, so they rank first.
RULE_FLOOR = 0.8
_RULE_NAMES = tuple(RULES)


#: Shared by every output row: frozen rows never change it (model_copy copies it).
_FIELDS_SET = set(ScoredTransaction.model_fields)
_NO_RULES = dict.fromkeys(RULES, False)


def _top_reasons(fired: dict[str, str], comps: list[tuple[float, str, str]]) -> list[str]:
    """Up to three reasons, strongest first; a fired rule's reason replaces its graded
    component's and ranks above every component."""
    ranked = [(s + 1.0, fired[k]) if k in fired else (s, r) for s, k, r in comps]
    if fired:
        graded = {k for _, k, _ in comps}
        ranked += [(1.0, r) for k, r in fired.items() if k not in graded]
    ranked.sort(key=lambda item: -item[0])
    reasons: list[str] = []
    for _, reason in ranked:
        if reason not in reasons:
            reasons.append(reason)
            if len(reasons) == 3:
                break
    return reasons


def scored_row(data: dict[str, Any]) -> ScoredTransaction:
    """`ScoredTransaction.model_construct` for a complete field dict, without its overhead
    (every value here is already valid: the input was validated, the rest we computed)."""
    row = ScoredTransaction.__new__(ScoredTransaction)
    object.__setattr__(row, "__dict__", data)
    object.__setattr__(row, "__pydantic_fields_set__", _FIELDS_SET)
    object.__setattr__(row, "__pydantic_extra__", None)
    object.__setattr__(row, "__pydantic_private__", None)
    return row


class PartitionEngine:
    """Detector state and logic for one partition (one engine per partition)."""

    def __init__(self, config: CoreConfig, partition: int | None = None) -> None:
        """`partition`, when given, is stamped on every output with the row's 0-based
        position in it as `source_offset` (offline scoring; the streaming shell stamps the
        real Kafka offsets instead)."""
        self.config = config
        self.partition = partition
        self._customers = CustomerTable(config)
        self._population = Population()
        self._sample = FeatureSample(config.sample_size, len(FEATURE_NAMES))
        self._model: FittedModel | None = None
        self._fits = 0
        self._processed = 0

    @property
    def processed(self) -> int:
        """Transactions processed so far (the next row's 0-based position)."""
        return self._processed

    @property
    def model_version(self) -> str:
        return self._model.version if self._model else RULES_ONLY

    @property
    def customers(self) -> int:
        return len(self._customers)

    def process(self, txs: Sequence[Transaction]) -> list[ScoredTransaction]:
        """Score `txs` in order (each against earlier rows only); one output per input."""
        cfg = self.config
        table, pop, sample = self._customers, self._population, self._sample
        pending: list[tuple[Transaction, dict[str, str], list[tuple[float, str, str]], int]] = []
        vectors: list[tuple[float, ...]] = []
        segments: list[tuple[int, int, FittedModel | None]] = []
        start = added = 0
        first = self._processed
        fit_at = next_fit_point(first, cfg)
        for i, tx in enumerate(txs):
            if first + i == fit_at:
                segments.append((start, i, self._model))
                sample.extend(vectors[added:])
                added = start = i
                self._fits += 1
                self._model = fit(sample, self._fits, cfg)
                fit_at = next_fit_point(first + i + 1, cfg)
            t = event_seconds(tx)
            state = table.get(tx.customer_id, t)
            obs = observe(tx, t, state, pop, cfg)
            vectors.append(obs.vector())
            pending.append((tx, apply_rules(obs, cfg), components(obs, cfg), first + i))
            learn(tx, t, state, pop, cfg, obs)
        self._processed = first + len(txs)
        segments.append((start, len(txs), self._model))
        if added < len(vectors):
            sample.extend(vectors[added:])
        strengths = np.zeros(len(txs))
        if vectors:
            matrix = np.asarray(vectors, dtype=np.float64)
            for a, b, model in segments:
                if model is not None and b > a:
                    strengths[a:b] = model.strength(matrix[a:b])
        models = [m for a, b, m in segments for _ in range(a, b)]
        return [
            self._verdict(tx, fired, comps, strength, model, position)
            for (tx, fired, comps, position), strength, model in zip(
                pending, strengths.tolist(), models, strict=True
            )
        ]

    def _verdict(
        self,
        tx: Transaction,
        fired: dict[str, str],
        comps: list[tuple[float, str, str]],
        strength: float,
        model: FittedModel | None,
        position: int,
    ) -> ScoredTransaction:
        cfg = self.config
        score = noisy_or([c[0] for c in comps]) if comps else 0.0
        if model is not None:
            ml = cfg.model_weight * model_strength(strength)
            score = 1.0 - (1.0 - score) * (1.0 - ml)
            if ml >= 0.1:
                comps = [*comps, (ml, "model", "unusual combination of features (model)")]
        if fired:
            score = max(score, RULE_FLOOR + (1.0 - RULE_FLOOR) * score)
            triggered = [name for name in _RULE_NAMES if name in fired]
            rule_flags = {name: name in fired for name in _RULE_NAMES}
        else:
            triggered = []
            rule_flags = dict(_NO_RULES)
        reasons = _top_reasons(fired, comps) if comps or fired else []
        score = min(max(score, 0.0), 1.0)
        ml_flag = score >= cfg.ml_threshold
        data: dict[str, Any] = {
            **tx.__dict__,
            "score": round(score, 6),
            "is_ml_flag": ml_flag,
            "rule_flags": rule_flags,
            "is_rule_flag": bool(fired),
            "is_flag": ml_flag or bool(fired),
            "reasons_top3": reasons,
            "triggered_rules": triggered,
            "model_version": model.version if model else RULES_ONLY,
            "source_partition": self.partition,
            "source_offset": None if self.partition is None else position,
        }
        return scored_row(data)

    def snapshot(self) -> bytes:
        """The engine's whole state, compact (zlib'd pickle) and bounded by the config."""
        state = {
            "format": SNAPSHOT_FORMAT,
            "customers": self._customers,
            "population": self._population,
            "sample": self._sample,
            "model": self._model,
            "fits": self._fits,
            "processed": self._processed,
            "partition": self.partition,
        }
        return zlib.compress(pickle.dumps(state, protocol=pickle.HIGHEST_PROTOCOL), 6)

    @classmethod
    def restore(cls, data: bytes, config: CoreConfig) -> PartitionEngine:
        """An engine that continues exactly where the snapshotted one stood."""
        state = pickle.loads(zlib.decompress(data))
        if state.get("format") != SNAPSHOT_FORMAT:
            raise ValueError(f"unsupported snapshot format {state.get('format')!r}")
        engine = cls(config, state["partition"])
        engine._customers = state["customers"]
        engine._customers.config = config
        engine._population = state["population"]
        engine._sample = state["sample"]
        engine._model = state["model"]
        engine._fits = state["fits"]
        engine._processed = state["processed"]
        return engine
