"""Every rollup equals a from-scratch pandas computation on the final scored rows (day files).

`random_scored` and `assert_rollups_match_pandas` are reused by the sink's integration tests.
"""

from __future__ import annotations

import json
import random
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from shared.columns import CASES_COLUMNS, RULE_COLUMNS, RULE_NAMES, SCORED_COLUMNS
from shared.schemas import ScoredTransaction
from sink.offline import write_exports
from sink.settings import ExportSettings
from tests.scored_days import read_scored
from tests.unit.cases_reference import expected_cases

TYPES = ("HIGH_AMOUNT", "BURST", "IMPOSSIBLE_TRAVEL", "=cmd|' /C calc'!A0")
MERCHANTS = ("grocery", "electronics", '=HYPERLINK("x")', "+travel", "-fuel", "@home")
GRID_HITS = (0.0, 0.29, 0.3, 0.57, 0.99, 1.0, 1e-7, 0.005)


def random_scored(n: int, seed: int, labelled: bool = True, start: int = 0
                  ) -> list[ScoredTransaction]:
    """`n` scored rows with awkward values: grid-exact and missing scores, formula text."""
    rng = random.Random(seed)
    t0 = datetime(2025, 1, 1)
    rows = []
    for i in range(start, start + n):
        r = rng.random()
        score = None if r < 0.03 else rng.choice(GRID_HITS) if r < 0.15 else rng.random()
        r = rng.random()
        model = None if r < 0.05 else rng.choice(GRID_HITS) if r < 0.15 else rng.random()
        flags = {name: rng.random() < 0.04 for name in RULE_NAMES if rng.random() < 0.97}
        fired = [name for name, hit in flags.items() if hit]
        anomalous = rng.random() < 0.08
        ml = model is not None and model >= 0.8
        rows.append(ScoredTransaction(
            transaction_id=str(i), customer_id=f"c{rng.randrange(200)}",
            timestamp=t0 + timedelta(seconds=37 * i, microseconds=rng.choice((0, 0, 250_000))),
            amount=round(rng.uniform(1, 3000), 2), country=rng.choice(("CH", "FR", "DE")),
            channel="app", device="pc", merchant_category=rng.choice(MERCHANTS),
            ip="10.0.0.1",
            is_anomaly=(anomalous if rng.random() > 0.02 else None) if labelled else None,
            anomaly_type=(rng.choice(TYPES) if anomalous else "normal") if labelled else None,
            score=score, model_score=model, is_ml_flag=ml, rule_flags=flags,
            is_rule_flag=bool(fired), is_flag=ml or bool(fired) or (score or 0.0) >= 0.9,
            reasons_top3=[f"reason {j}" for j in range(len(fired))],
            triggered_rules=fired, model_version=f"m{i // 1000}",
            source_partition=i % 3, source_offset=i // 3,
        ))
    return rows


def _read(path: Path) -> pd.DataFrame:
    return pd.read_csv(path, dtype=str, keep_default_na=False)


def _num(s: pd.Series) -> np.ndarray:
    out: np.ndarray = pd.to_numeric(s.replace("", np.nan)).to_numpy(dtype=float)
    return out


def _close(got: pd.Series, want: list[float | int | None]) -> None:
    g = _num(got)
    w = np.array([np.nan if v is None else v for v in want], dtype=float)
    np.testing.assert_allclose(g, w, rtol=1e-12, equal_nan=True)


def _ratio(a: int, b: int) -> float | None:
    return a / b if b else None


