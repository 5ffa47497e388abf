"""On the default mix the model and the rules each catch something the other does not."""

from __future__ import annotations

from detector.core.config import CoreConfig
from detector.offline import score_transactions
from producer.generator import GeneratorConfig, generate


def test_ml_only_rules_only_and_both_are_each_non_empty_on_the_default_mix() -> None:
    txs = generate(GeneratorConfig(seed=5, customers=120, days=45))
    rows = score_transactions(txs, CoreConfig(first_fit_after=1000, refit_every=4000))
    ml_only = [r for r in rows if r.is_ml_flag and not r.is_rule_flag]
    rules_only = [r for r in rows if r.is_rule_flag and not r.is_ml_flag]
    both = [r for r in rows if r.is_ml_flag and r.is_rule_flag]
    assert ml_only and rules_only and both
    # The model alone is not the rules in disguise: it finds anomalies no rule flags.
    assert any(r.is_anomaly for r in ml_only)
    assert all(r.is_flag for r in ml_only + rules_only + both)