def assert_rollups_match_pandas(out: Path, settings: ExportSettings) -> pd.DataFrame:
    """Recompute every rollup from the scored rows (the day files) alone and compare."""
    df = read_scored(out)
    assert tuple(df.columns) == SCORED_COLUMNS
    score = _num(df["score"])
    model = _num(df["model_score"])
    pos = (df["is_anomaly"] == "True").to_numpy()
    neg = (df["is_anomaly"] == "False").to_numpy()
    labelled = bool(pos.any() or neg.any())
    rule = (df["is_rule_flag"] == "True").to_numpy()

    def flag_of(mode: str, t: float) -> np.ndarray:
        """The four ways to flag (shared.columns): NaN never reaches a threshold."""
        ml = model >= t
        flags = {"ml": ml, "rules": rule.copy(), "hybrid": ml | rule, "combined": score >= t}
        return np.asarray(flags[mode], dtype=bool)

    th = _read(out / "thresholds.csv")
    assert list(th["threshold"]) == [f"{k / 100:.2f}" for k in range(101)]
    modes = ("ml", "rules", "hybrid", "combined")
    costs: dict[str, list[float]] = {m: [] for m in modes}
    workload: dict[str, list[float]] = {m: [] for m in modes}
    for mode in modes:
        want: dict[str, list[float | int | None]] = {c: [] for c in (
            "tp", "fp", "fn", "tn", "flagged", "precision", "recall", "fpr", "workload_pct",
            "expected_cost")}
        for t in th["threshold"].astype(float):
            flag = flag_of(mode, t)
            tp, fp = int((flag & pos).sum()), int((flag & neg).sum())
            fn, tn = int(pos.sum()) - tp, int(neg.sum()) - fp
            cost = settings.cost_fp * fp + settings.cost_fn * fn
            costs[mode].append(cost)
            workload[mode].append(100.0 * flag.sum() / len(df))
            for key, v in (("tp", tp), ("fp", fp), ("fn", fn), ("tn", tn), ("expected_cost", cost)):
                want[key].append(v if labelled else None)
            want["flagged"].append(int(flag.sum()))
            want["precision"].append(_ratio(tp, tp + fp))
            want["recall"].append(_ratio(tp, int(pos.sum())))
            want["fpr"].append(_ratio(fp, int(neg.sum())))
            want["workload_pct"].append(workload[mode][-1])
        for key, values in want.items():
            _close(th[f"{mode}_{key}"], values)
    # Recommended: lowest cost (within budget), ties to the higher threshold.
    mode = settings.recommend_for
    ks = [k for k in range(101) if settings.review_budget_pct is None
          or workload[mode][k] <= settings.review_budget_pct]
    if not ks:  # budget cannot be met: the least workload
        ks = [max(range(101), key=lambda k: (-workload[mode][k], k))]
    if labelled:
        rec: int | None = max(ks, key=lambda k: (-costs[mode][k], k))
    else:  # a budget alone picks the lowest threshold within it
        rec = min(ks) if settings.review_budget_pct is not None else None
    assert list(th["is_recommended"] == "True") == [k == rec for k in range(101)]
    t_rec = rec / 100 if rec is not None else None

    cm = _read(out / "confusion_matrix.csv")
    assert len(cm) == 16
    for _, row in cm.iterrows():
        if not labelled or rec is None:
            assert row["count"] == ""
            continue
        assert row["threshold"] == f"{t_rec:.2f}"
        flag = flag_of(row["mode"], float(row["threshold"]))
        actual = pos if row["actual"] == "True" else neg
        predicted = flag if row["predicted"] == "True" else ~flag
        assert int(row["count"]) == int((actual & predicted).sum())

    metrics = _read(out / "metrics_by_type.csv")
    types = metrics[metrics["section"] == "anomaly_type"].set_index("name")
    ptypes = df[pos]["anomaly_type"].replace("", "unspecified")
    assert sorted(types.index) == sorted(ptypes.unique())
    assert t_rec is not None or not len(types)
    for section, mode in (("model", "ml"), ("hybrid", "hybrid"), ("combined", "combined")):
        row = metrics[(metrics["section"] == section)
                      & (metrics["name"] == f"{section}_at_recommended")]
        assert len(row) == 1
        if t_rec is not None:
            flag = flag_of(mode, t_rec)
            _close(row["flags"], [int(flag.sum())])
            true, known = int((flag & pos).sum()), int((flag & (pos | neg)).sum())
            _close(row["precision"], [_ratio(true, known)])
    for name, group in df[pos].groupby(ptypes):
        idx = group.index.to_numpy()
        _close(types.loc[[name], "support"], [len(group)])
        for prefix, mode in (("", "hybrid"), ("ml_", "ml"), ("rules_", "rules"),
                             ("combined_", "combined")):
            det = flag_of(mode, t_rec or 0.0)[idx]
            _close(types.loc[[name], f"{prefix}detected"], [int(det.sum())])
            _close(types.loc[[name], f"{prefix}recall"], [det.sum() / len(group)])
    flags_by = metrics[metrics["section"] != "anomaly_type"].set_index("name")
    for name, col in (*zip(RULE_NAMES, RULE_COLUMNS, strict=True), ("is_ml_flag", "is_ml_flag"),
                      ("is_flag", "is_flag")):
        hit = (df[col] == "True").to_numpy()
        # Precision over every row the rule flagged, across all types (not within one type).
        _close(flags_by.loc[[name], "flags"], [int(hit.sum())])
        _close(flags_by.loc[[name], "true_flags"], [int((hit & pos).sum()) if labelled else None])
        _close(flags_by.loc[[name], "precision"],
               [_ratio(int((hit & pos).sum()), int((hit & (pos | neg)).sum()))])

    # cases.csv lists episodes since issue 16 (was: the top single alerts): see
    # cases_reference.py for the rule, recomputed here from the scored rows alone.
    cases = _read(out / "cases.csv")
    want, links = expected_cases(df, settings)
    assert list(cases.columns) == list(CASES_COLUMNS)
    assert len(cases) == len(want) and list(cases["rank"]) == [str(r) for r in want["rank"]]
    for col in ("case_id", "customer_id", "first_time", "last_time", "is_ml_flag",
                "is_rule_flag", "triggered_rules", "reasons_top3", "top_transaction_id",
                "channel", "country", "anomalous_transactions", "anomaly_type"):
        assert list(cases[col]) == list(want[col]), col
    _close(cases["transactions"], list(want["transactions"]))
    _close(cases["total_amount"], list(want["total_amount"]))
    for col in ("score", "model_score"):
        values = np.asarray(want[col], dtype=float).tolist()
        top: list[float | int | None] = [None if v < 0 else v for v in values]
        _close(cases[col], top)
    assert set(cases["outcome"]) <= {""}
    ct = _read(out / "case_transactions.csv")
    assert sorted(zip(ct["case_id"], ct["transaction_id"], strict=True)) == sorted(
        zip(links["case_id"], links["transaction_id"], strict=True))

    run = json.loads((out / "run.json").read_text())
    assert run["rows"] == len(df)
    assert run["recommended_threshold"] == t_rec
    return df


@pytest.mark.parametrize(
    "settings",
    [ExportSettings(), ExportSettings(cost_fp=1, cost_fn=3, review_budget_pct=30.0, top_cases=7),
     ExportSettings(review_budget_pct=5.0),
     ExportSettings(recommend_for="ml", cost_fn=50),
     ExportSettings(recommend_for="hybrid", review_budget_pct=20.0),
     ExportSettings(top_cases=3, case_days=0.25)],
    ids=["default", "budget", "budget-unmet", "ml", "hybrid", "recent"],
)
def test_every_rollup_equals_pandas_from_scratch(tmp_path: Path, settings: ExportSettings) -> None:
    rows = random_scored(3_000, seed=7)
    write_exports(rows, tmp_path, settings)
    df = assert_rollups_match_pandas(tmp_path, settings)
    assert len(df) == 3_000


def test_without_labels_label_metrics_are_empty_not_zero(tmp_path: Path) -> None:
    write_exports(random_scored(500, seed=3, labelled=False), tmp_path)
    assert json.loads((tmp_path / "run.json").read_text())["recommended_threshold"] is None
    th = _read(tmp_path / "thresholds.csv")
    for col in ("ml_tp", "ml_precision", "ml_recall", "hybrid_fpr", "hybrid_expected_cost",
                "rules_tp", "combined_recall"):
        assert set(th[col]) == {""}
    assert (th["ml_flagged"] != "").all() and (th["hybrid_workload_pct"] != "").all()
    assert (th["combined_flagged"] != "").all() and (th["rules_workload_pct"] != "").all()
    metrics = _read(tmp_path / "metrics_by_type.csv")
    assert set(metrics["section"]) == {"rule", "model", "hybrid", "combined"}
    assert set(metrics["true_flags"]) == {""} and set(metrics["precision"]) == {""}
    assert set(_read(tmp_path / "confusion_matrix.csv")["count"]) == {""}
    assert_rollups_match_pandas(tmp_path, ExportSettings())


def test_without_labels_a_review_budget_picks_the_lowest_threshold_within_it(
    tmp_path: Path,
) -> None:
    settings = ExportSettings(review_budget_pct=30.0)
    write_exports(random_scored(800, seed=4, labelled=False), tmp_path, settings)
    assert_rollups_match_pandas(tmp_path, settings)
    th = _read(tmp_path / "thresholds.csv")
    rec = th[th["is_recommended"] == "True"]
    assert len(rec) == 1 and float(rec["combined_workload_pct"].iloc[0]) <= 30.0
